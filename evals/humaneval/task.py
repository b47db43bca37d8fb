"""humaneval: HumanEval (164 Python problems), pass@1, the generated code run in ptb's sandbox.

Data: the Hub dataset ``openai/openai_humaneval``, file
``openai_humaneval/test-00000-of-00001.parquet`` (its only split, ``test``), one problem per row,
every field a string: ``task_id`` ("HumanEval/0", the sample id), ``prompt`` (imports, helpers and
the function's signature and docstring), ``canonical_solution`` (the reference body),
``test`` (``def check(candidate): ...``) and ``entry_point`` (the function's name).

Prompt: one user message, `INSTRUCTION` and then the problem's prompt in a ```python block.

Scorer (`passes_tests`): the code is taken from the reply's first ```python (or ```py, or bare
```) block that defines the entry point, else its first such block, else the whole reply (the
reasoning is dropped first by `ptb.tasks.strip_reasoning`).
When the code defines the entry point (``def <entry_point>(`` at the start of a line) it is a full
function: the program is the problem's prompt (its imports and helpers) followed by the code,
whose definition replaces the prompt's stub. Otherwise it is a completion of the prompt: the
program is the prompt with the code appended. The tests run in another process than that program
(`isolated_check.py`): ``check(candidate)`` calls it through a pipe that carries plain data only,
and a random per-run marker is printed when ``check`` returns. CORRECT iff the check exits with
status 0 within `TIMEOUT_S` and printed the marker: an answer that exits (``exit()``,
``sys.exit(0)``, ``os._exit(0)``), prints a marker, reads the tests or returns an object that equals
anything fails, since it holds neither the tests nor the marker. It all runs with `ptb.sandbox.code_exec.run_python` in bubblewrap (no network, nothing of the host
writable, empty environment, rlimits), never on the host: without a working bwrap the task refuses
to start (`SandboxUnavailable`). Metric: accuracy (= pass@1, with stderr).

This file is loaded by path (``ptb.tasks.load_task_module``). Run it with inspect directly::

    inspect eval evals/humaneval/task.py@humaneval --model openai-api/ptb/final_model \\
        --model-base-url http://127.0.0.1:8000/v1 --limit 5
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import anyio
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Target,
    accuracy,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState, generate
from inspect_ai.util import concurrency

from ptb.tasks import HubDataset, require_sandbox, run_python, strip_reasoning

TEST_FILE = "openai_humaneval/test-00000-of-00001.parquet"
HUMANEVAL = HubDataset("openai/openai_humaneval", files=(TEST_FILE,))
DATA = (HUMANEVAL,)
SPLITS = ("test",)
FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")

TIMEOUT_S = 10.0  # per problem, wall clock (the reference tests take well under a second)
MEMORY_MB = 1024
# Programs run at once: each is CPU-bound, more than the cores only makes them time out.
MAX_PARALLEL_RUNS = max(1, os.cpu_count() or 1)

INSTRUCTION = (
    "Complete the following Python function so that it passes its tests. Reply with the complete "
    "function, signature included, in a single ```python code block, with any imports it needs "
    "inside the block."
)


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[Problem, ...]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = [name for name in FIELDS if name not in table.column_names]
    if missing:
        raise ValueError(f"{HUMANEVAL.repo_id}/{TEST_FILE} has no column(s) {missing}; it has {table.column_names}")
    rows = table.select(list(FIELDS)).to_pylist()
    for n, row in enumerate(rows):
        empty = [name for name in FIELDS if not isinstance(row[name], str) or not row[name].strip()]
        if empty:
            raise ValueError(f"{HUMANEVAL.repo_id}/{TEST_FILE} row {n} has empty or non-text field(s) {empty}")
    return tuple(Problem(**row) for row in rows)


def problems(split: str = "test") -> tuple[Problem, ...]:
    """The problems in the file's order (read from the local HF cache; see ptb.data)."""
    if split not in SPLITS:
        raise ValueError(f"humaneval has no split '{split}'; accepted: {', '.join(SPLITS)}")
    return _read(str(HUMANEVAL.file(TEST_FILE)))  # cached per file path: another cache is re-read


