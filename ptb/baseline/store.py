"""Baselines: the base model's score (what a flagged or failed run falls back to) and the
official instruct model's score, per (model, task).

Measured through the same evaluation pool as the checkpoints, once per (kind, model, task), and
stored where every sweep of the results folder and the leaderboard find them:

    <results_dir>/baselines/<kind>/<model>__<task>/metrics.json     (kind: base | instruct)
    <results_dir>/baselines/<kind>/<model>__<task>/eval/            (inspect logs)
    <results_dir>/baselines/.locks/<kind>/<model>__<task>.lock      (held while measured, `ptb.locks`)

`python -m ptb.baseline` measures them without any agent; a run measures its base score on
first need (`ptb.baseline.meter`). Where no measured score exists, `BaselineStore.score` falls
back to the published reference table (`ptb.baseline.reference`) and says which source it used.
A measurement names the test split it was made on (``split_fingerprint``, `ptb.tasks.heldout`):
one made on another held-out split (another installation's secret) is measured again, the old
one set aside, so a run's base score is always on its own test split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ptb.baseline.reference import KINDS, reference_score
from ptb.io import read_record
from ptb.records import Metrics

Source = Literal["measured", "reference"]


def set_aside(folder: Path) -> None:
    """Move an old measurement out of the way (never deleted): <folder>.old-<time>."""
    if folder.exists():
        folder.rename(folder.with_name(f"{folder.name}.old-{int(time.time())}"))


@dataclass(frozen=True)
class BaselineScore:
    score: float | None  # 0..1; None when neither a measurement nor a reference exists
    source: Source | None


class BaselineStore:
    """Reads and writes the baselines folder of a results folder."""

    def __init__(self, results_dir: str | Path) -> None:
        self.root = Path(results_dir) / "baselines"

    def folder(self, kind: str, model: str, task: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"baseline kind {kind!r} is unknown; accepted: {list(KINDS)}")
        return self.root / kind / f"{model}__{task}"

    def lock_file(self, kind: str, model: str, task: str) -> Path:
        """The cell's lock file: beside the cell folders, so setting a measurement aside keeps it."""
        return self.root / ".locks" / kind / f"{self.folder(kind, model, task).name}.lock"

    def read(self, kind: str, model: str, task: str) -> Metrics | None:
        path = self.folder(kind, model, task) / "metrics.json"
        return read_record(path, Metrics) if path.is_file() else None

    def score(self, kind: str, model: str, task: str) -> BaselineScore:
        """The measured score when there is one, else the published reference, else none."""
        measured = self.read(kind, model, task)
        if measured is not None and measured.score is not None:
            return BaselineScore(measured.score, "measured")
        reference = reference_score(kind, model, task)
        return BaselineScore(reference, "reference" if reference is not None else None)
