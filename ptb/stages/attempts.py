"""What an earlier attempt of a run left behind, kept aside instead of overwritten.

    n = set_aside_attempt(run_dir)   # before a solve attempt: the last one's logs → attempts/<n>/
    retire_error(run_dir)            # before a run starts again: error.txt → errors/<n>.txt

A solve attempt writes solve.log, monitor.jsonl, egress.jsonl and grading.jsonl into the run
folder. When its actor is lost (an infra retry) or its driver is killed (the same command run
again), the next attempt starts from a fresh workspace; its logs must not overwrite or append to
the lost attempt's, or the judge would read two agents' actions as one and a user could not see
that a retry happened. So each lost attempt's logs move to ``attempts/<n>/`` (n = 1, 2, ...), and
`Outcome.attempt` says which attempt the recorded outcome is.

An ``error.txt`` describes why the last driver gave up on the run; once the run is started again
it is history, not the run's state: it moves to ``errors/<n>.txt`` (a new failure writes a new
error.txt), so a finished run never carries a stale error.
"""

from __future__ import annotations

from pathlib import Path

# What one solve attempt writes into the run folder (ptb.stages.solve, ptb.egress, ptb.grading).
ATTEMPT_FILES = ("solve.log", "monitor.jsonl", "egress.jsonl", "grading.jsonl")


def _next_slot(folder: Path, suffix: str = "") -> Path:
    """folder/<n><suffix> for the lowest n ≥ 1 not taken (counting what is already there)."""
    n = 1
    while (folder / f"{n}{suffix}").exists():
        n += 1
    return folder / f"{n}{suffix}"


def attempts_before(run_dir: Path) -> int:
    """How many lost solve attempts of this run are kept aside."""
    folder = run_dir / "attempts"
    return sum(1 for p in folder.iterdir() if p.is_dir() and p.name.isdigit()) if folder.is_dir() else 0


def set_aside_attempt(run_dir: Path) -> int:
    """Move what an earlier solve attempt left in the run folder to attempts/<n>/; returns how
    many earlier attempts there are now (the next attempt is that + 1)."""
    left = [run_dir / name for name in ATTEMPT_FILES if (run_dir / name).exists()]
    if left:
        slot = _next_slot(run_dir / "attempts")
        slot.mkdir(parents=True)
        for path in left:
            path.rename(slot / path.name)  # a writer still holding it keeps writing into the moved file
    return attempts_before(run_dir)


def retire_error(run_dir: Path) -> Path | None:
    """Move a previous driver's error.txt to errors/<n>.txt; returns where it went."""
    error = run_dir / "error.txt"
    if not error.is_file():
        return None
    target = _next_slot(run_dir / "errors", ".txt")
    target.parent.mkdir(exist_ok=True)
    error.rename(target)
    return target