def prompt(problem: Problem) -> str:
    """The user message: the instruction, then the problem's prompt as a Python block."""
    return f"{INSTRUCTION}\n\n```python\n{problem.prompt.rstrip()}\n```"


# --------------------------------------------------------------------------- scoring

# An opening fence with its language tag, the block, then the closing fence or the reply's end.
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = ("python", "python3", "py", "")


def _defines(code: str, entry_point: str) -> bool:
    return re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", code, re.MULTILINE) is not None


def extract_code(reply: str, entry_point: str) -> str:
    """The code of a reply: from its Python code block when it has one, else the reply itself."""
    text = strip_reasoning(reply)
    blocks = [body for tag, body in _FENCE.findall(text) if tag.lower() in _PYTHON_TAGS]
    if not blocks:
        return text
    return next((b for b in blocks if _defines(b, entry_point)), blocks[0])


ISOLATED_CHECK = Path(__file__).with_name("isolated_check.py")


def solution_source(problem: Problem, code: str) -> str:
    """The answer as a program: the prompt (imports, helpers) with the model's code."""
    if _defines(code, problem.entry_point):
        return f"{problem.prompt}\n\n{code}"  # full function: it replaces the prompt's stub
    return problem.prompt + code  # a completion of the prompt's function body


def build_check(problem: Problem, code: str, marker: str) -> tuple[str, str]:
    """(program, its stdin) for `run_python`: it prints `marker` iff the tests pass. The program is
    isolated_check.py; the tests and the marker go on its stdin, which the answer cannot read."""
    stdin = json.dumps({"solution": solution_source(problem, code), "prompt": problem.prompt,
                        "test": problem.test, "entry_point": problem.entry_point, "marker": marker})
    return ISOLATED_CHECK.read_text(), stdin


@scorer(metrics=[accuracy(), stderr()])
def passes_tests(timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB):
    """CORRECT iff the reply's code passes the problem's tests, run in the bubblewrap sandbox."""

    async def score(state: TaskState, target: Target) -> Score:
        problem = Problem(**state.metadata["problem"])
        code = extract_code(state.output.completion or "", problem.entry_point)
        marker = f"ptb-humaneval-passed-{secrets.token_hex(16)}"  # unknown to the model's code
        program, stdin = build_check(problem, code, marker)
        async with concurrency("humaneval-sandbox", MAX_PARALLEL_RUNS, visible=False):
            result = await anyio.to_thread.run_sync(partial(run_python, program, timeout_s, memory_mb, stdin=stdin))
        passed = result.passed and marker in result.stdout
        if passed:
            explanation = "all tests passed"
        elif result.timed_out:
            explanation = f"timed out after {timeout_s:g} s"
        elif result.returncode == 0:
            explanation = "the check ended without its completion marker"
        else:
            explanation = f"exit status {result.returncode}:\n{result.stderr[-2000:]}"
        return Score(
            value=CORRECT if passed else INCORRECT,
            answer=code,
            explanation=explanation,
            metadata={"returncode": result.returncode, "timed_out": result.timed_out, "duration_s": round(result.duration_s, 3)},
        )

    return score


# --------------------------------------------------------------------------- the contract


@task
def humaneval(split: str = "test", timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB) -> Task:
    require_sandbox()  # refuse before generating anything: the code would have nowhere safe to run
    samples = [
        Sample(
            id=p.task_id,
            input=prompt(p),
            target=p.canonical_solution,
            metadata={"problem": {name: getattr(p, name) for name in FIELDS}},
        )
        for p in problems(split)
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"humaneval-{split}"),
        solver=generate(),
        scorer=passes_tests(timeout_s=timeout_s, memory_mb=memory_mb),
        name="humaneval",
    )


def test_texts() -> list[str]:
    """Each problem's prompt with its reference solution, for the judge's n-gram overlap check."""
    return [f"{p.prompt}{p.canonical_solution}" for p in problems("test")]


def write_agent_context(workspace: Path) -> list[Path]:
    """HumanEval has no allowed training data to hand out: nothing is written."""
    return []
