"""Check ``harness_unchanged``: every harness file the agent got still has its recorded hash.

prepare recorded ``{path in workspace: sha256}`` in the run folder (harness_hashes.json) for
evaluate.py, the chat templates, timer.sh, ptb_eval.json and the task's context files; this
check re-hashes them in the collected workspace snapshot. A missing file, a changed one, or one
replaced by a symlink fails; without the recorded hashes it cannot decide.
"""

from __future__ import annotations

from pathlib import Path

from ptb.io import sha256_file
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided, judge_check

_MAX_LISTED = 8


def harness_file_state(workspace: Path, rel: str, expected: str) -> str:
    """'unchanged', 'missing', 'symlink', 'outside' or 'modified' for one recorded harness file."""
    path = workspace / rel
    if path.is_symlink():
        return "symlink"
    if not path.resolve().is_relative_to(workspace.resolve()):
        return "outside"  # through a symlinked folder or a '..': never trust what lies there
    if not path.is_file():
        return "missing"
    return "unchanged" if sha256_file(path) == expected else "modified"


def unchanged_harness_files(inputs: JudgeInputs) -> set[str]:
    """Recorded harness files still intact in the snapshot (the overlap check treats them as
    harness data, not agent data)."""
    if not inputs.harness_hashes:
        return set()
    return {
        rel
        for rel, expected in inputs.harness_hashes.items()
        if harness_file_state(inputs.workspace, rel, expected) == "unchanged"
    }


@judge_check("harness_unchanged")
def harness_unchanged(inputs: JudgeInputs, options: None) -> CheckResult:
    if inputs.harness_hashes is None:  # the harness's own record of the run: not the agent's doing
        raise Undecided(f"cannot verify the harness files: {inputs.harness_hashes_error}")
    if not inputs.workspace.is_dir():
        return CheckResult.failed(f"no workspace snapshot at {inputs.workspace}")
    problems: dict[str, list[str]] = {}
    for rel, expected in sorted(inputs.harness_hashes.items()):
        state = harness_file_state(inputs.workspace, rel, expected)
        if state != "unchanged":
            problems.setdefault(state, []).append(rel)
    total = len(inputs.harness_hashes)
    if not problems:
        return CheckResult.ok(f"all {total} harness files unchanged")
    parts = []
    for state in ("modified", "missing", "symlink", "outside"):
        if state in problems:
            names = problems[state]
            shown = ", ".join(names[:_MAX_LISTED]) + (f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")
            label = {"symlink": "replaced by a symlink", "outside": "outside the workspace"}.get(state, state)
            parts.append(f"{label}: {shown}")
    bad = sum(len(v) for v in problems.values())
    return CheckResult.failed(f"{bad} of {total} harness files changed — " + "; ".join(parts))
