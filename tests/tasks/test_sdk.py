"""ptb.tasks: the one import surface for task authors."""

from __future__ import annotations

import pytest

import ptb.tasks as sdk
from ptb.tasks import strip_reasoning


def test_the_sdk_exposes_what_a_task_needs() -> None:
    for name in ("HubDataset", "UrlFile", "DataUnavailable", "numeric_answer", "extract_numeric_answer",
                 "grader_model", "GraderUnavailable", "run_python", "require_sandbox", "strip_reasoning", "TaskModule"):
        assert name in sdk.__all__ and getattr(sdk, name) is not None


def test_the_shipped_tasks_import_only_the_sdk_from_ptb() -> None:
    from ptb.paths import EVALS_DIR

    for task_py in sorted(EVALS_DIR.glob("*/task.py")):
        imports = [line for line in task_py.read_text().splitlines() if line.startswith(("from ptb", "import ptb"))]
        assert all(line.startswith("from ptb.tasks import") for line in imports), (task_py, imports)


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("    return x + 1\n", "    return x + 1\n"),  # no reasoning: unchanged, indentation and all
        ("<think>5?</think>\n\nIt is 6.\n", "It is 6.\n"),
        ("so 5</think> It is 6", "It is 6"),  # the template opened the block
        ("<think>still thinking when cut off", ""),
        ("<think>a</think>one <think>b</think>two", "one two"),
    ],
)
def test_one_rule_removes_reasoning_for_every_task(reply: str, answer: str) -> None:
    assert strip_reasoning(reply) == answer
