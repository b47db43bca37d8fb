"""Measuring baselines through the evaluation pool, once per (kind, model, task), however many
runs ask at the same time.

    meter = BaselineMeter(results_dir, eval_pool)
    meter.base_score(model, task, base_model_path)     # measured once, then read from the store
    meter.metrics("instruct", model, task, instruct_path)

Every measurement is the final evaluation of that checkpoint (the run's template and ladder),
stored in the `BaselineStore` of the results folder. Once per results folder, not per driver:
a cell is measured holding its thread lock and its lock file (`ptb.locks`), so a second driver
(another sweep, or `python -m ptb.baseline`) asking for the same cell waits, logging who it
waits for, and then reads the stored measurement.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ptb.baseline.store import BaselineScore, BaselineStore, set_aside
from ptb.evaluation import EvalPool, EvalRequest
from ptb.io import write_record
from ptb.locks import hold_cell
from ptb.records import Metrics, ModelSpec, TaskSpec
from ptb.tasks.heldout import task_split_fingerprint


class BaselineMeter:
    """Measures baselines through the evaluation pool, once each, even with many runs asking."""

    def __init__(self, results_dir: str | Path, eval_pool: EvalPool) -> None:
        self.store = BaselineStore(results_dir)
        self._pool = eval_pool
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def metrics(self, kind: str, model: ModelSpec, task: TaskSpec, model_path: str | Path, force: bool = False) -> Metrics:
        """The stored measurement, or a new one of the checkpoint at `model_path` (the base model
        or the official instruct model), evaluated like any final checkpoint. ``force``: measured
        again, the stored one set aside."""
        folder = self.store.folder(kind, model.name, task.name)
        with self._lock(folder), hold_cell(self.store.lock_file(kind, model.name, task.name), f"baseline {kind} {folder.name}"):
            stored = self.store.read(kind, model.name, task.name)
            if stored is not None and stored.split_fingerprint == task_split_fingerprint(task) and not force:
                return stored
            if stored is not None or force:  # forced, or measured on another held-out split (another secret): not comparable
                set_aside(folder)
            metrics = self._pool.evaluate(EvalRequest.final(model, task, model_path, folder / "eval"))
            write_record(folder / "metrics.json", metrics)
            return metrics

    def base_score(self, model: ModelSpec, task: TaskSpec, base_model_path: str | Path) -> BaselineScore:
        """The base score a run falls back to: measured (once), else the reference table."""
        measured = self.metrics("base", model, task, base_model_path)
        if measured.score is not None:
            return BaselineScore(measured.score, "measured")
        return self.store.score("base", model.name, task.name)
