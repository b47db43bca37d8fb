"""evals/aime2025/task.py: the test.jsonl loader, the prompt, the numeric scorer through inspect's
mockllm, the judge's test texts, missing data, and a `--limit` smoke evaluation through the pool.

The data is tests/fixtures/hub/math-ai/aime25/test.jsonl: six invented AIME-style problems in the
real file's schema (every field a string), one with a zero-padded answer ("081").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hub" / "math-ai" / "aime25" / "test.jsonl"


@pytest.fixture(scope="module")
def aime():
    from eval_smoke import compose_task

    return load_task_module(compose_task("aime2025"))


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def test_data_declares_the_one_file_it_reads(aime):
    [source] = aime.DATA
    assert source.repo_id == "math-ai/aime25" and source.files == ("test.jsonl",)
    assert [p.name for p in source.fetch()] == ["test.jsonl"]


def test_loader_keeps_source_ids_order_and_canonical_integer_answers(aime):
    problems = aime.problems()
    rows = _rows()
    assert [p.id for p in problems] == [r["id"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [p.problem for p in problems] == [r["problem"] for r in rows]
    assert [p.answer for p in problems] == ["27", "24", "81", "80", "370", "0"]  # "081" -> "81"


def test_task_samples_are_the_problems_with_the_boxed_instruction(aime):
    task = aime.aime2025(split="test")
    samples = list(task.dataset)
    assert len(samples) == 6 and task.name == "aime2025"
    first = samples[0]
    assert (first.id, first.target) == ("0", "27")
    assert first.input == f"{_rows()[0]['problem']}\n\n{aime.INSTRUCTION}"
    assert "\\boxed{N}" in aime.INSTRUCTION and "0 to 999" in aime.INSTRUCTION


def test_only_the_test_split_exists(aime):
    with pytest.raises(ValueError, match="aime2025 has no split 'train'; accepted: test"):
        aime.aime2025(split="train")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"problem": "p", "answer": "2.5", "id": "9"}, "answer '2.5' is not an integer from 0 to 999"),
        ({"problem": "p", "answer": "1000", "id": "9"}, "answer '1000' is not an integer from 0 to 999"),
        ({"problem": "p", "answer": "none", "id": "9"}, "answer 'none' is not an integer"),
        ({"problem": "p", "id": "9"}, r"line 3 has no field\(s\) \['answer'\]"),
    ],
)
def test_malformed_source_rows_are_clear_errors(aime, row, message):
    with pytest.raises(ValueError, match=message):
        aime._problem(row, 3)


def test_inspect_eval_scores_right_wrong_and_malformed_replies(aime, tmp_path):
    rows = _rows()
    replies = {
        rows[0]["problem"]: "2^10 = 1024, plus 3 is 1027, so the remainder is \\boxed{27}.",
        rows[1]["problem"]: "360 = 2^3 * 3^2 * 5, so (3+1)(2+1)(1+1) = 24. The answer is 24.",
        rows[2]["problem"]: "The side is 9, so the area is \\boxed{081}",  # zero-padded: still 81
        rows[3]["problem"]: "The answer is 80. Hmm, recount: \\boxed{75}",  # the box decides: wrong
        rows[4]["problem"]: "\\boxed{\\frac{740}{2}}",  # not a single number: no answer
        rows[5]["problem"]: "I am not sure about this one.",  # no number at all
    }

    def reply(messages, tools, tool_choice, config):  # answers by problem, whatever the order
        text = messages[-1].text
        output = ModelOutput.from_content("mockllm/model", next(r for q, r in replies.items() if q in text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    [log] = inspect_eval(
        aime.aime2025(), model=get_model("mockllm/model", custom_outputs=reply), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success"
    [score] = log.results.scores
    assert score.metrics["accuracy"].value == pytest.approx(3 / 6)
    assert "stderr" in score.metrics
    results = {s.id: (s.scores["numeric_answer"].value, s.scores["numeric_answer"].answer) for s in log.samples}
    assert results == {
        "0": ("C", "27"), "1": ("C", "24"), "2": ("C", "81"),
        "3": ("I", "75"), "4": ("I", None), "5": ("I", None),
    }  # fmt: skip


def test_test_texts_hold_each_problem_and_its_answer(aime):
    texts = aime.test_texts()
    assert len(texts) == 6
    for text, row, answer in zip(texts, _rows(), ["27", "24", "81", "80", "370", "0"], strict=True):
        assert text == f"{row['problem']} {answer}"


def test_no_agent_context_is_written(aime, tmp_path):
    assert aime.write_agent_context(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    assert not hasattr(aime, "allowed_texts")  # AIME has no allowed training data


def test_missing_data_is_a_clear_data_unavailable_error(aime, empty_data_caches):
    with pytest.raises(DataUnavailable, match="math-ai/aime25 is not in the HF cache.*HF_HUB_OFFLINE=1.*ptb.cache"):
        aime.aime2025(split="test")


@pytest.mark.slow
def test_aime2025_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import compose_task, smoke_evaluate

    metrics = smoke_evaluate(eval_pool, compose_task("aime2025"), tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    assert list((tmp_path / "eval").glob("*.eval")), "the inspect log is kept"
