"""The stages of one run, in order, and the `Stage` a run is in (shared by the pipeline, the
progress board and the tracker).

    1. prepare   `ptb.stages.prepare`   spec.yaml, prompt.md, harness_hashes.json, the workspace
    2. solve     `ptb.stages.solve`     outcome.json (solve.log, monitor.jsonl): the AgentRun actor
    3. collect   `ptb.stages.collect`   collect.json (final_model/, served_model/, workspace/, trace.jsonl)
    4. judge     `ptb.stages.judge`     judge.json                      } concurrently: a Ray task
       evaluate  `ptb.stages.evaluate`  metrics.json (eval/)            } and the evaluation pool
    5. score     `ptb.stages.score`     result.json

`ptb.pipeline` runs them, each once: a stage whose output file exists is not repeated.
"""

from __future__ import annotations

from enum import Enum


class Stage(Enum):
    """Where a run is. Each value is ``(label, is_active, is_terminal)``: an active stage holds
    or waits for resources of the run; a terminal one never changes again in this sweep.
    (The shape follows Ray Train's controller state enum.)"""

    QUEUED = ("queued", False, False)
    PREPARE = ("prepare", True, False)
    SOLVE = ("solve", True, False)
    COLLECT = ("collect", True, False)
    JUDGE_EVALUATE = ("judge+evaluate", True, False)
    SCORE = ("score", True, False)
    DONE = ("done", False, True)
    FAILED = ("failed", False, True)
    SKIPPED = ("skipped", False, True)  # another driver holds the run (`ptb.locks`): not this sweep's to run

    def __init__(self, label: str, is_active: bool, is_terminal: bool) -> None:
        self.label = label
        self.is_active = is_active
        self.is_terminal = is_terminal

    def __str__(self) -> str:
        return self.label

    @classmethod
    def from_label(cls, label: str) -> Stage:
        for stage in cls:
            if stage.label == label:
                return stage
        raise ValueError(f"no stage {label!r}; stages: {[s.label for s in cls]}")


__all__ = ["Stage"]
