"""Stage 4b, evaluate: the final evaluation of the run's checkpoint in the shared pool.

    metrics = evaluate_run(spec, collected, eval_pool, base_model)     # Metrics (metrics.json)

The pristine task from ``evals/`` (never the agent's copy), the harness template of the run's
configured model, the task's final limit and retry ladder (`ptb.evaluation`). What is served is
the run's ``served_model/`` (`ptb.stages.served`): final_model's resolved weights with the base
model's tokenizer, the very files the judge reads; it is built here when collect did not (a run
folder collected before it existed). A run without a final_model, or with one whose layout is
refused, gets metrics without a score, saying so. A lost evaluation worker raises
`EvalInfraError`; the pipeline retries it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from ptb.evaluation import EvalRequest
from ptb.records import CollectReport, Metrics, RunSpec
from ptb.stages.served import ensure_served_model, served_model_dir


class Evaluator(Protocol):
    """What the stage needs of the evaluation pool (`ptb.evaluation.EvalPool`)."""

    def evaluate(self, request: EvalRequest) -> Metrics: ...


def evaluate_run(spec: RunSpec, collected: CollectReport, pool: Evaluator, base_model: str | os.PathLike) -> Metrics:
    if not collected.has_final_model:
        return Metrics(score=None, metric="accuracy", samples=0, attempts=(), reason="no final_model to evaluate")
    run_dir = Path(spec.run_dir)
    served = ensure_served_model(run_dir, base_model)
    if not served.usable:
        return Metrics(score=None, metric="accuracy", samples=0, attempts=(), reason=f"checkpoint unusable: {served.reason}")
    return pool.evaluate(EvalRequest.final(spec.model, spec.task, served_model_dir(run_dir), run_dir / "eval"))
