"""gsm8k: the GSM8K test split (1319 grade-school word problems), 10-shot, final numeric answer.

Data: the Hub dataset ``openai/gsm8k``, config ``main``: ``main/test-00000-of-00001.parquet``
(the benchmark) and ``main/train-00000-of-00001.parquet`` (7473 items, the few-shot examples;
allowed training data). Columns::

    question: "Mia buys 3 boxes of 12 pens ..."
    answer:   "She buys 3*12=<<3*12=36>>36 pens.\\n...\\n#### 36"   # worked solution, then the number

Sample ids are ``<split>-<row>`` (the row in the parquet file, from 0).

Prompt (10-shot): the first 10 rows of the train split (rows 0-9, a fixed choice: the pinned
train file's order, so every run and model sees the same examples) as prior chat turns, then the
question. Each example is a user turn (question + `INSTRUCTION`) and an assistant turn (its
worked solution with the ``<<...>>`` calculator annotations removed and the ``#### N`` line
written as "The answer is N."); the question is a user turn of the same shape. Chat turns rather
than one long user message because the harness renders every model through its chat template:
the examples then show, in the assistant role itself, where an answer goes and how it ends, and
the final turn looks exactly like the ones before it. ``-T fewshot=K`` changes the count (the
benchmark is 10). Evaluating ``split=train`` leaves out the rows used as examples.

Scorer (`ptb.tasks.answers.numeric_answer`): CORRECT iff the reply's final number equals
the number after ``####``. The final number is the one in the last ``\\boxed{}`` holding a
digit, else the number after the last "answer is" / "answer:" / "####", else the last number in
the reply; commas, ``$``, a trailing period and ``18.00`` vs ``18`` are handled. Metric:
accuracy (with stderr).

This file is loaded by path (``ptb.tasks.load_task_module``). Run it with inspect directly::

    inspect eval evals/gsm8k/task.py@gsm8k --model openai-api/ptb/final_model \\
        --model-base-url http://127.0.0.1:8000/v1 --limit 20
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser
from inspect_ai.solver import generate

from ptb.tasks import HubDataset, format_number, numeric_answer, parse_number

TEST_FILE = "main/test-00000-of-00001.parquet"
TRAIN_FILE = "main/train-00000-of-00001.parquet"
GSM8K = HubDataset("openai/gsm8k", files=(TEST_FILE, TRAIN_FILE))
DATA = (GSM8K,)
SPLIT_FILES = {"test": TEST_FILE, "train": TRAIN_FILE}

FEWSHOT = 10  # the benchmark's number of examples: train rows 0..FEWSHOT-1
INSTRUCTION = 'Solve it step by step, then end your reply with "The answer is N."'

_CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations: <<3*12=36>>


@dataclass(frozen=True)
class Problem:
    row: int  # row in the split's parquet file
    question: str
    solution: str  # the source's worked answer, ending in "#### N"
    answer: str  # N, canonical ("1200" for "1,200")


def final_number(solution: str, where: str = "a GSM8K answer") -> str:
    """The canonical number after the last ``####`` of a worked solution."""
    _, sep, tail = solution.rpartition("####")
    value = parse_number(tail) if sep else None
    if value is None:
        raise ValueError(f"{where} does not end in '#### <number>': {solution[-80:]!r}")
    return format_number(value)


@lru_cache(maxsize=8)
def _read(path: str, file: str) -> tuple[Problem, ...]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = {"question", "answer"} - set(table.column_names)
    if missing:
        raise ValueError(f"{GSM8K.repo_id}/{file} lacks column(s) {sorted(missing)}; it has {table.column_names}")
    rows = table.select(["question", "answer"]).to_pylist()
    return tuple(
        Problem(n, r["question"], r["answer"], final_number(r["answer"], f"{GSM8K.repo_id}/{file} row {n}"))
        for n, r in enumerate(rows)
    )


def problems(split: str) -> tuple[Problem, ...]:
    """A split's problems in file order (read from the local HF cache; see ptb.data)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"gsm8k has no split '{split}'; accepted: {', '.join(SPLIT_FILES)}")
    file = SPLIT_FILES[split]
    return _read(str(GSM8K.file(file)), file)  # cached per file path: another cache is re-read


def prompt(question: str) -> str:
    """A user turn: the question, then the answer-format instruction."""
    return f"{question}\n{INSTRUCTION}"


def worked_answer(problem: Problem) -> str:
    """An example's assistant turn: the solution without annotations, ending "The answer is N."."""
    steps = _CALCULATOR.sub("", problem.solution.rpartition("####")[0]).strip()
    return f"{steps}\nThe answer is {problem.answer}."


def fewshot_messages(count: int = FEWSHOT) -> list[ChatMessage]:
    """The first `count` train problems as user/assistant turn pairs."""
    train = problems("train")
    if not 0 <= count <= len(train):
        raise ValueError(f"gsm8k fewshot must be from 0 to {len(train)} (the train split's size), got {count}")
    messages: list[ChatMessage] = []
    for example in train[:count]:
        messages += [ChatMessageUser(content=prompt(example.question)), ChatMessageAssistant(content=worked_answer(example))]
    return messages


@task
def gsm8k(split: str = "test", fewshot: int = FEWSHOT) -> Task:
    examples = fewshot_messages(fewshot)
    # on the train split, the example rows are left out: no item is shown its own solution
    items = [p for p in problems(split) if split != "train" or p.row >= fewshot]
    samples = [
        Sample(
            id=f"{split}-{p.row}",
            input=[*examples, ChatMessageUser(content=prompt(p.question))],
            target=p.answer,
            metadata={"fewshot_train_rows": list(range(fewshot))},
        )
        for p in items
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"gsm8k-{split}"),
        solver=generate(),
        scorer=numeric_answer(),
        name="gsm8k",
    )


def test_texts() -> list[str]:
    """Each test problem with its worked answer, for the judge's n-gram overlap check."""
    return [f"{p.question} {p.solution}" for p in problems("test")]


def allowed_texts() -> list[str]:
    """The train split (allowed training data): its n-grams do not count as contamination."""
    return [f"{p.question} {p.solution}" for p in problems("train")]


def write_agent_context(workspace: Path) -> list[Path]:
    """Nothing is handed out: the agent may download openai/gsm8k's train split itself."""
    return []
