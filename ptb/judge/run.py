"""Stage 4, judge: run the configured checks over a collected run folder → a `Verdict`.

    verdict = judge_run(spec, {"harness_unchanged": {"flag": True}, ...}, base_model_path)

The judge only reads the run folder (``final_model/``, ``workspace/`` snapshot,
``harness_hashes.json``, ``trace.jsonl``); the orchestrator writes judge.json itself, outside
anything the agent could write. A check that raises does not crash the judge: it becomes a
failed finding that says so (and flags the run when the check flags), because a workspace
crafted to crash the judge must not slip through unjudged.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any, Mapping

from ptb.io import read_json
from ptb.judge.registry import JudgeInputs, resolve_checks
from ptb.records import Finding, RunSpec, Verdict

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


def judge_run(spec: RunSpec, checks_cfg: Mapping[str, Any], base_model_path: str) -> Verdict:
    checks = resolve_checks(checks_cfg)  # config errors raise before any work
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
    for configured in checks:
        name = configured.check.name
        try:
            result = configured.check.fn(inputs, configured.params)
            passed, detail = result.passed, result.detail
        except Exception as exc:
            log.warning("judge check %s raised on %s:\n%s", name, spec.run_id, traceback.format_exc())
            passed, detail = False, f"the check itself failed: {type(exc).__name__}: {exc}"
        findings.append(Finding(check=name, passed=passed, flag=configured.flag, detail=detail))
    return Verdict(flagged=any(f.flag and not f.passed for f in findings), findings=tuple(findings), reason=_reason(findings))


def _reason(findings: list[Finding]) -> str:
    flagging = [f for f in findings if f.flag and not f.passed]
    noted = [f for f in findings if not f.flag and not f.passed]
    if flagging:
        reason = "flagged by " + "; ".join(f"{f.check} ({_first_clause(f.detail)})" for f in flagging)
        if noted:
            reason += f"; also failed, not flagging: {', '.join(f.check for f in noted)}"
        return reason
    if noted:
        return f"not flagged; failed checks that do not flag: {', '.join(f.check for f in noted)}"
    return f"not flagged: all {len(findings)} checks passed" if findings else "not flagged: no checks configured"


def _first_clause(detail: str, limit: int = 160) -> str:
    line = detail.splitlines()[0] if detail else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
