"""arith: synthetic GSM8K-like arithmetic word problems (the embedded default task).

- ``train`` (2000 items): the allowed training data, generated from the public seed ``SEED`` (the
  same on every machine) and handed to the agent as ``data/arith_train.jsonl`` by
  `write_agent_context`;
- ``test`` (200 items): the held-out benchmark, generated from a seed derived from a secret that
  is created once per installation under ``harness_files_root()`` (`ptb.tasks.heldout`), which no
  agent's sandbox can read. This file is readable by the agent, so nothing in it may hold or
  generate the test split; no question text is shared with ``train``.

Inside the sandbox the agent's ``evaluate.py`` has the test split graded by the harness's grading
service (`ptb.grading`): it gets the prompts and, per item, correct or not — never the answers.
`heldout_items` and `grade` are what that service uses.

Each item is a one- or two-step problem with small numbers (every number at most 25) and a worked
solution whose last sentence is "The answer is N." The scorer reads the number after the last
"The answer is" in the model's reply.

This file is loaded by path (``ptb.tasks.load_task_module``), never imported as a package
module, so it is self-contained. Run it with inspect directly on the host, e.g.::

    inspect eval evals/arith/task.py@arith -T split=test --model <provider/model> --limit 5
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState, generate

from ptb.tasks import fingerprint, heldout_seed

SEED = 20250601  # the train split's (public); the test split's seed is secret
TRAIN_SIZE = 2000
TEST_SIZE = 200
SPLITS = ("train", "test")

INSTRUCTION = 'Think step by step, then end your reply with "The answer is N."'
TRAIN_FILE = "data/arith_train.jsonl"

# --------------------------------------------------------------------------- generation

NAMES = (
    "Mia", "Leo", "Ava", "Sam", "Zoe", "Max", "Lily", "Ben", "Emma", "Noah", "Ella", "Jack",
    "Ruby", "Owen", "Nora", "Finn", "Ivy", "Luke", "Rosa", "Theo", "Anna", "Omar", "Lena", "Hugo",
    "Maya", "Eli", "Iris", "Adam", "Cleo", "Paul",
)  # fmt: skip
OBJECTS = (
    "apples", "pears", "books", "cards", "shells", "stickers", "marbles", "pencils", "cookies",
    "stamps", "coins", "toys", "plums", "buttons", "balloons", "candles", "rocks", "crayons",
    "beads", "eggs",
)  # fmt: skip
CONTAINERS = ("boxes", "bags", "jars", "baskets", "cups", "bowls")
GAIN_VERBS = ("gets", "buys", "finds", "picks up", "wins")
LOSS_VERBS = ("gives", "sends", "hands")


@dataclass(frozen=True)
class Item:
    question: str
    answer: int
    solution: str


Rng = random.Random
Kind = Callable[[Rng], Item]


def _people(rng: Rng) -> tuple[str, str]:
    a, b = rng.sample(NAMES, 2)
    return a, b


def _item(question: str, steps: list[str], answer: int) -> Item:
    return Item(question, answer, " ".join(steps + [f"The answer is {answer}."]))


def _gain(rng: Rng) -> Item:
    a, _ = _people(rng)
    o, v = rng.choice(OBJECTS), rng.choice(GAIN_VERBS)
    x, y = rng.randint(2, 10), rng.randint(2, 10)
    q = f"{a} has {x} {o}. {a} {v} {y} more {o}. How many {o} does {a} have now?"
    return _item(q, [f"{x} + {y} = {x + y}."], x + y)


def _loss(rng: Rng) -> Item:
    a, b = _people(rng)
    o, v = rng.choice(OBJECTS), rng.choice(LOSS_VERBS)
    x = rng.randint(5, 20)
    y = rng.randint(1, x - 1)
    q = f"{a} has {x} {o}. {a} {v} {y} {o} to {b}. How many {o} does {a} have left?"
    return _item(q, [f"{x} - {y} = {x - y}."], x - y)


def _together(rng: Rng) -> Item:
    a, b = _people(rng)
    o = rng.choice(OBJECTS)
    x, y = rng.randint(2, 10), rng.randint(2, 10)
    q = f"{a} has {x} {o} and {b} has {y} {o}. How many {o} do they have together?"
    return _item(q, [f"{x} + {y} = {x + y}."], x + y)


def _groups(rng: Rng) -> Item:
    a, _ = _people(rng)
    o, c = rng.choice(OBJECTS), rng.choice(CONTAINERS)
    x, y = rng.randint(2, 5), rng.randint(2, 5)
    q = f"{a} has {x} {c} with {y} {o} in each. How many {o} does {a} have?"
    return _item(q, [f"{x} * {y} = {x * y}."], x * y)


def _fewer(rng: Rng) -> Item:
    a, b = _people(rng)
    o = rng.choice(OBJECTS)
    x = rng.randint(5, 20)
    y = rng.randint(1, x - 1)
    q = f"{a} has {x} {o}. {b} has {y} fewer {o} than {a}. How many {o} does {b} have?"
    return _item(q, [f"{x} - {y} = {x - y}."], x - y)


def _gain_then_loss(rng: Rng) -> Item:
    a, b = _people(rng)
    o, v = rng.choice(OBJECTS), rng.choice(GAIN_VERBS)
    x, y = rng.randint(2, 10), rng.randint(2, 10)
    s = x + y
    z = rng.randint(1, s - 1)
    q = (
        f"{a} has {x} {o}. {a} {v} {y} more {o} and then gives {z} {o} to {b}. "
        f"How many {o} does {a} have now?"
    )
    return _item(q, [f"{x} + {y} = {s}.", f"{s} - {z} = {s - z}."], s - z)


def _groups_then_loss(rng: Rng) -> Item:
    a, b = _people(rng)
    o, c = rng.choice(OBJECTS), rng.choice(CONTAINERS)
    x, y = rng.randint(2, 5), rng.randint(2, 5)
    s = x * y
    z = rng.randint(1, s - 1)
    q = (
        f"{a} has {x} {c} with {y} {o} in each. {a} gives {z} {o} to {b}. "
        f"How many {o} does {a} have left?"
    )
    return _item(q, [f"{x} * {y} = {s}.", f"{s} - {z} = {s - z}."], s - z)


def _more_together(rng: Rng) -> Item:
    a, b = _people(rng)
    o = rng.choice(OBJECTS)
    x, y = rng.randint(2, 8), rng.randint(2, 8)
    s = x + y
    q = (
        f"{a} has {x} {o}. {b} has {y} more {o} than {a}. "
        f"How many {o} do {a} and {b} have together?"
    )
    return _item(q, [f"{x} + {y} = {s}.", f"{x} + {s} = {x + s}."], x + s)


KINDS: tuple[Kind, ...] = (
    _gain, _loss, _together, _groups, _fewer, _gain_then_loss, _groups_then_loss, _more_together,
)  # fmt: skip


def _unique(rng: Rng, count: int, exclude: frozenset[str] = frozenset()) -> tuple[Item, ...]:
    seen = set(exclude)
    items: list[Item] = []
    while len(items) < count:
        item = rng.choice(KINDS)(rng)
        if item.question not in seen:
            seen.add(item.question)
            items.append(item)
    return tuple(items)


@lru_cache(maxsize=1)
def _train() -> tuple[Item, ...]:
    return _unique(random.Random(SEED), TRAIN_SIZE)


@lru_cache(maxsize=4)
def _test(seed: int) -> tuple[Item, ...]:
    # Its own stream, from the secret seed; a question of the train split is never drawn again.
    return _unique(random.Random(seed), TEST_SIZE, exclude=frozenset(i.question for i in _train()))


def items(split: str) -> tuple[Item, ...]:
    """The items of a split ("train" or "test"), always the same ones in the same order (the test
    split: for the same secret). The test split raises `ptb.tasks.heldout.HeldoutUnavailable`
    where the secret cannot be read (inside an agent's sandbox)."""
    if split not in SPLITS:
        raise ValueError(f"arith has no split '{split}'; accepted: {', '.join(SPLITS)}")
    return _train() if split == "train" else _test(heldout_seed("arith", "test"))


def prompt(question: str) -> str:
    """The user message of an item: the question and the answer-format instruction."""
    return f"{question}\n{INSTRUCTION}"


# --------------------------------------------------------------------------- scoring

_ANSWER = re.compile(r"the answer is\s*:?\s*\$?\s*(-?[\d,]*\d(?:\.\d+)?)", re.IGNORECASE)


def extract_answer(completion: str) -> int | None:
    """The integer after the last "The answer is" in a reply, or None when there is none.

    Thousands separators and a trailing period or comma are tolerated ("1,200.", "12,");
    a non-integer number counts as no answer.
    """
    matches = _ANSWER.findall(completion)
    if not matches:
        return None
    text = matches[-1].replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


@scorer(metrics=[accuracy(), stderr()])
def final_answer():
    """Correct when the number after the last "The answer is" equals the target."""

    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion or ""
        answer = extract_answer(completion)
        correct = grade(completion, target.text)
        return Score(
            value=CORRECT if correct else INCORRECT,
            answer=None if answer is None else str(answer),
            explanation=completion,
        )

    return score


# --------------------------------------------------------------------------- the contract


@task
def arith(split: str = "test") -> Task:
    samples = [
        Sample(
            id=f"{split}-{i}",
            input=prompt(item.question),
            target=str(item.answer),
            metadata={"solution": item.solution},
        )
        for i, item in enumerate(items(split))
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"arith-{split}"),
        solver=generate(),
        scorer=final_answer(),
        name="arith",
    )


