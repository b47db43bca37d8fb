"""Live progress of a sweep: the state of every run, elapsed time against its budget.

`RunBoard` is updated by the pipeline threads; a ticker thread renders it (redrawn in place on
a terminal, as plain lines when stdout is a file or CI log) and forwards stage changes and
fresh monitor samples to the tracker, so wandb shows live system metrics of every agent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from ptb.records import RunSpec
from ptb.stages import Stage


@dataclass(frozen=True)
class RunState:
    run_id: str
    stage: Stage = Stage.QUEUED
    detail: str = ""
    solve_started_at: float | None = None
    budget_seconds: float = 0.0
    changed_at: float = 0.0


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunBoard:
    def __init__(
        self,
        specs: list[RunSpec],
        out: TextIO | None = None,
        interval_s: float = 10.0,
        on_stage: Callable[[str, Stage, str], None] | None = None,
        on_sample: Callable[[str, dict], None] | None = None,
    ) -> None:
        self._specs = {s.run_id: s for s in specs}
        self._states = {s.run_id: RunState(s.run_id, budget_seconds=s.budget.seconds) for s in specs}
        self._lock = threading.Lock()
        self._out = out or sys.stdout
        self._tty = self._out.isatty()
        self._interval = interval_s
        self._on_stage = on_stage
        self._on_sample = on_sample
        self._monitor_offsets: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn_lines = 0

    # ------------------------------------------------------------------ updates from pipelines

    def update(self, run_id: str, stage: Stage, detail: str = "") -> None:
        with self._lock:
            state = replace(self._states[run_id], stage=stage, detail=detail, changed_at=time.time())
            self._states[run_id] = state
        if self._on_stage:
            self._on_stage(run_id, stage, detail)
        if not self._tty:
            self._print(f"[ptb] {run_id}: {stage}{' - ' + detail if detail else ''}")

    def states(self) -> list[RunState]:
        with self._lock:
            return list(self._states.values())

    # ------------------------------------------------------------------ rendering

    def _solve_started(self, run_id: str) -> float | None:
        """The agent's clock starts when the solve stage writes the deadline into the workspace."""
        spec = self._specs[run_id]
        deadline_file = Path(spec.scratch_dir) / "workspace" / ".ptb" / "deadline"
        try:
            return float(deadline_file.read_text().strip()) - spec.budget.seconds
        except (OSError, ValueError):
            return None

    def render(self) -> str:
        now = time.time()
        rows = []
        for state in self.states():
            elapsed = ""
            if state.stage is Stage.SOLVE:
                started = self._solve_started(state.run_id)
                if started is None:
                    elapsed = "waiting for resources"
                else:
                    pct = 100 * (now - started) / state.budget_seconds if state.budget_seconds else 0
                    elapsed = f"{_clock(now - started)} / {_clock(state.budget_seconds)} ({pct:.0f}%)"
            rows.append((state.run_id, state.stage.label, elapsed or state.detail))
        width = max((len(r[0]) for r in rows), default=10)
        counts: dict[str, int] = {}
        for _, stage, _ in rows:
            counts[stage] = counts.get(stage, 0) + 1
        head = "runs: " + ", ".join(f"{n} {stage}" for stage, n in sorted(counts.items()))
        lines = [head] + [f"  {rid:<{width}}  {stage:<15} {info}" for rid, stage, info in rows]
        return "\n".join(lines)

    def _print(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()

    def _redraw(self) -> None:
        text = self.render()
        with self._lock:
            if self._drawn_lines:
                self._out.write(f"\x1b[{self._drawn_lines}F\x1b[J")
            self._out.write(text + "\n")
            self._out.flush()
            self._drawn_lines = text.count("\n") + 1

    # ------------------------------------------------------------------ monitor forwarding

    def _forward_monitor_samples(self) -> None:
        if not self._on_sample:
            return
        for state in self.states():
            if state.stage is not Stage.SOLVE:
                continue
            path = Path(self._specs[state.run_id].run_dir) / "monitor.jsonl"
            offset = self._monitor_offsets.get(state.run_id, 0)
            try:
                with open(path) as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            complete, _, _ = chunk.rpartition("\n")  # leave a half-written last line for later
            if not complete:
                continue
            self._monitor_offsets[state.run_id] = offset + len(complete) + 1
            for line in complete.splitlines():
                try:
                    self._on_sample(state.run_id, json.loads(line))
                except json.JSONDecodeError:
                    continue

    # ------------------------------------------------------------------ ticker

    def _tick(self) -> None:
        last_summary = time.time()
        while not self._stop.wait(1.0 if self._tty else min(1.0, self._interval)):
            self._forward_monitor_samples()
            if self._tty:
                self._redraw()
            elif time.time() - last_summary >= self._interval:
                self._print(self.render())
                last_summary = time.time()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._tick, name="ptb-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._forward_monitor_samples()
        if self._tty:
            self._redraw()
