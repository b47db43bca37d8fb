"""evals/gpqa/task.py: the gpqa_main.csv loader, the seeded choice shuffle (and its record in the
log), the prompt's answer format, inspect's choice scorer on right, wrong and malformed replies,
the gated-dataset messages, the judge's test texts, and a `--limit` smoke evaluation.

The data is tests/fixtures/hub/Idavidrein/gpqa/gpqa_main.csv: seven invented questions in the real
file's columns, with a multi-line question, quotes and commas, an answer padded with whitespace and
a newline, LaTeX, non-ASCII text, and a distractor that starts with the correct answer's words.
"""

from __future__ import annotations

import csv
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hub" / "Idavidrein" / "gpqa" / "gpqa_main.csv"


@pytest.fixture(scope="module")
def gpqa():
    from eval_smoke import compose_task

    return load_task_module(compose_task("gpqa"))


def _rows() -> list[dict]:
    with open(FIXTURE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _mock(replies: dict[str, str], seen: list[str] | None = None):
    """A mockllm model answering by question text, whatever the order; records the prompts."""

    def reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        if seen is not None:
            seen.append(text)
        output = ModelOutput.from_content("mockllm/model", next(r for q, r in replies.items() if q in text))
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def test_data_declares_the_gated_csv_it_reads(gpqa):
    [source] = gpqa.DATA
    assert source.repo_id == "Idavidrein/gpqa" and source.files == ("gpqa_main.csv",) and source.gated
    assert [p.name for p in source.fetch()] == ["gpqa_main.csv"]


def test_loader_keeps_ids_order_and_strips_the_source_whitespace(gpqa):
    questions = gpqa.questions()
    rows = _rows()
    assert [q.record_id for q in questions] == [r["Record ID"] for r in rows] and len(questions) == 7
    assert questions[0].question == rows[0]["Question"] and "\n" in questions[0].question  # multi-line kept
    assert questions[1].correct == "propan-2-ol"  # "  propan-2-ol\n" in the file
    assert questions[1].question.startswith('A chemist writes: "the product is a ketone')
    assert questions[4].question.startswith("An ångström (Å)") and "μm" in questions[4].question
    assert questions[3].incorrect == ("$L/4$", "$L/\\pi$", "$0$")
    assert (questions[2].subdomain, questions[2].domain) == ("Molecular Biology", "Biology")


def test_choices_are_shuffled_with_the_fixed_seed_and_the_correct_letter_follows(gpqa):
    letters = []
    for q in gpqa.questions():
        shuffled = gpqa.shuffle_choices(q)
        assert sorted(shuffled.choices) == sorted((q.correct, *q.incorrect))
        assert shuffled.choices["ABCD".index(shuffled.target)] == q.correct
        assert [(q.correct, *q.incorrect)[i] for i in shuffled.order] == list(shuffled.choices)
        assert gpqa.shuffle_choices(q) == shuffled  # deterministic
        letters.append(shuffled.target)
    assert len(set(letters)) >= 2, letters  # really shuffled: the answer is not always in one place
    others = [gpqa.shuffle_choices(q, seed=gpqa.CHOICE_SHUFFLE_SEED + 1).order for q in gpqa.questions()]
    assert others != [gpqa.shuffle_choices(q).order for q in gpqa.questions()]  # the seed matters


def test_shuffle_is_the_same_in_another_process_with_another_hash_seed(gpqa):
    q = gpqa.questions()[0]
    code = (
        "import random, sys\n"
        "order = list(range(4))\n"
        f"random.Random({f'{gpqa.CHOICE_SHUFFLE_SEED}:{q.record_id}'!r}).shuffle(order)\n"
        "print(order)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": "12345"}, check=True
    ).stdout
    assert out.strip() == str(list(gpqa.shuffle_choices(q).order))


