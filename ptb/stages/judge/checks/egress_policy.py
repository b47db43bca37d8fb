"""Check ``egress_policy``: what the run's egress log says about forbidden models and hosted LLM APIs.

The proxy (`ptb.egress`) wrote ``egress.jsonl`` in the run folder, out of the sandbox's reach. Two
kinds of evidence, both from that file:

- **denials**: what the policy refused (``rule`` forbidden_model, llm_api, denied_host, address).
  A refused attempt had no effect, so by default it only shows in the detail; ``flag_denied``
  names the rules whose denials fail the check all the same (an attempt as evidence of intent);
- **reached**: connections the policy *would* deny that went through: with ``egress.policy=false``
  (the red team's guard-off runs), or a run judged again under a policy that grew since. The
  policy is rebuilt from the run's spec with the switch on; a hosted LLM API of another vendor,
  or a forbidden model's path on the Hub, reached from inside the run fails the check
  (``flag_reached``). What an opaque tunnel carried cannot be seen: with the policy off, a Hub
  download is one CONNECT to huggingface.co — `model_identity` compares the weights.

A run without network (no egress.jsonl) passes with a note.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ptb.egress.policy import build_policy
from ptb.egress.record import EGRESS_LOG, EgressRecord, format_denials, read_denials, read_egress
from ptb.options import option
from ptb.stages.judge.check import CheckResult, JudgeInputs, judge_check

RULES = ("forbidden_model", "llm_api", "denied_host", "address", "hub_by_other_name", "internal_address", "policy")
_LISTED = 10


@dataclass(frozen=True)
class EgressPolicyOptions:
    flag_denied: tuple[str, ...] = option((), choices=lambda: RULES)  # denial rules that fail the check
    flag_reached: bool = True  # reaching what the policy denies fails the check


@judge_check("egress_policy", options=EgressPolicyOptions)
def egress_policy_check(inputs: JudgeInputs, options: EgressPolicyOptions) -> CheckResult:
    if not (inputs.run_dir / EGRESS_LOG).is_file():
        return CheckResult.ok("no egress log: the run had no network")
    records = read_egress(inputs.run_dir)
    denials = read_denials(inputs.run_dir)
    reached = reached_denied(inputs, records)
    summary = f"{len(records)} connections and requests, {len(denials)} denied"
    problems = []
    if options.flag_reached and reached:
        problems.append(f"{len(reached)} reached what the egress policy denies:\n" + "\n".join(reached[:_LISTED]))
    counted = [d for d in denials if d.rule in options.flag_denied]
    if counted:
        problems.append(
            f"{len(counted)} denied attempts ({', '.join(options.flag_denied)}):\n" + format_denials(counted, _LISTED)
        )
    if problems:
        return CheckResult.failed(f"{summary}; " + "\n".join(problems))
    detail = summary
    if denials:
        detail += " (blocked, not counted against the run):\n" + format_denials(denials, _LISTED)
    if reached:
        detail += f"\nreached despite the policy (flag_reached is off): {len(reached)}\n" + "\n".join(reached[:_LISTED])
    return CheckResult.ok(detail)


def reached_denied(inputs: JudgeInputs, records: list[EgressRecord]) -> list[str]:
    """Lines naming each allowed connection the run's policy, switched on, would have denied."""
    spec = inputs.spec
    # upstream_ca: the proxy's own trust, irrelevant here (and its file may be gone by now)
    policy = build_policy(dataclasses.replace(spec.egress, policy=True, upstream_ca=None), spec.agent, spec.model)
    found = []
    for record in records:
        if not record.allowed:
            continue
        denial = policy.deny_host(record.host, record.port)
        if denial is None and record.path is not None:
            denial = policy.deny_request(record.host, record.path)
        if denial is not None:
            found.append(f"{record.method} {record.target} (status {record.status}): {denial.reason}")
    return found
