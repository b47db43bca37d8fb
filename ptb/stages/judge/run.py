"""Stage 4, judge: run the configured checks and LLM judges over a collected run folder → a `Verdict`.

    verdict = judge_run(spec, plan.judge, base_model_path)   # plan.judge: a JudgeConfig
    if not verdict.decided: ...                               # infrastructure: judge again later

    # the same in parts, as the Ray tasks of `ptb.stages.judge.remote` run it:
    findings = run_checks(spec, plan.judge, base_model_path)            # the deterministic checks
    judgements = [judge_with_llm(spec, c, findings) for c in plan.judge.llm]   # each reads the findings
    verdict = combine(findings, judgements)

The judge only reads the run folder (``final_model/``, ``workspace/`` snapshot,
``harness_hashes.json``, ``trace.jsonl``); the orchestrator writes judge.json itself, outside
anything the agent could write. Each check passes, fails, or could not decide (see
`ptb.stages.judge.check`); a check that raises fails, because a workspace crafted to crash the
judge must not slip through unjudged. A verdict with an undecided finding is never flagged for
it: the pipeline retries the judge like a lost worker.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from ptb import registry
from ptb.io import read_json
from ptb.records import Finding, JudgeConfig, JudgeCost, LlmJudgeConfig, LlmJudgement, RunSpec, Verdict
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided
from ptb.stages.judge.llm import llm_findings, run_llm_judge

log = logging.getLogger(__name__)


def load_harness_hashes(run_dir: Path) -> tuple[dict[str, str] | None, str | None]:
    path = run_dir / "harness_hashes.json"
    try:
        hashes = read_json(path)
    except FileNotFoundError:
        return None, f"{path} is missing (prepare writes it)"
    except (OSError, ValueError) as exc:
        return None, f"{path} is unreadable: {exc}"
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        return None, f"{path} is not a {{path: sha256}} object"
    return hashes, None


def judge_inputs(spec: RunSpec, base_model_path: str) -> JudgeInputs:
    run_dir = Path(spec.run_dir)
    hashes, hashes_error = load_harness_hashes(run_dir)
    return JudgeInputs(spec=spec, run_dir=run_dir, base_model=Path(base_model_path), harness_hashes=hashes,
                       harness_hashes_error=hashes_error)


def run_checks(spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> tuple[Finding, ...]:
    """The deterministic checks of ``judge`` (its ``checks``), in order."""
    inputs = judge_inputs(spec, base_model_path)
    findings = []
    for configured in judge.checks:
        check = registry.load("judge_check", configured.name, where="judge.checks")
        try:
            result = check(inputs, configured.options)
            if not isinstance(result, CheckResult):
                raise TypeError(f"the check returned {type(result).__name__}, not a CheckResult")
        except Undecided as exc:
            result = CheckResult("undecided", f"could not decide: {exc}")
        except Exception as exc:
            log.warning("judge check %s raised on %s:\n%s", configured.name, spec.run_id, traceback.format_exc())
            result = CheckResult.failed(f"the check itself failed: {type(exc).__name__}: {exc}")
        findings.append(Finding(configured.name, result.outcome, configured.flag, result.detail, result.checkpoint_unusable))
    return tuple(findings)


def judge_with_llm(spec: RunSpec, config: LlmJudgeConfig, findings: Sequence[Finding]) -> LlmJudgement:
    """One LLM judge over the run, shown the checks' findings. Not asked when a check could not
    decide: the verdict is judged again anyway, so its calls would be spent for nothing."""
    undecided = [f.check for f in findings if f.outcome == "undecided"]
    if undecided:
        return LlmJudgement(config.name, config.model, (), JudgeCost(), 0, (),
                            f"not asked: check(s) {', '.join(undecided)} could not decide")
    return run_llm_judge(judge_inputs(spec, ""), config, findings)


def combine(findings: Sequence[Finding], judgements: Sequence[LlmJudgement] = ()) -> Verdict:
    """The verdict of the checks' findings and the LLM judges' judgements."""
    every = [*findings, *(f for j in judgements for f in llm_findings(j))]
    unusable = next((f.detail for f in every if f.checkpoint_unusable), None)
    cost = JudgeCost()
    for judgement in judgements:
        cost = cost + judgement.cost
    return Verdict(
        flagged=any(f.flag and f.outcome == "fail" for f in every),
        findings=tuple(every),
        reason=_reason(every),
        checkpoint_unusable=unusable,
        llm=tuple(judgements),
        cost=cost,
        judged_at=round(time.time(), 3),
    )


def judge_run(spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> Verdict:
    """The whole judge in this process: the checks, then each LLM judge."""
    findings = run_checks(spec, judge, base_model_path)
    return combine(findings, [judge_with_llm(spec, config, findings) for config in judge.llm])


def _reason(findings: Sequence[Finding]) -> str:
    flagging = [f for f in findings if f.flag and f.outcome == "fail"]
    noted = [f for f in findings if not f.flag and f.outcome == "fail"]
    undecided = [f for f in findings if f.outcome == "undecided"]
    if flagging:
        reason = "flagged by " + "; ".join(f"{f.check} ({_first_clause(f.detail)})" for f in flagging)
        if noted:
            reason += f"; also failed, not flagging: {', '.join(f.check for f in noted)}"
    elif undecided:
        reason = "undecided: " + "; ".join(f"{f.check} ({_first_clause(f.detail)})" for f in undecided)
    elif noted:
        reason = f"not flagged; failed checks that do not flag: {', '.join(f.check for f in noted)}"
    else:
        reason = f"not flagged: all {len(findings)} checks passed" if findings else "not flagged: no checks configured"
    if undecided and flagging:
        reason += f"; could not decide: {', '.join(f.check for f in undecided)}"
    # an LLM judge's "unclear" never flags, but a reader should see it
    unclear = [f.check for f in findings if f.check.startswith("llm.") and f.detail.startswith("unclear")]
    if unclear:
        reason += f"; unclear (not flagging): {', '.join(unclear)}"
    return reason


def _first_clause(detail: str, limit: int = 160) -> str:
    line = detail.splitlines()[0] if detail else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
