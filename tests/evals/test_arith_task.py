"""evals/arith/task.py: deterministic disjoint splits, answer extraction, the inspect task."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import astuple

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.paths import EVALS_DIR


def test_splits_are_sized_deterministic_and_disjoint(arith_module):
    train, test = arith_module.items("train"), arith_module.items("test")
    assert len(train) == 2000 and len(test) == 200
    assert len({i.question for i in train}) == 2000 and len({i.question for i in test}) == 200
    assert not {i.question for i in train} & {i.question for i in test}

    # A fresh copy of the module (nothing cached) generates the very same items.
    spec = importlib.util.spec_from_file_location("arith_fresh_copy", EVALS_DIR / "arith" / "task.py")
    fresh = importlib.util.module_from_spec(spec)
    sys.modules["arith_fresh_copy"] = fresh
    try:
        spec.loader.exec_module(fresh)
        for split, expected in (("test", test), ("train", train)):  # other class, same values
            assert [astuple(i) for i in fresh.items(split)] == [astuple(i) for i in expected]
    finally:
        del sys.modules["arith_fresh_copy"]

    with pytest.raises(ValueError, match="no split 'dev'.*train, test"):
        arith_module.items("dev")


def test_every_solution_is_correct_arithmetic_ending_in_the_answer(arith_module):
    steps_seen = set()
    for item in arith_module.items("train") + arith_module.items("test"):
        assert item.solution.endswith(f"The answer is {item.answer}.")
        equations = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)\.", item.solution)
        steps_seen.add(len(equations))
        for left, op, right, result in equations:
            assert eval(f"{left} {op} {right}") == int(result)  # noqa: S307 (digits and one operator)
        assert int(equations[-1][3]) == item.answer
        assert 0 <= item.answer <= 25 and "?" in item.question
    assert steps_seen == {1, 2}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("3 + 4 = 7. The answer is 7.", 7),
        ("The answer is 7", 7),
        ("the answer is: 1,200.", 1200),
        ("The answer is 3. Wait, no. The answer is 12,", 12),  # the last one counts
        ("The answer is $5.", 5),
        ("The answer is -2.", -2),
        ("The answer is 2.5.", None),  # not an integer
        ("The answer is seven.", None),
        ("7", None),  # no answer phrase
        ("", None),
    ],
)
def test_extract_answer(arith_module, reply, expected):
    assert arith_module.extract_answer(reply) == expected


def test_prompt_has_the_question_then_the_format_instruction(arith_module):
    item = arith_module.items("test")[0]
    assert arith_module.prompt(item.question) == f"{item.question}\n{arith_module.INSTRUCTION}"
    assert '"The answer is N."' in arith_module.INSTRUCTION


def test_inspect_eval_scores_right_wrong_and_malformed_replies(arith_module, tmp_path):
    items = arith_module.items("test")[:3]
    replies = {
        items[0].question: f"Working. The answer is {items[0].answer}.",
        items[1].question: f"The answer is {items[1].answer + 1}.",
        items[2].question: "I do not know.",
    }

    def reply(messages, tools, tool_choice, config):  # answers by question, whatever the order
        text = messages[-1].text
        output = ModelOutput.from_content("mockllm/model", next(r for q, r in replies.items() if q in text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    model = get_model("mockllm/model", custom_outputs=reply)
    [log] = inspect_eval(
        arith_module.arith(split="test"), model=model, limit=3, log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success"
    [score] = log.results.scores
    assert score.metrics["accuracy"].value == pytest.approx(1 / 3)
    assert "stderr" in score.metrics
    values = {s.id: s.scores[next(iter(s.scores))].value for s in log.samples}
    assert values == {"test-0": "C", "test-1": "I", "test-2": "I"}
    assert log.samples[0].target == str(items[0].answer)


def test_train_split_task_exists_for_agents(arith_module):
    task = arith_module.arith(split="train")
    assert len(task.dataset) == 2000


def test_test_texts_hold_each_test_question_and_answer(arith_module):
    texts = arith_module.test_texts()
    items = arith_module.items("test")
    assert len(texts) == 200
    assert all(i.question in t and f"The answer is {i.answer}." in t for t, i in zip(texts, items, strict=True))


def test_write_agent_context_writes_only_the_train_split(arith_module, tmp_path):
    [path] = arith_module.write_agent_context(tmp_path)
    assert path == tmp_path / "data" / "arith_train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2000 and set(rows[0]) == {"question", "answer", "solution"}
    assert [r["question"] for r in rows] == [i.question for i in arith_module.items("train")]
    test_questions = {i.question for i in arith_module.items("test")}
    assert not any(r["question"] in test_questions for r in rows)


def test_arith_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path, arith_module):
    from eval_smoke import compose_task, smoke_evaluate

    metrics = smoke_evaluate(eval_pool, compose_task("arith"), tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    assert list((tmp_path / "eval").glob("*.eval")), "the inspect log is kept"
    assert metrics.split_fingerprint == arith_module.split_fingerprint()  # names the secret split
