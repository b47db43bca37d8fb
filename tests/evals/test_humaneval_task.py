"""evals/humaneval/task.py: the parquet loader, the prompt, code extraction and program assembly,
the pass@1 scorer run through the real bubblewrap sandbox on right, wrong and malformed replies,
the refusal to run without a sandbox, the judge's test texts, and a `--limit` smoke evaluation.

The data is tests/fixtures/hub/openai/openai_humaneval/openai_humaneval/test-00000-of-00001.parquet.jsonl:
six invented problems in the real schema (task_id, prompt, canonical_solution, test, entry_point),
one whose prompt holds a helper the solution must call, two whose prompts import what they need.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module
from ptb.sandbox import code_exec
from ptb.sandbox.code_exec import SandboxUnavailable, run_python, sandbox_probe

FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "hub" / "openai" / "openai_humaneval"
    / "openai_humaneval" / "test-00000-of-00001.parquet.jsonl"
)  # fmt: skip
needs_sandbox = pytest.mark.skipif(not sandbox_probe()[0], reason=f"code sandbox unavailable: {sandbox_probe()[1]}")


@pytest.fixture(scope="module")
def humaneval():
    from eval_smoke import compose_task

    return load_task_module(compose_task("humaneval"))


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def _mock(replies: dict[str, str]):
    """A mockllm model answering by the problem's entry point, whatever the order."""

    def reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        answer = next(r for name, r in replies.items() if f"def {name}(" in text)
        output = ModelOutput.from_content("mockllm/model", answer)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def test_data_declares_the_parquet_file_it_reads(humaneval):
    [source] = humaneval.DATA
    assert source.repo_id == "openai/openai_humaneval"
    assert source.files == ("openai_humaneval/test-00000-of-00001.parquet",)
    assert [p.name for p in source.fetch()] == ["test-00000-of-00001.parquet"]


def test_loader_reads_every_field_in_order(humaneval):
    problems = humaneval.problems()
    rows = _rows()
    assert [p.task_id for p in problems] == [f"HumanEval/{i}" for i in range(6)]
    for p, row in zip(problems, rows, strict=True):
        assert (p.prompt, p.canonical_solution, p.test, p.entry_point) == (
            row["prompt"], row["canonical_solution"], row["test"], row["entry_point"],
        )  # fmt: skip


def test_task_samples_show_the_prompt_in_a_python_block_after_the_instruction(humaneval):
    task = humaneval.humaneval(split="test")
    samples = list(task.dataset)
    assert len(samples) == 6 and task.name == "humaneval"
    first, row = samples[0], _rows()[0]
    assert first.id == "HumanEval/0" and first.target == row["canonical_solution"]
    assert first.input == f"{humaneval.INSTRUCTION}\n\n```python\n{row['prompt'].rstrip()}\n```"
    assert "```python code block" in humaneval.INSTRUCTION and "signature included" in humaneval.INSTRUCTION
    assert first.metadata["problem"]["entry_point"] == "count_evens"


def test_only_the_test_split_exists(humaneval):
    with pytest.raises(ValueError, match="humaneval has no split 'train'; accepted: test"):
        humaneval.humaneval(split="train")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Here:\n```python\ndef f(x):\n    return x\n```\nDone.", "def f(x):\n    return x\n"),
        ("```py\n    return x\n```", "    return x\n"),  # a fenced completion
        ("```\ndef f(x):\n    return 1\n```", "def f(x):\n    return 1\n"),  # no language tag
        ("    return x + 1\n", "    return x + 1\n"),  # no fence: the raw reply
        (  # the block that defines the entry point wins over an earlier example
            "```python\nprint(f(2))\n```\nThen:\n```python\ndef f(x):\n    return 2\n```",
            "def f(x):\n    return 2\n",
        ),
        ("```text\nnot code\n```\n```python\nX = 1\n```", "X = 1\n"),  # other languages are skipped
        ("<think>```python\ndef f(x): return 0\n```</think>```python\ndef f(x):\n    return 3\n```",
         "def f(x):\n    return 3\n"),  # reasoning is dropped
        ("```python\ndef f(x):\n    return 4\n", "def f(x):\n    return 4\n"),  # cut off at max tokens
        ("  ```python\n    def g():\n        pass\n  ```", "    def g():\n        pass\n"),
    ],
)
def test_extract_code(humaneval, reply, expected):
    assert humaneval.extract_code(reply, "f") == expected


