"""The judge check ``egress_policy`` on hand-written egress logs: denials as evidence, reached APIs flagged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ptb.records import AgentCli, AgentSpec, Budget, EgressSpec, LadderStep, ModelSpec, RunSpec, TaskSpec
from ptb.stages.judge import build_judge
from ptb.stages.judge.check import JudgeInputs
from ptb.stages.judge.run import run_checks

OPUS = AgentSpec(name="opus", scaffold="claude_code", model="claude-opus-4-6", network=True,
                 cli=AgentCli(package="@anthropic-ai/claude-code", version="2.1.197", bin="claude"))  # fmt: skip
QWEN = ModelSpec(name="qwen3-4b", template="qwen3", hf_id="Qwen/Qwen3-4B-Base", instruct="Qwen/Qwen3-4B",
                 forbidden=("Qwen/Qwen3-4B",))  # fmt: skip


def spec_for(tmp_path: Path, egress: EgressSpec | None = None) -> RunSpec:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return RunSpec(
        run_id="r1", sweep="s", agent=OPUS, model=QWEN,
        task=TaskSpec(name="t", benchmark="T", eval_dir=str(tmp_path), ladder=(LadderStep(64, 1),)),
        budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none", run_dir=str(run_dir),
        scratch_dir=str(tmp_path / "scratch"), cache_dir=str(tmp_path / "cache"), egress=egress or EgressSpec(),
    )  # fmt: skip


def record(host: str, *, kind: str = "connect", path: str | None = None, allowed: bool = True, rule: str | None = None,
           reason: str | None = None, t: float = 1.0) -> dict:  # fmt: skip
    return {"t": t, "end": t + 0.1, "kind": kind, "host": host, "port": 443, "method": "GET" if path else "CONNECT",
            "path": path, "status": 200 if allowed else 403, "bytes_up": 10, "bytes_down": 10, "allowed": allowed,
            "error": None, "rule": rule, "reason": reason, "intercepted": kind != "connect"}  # fmt: skip


def write_log(spec: RunSpec, records: list[dict]) -> None:
    (Path(spec.run_dir) / "egress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def check(spec: RunSpec, **options):
    judge = build_judge({"checks": {"egress_policy": options}})
    (finding,) = run_checks(spec, judge, "/nonexistent-base")
    return finding


DENIED_DOWNLOAD = record("huggingface.co", kind="https", path="/Qwen/Qwen3-4B/resolve/main/config.json", allowed=False,
                         rule="forbidden_model", reason="forbidden model Qwen/Qwen3-4B (the official instruct model)", t=2.0)  # fmt: skip


def test_no_egress_log_passes(tmp_path: Path) -> None:
    finding = check(spec_for(tmp_path))
    assert finding.outcome == "pass" and "no network" in finding.detail


def test_denials_are_evidence_but_not_a_failure_by_default(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    write_log(
        spec,
        [
            record("api.anthropic.com"),
            record("huggingface.co", kind="https", path="/Qwen/Qwen3-4B-Base/resolve/main/x"),
            DENIED_DOWNLOAD,
        ],
    )
    finding = check(spec)
    assert finding.outcome == "pass" and finding.flag
    assert "3 connections and requests, 1 denied (blocked" in finding.detail
    assert (
        "GET https://huggingface.co:443/Qwen/Qwen3-4B/resolve/main/config.json: forbidden model Qwen/Qwen3-4B" in finding.detail
    )


def test_flag_denied_counts_the_rules_it_names(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    write_log(spec, [DENIED_DOWNLOAD])
    assert check(spec, flag_denied=["llm_api"]).outcome == "pass"
    finding = check(spec, flag_denied=["forbidden_model"])
    assert finding.outcome == "fail" and "1 denied attempts (forbidden_model)" in finding.detail


def test_reaching_another_vendors_api_with_the_policy_off_fails(tmp_path: Path) -> None:
    """The guard-off run: the proxy let everything through; the judge still sees who was reached."""
    spec = spec_for(tmp_path, EgressSpec(policy=False))
    write_log(spec, [record("api.anthropic.com"), record("api.openai.com", t=3.0),
                     record("hf.co", kind="http", path="/api/models/qwen%2Fqwen3-4b", t=4.0)])  # fmt: skip
    finding = check(spec)
    assert finding.outcome == "fail"
    assert "2 reached what the egress policy denies" in finding.detail
    assert (
        "CONNECT api.openai.com:443 (status 200): hosted LLM API api.openai.com (OpenAI; not this agent's vendor)"
        in finding.detail
    )
    assert "forbidden model Qwen/Qwen3-4B" in finding.detail
    assert "api.anthropic.com" not in finding.detail  # its own vendor
    relaxed = check(spec, flag_reached=False)
    assert relaxed.outcome == "pass" and "reached despite the policy" in relaxed.detail


def test_the_operators_hosts_are_not_evidence(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, dataclasses.replace(EgressSpec(), allow_hosts=("api.groq.com",), upstream_ca="/gone/ca.pem"))
    write_log(spec, [record("api.groq.com"), record("pypi.org")])
    assert check(spec).outcome == "pass"  # (an upstream_ca that no longer exists is no reason to fail either)


@pytest.mark.parametrize("bad", [{"flag_denied": ["nosuch"]}, {"flag_reached": "yes"}, {"flag_denid": []}])
def test_bad_options_fail_at_plan_time(bad: dict) -> None:
    from ptb.errors import ConfigError

    with pytest.raises(ConfigError, match="judge.checks.egress_policy"):
        build_judge({"checks": {"egress_policy": bad}})


def test_the_check_reads_the_inputs_run_folder(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    write_log(spec, [DENIED_DOWNLOAD])
    from ptb.stages.judge.checks.egress_policy import EgressPolicyOptions, egress_policy_check

    inputs = JudgeInputs(spec=spec, run_dir=Path(spec.run_dir), base_model=tmp_path, harness_hashes={})
    assert egress_policy_check(inputs, EgressPolicyOptions(flag_denied=("forbidden_model",))).outcome == "fail"