def test_task_samples_carry_the_shuffled_choices_and_the_seed(gpqa):
    task = gpqa.gpqa(split="test")
    samples = list(task.dataset)
    assert len(samples) == 7 and task.name == "gpqa"
    assert task.metadata == {"choice_shuffle_seed": gpqa.CHOICE_SHUFFLE_SEED, "config": "gpqa_main"}
    for s, q in zip(samples, gpqa.questions(), strict=True):
        shuffled = gpqa.shuffle_choices(q)
        assert (s.id, s.input, s.target) == (q.record_id, q.question, shuffled.target)
        assert s.choices == list(shuffled.choices)
        assert s.metadata["choice_shuffle_seed"] == gpqa.CHOICE_SHUFFLE_SEED
        assert s.metadata["correct_letter"] == shuffled.target
        assert s.metadata["choice_order"] == list(shuffled.order)


def test_only_the_test_split_exists(gpqa):
    with pytest.raises(ValueError, match="gpqa has no split 'train'; accepted: test"):
        gpqa.gpqa(split="train")


def test_inspect_eval_scores_replies_and_the_log_records_the_seed(gpqa, tmp_path):
    questions = gpqa.questions()
    right = {q.record_id: gpqa.shuffle_choices(q).target for q in questions}
    wrong = {rid: "ABCD"[("ABCD".index(letter) + 1) % 4] for rid, letter in right.items()}
    q = {i: questions[i] for i in range(7)}
    replies = {
        q[0].question: f"h = g t^2 / 2, so t = sqrt(8).\nANSWER: {right[q[0].record_id]}",
        q[1].question: f"Secondary alcohols give ketones.\n\nANSWER: {right[q[1].record_id].lower()}",  # case
        q[2].question: f"Ligase seals nicks.\nANSWER: {wrong[q[2].record_id]}",  # wrong letter
        q[3].question: f"ANSWER: {right[q[3].record_id]}\nActually no.\nANSWER: {wrong[q[3].record_id]}",  # last wins
        q[4].question: f"The answer is ({right[q[4].record_id]}).",  # not the format asked for
        q[5].question: f"It is {q[5].correct}.",  # the right text, but no letter
        q[6].question: "",  # no reply at all
    }
    seen: list[str] = []
    [log] = inspect_eval(gpqa.gpqa(), model=_mock(replies, seen), log_dir=str(tmp_path), display="none")
    assert log.status == "success"
    [score] = log.results.scores
    assert score.metrics["accuracy"].value == pytest.approx(2 / 7)
    assert "stderr" in score.metrics
    values = {s.id: s.scores["choice"].value for s in log.samples}
    assert values == {
        q[0].record_id: "C", q[1].record_id: "C", q[2].record_id: "I", q[3].record_id: "I",
        q[4].record_id: "I", q[5].record_id: "I", q[6].record_id: "N",
    }  # fmt: skip

    # The prompt tells the model the exact answer format the scorer reads, with the shuffled choices.
    prompt = next(p for p in seen if q[0].question in p)
    assert "'ANSWER: $LETTER'" in prompt and "A,B,C,D" in prompt and "Think step by step" in prompt
    for letter, text in zip("ABCD", gpqa.shuffle_choices(q[0]).choices, strict=True):
        assert f"{letter}) {text}" in prompt

    # The seed (and each question's order and letter) can be read back from the log file.
    stored = read_eval_log(log.location)
    assert stored.eval.task_args["shuffle_seed"] == gpqa.CHOICE_SHUFFLE_SEED
    assert stored.eval.metadata["choice_shuffle_seed"] == gpqa.CHOICE_SHUFFLE_SEED
    for s in stored.samples:
        assert s.metadata["choice_shuffle_seed"] == gpqa.CHOICE_SHUFFLE_SEED
        assert s.metadata["correct_letter"] == s.target == right[s.id]