def test_texts() -> list[str]:
    """Each held-out test item as text (question and worked answer), for the overlap check."""
    return [f"{item.question} {item.solution}" for item in items("test")]


def _words(question: str) -> tuple[str, ...]:
    names = [w for w in re.findall(r"[A-Za-z]+", question) if w in NAMES]
    objects = [w for w in re.findall(r"[a-z]+", question) if w in OBJECTS]
    return tuple(dict.fromkeys(names + objects[:1]))


Fingerprints = list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]]


def _fingerprints(split: tuple[Item, ...]) -> Fingerprints:
    return [
        (tuple(re.findall(r"\d+", i.question)) + (str(i.answer),), _words(i.question),
         tuple(re.findall(r"\d+", i.solution)), (i.question,))
        for i in split
    ]


def test_fingerprints() -> Fingerprints:
    """Per test item, what survives a rewording: the question's numbers in order, then the answer;
    the words a paraphrase keeps (the names and the object); the worked solution's numbers; the
    question itself (`ptb.stages.judge.fingerprints`). The
    overlap check counts an item when its numbers and answer appear close together with its words
    around them, in any wording ("three" is read as 3) and any layout."""
    return _fingerprints(items("test"))


def decoy_fingerprints(k: int) -> list[Fingerprints]:
    """The fingerprints of k splits made like the test split from public seeds (not test items):
    how often data from this file's generator matches a split it was not made from."""
    return [_fingerprints(_test(SEED * 1000 + 1 + n)) for n in range(k)]


def heldout_items() -> list[tuple[str, str, str]]:
    """(sample id, prompt, target) of every test item, for the harness's grading service."""
    return [(f"test-{i}", prompt(item.question), str(item.answer)) for i, item in enumerate(items("test"))]


def grade(output: str, target: str) -> bool:
    """Whether a model's reply to an item is correct (the scorer's rule)."""
    answer = extract_answer(output)
    return answer is not None and str(answer) == target.strip()


def split_fingerprint() -> str:
    """Names the test split in metrics.json (baselines are only comparable on the same split)."""
    return fingerprint(json.dumps(asdict(item), sort_keys=True) for item in items("test"))


def write_agent_context(workspace: Path) -> list[Path]:
    """Write the allowed train split into the agent's workspace; returns the files written."""
    path = Path(workspace) / TRAIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(asdict(item)) for item in items("train")]
    path.write_text("\n".join(lines) + "\n")
    return [path]


DATA: tuple = ()  # generated: the train split from a public seed, the test split from a secret one
