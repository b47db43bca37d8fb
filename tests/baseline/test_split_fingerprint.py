"""Baselines are per held-out split: one measured on another secret's split is measured again."""

from __future__ import annotations

from pathlib import Path

from ptb.baseline.meter import BaselineMeter
from ptb.evaluation import EvalRequest
from ptb.records import Metrics
from ptb.tasks.heldout import task_split_fingerprint


class CountingPool:
    """Stands in for the evaluation pool: records what it evaluated, names the split like the pool."""

    def __init__(self) -> None:
        self.requests: list[EvalRequest] = []

    def evaluate(self, request: EvalRequest) -> Metrics:
        self.requests.append(request)
        return Metrics(score=0.1 * len(self.requests), metric="accuracy", samples=3, attempts=(),
                       split_fingerprint=task_split_fingerprint(request.task))


def test_a_baseline_of_another_split_is_measured_again(tmp_path, monkeypatch, tiny_model_spec, arith_task_spec):
    pool = CountingPool()
    meter = BaselineMeter(tmp_path / "results", pool)
    first = meter.metrics("base", tiny_model_spec, arith_task_spec, tmp_path / "base")
    assert first.split_fingerprint and first.split_fingerprint.startswith("sha256:")
    assert meter.metrics("base", tiny_model_spec, arith_task_spec, tmp_path / "base") == first  # stored
    assert len(pool.requests) == 1
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path / "another-installation"))  # another secret
    second = meter.metrics("base", tiny_model_spec, arith_task_spec, tmp_path / "base")
    assert len(pool.requests) == 2 and second.split_fingerprint != first.split_fingerprint
    folder = meter.store.folder("base", tiny_model_spec.name, arith_task_spec.name)
    assert meter.store.read("base", tiny_model_spec.name, arith_task_spec.name) == second
    assert [p.name for p in Path(folder).parent.glob(f"{folder.name}.old-*")]  # the old one set aside