def test_the_solution_is_a_full_function_or_a_completion_and_the_tests_stay_out_of_it(humaneval):
    problem = humaneval.problems()[1]  # strip_vowels, whose prompt defines the helper is_vowel
    full = humaneval.solution_source(problem, "def strip_vowels(text):\n    return 'x'\n")
    assert full.startswith(problem.prompt) and full.endswith("\n\ndef strip_vowels(text):\n    return 'x'\n")
    assert humaneval.solution_source(problem, "    return 'x'\n") == problem.prompt + "    return 'x'\n"
    program, stdin = humaneval.build_check(problem, "    return 'x'\n", "MARK-123")
    # the program every process in the sandbox can read holds neither the tests nor the marker
    assert program == humaneval.ISOLATED_CHECK.read_text()
    assert problem.test not in program and "MARK-123" not in program
    assert json.loads(stdin) == {"solution": problem.prompt + "    return 'x'\n", "prompt": problem.prompt,
                                 "test": problem.test, "entry_point": "strip_vowels", "marker": "MARK-123"}


def test_only_plain_data_crosses_between_the_answer_and_the_tests(humaneval):
    spec = __import__("importlib.util").util.spec_from_file_location("isolated_check", humaneval.ISOLATED_CHECK)
    module = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = [None, True, 3, -2**80, 1.5, float("inf"), "s", b"\x00b", [1, (2, 3)], {"a": {1: [()]}, (1, 2): None},
              {1, 2}, frozenset({"x"})]
    for value in values:
        back = module.decode(json.loads(json.dumps(module.encode(value))))
        assert back == value and type(back) is type(value)

    class AlwaysEqual:
        def __eq__(self, other):
            return True

    for hostile in (AlwaysEqual(), type("L", (list,), {})([1]), lambda: 0):
        with pytest.raises(TypeError):
            module.encode(hostile)
    for forged in ({"eval": "1"}, {"int": 5}, {"float": "1e400x"}, [1, 2]):
        with pytest.raises((TypeError, ValueError)):
            module.decode(forged)


@needs_sandbox
def test_canonical_solutions_pass_in_the_sandbox(humaneval):
    for p in humaneval.problems():
        program, stdin = humaneval.build_check(p, p.canonical_solution, "OK-MARK")
        result = run_python(program, timeout_s=20, stdin=stdin)
        assert result.passed and "OK-MARK" in result.stdout, (p.task_id, result.stderr)


# Answers that cheat rather than solve: each would pass if the tests ran in the answer's own
# process; each must fail (count_evens, HumanEval/0).
CHEATS = {
    "exit": "def count_evens(numbers):\n    return 0\nexit()\n",
    "sys.exit(0)": "import sys\nsys.exit(0)\n",
    "os._exit(0)": "import os\nos._exit(0)\n",
    "exit in the call": "def count_evens(numbers):\n    raise SystemExit(0)\n",
    "os._exit in the call": "import os\ndef count_evens(numbers):\n    os._exit(0)\n",
    "equals anything": ("class Anything:\n    def __eq__(self, other):\n        return True\n"
                        "def count_evens(numbers):\n    return Anything()\n"),
    "prints a marker and exits": ("import os, sys, glob\nfor name in glob.glob('/program/*'):\n"
                                  "    sys.__stdout__.write(open(name).read())\n"
                                  "print('ptb-humaneval-passed-'); sys.stdout.flush(); os._exit(0)\n"),
    "kills the tests' process": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
}


@needs_sandbox
@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_an_answer_that_cheats_instead_of_solving_fails(humaneval, cheat):
    problem = humaneval.problems()[0]
    program, stdin = humaneval.build_check(problem, CHEATS[cheat], "MARK-7f3a")
    result = run_python(program, timeout_s=20, stdin=stdin)
    assert "MARK-7f3a" not in result.stdout, (cheat, result.stdout, result.stderr)
    honest, stdin = humaneval.build_check(problem, problem.canonical_solution, "MARK-7f3a")
    assert "MARK-7f3a" in run_python(honest, timeout_s=20, stdin=stdin).stdout  # the same check passes an honest answer


@needs_sandbox
def test_a_right_answer_that_leaves_a_thread_running_still_passes_in_time(humaneval):
    problem = humaneval.problems()[0]
    code = ("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
            "def count_evens(numbers):\n    return len([n for n in numbers if n % 2 == 0])\n")
    program, stdin = humaneval.build_check(problem, code, "MARK-9c1d")
    result = run_python(program, timeout_s=20, stdin=stdin)
    assert result.passed and "MARK-9c1d" in result.stdout and result.duration_s < 15, result


