"""Stage 4b, evaluate: the final evaluation of the run's checkpoint in the shared pool.

    metrics = evaluate_run(spec, collected, eval_pool)     # Metrics (metrics.json)

The pristine task from ``evals/`` (never the agent's copy), the harness template of the run's
configured model, the task's final limit and retry ladder (`ptb.evaluation`). A run without a
final_model gets metrics without a score, saying so. A lost evaluation worker raises
`EvalInfraError`; the pipeline retries it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ptb.evaluation import EvalRequest
from ptb.records import CollectReport, Metrics, RunSpec


class Evaluator(Protocol):
    """What the stage needs of the evaluation pool (`ptb.evaluation.EvalPool`)."""

    def evaluate(self, request: EvalRequest) -> Metrics: ...


def evaluate_run(spec: RunSpec, collected: CollectReport, pool: Evaluator) -> Metrics:
    if not collected.has_final_model:
        return Metrics(score=None, metric="accuracy", samples=0, attempts=(), reason="no final_model to evaluate")
    run_dir = Path(spec.run_dir)
    return pool.evaluate(EvalRequest.final(spec.model, spec.task, run_dir / "final_model", run_dir / "eval"))
