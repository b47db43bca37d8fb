"""aime2025: the 30 problems of AIME 2025 (I and II), scored by the final integer answer.

Data: the Hub dataset ``math-ai/aime25``, file ``test.jsonl`` at the repository root (its only
split, ``test``), one problem per line, every field a string::

    {"problem": "Find the number of ... (LaTeX inline)", "answer": "70", "id": "0"}

Every answer is an integer from 0 to 999 (loading checks it). Sample ids are the source's ``id``.

Prompt: one user message, the problem and then the answer-format instruction (`INSTRUCTION`):
reason step by step and give the final answer as ``\\boxed{N}``. No system message, no examples:
the harness chat template of the run's model renders it.

Scorer (`ptb.tasks.numeric_answer`): CORRECT iff the reply's final number equals the
answer. The final number is the one in the last ``\\boxed{}`` holding a digit, else the number
after the last "answer is" / "answer:" phrase, else the last number in the reply (after `ptb.tasks.strip_reasoning`
removed the reasoning); ``045``, ``45.0`` and ``45`` are equal. Metric:
accuracy (with stderr).

This file is loaded by path (``ptb.tasks.load_task_module``). Run it with inspect directly::

    inspect eval evals/aime2025/task.py@aime2025 --model openai-api/ptb/final_model \\
        --model-base-url http://127.0.0.1:8000/v1 --limit 5
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import generate

from ptb.tasks import HubDataset, format_number, numeric_answer, parse_number

TEST_FILE = "test.jsonl"
AIME25 = HubDataset("math-ai/aime25", files=(TEST_FILE,))
DATA = (AIME25,)
SPLITS = ("test",)

INSTRUCTION = (
    "Solve the problem step by step. The answer is an integer from 0 to 999: "
    "give it at the end as \\boxed{N}."
)


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: str  # canonical integer text ("45" for a source "045")


def _problem(row: dict, line: int) -> Problem:
    missing = [name for name in ("id", "problem", "answer") if name not in row]
    if missing:
        raise ValueError(f"{AIME25.repo_id}/{TEST_FILE} line {line} has no field(s) {missing}; it has {sorted(row)}")
    value = parse_number(str(row["answer"]))
    if value is None or value != value.to_integral_value() or not 0 <= value <= 999:
        raise ValueError(
            f"{AIME25.repo_id}/{TEST_FILE} line {line}: answer {row['answer']!r} is not an integer "
            f"from 0 to 999 (every AIME answer is one)"
        )
    return Problem(id=str(row["id"]), problem=str(row["problem"]), answer=format_number(value))


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[Problem, ...]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(_problem(json.loads(text), n) for n, text in enumerate(lines, 1) if text.strip())


def problems(split: str = "test") -> tuple[Problem, ...]:
    """The problems in the source's order (read from the local HF cache; see ptb.data)."""
    if split not in SPLITS:
        raise ValueError(f"aime2025 has no split '{split}'; accepted: {', '.join(SPLITS)}")
    return _read(str(AIME25.file(TEST_FILE)))  # cached per file path: another cache is re-read


def prompt(problem: str) -> str:
    """The user message of a problem: the problem, then the answer-format instruction."""
    return f"{problem}\n\n{INSTRUCTION}"


@task
def aime2025(split: str = "test") -> Task:
    samples = [Sample(id=p.id, input=prompt(p.problem), target=p.answer) for p in problems(split)]
    return Task(
        dataset=MemoryDataset(samples, name=f"aime2025-{split}"),
        solver=generate(),
        scorer=numeric_answer(),
        name="aime2025",
    )


def test_texts() -> list[str]:
    """Each problem with its answer, for the judge's n-gram overlap check."""
    return [f"{p.problem} {p.answer}" for p in problems("test")]


def write_agent_context(workspace: Path) -> list[Path]:
    """AIME has no allowed training data to hand out: nothing is written."""
    return []
