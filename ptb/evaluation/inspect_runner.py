"""Running a task's pristine inspect-ai task against an OpenAI-compatible server.

    score = run_inspect_task(task, "http://127.0.0.1:8000/v1", "final_model",
                             limit=None, max_tokens=96, max_connections=16, log_dir=Path("eval"))
    print(score.metric, score.score, score.log_file)   # `inspect view --log-dir eval` shows it

The task code always comes from ``task.eval_dir`` (the harness's copy, loaded by path), never
from an agent's workspace. The server is addressed through inspect's ``openai-api`` provider
with the service name ``ptb``; local servers need no key, so a placeholder is sent.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.errors import ConfigError
from ptb.plugins import task_function
from ptb.records import TaskSpec

SERVICE = "ptb"  # inspect model name: openai-api/<SERVICE>/<served model name>
PLACEHOLDER_API_KEY = "ptb-local-no-key"
PREFERRED_METRICS = ("accuracy", "mean")


class EvalFailed(RuntimeError):
    """An evaluation ran but produced no metrics (inspect error, errored samples, ...)."""


@dataclass(frozen=True)
class TaskScore:
    score: float  # 0..1
    metric: str  # which inspect metric `score` is (e.g. "accuracy")
    samples: int  # samples scored
    log_file: str  # the inspect log (.eval); `inspect view` opens it


def inspect_model_name(served_model_name: str) -> str:
    return f"openai-api/{SERVICE}/{served_model_name}"


def _no_proxy_for_local_servers() -> None:
    """The OpenAI client honours HTTP(S)_PROXY; a local server must be reached directly."""
    if not any(os.environ.get(v) for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    for var in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))


def _pick_metric(metrics: dict) -> tuple[str, float]:
    for name in PREFERRED_METRICS:
        if name in metrics:
            return name, float(metrics[name].value)
    name = next(iter(metrics))  # a task with its own metric: its first one is its headline
    return name, float(metrics[name].value)


def run_inspect_task(
    task: TaskSpec,
    base_url: str,
    model_name: str,
    *,
    limit: int | None,
    max_tokens: int,
    max_connections: int,
    log_dir: Path,
    split: str = "test",
    request_timeout_s: int = 600,
    max_retries: int = 3,
    stop_token_ids: tuple[int, ...] = (),
    inspect_task: Any = None,
) -> TaskScore:
    """Evaluate `task` (split `split`) on the served model; raise EvalFailed when it yields no score.
    ``inspect_task``: an inspect Task to run instead of the task module's own (the agent's
    evaluate.py on a secret split: `ptb.grading.remote_task`)."""
    from inspect_ai import eval as inspect_eval  # heavy import, only where it is needed

    if inspect_task is None:
        try:
            task_fn = task_function(task)  # called with split and task.params (e.g. the grader)
        except ConfigError as exc:  # checked at plan time; a task folder changed since is this attempt's failure
            raise EvalFailed(str(exc)) from exc
        try:
            inspect_task = task_fn(split=split, **dict(task.params))
        except Exception as exc:  # e.g. its data is not readable here
            raise EvalFailed(f"the task '{task.name}' could not be built: {type(exc).__name__}: {exc}") from exc
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    _no_proxy_for_local_servers()
    try:
        logs = inspect_eval(
            inspect_task,
            model=inspect_model_name(model_name),
            model_base_url=base_url,
            model_args={"api_key": PLACEHOLDER_API_KEY},
            log_dir=str(log_dir),
            limit=limit,
            max_connections=max_connections,
            max_tokens=max_tokens,
            display="none",
            log_level="warning",
            # a dead server must fail the attempt (and let the ladder retry), not hang for hours
            timeout=request_timeout_s,
            max_retries=max_retries,
            fail_on_error=True,
            # the template's end-of-turn token ends every reply (see ptb.chat_templates.stop_token_ids)
            extra_body={"stop_token_ids": list(stop_token_ids)} if stop_token_ids else None,
        )
    except Exception as exc:  # inspect raises for some setup errors instead of logging them
        raise EvalFailed(f"inspect eval of '{task.name}' raised {type(exc).__name__}: {exc}") from exc
    if not logs:
        raise EvalFailed(f"inspect eval of '{task.name}' returned no log")
    log = logs[0]
    if log.status != "success":
        error = log.error.message if log.error else "no error message"
        raise EvalFailed(f"inspect eval of '{task.name}' ended with status '{log.status}': {error} (log {log.location})")
    if not log.results or not log.results.scores or not log.results.scores[0].metrics:
        raise EvalFailed(f"inspect eval of '{task.name}' produced no metrics (log {log.location})")
    metric, value = _pick_metric(log.results.scores[0].metrics)
    if math.isnan(value):  # every sample unscored (e.g. the grader failed on all of them)
        raise EvalFailed(f"inspect eval of '{task.name}' scored no sample: {metric} is NaN (log {log.location})")
    return TaskScore(score=value, metric=metric, samples=log.results.completed_samples, log_file=log.location)
