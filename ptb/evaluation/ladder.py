"""The final evaluation's retry ladder (SPEC §2).

    metrics = evaluate_with_ladder(lambda max_tokens: run_inspect_task(..., max_tokens=max_tokens),
                                   task.ladder)

For each step in order, up to `attempts` tries at its `max_tokens`; the first attempt that
produces a score ends the ladder. Every attempt is recorded (seconds, error). When none
succeeds the metrics carry no score and say why, and the run falls back to the base score.
Infrastructure errors (`EvalInfraError`: the evaluation machinery itself was lost) are not
attempts of the checkpoint and propagate to the caller, which retries them. A checkpoint that
cannot be loaded at all (`CheckpointError`: missing weights, tokenizer or Gemma-3 processor
files) ends the ladder at once: no max-tokens value can fix it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ptb.evaluation.errors import EvalInfraError
from ptb.evaluation.inspect_runner import TaskScore
from ptb.records import Attempt, LadderStep, Metrics
from ptb.serve.launch import CheckpointError


def evaluate_with_ladder(run_once: Callable[[int], TaskScore], ladder: Sequence[LadderStep]) -> Metrics:
    if not ladder:
        raise ValueError("the retry ladder has no steps; give at least one (max_tokens, attempts)")
    attempts: list[Attempt] = []
    for step in ladder:
        for _ in range(step.attempts):
            started = time.monotonic()
            try:
                result = run_once(step.max_tokens)
            except EvalInfraError:
                raise
            except Exception as exc:  # a failed attempt is a result of this checkpoint
                error = f"{type(exc).__name__}: {exc}"
                attempts.append(Attempt(step.max_tokens, ok=False, seconds=time.monotonic() - started, error=error))
                if isinstance(exc, CheckpointError):
                    return _no_score(attempts, "the checkpoint cannot be served")
                continue
            attempts.append(Attempt(step.max_tokens, ok=True, seconds=time.monotonic() - started))
            return Metrics(
                score=result.score,
                metric=result.metric,
                samples=result.samples,
                attempts=tuple(attempts),
                log_dir=str(Path(result.log_file).parent),
            )
    return _no_score(attempts, f"every evaluation attempt failed ({len(attempts)} attempts)")


def _no_score(attempts: list[Attempt], why: str) -> Metrics:
    last = attempts[-1].error if attempts else "no attempt was made (every step has attempts=0)"
    return Metrics(score=None, metric="", samples=0, attempts=tuple(attempts), reason=f"{why}; last error: {last}")
