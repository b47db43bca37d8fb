"""gpqa: GPQA main (448 graduate-level science questions), 4-way multiple choice with chain of thought.

Data: the gated Hub dataset ``Idavidrein/gpqa``, config ``gpqa_main``: the file ``gpqa_main.csv``
at the repository root (the config's only split, which the Hub calls ``train``; here it is the
``test`` split). Reading it needs an accepted licence and ``HF_TOKEN`` (`ptb.data` says so when
either is missing). Columns read: ``Record ID`` (the sample id), ``Question``, ``Correct Answer``,
``Incorrect Answer 1..3``, and ``Subdomain`` / ``High-level domain`` (kept as sample metadata);
surrounding whitespace of every text is dropped (the source has stray newlines).

Choices: the correct answer and the three incorrect ones, shuffled per question with
``random.Random(f"{seed}:{record_id}")``, ``seed`` = `CHOICE_SHUFFLE_SEED` unless the task's
``shuffle_seed`` says otherwise. A question's order therefore depends only on the seed and its own
id (not on ``--limit`` or the file's order). The seed is recorded in the inspect log as the task's
metadata and argument and in every sample's metadata, beside the order (``choice_order``: the
source index of each shown choice, 0 = the correct answer) and the correct letter.

Prompt: inspect's ``multiple_choice(cot=True)`` template: the instruction to think step by step and
to end with a last line ``ANSWER: $LETTER`` (LETTER one of A,B,C,D), the question, then the choices
as ``A) ...`` to ``D) ...``. Scorer: inspect's ``choice()``: CORRECT iff the letter on the reply's
last ``ANSWER:`` line is the correct one after shuffling; a reply without one is INCORRECT (or
NOANSWER when empty), which is why base models land below chance. Metric: accuracy (with stderr).

This file is loaded by path (``ptb.tasks.load_task_module``). Run it with inspect directly::

    inspect eval evals/gpqa/task.py@gpqa --model openai-api/ptb/final_model \\
        --model-base-url http://127.0.0.1:8000/v1 --limit 5
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import choice
from inspect_ai.solver import multiple_choice

from ptb.tasks import HubDataset

CONFIG = "gpqa_main"
TEST_FILE = f"{CONFIG}.csv"
GPQA = HubDataset("Idavidrein/gpqa", files=(TEST_FILE,), gated=True)
DATA = (GPQA,)
SPLITS = ("test",)

CHOICE_SHUFFLE_SEED = 20240601  # fixed: every evaluation shows each question's choices in one order
LETTERS = ("A", "B", "C", "D")
INCORRECT_COLUMNS = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
REQUIRED_COLUMNS = ("Record ID", "Question", "Correct Answer", *INCORRECT_COLUMNS)


@dataclass(frozen=True)
class Question:
    record_id: str
    question: str
    correct: str
    incorrect: tuple[str, str, str]
    subdomain: str
    domain: str


@dataclass(frozen=True)
class ShuffledChoices:
    choices: tuple[str, str, str, str]  # as shown to the model, A to D
    order: tuple[int, int, int, int]  # source index of each shown choice: 0 correct, 1-3 incorrect
    target: str  # the correct letter after shuffling


def _question(row: dict, line: int) -> Question:
    texts = {name: (row.get(name) or "").strip() for name in REQUIRED_COLUMNS}
    empty = [name for name, text in texts.items() if not text]
    if empty:
        raise ValueError(f"{GPQA.repo_id}/{TEST_FILE} record ending on line {line} has empty field(s) {empty}")
    return Question(
        record_id=texts["Record ID"],
        question=texts["Question"],
        correct=texts["Correct Answer"],
        incorrect=tuple(texts[name] for name in INCORRECT_COLUMNS),  # type: ignore[arg-type]
        subdomain=(row.get("Subdomain") or "").strip(),
        domain=(row.get("High-level domain") or "").strip(),
    )


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[Question, ...]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(
                f"{GPQA.repo_id}/{TEST_FILE} has no column(s) {missing}; its columns: {reader.fieldnames}"
            )
        questions = tuple(_question(row, reader.line_num) for row in reader)
    seen: set[str] = set()
    for q in questions:
        if q.record_id in seen:
            raise ValueError(f"{GPQA.repo_id}/{TEST_FILE} has the Record ID {q.record_id!r} twice")
        seen.add(q.record_id)
    return questions


def questions(split: str = "test") -> tuple[Question, ...]:
    """The questions in the file's order (read from the local HF cache; see ptb.data)."""
    if split not in SPLITS:
        raise ValueError(f"gpqa has no split '{split}'; accepted: {', '.join(SPLITS)}")
    return _read(str(GPQA.file(TEST_FILE)))  # cached per file path: another cache is re-read


def shuffle_choices(q: Question, seed: int = CHOICE_SHUFFLE_SEED) -> ShuffledChoices:
    """The question's four choices in the order the model sees them, and the correct letter."""
    source = (q.correct, *q.incorrect)
    order = list(range(4))
    # A string seed is hashed with SHA-512 by `random`: the same on every machine and process.
    random.Random(f"{seed}:{q.record_id}").shuffle(order)
    return ShuffledChoices(
        choices=tuple(source[i] for i in order),  # type: ignore[arg-type]
        order=tuple(order),  # type: ignore[arg-type]
        target=LETTERS[order.index(0)],
    )


def sample(q: Question, seed: int = CHOICE_SHUFFLE_SEED) -> Sample:
    shuffled = shuffle_choices(q, seed)
    return Sample(
        id=q.record_id,
        input=q.question,
        choices=list(shuffled.choices),
        target=shuffled.target,
        metadata={
            "choice_shuffle_seed": seed,
            "choice_order": list(shuffled.order),
            "correct_letter": shuffled.target,
            "subdomain": q.subdomain,
            "high_level_domain": q.domain,
        },
    )


@task
def gpqa(split: str = "test", shuffle_seed: int = CHOICE_SHUFFLE_SEED) -> Task:
    samples = [sample(q, shuffle_seed) for q in questions(split)]
    return Task(
        dataset=MemoryDataset(samples, name=f"gpqa-{CONFIG}-{split}"),
        solver=multiple_choice(cot=True),
        scorer=choice(),
        metadata={"choice_shuffle_seed": shuffle_seed, "config": CONFIG},
        name="gpqa",
    )


def test_texts() -> list[str]:
    """Each question with its correct answer, for the judge's n-gram overlap check."""
    return [f"{q.question} {q.correct}" for q in questions("test")]


def write_agent_context(workspace: Path) -> list[Path]:
    """GPQA has no allowed training data to hand out: nothing is written."""
    return []
