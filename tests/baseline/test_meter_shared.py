"""Two drivers (two BaselineMeters: no thread lock in common) of one results folder asking for
the same baseline cell at once: measured once, the second reads the stored measurement; and
`force` sets the old measurement aside under the cell's lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ptb.baseline.meter import BaselineMeter
from ptb.records import Metrics
from ptb.tasks.heldout import task_split_fingerprint


class SlowPool:
    """An evaluation pool that takes a while (a real measurement takes minutes) and counts."""

    def __init__(self, task) -> None:
        self.calls = 0
        self.fingerprint = task_split_fingerprint(task)
        self._count = threading.Lock()

    def evaluate(self, request) -> Metrics:
        with self._count:
            self.calls += 1
        time.sleep(0.5)
        return Metrics(score=0.25, metric="accuracy", samples=4, attempts=(), split_fingerprint=self.fingerprint)


def test_two_drivers_measure_a_shared_baseline_once(tmp_path: Path, tiny_model_spec, arith_task_spec) -> None:
    pool = SlowPool(arith_task_spec)
    meters = [BaselineMeter(tmp_path / "results", pool), BaselineMeter(tmp_path / "results", pool)]  # type: ignore[arg-type]
    scores: list = []
    threads = [
        threading.Thread(target=lambda m=m: scores.append(m.base_score(tiny_model_spec, arith_task_spec, tmp_path / "base")))
        for m in meters
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert pool.calls == 1
    assert [(s.score, s.source) for s in scores] == [(0.25, "measured"), (0.25, "measured")]
    store = meters[0].store
    assert store.lock_file("base", "tiny", "arith").is_file()
    assert not store.lock_file("base", "tiny", "arith").is_relative_to(store.folder("base", "tiny", "arith"))

    meters[0].metrics("base", tiny_model_spec, arith_task_spec, tmp_path / "base", force=True)
    assert pool.calls == 2
    assert len(list(store.root.glob("base/tiny__arith.old-*"))) == 1  # set aside, never deleted
