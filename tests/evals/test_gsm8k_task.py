"""evals/gsm8k/task.py: the parquet loader, the 10-shot chat turns from the train split, the
numeric scorer through inspect's mockllm, the judge's texts, missing data, and a 10-shot `--limit`
smoke evaluation through the pool.

The data is tests/fixtures/hub/openai/gsm8k/main/{train,test}-00000-of-00001.parquet(.jsonl):
invented word problems in the real schema (question, answer with <<calculator>> annotations and a
final "#### N" line); 12 train rows (one final number written "2,200", one negative) and 6 test rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub" / "openai" / "gsm8k" / "main"
TRAIN_ANSWERS = ["12", "90", "9", "2200", "30", "150", "12", "-3", "7", "14", "99", "35"]
TEST_ANSWERS = ["26", "1200", "8", "30", "6", "13"]


@pytest.fixture(scope="module")
def gsm8k():
    from eval_smoke import compose_task

    return load_task_module(compose_task("gsm8k"))


def _rows(split: str) -> list[dict]:
    text = (FIXTURES / f"{split}-00000-of-00001.parquet.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_data_declares_both_parquet_files_of_the_main_config(gsm8k):
    [source] = gsm8k.DATA
    assert source.repo_id == "openai/gsm8k"
    assert set(source.files) == {"main/test-00000-of-00001.parquet", "main/train-00000-of-00001.parquet"}
    assert sorted(p.name for p in source.fetch()) == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet"]


def test_loader_reads_rows_in_order_with_canonical_final_numbers(gsm8k):
    for split, answers in (("test", TEST_ANSWERS), ("train", TRAIN_ANSWERS)):
        problems = gsm8k.problems(split)
        rows = _rows(split)
        assert [p.row for p in problems] == list(range(len(rows)))
        assert [(p.question, p.solution) for p in problems] == [(r["question"], r["answer"]) for r in rows]
        assert [p.answer for p in problems] == answers  # "#### 2,200" -> "2200"
    with pytest.raises(ValueError, match="gsm8k has no split 'dev'; accepted: test, train"):
        gsm8k.problems("dev")


@pytest.mark.parametrize(
    "solution", ["3+4=7.\n7 apples", "#### seven", "####", "#### 3 or 4", "3+4=7 ## 7"]
)
def test_a_solution_without_a_final_number_is_a_clear_error(gsm8k, solution):
    with pytest.raises(ValueError, match="row 5 does not end in '#### <number>'"):
        gsm8k.final_number(solution, "row 5")


def test_worked_answer_drops_annotations_and_ends_in_the_scored_phrase(gsm8k):
    problem = gsm8k.problems("train")[9]
    assert problem.solution == "The shirts cost 3*12=$<<3*12=36>>36.\nHis change is 50-36=$<<50-36=14>>14.\n#### 14"
    assert gsm8k.worked_answer(problem) == "The shirts cost 3*12=$36.\nHis change is 50-36=$14.\nThe answer is 14."
    comma = gsm8k.problems("train")[3]
    assert gsm8k.worked_answer(comma).endswith("2200 eggs.\nThe answer is 2200.")


def test_fewshot_turns_are_the_first_ten_train_rows(gsm8k):
    messages = gsm8k.fewshot_messages()
    assert len(messages) == 20 and gsm8k.FEWSHOT == 10
    assert [m.role for m in messages] == ["user", "assistant"] * 10
    train = gsm8k.problems("train")
    for n in range(10):
        assert messages[2 * n].text == f"{train[n].question}\n{gsm8k.INSTRUCTION}"
        assert messages[2 * n + 1].text == gsm8k.worked_answer(train[n])
    assert "<<" not in "".join(m.text for m in messages)
    with pytest.raises(ValueError, match="fewshot must be from 0 to 12"):
        gsm8k.fewshot_messages(13)


def test_task_samples_are_ten_shot_chats_ending_in_the_question(gsm8k):
    task = gsm8k.gsm8k(split="test")
    samples = list(task.dataset)
    test = gsm8k.problems("test")
    assert task.name == "gsm8k" and len(samples) == 6
    assert [s.id for s in samples] == [f"test-{n}" for n in range(6)]
    assert [s.target for s in samples] == TEST_ANSWERS
    examples = [(m.role, m.text) for m in gsm8k.fewshot_messages()]
    for sample, problem in zip(samples, test, strict=True):
        assert [(m.role, m.text) for m in sample.input[:20]] == examples
        assert len(sample.input) == 21 and sample.input[-1].role == "user"
        assert sample.input[-1].text == f"{problem.question}\n{gsm8k.INSTRUCTION}"
        assert sample.metadata == {"fewshot_train_rows": list(range(10))}


def test_fewshot_count_is_a_task_argument(gsm8k):
    [zero_shot] = list(gsm8k.gsm8k(fewshot=0).dataset)[:1]
    assert [m.role for m in zero_shot.input] == ["user"]
    [two_shot] = list(gsm8k.gsm8k(fewshot=2).dataset)[:1]
    assert [m.role for m in two_shot.input] == ["user", "assistant", "user", "assistant", "user"]


def test_train_split_leaves_out_the_example_rows(gsm8k):
    samples = list(gsm8k.gsm8k(split="train").dataset)
    assert [s.id for s in samples] == ["train-10", "train-11"]
    assert next(s.id for s in gsm8k.gsm8k(split="train", fewshot=3).dataset) == "train-3"


def test_inspect_eval_scores_right_wrong_and_malformed_replies(gsm8k, tmp_path):
    test = gsm8k.problems("test")
    replies = {
        test[0].question: "5*6 = 30, 30 - 4 = 26. The answer is 26.",
        test[1].question: "3 * 400 = 1,200 dollars. The answer is $1,200.00.",  # commas, $, decimals
        test[2].question: "12 - 4 = 8. The answer is 8.00",
        test[3].question: "2*10 = 20 leak, so 50 - 20 = 30 liters remain",  # no phrase: the last number
        test[4].question: "The answer is 5. Each gets 18/3 = 6, 6 * 3 = 18.",  # the phrase wins: wrong
        test[5].question: "Not enough information to tell.",  # no number
    }
    seen_turns: list[int] = []

    def reply(messages, tools, tool_choice, config):  # answers by question, whatever the order
        seen_turns.append(len(messages))
        text = messages[-1].text
        output = ModelOutput.from_content("mockllm/model", next(r for q, r in replies.items() if q in text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    [log] = inspect_eval(
        gsm8k.gsm8k(), model=get_model("mockllm/model", custom_outputs=reply), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success"
    assert seen_turns == [21] * 6  # the model got the ten example pairs and the question
    [score] = log.results.scores
    assert score.metrics["accuracy"].value == pytest.approx(4 / 6)
    assert "stderr" in score.metrics
    results = {s.id: (s.scores["numeric_answer"].value, s.scores["numeric_answer"].answer) for s in log.samples}
    assert results == {
        "test-0": ("C", "26"), "test-1": ("C", "1200"), "test-2": ("C", "8"),
        "test-3": ("C", "30"), "test-4": ("I", "5"), "test-5": ("I", None),
    }  # fmt: skip


def test_test_texts_are_the_test_questions_and_solutions(gsm8k):
    assert gsm8k.test_texts() == [f"{r['question']} {r['answer']}" for r in _rows("test")]


def test_allowed_texts_are_the_train_split_only(gsm8k):
    allowed = gsm8k.allowed_texts()
    assert allowed == [f"{r['question']} {r['answer']}" for r in _rows("train")]
    test_questions = [r["question"] for r in _rows("test")]
    assert not any(q in text for q in test_questions for text in allowed)


def test_no_agent_context_is_written(gsm8k, tmp_path):
    assert gsm8k.write_agent_context(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_missing_data_is_a_clear_data_unavailable_error(gsm8k, empty_data_caches):
    with pytest.raises(DataUnavailable, match="openai/gsm8k is not in the HF cache.*HF_HUB_OFFLINE=1.*ptb.cache"):
        gsm8k.gsm8k(split="test")


# --------------------------------------------------------------------------- through the real pool


@pytest.mark.slow
def test_gsm8k_ten_shot_limit_smoke_through_the_evaluation_pool(gsm8k, eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import TINY, compose_task, smoke_evaluate
    from inspect_ai.log import read_eval_log
    from transformers import AutoTokenizer

    from ptb.chat_templates import harness_template

    task = compose_task("gsm8k")
    metrics = smoke_evaluate(eval_pool, task, tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    [log_file] = (tmp_path / "eval").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert [s.id for s in log.samples] == ["test-0", "test-1", "test-2"]

    # The server's prompt_tokens equal the harness template rendered over all 21 turns: the ten
    # examples reached the model as chat turns.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    template = harness_template(TINY, task).read_text()
    for sample in log.samples:
        messages = [{"role": m.role, "content": m.text} for m in sample.input]
        assert len(messages) == 21
        text = tokenizer.apply_chat_template(messages, chat_template=template, add_generation_prompt=True, tokenize=False)
        [usage] = sample.model_usage.values()
        assert usage.input_tokens == len(tokenizer.encode(text, add_special_tokens=False)) > 1000, sample.id
