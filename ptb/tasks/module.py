"""What a task folder's ``task.py`` must expose (the `TaskModule` protocol), checked at load.

    @task
    def gsm8k(split: str = "test", **params) -> Task: ...   # named after the task; the harness
                                                            # passes split and task.params
    DATA = (HubDataset("openai/gsm8k", files=(...)),)       # every source it reads (ptb.cache)
    def test_texts() -> list[str]: ...                      # each held-out item as text (judge)
    def write_agent_context(workspace: Path) -> list[Path]: ...  # files the agent gets ([] ok)
    def allowed_texts() -> list[str]: ...                   # optional: allowed training data
    def heldout_items(), grade(output, target), split_fingerprint(), test_fingerprints(),
        decoy_fingerprints(k)                               # optional: a secret, generated test split

Task facts that are not code (benchmark name, weight, limits, ladder, allowed and disallowed
training data, expected test-split size) live in ``conf/task/<task>.yaml``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from ptb.data import HubDataset, UrlFile
from ptb.errors import ConfigError


class TaskModule(Protocol):
    DATA: tuple[HubDataset | UrlFile, ...]

    def test_texts(self) -> list[str]: ...

    def write_agent_context(self, workspace: Path) -> list[Path]: ...


REQUIRED: dict[str, str] = {
    "DATA": "a tuple of ptb.tasks.HubDataset / UrlFile (every source the task reads; () for generated data)",
    "test_texts": "a function () -> list[str]: each held-out test item as text, for the judge",
    "write_agent_context": "a function (workspace: Path) -> list[Path]: the files the agent gets",
}
OPTIONAL: dict[str, str] = {
    "allowed_texts": "a function () -> list[str]: allowed training data the judge does not count",
    # a generated, secret test split (ptb.tasks.heldout; evals/arith/task.py)
    "heldout_items": "a function () -> list[(id, prompt, target)]: the test split, for the grading service",
    "grade": "a function (output, target) -> bool: the scorer's rule, for the grading service",
    "split_fingerprint": "a function () -> str: names the test split in metrics.json",
    "test_fingerprints": "a function () -> list: per test item (numbers, words[, solution numbers[, question]]), for the judge",
    "decoy_fingerprints": "a function (k) -> list of k such lists, of splits made like the test split",
}


def check_task_module(module: ModuleType, task_name: str, path: Path) -> None:
    """Raise a ConfigError naming every attribute of `TaskModule` that ``module`` lacks."""
    problems: list[str] = []
    fn = getattr(module, task_name, None)
    if not callable(fn):
        problems.append(f"{task_name}: an inspect-ai @task function named after the task, taking split= and the task's params")
    for name, what in REQUIRED.items():
        value = getattr(module, name, None)
        ok = _is_data(value) if name == "DATA" else callable(value)
        if not ok:
            problems.append(f"{name}: {what}" + ("" if value is None else f" (got {type(value).__name__})"))
    for name, what in OPTIONAL.items():
        if hasattr(module, name) and not callable(getattr(module, name)):
            problems.append(f"{name} (optional): {what}")
    if problems:
        raise ConfigError(f"{path} is not a complete task module; it needs " + "; ".join(problems))


def _is_data(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(s, (HubDataset, UrlFile)) for s in value)


def check_task_params(fn: Callable[..., Any], params: Iterable[str], task_name: str) -> None:
    """Every key of ``task.params`` must be a keyword of the @task function (a misspelt grader
    option fails at plan time, not in the evaluation ten hours later)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [name for name in signature.parameters if name != "split"]
    for name in params:
        if name not in accepted:
            raise ConfigError(
                f"task.params.{name} is unknown: the @task function {task_name}() accepts "
                f"{', '.join(accepted) or 'no parameters besides split'}"
            )
