"""The final evaluation: inspect-ai tasks against a served checkpoint, the retry ladder and
the pool of Ray evaluation actors. See `ptb.evaluation.pool` for the entry point."""

from ptb.evaluation.errors import EvalInfraError
from ptb.evaluation.inspect_runner import EvalFailed, TaskScore, inspect_model_name, run_inspect_task
from ptb.evaluation.ladder import evaluate_with_ladder
from ptb.evaluation.pool import EvalPool, EvalRequest, EvalWorker, serving_key

__all__ = [
    "EvalFailed",
    "EvalInfraError",
    "EvalPool",
    "EvalRequest",
    "EvalWorker",
    "TaskScore",
    "evaluate_with_ladder",
    "inspect_model_name",
    "run_inspect_task",
    "serving_key",
]