def test_another_seed_is_recorded_too(gpqa, tmp_path):
    question = gpqa.questions()[0]
    target = gpqa.shuffle_choices(question, seed=7).target
    [log] = inspect_eval(
        gpqa.gpqa(shuffle_seed=7), model=_mock({question.question: f"ANSWER: {target}"}),
        limit=1, log_dir=str(tmp_path), display="none",
    )  # fmt: skip
    stored = read_eval_log(log.location)
    assert stored.eval.metadata["choice_shuffle_seed"] == 7 and stored.eval.task_args["shuffle_seed"] == 7
    assert stored.samples[0].metadata["choice_shuffle_seed"] == 7
    assert stored.samples[0].scores["choice"].value == "C"


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_malformed_source_files_are_clear_errors(gpqa, tmp_path):
    columns = list(_rows()[0])
    good = {c: "" for c in columns} | {
        "Record ID": "recX", "Question": "Q?", "Correct Answer": "a",
        "Incorrect Answer 1": "b", "Incorrect Answer 2": "c", "Incorrect Answer 3": "d",
    }  # fmt: skip
    without = [c for c in columns if c != "Incorrect Answer 2"]
    with pytest.raises(ValueError, match=r"no column\(s\) \['Incorrect Answer 2'\]"):
        gpqa._read(_write_csv(tmp_path / "a.csv", [{c: good[c] for c in without}], without))
    with pytest.raises(ValueError, match="Record ID 'recX' twice"):
        gpqa._read(_write_csv(tmp_path / "b.csv", [good, good], columns))
    with pytest.raises(ValueError, match=r"empty field\(s\) \['Correct Answer'\]"):
        gpqa._read(_write_csv(tmp_path / "c.csv", [good | {"Correct Answer": "  \n"}], columns))


def test_test_texts_hold_each_question_and_its_correct_answer(gpqa):
    texts = gpqa.test_texts()
    assert texts == [f"{q.question} {q.correct}" for q in gpqa.questions()] and len(texts) == 7
    assert "propan-2-ol" in texts[1]


def test_no_agent_context_is_written(gpqa, tmp_path):
    assert gpqa.write_agent_context(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    assert not hasattr(gpqa, "allowed_texts")  # GPQA has no allowed training data


def test_missing_data_offline_is_a_clear_data_unavailable_error(gpqa, empty_data_caches):
    with pytest.raises(DataUnavailable, match="Idavidrein/gpqa is not in the HF cache.*HF_HUB_OFFLINE=1.*ptb.cache"):
        gpqa.gpqa(split="test")


class _GatedHub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub does for a gated repository the caller may not read."""

    def do_GET(self):
        self.send_response(401)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to dataset Idavidrein/gpqa is restricted.")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def gated_hub(monkeypatch, empty_data_caches):
    """Online mode against a local stand-in Hub that refuses the gated dataset."""
    import huggingface_hub.constants as hub_constants

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GatedHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(hub_constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_gated_dataset_without_a_token_says_to_set_hf_token(gpqa, gated_hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(DataUnavailable) as error:
        gpqa.gpqa(split="test")
    message = str(error.value)
    assert "Idavidrein/gpqa is a gated dataset" in message and "set HF_TOKEN" in message
    assert "https://huggingface.co/datasets/Idavidrein/gpqa" in message  # where to accept the terms


def test_gated_dataset_with_a_token_without_access_says_so(gpqa, gated_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fixture_token_without_access")
    with pytest.raises(DataUnavailable, match="the token in HF_TOKEN has no access to it: accept the dataset's terms"):
        gpqa.gpqa(split="test")


@pytest.mark.slow
def test_gpqa_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import compose_task, smoke_evaluate

    metrics = smoke_evaluate(eval_pool, compose_task("gpqa"), tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    assert list((tmp_path / "eval").glob("*.eval")), "the inspect log is kept"


def test_offline_and_missing_gated_dataset_names_the_token_to_set(monkeypatch, empty_data_caches):
    """On a compute node (HF_HUB_OFFLINE=1) without the cached dataset, the message says how to
    fetch it and that the fetch needs a token (gpqa is gated)."""
    from ptb.data import DataUnavailable, HubDataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(DataUnavailable) as info:
        HubDataset("Idavidrein/gpqa", files=("gpqa_main.csv",), gated=True).local_dir()
    message = str(info.value)
    assert "python -m ptb.cache" in message and "HF_TOKEN" in message and "gated" in message
