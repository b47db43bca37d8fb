"""Verdict versions of a run: judge.json is version 1; `python -m ptb.judge` adds judge.v2.json,
judge.v3.json, … beside it and never rewrites an older one.

    verdict_path(run_dir, 1)      # <run_dir>/judge.json
    latest_version(run_dir)       # 3 when judge.v3.json is the newest, 0 when there is none
    read_verdict(run_dir)         # the newest Verdict (None: not judged yet)

The verdict that counts is the newest: `python -m ptb.judge` re-scores result.json from the
version it writes, and result.json names that version (``verdict_version``), so the leaderboard
always reads which verdict a score stands on.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptb.io import read_record
from ptb.records import Verdict

_VERSIONED = re.compile(r"judge\.v([0-9]+)\.json")


def verdict_path(run_dir: str | Path, version: int) -> Path:
    if version < 1:
        raise ValueError(f"verdict versions start at 1, not {version}")
    return Path(run_dir) / ("judge.json" if version == 1 else f"judge.v{version}.json")


def verdict_file(version: int) -> str:
    return verdict_path(".", version).name


def versions(run_dir: str | Path) -> list[int]:
    """Every verdict version the run has, oldest first."""
    run_dir = Path(run_dir)
    found = [1] if (run_dir / "judge.json").is_file() else []
    for path in run_dir.glob("judge.v*.json"):
        match = _VERSIONED.fullmatch(path.name)
        if match and int(match.group(1)) >= 2:
            found.append(int(match.group(1)))
    return sorted(found)


def latest_version(run_dir: str | Path) -> int:
    return max(versions(run_dir), default=0)


def read_verdict(run_dir: str | Path, version: int | None = None) -> Verdict | None:
    """The verdict of ``version`` (default: the newest), or None when there is none."""
    version = latest_version(run_dir) if version is None else version
    if version == 0 or not verdict_path(run_dir, version).is_file():
        return None
    return read_record(verdict_path(run_dir, version), Verdict)