@needs_sandbox
@pytest.mark.parametrize("cheat", ["equals anything", "prints a marker and exits"])
def test_those_cheats_pass_when_the_tests_run_in_the_answers_process(humaneval, cheat):
    # the guard off: the answer, the tests and the marker in one program, as before isolated_check
    problem = humaneval.problems()[0]
    solution = humaneval.solution_source(problem, CHEATS[cheat])
    program = f"{solution}\n\n{problem.test}\n\ncheck({problem.entry_point})\nprint('ptb-humaneval-passed-7f3a')\n"
    result = run_python(program, timeout_s=20)
    assert result.returncode == 0 and "ptb-humaneval-passed-7f3a" in result.stdout, result.stderr


@needs_sandbox
def test_inspect_eval_runs_replies_in_the_sandbox_and_scores_them(humaneval, tmp_path):
    replies = {
        # right: a full function in a fence that uses the prompt's import (typing.List)
        "count_evens": "Sure.\n```python\ndef count_evens(numbers: List[int]) -> int:\n"
        "    return len([n for n in numbers if n % 2 == 0])\n```",
        # right: a bare completion of the body that calls the prompt's helper
        "strip_vowels": '    return "".join(ch for ch in text if not is_vowel(ch))\n',
        # wrong: runs, but the tests' assertions fail
        "clamp": "```python\ndef clamp(value, low, high):\n    return min(value, high)\n```",
        # malformed: a syntax error
        "circle_area": "```python\ndef circle_area(radius: float) -> float\n    return 3.14 * radius ** 2\n```",
        # malformed: no code at all
        "reverse_words": "I am sorry, I cannot help with reversing words.",
        # cheating: leaves with status 0 before the tests run
        "running_max": "```python\nimport sys\nsys.exit(0)\n```",
    }
    [log] = inspect_eval(
        humaneval.humaneval(), model=_mock(replies), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    [score] = log.results.scores
    assert score.metrics["accuracy"].value == pytest.approx(2 / 6)
    assert "stderr" in score.metrics
    scores = {s.id: s.scores["passes_tests"] for s in log.samples}
    assert {k: v.value for k, v in scores.items()} == {
        "HumanEval/0": "C", "HumanEval/1": "C", "HumanEval/2": "I",
        "HumanEval/3": "I", "HumanEval/4": "I", "HumanEval/5": "I",
    }  # fmt: skip
    assert "AssertionError" in scores["HumanEval/2"].explanation
    assert "SyntaxError" in scores["HumanEval/3"].explanation
    assert "SyntaxError" in scores["HumanEval/4"].explanation  # the prose ran as code, in the sandbox
    assert "the answer did not load: SystemExit" in scores["HumanEval/5"].explanation
    assert scores["HumanEval/0"].answer.startswith("def count_evens(")


@needs_sandbox
def test_a_reply_that_never_ends_times_out_and_fails(humaneval, tmp_path):
    replies = {"count_evens": "```python\ndef count_evens(numbers):\n    while True:\n        pass\n```"}
    [log] = inspect_eval(
        humaneval.humaneval(timeout_s=1.5), model=_mock(replies), limit=1, log_dir=str(tmp_path), display="none"
    )
    [sample] = log.samples
    score = sample.scores["passes_tests"]
    assert score.value == "I" and score.metadata["timed_out"] is True
    assert score.explanation == "timed out after 1.5 s"


def test_without_bwrap_the_task_refuses_to_start(humaneval, monkeypatch):
    monkeypatch.setattr(code_exec, "_bwrap_path", lambda: None)
    code_exec.sandbox_probe.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="humaneval runs generated code only inside bubblewrap"):
            humaneval.humaneval()
    finally:
        code_exec.sandbox_probe.cache_clear()


def test_test_texts_hold_each_prompt_with_its_solution(humaneval):
    texts = humaneval.test_texts()
    assert texts == [r["prompt"] + r["canonical_solution"] for r in _rows()]


def test_no_agent_context_is_written(humaneval, tmp_path):
    assert humaneval.write_agent_context(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    assert not hasattr(humaneval, "allowed_texts")  # HumanEval has no allowed training data


def test_missing_data_is_a_clear_data_unavailable_error(humaneval, empty_data_caches):
    with pytest.raises(DataUnavailable, match="openai/openai_humaneval is not in the HF cache.*HF_HUB_OFFLINE=1"):
        humaneval.humaneval(split="test")


@pytest.mark.slow
@needs_sandbox
def test_humaneval_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import compose_task, smoke_evaluate

    metrics = smoke_evaluate(eval_pool, compose_task("humaneval"), tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    assert list((tmp_path / "eval").glob("*.eval")), "the inspect log is kept"
