"""Stage 4, judge: run the configured checks over a collected run folder → a `Verdict`.

    verdict = judge_run(spec, plan.judge, base_model_path)   # plan.judge: a JudgeConfig
    if not verdict.decided: ...                               # infrastructure: judge again later

The judge only reads the run folder (``final_model/``, ``workspace/`` snapshot,
``harness_hashes.json``, ``trace.jsonl``); the orchestrator writes judge.json itself, outside
anything the agent could write. Each check passes, fails, or could not decide (see
`ptb.stages.judge.check`); a check that raises fails, because a workspace crafted to crash the
judge must not slip through unjudged. A verdict with an undecided finding is never flagged for
it: the pipeline retries the judge like a lost worker.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from ptb import registry
from ptb.io import read_json
from ptb.records import Finding, JudgeConfig, RunSpec, Verdict
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided

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


def judge_run(spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> Verdict:
    run_dir = Path(spec.run_dir)
    hashes, hashes_error = load_harness_hashes(run_dir)
    inputs = JudgeInputs(
        spec=spec,
        run_dir=run_dir,
        base_model=Path(base_model_path),
        harness_hashes=hashes,
        harness_hashes_error=hashes_error,
    )
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
    unusable = next((f.detail for f in findings if f.checkpoint_unusable), None)
    return Verdict(
        flagged=any(f.flag and f.outcome == "fail" for f in findings),
        findings=tuple(findings),
        reason=_reason(findings),
        checkpoint_unusable=unusable,
    )


def _reason(findings: list[Finding]) -> str:
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
        return f"not flagged: all {len(findings)} checks passed" if findings else "not flagged: no checks configured"
    if undecided and flagging:
        reason += f"; could not decide: {', '.join(f.check for f in undecided)}"
    return reason


def _first_clause(detail: str, limit: int = 160) -> str:
    line = detail.splitlines()[0] if detail else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
