"""evals/healthbench/task.py: the easy-subset filter, the conversation prompt, rubric grading by a
scripted OpenAI-compatible grader (tests/scripted_chat.py), and the error messages.

The fixture file (tests/fixtures/urls/openaipublic.blob.core.windows.net/...) holds ten invented
conversations in HealthBench's schema; five are in the easy subset (ids ending 1, 3, 5, 7, 9),
five are out for one reason each. The scripted grader's rule: a criterion is met iff the reply
contains every upper-case marker word (3+ letters) of the criterion; criteria naming GARBLE never
get a parseable answer, criteria naming FLAKY get a parseable one on the second try.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.solver import generate
from scripted_chat import ScriptedGrader, message_text  # tests/scripted_chat.py

from ptb.data import DataUnavailable, UrlFile
from ptb.paths import EVALS_DIR
from ptb.plugins import load_task_module
from ptb.records import LadderStep, TaskSpec
from ptb.tasks.grader import GraderUnavailable

URL = "https://openaipublic.blob.core.windows.net/simple-evals/healthbench/2025-05-07-06-14-12_oss_eval.jsonl"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "urls" / URL.removeprefix("https://")
ID = "7c1d0e52-5a0b-4f3e-9b1a-00000000000{}".format
EASY_IDS = [ID(n) for n in (1, 3, 5, 7, 9)]
UNUSED_URL = "http://127.0.0.1:9/v1"  # building a task contacts no grader; nothing listens here
SCRIPTED = "openai-api/grader/scripted"  # the scripted grader, reached through its base_url


@pytest.fixture(scope="module")
def hb():
    spec = TaskSpec(name="healthbench", benchmark="HealthBench", weight=1.0,
                    eval_dir=str(EVALS_DIR / "healthbench"), ladder=(LadderStep(32, 1),))
    return load_task_module(spec)


def fixture_records() -> dict[str, dict]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    return {r["prompt_id"]: r for r in rows}


# --------------------------------------------------------------------------- the scripted grader

MARKER = re.compile(r"\b[A-Z]{3,}\b")
SPECIAL = {"GARBLE", "FLAKY"}
_CRITERION = re.compile(r'<criterion points="(-?[\d.]+)">\n(.*?)\n</criterion>', re.DOTALL)
_REPLY = re.compile(r"<reply>\n(.*?)\n</reply>", re.DOTALL)


def verdict(met: bool, explanation: str = "scripted") -> str:
    return json.dumps({"explanation": explanation, "criteria_met": met})


def asked(request: dict) -> str:
    """The text the task sent the grader (one user message per criterion)."""
    [message] = request["messages"]
    assert message["role"] == "user"
    return message_text(message)


def markers(text: str) -> set[str]:
    return set(MARKER.findall(text)) - SPECIAL


def marker_rule():
    """The grader's script: met iff the reply holds every marker of the criterion (see above)."""
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    def reply(messages: list[dict]) -> str:
        prompt = message_text(messages[-1])
        criterion = _CRITERION.search(prompt).group(2)
        response = _REPLY.search(prompt).group(1)
        with lock:
            asked[criterion] += 1
            n = asked[criterion]
        if "GARBLE" in criterion:
            return "The reply seems fine to me."  # never the JSON asked for
        if "FLAKY" in criterion and n == 1:
            return '{"explanation": "cut off", "criteria_met": '
        wanted = markers(criterion)
        return verdict(bool(wanted) and all(w in response for w in wanted), f"markers {sorted(wanted)}")

    return reply


def mock_model(replies_by_last_user_message: dict[str, str], seen: list | None = None):
    def reply(messages, tools, tool_choice, config):
        if seen is not None:
            seen.append(list(messages))
        text = messages[-1].text
        output = ModelOutput.from_content("mockllm/model", replies_by_last_user_message[text])
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    return get_model("mockllm/model", custom_outputs=reply)


# --------------------------------------------------------------------------- data and filter


def test_data_is_the_simple_evals_file_read_from_the_url_cache(hb, fixture_data_caches):
    assert hb.DATA == (UrlFile(URL),)
    _, files = fixture_data_caches
    assert hb.SOURCE.path() == files / URL.removeprefix("https://")


def test_easy_subset_keeps_exactly_the_easy_conversations_in_file_order(hb):
    assert [c.prompt_id for c in hb.conversations("test")] == EASY_IDS
    every = hb.read_conversations(FIXTURE)
    assert len(every) == 10
    out = {c.prompt_id: c for c in every if not hb.is_easy(c)}
    # each excluded one fails exactly one condition
    assert len(out[ID(2)].messages) == 4  # too few turns, otherwise easy
    assert len(out[ID(4)].messages) == 1  # single turn
    assert not out[ID(6)].has_completeness_criterion  # "completeness" only in a criterion's text
    assert not out[ID(0)].has_completeness_criterion  # axis:completeness only in example_tags
    assert out[ID(8)].negative_criteria == 3
    easy = {c.prompt_id: c for c in every if hb.is_easy(c)}
    assert len(easy[ID(1)].messages) == 5  # the boundary: exactly 5 turns
    assert easy[ID(3)].negative_criteria == 2  # the boundary: exactly 2 negative criteria
    # its only completeness criterion is a negative one: it still counts
    [completeness] = [c for c in easy[ID(7)].rubric if "axis:completeness" in c.tags]
    assert completeness.points < 0


@pytest.mark.parametrize(
    ("change", "easy"),
    [
        ({}, True),
        ({"messages": 4}, False),
        ({"messages": 5}, True),
        ({"negatives": 2}, True),
        ({"negatives": 3}, False),
        ({"completeness": False}, False),
    ],
)
def test_is_easy_boundaries(hb, change, easy):
    msg = hb.Message("user", "hi")
    base = hb.Conversation(
        prompt_id="x",
        messages=(msg,) * change.get("messages", 6),
        rubric=(
            hb.Criterion("covers it", 5, ("level:example", "axis:completeness" if change.get("completeness", True) else "axis:accuracy")),
            *(hb.Criterion(f"bad {i}", -2, ("axis:accuracy",)) for i in range(change.get("negatives", 0))),
        ),
        example_tags=(),
        ideal_completion=None,
    )
    assert hb.is_easy(base) is easy


def test_samples_are_the_conversations_as_chat_history(hb):
    records = fixture_records()
    task = hb.healthbench(grader_base_url=UNUSED_URL)
    samples = list(task.dataset)
    assert [s.id for s in samples] == EASY_IDS
    for sample in samples:
        record = records[sample.id]
        assert [(m.role, m.text) for m in sample.input] == [(m["role"], m["content"]) for m in record["prompt"]]
        assert sample.input[-1].role == "user"
        assert sample.metadata["rubric"] == [
            {"criterion": r["criterion"], "points": float(r["points"]), "tags": r["tags"]} for r in record["rubrics"]
        ]
        assert sample.metadata["example_tags"] == record["example_tags"]
    assert samples[2].input[0].role == "system"  # a system message stays the first message


def test_only_the_test_split_exists(hb):
    with pytest.raises(ValueError, match="no split 'train'.*accepted: test"):
        hb.conversations("train")


def test_malformed_records_name_the_line_and_the_field(hb, tmp_path):
    good = fixture_records()[ID(1)]
    cases = [
        ("{not json", r":3: not valid JSON"),
        (json.dumps({**good, "rubrics": []}), r"'rubrics' must be a non-empty list"),
        (json.dumps({**good, "prompt": [{"role": "doctor", "content": "x"}]}), r"prompt\[0\]\.role is 'doctor'; accepted: system, user, assistant"),
        (json.dumps({**good, "rubrics": [{"criterion": "x", "points": "5", "tags": []}]}), r"rubrics\[0\]\.points must be a number"),
        (json.dumps({k: v for k, v in good.items() if k != "prompt_id"}), r"'prompt_id' must be a non-empty string"),
    ]
    for line, message in cases:
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(good) + "\n\n" + line + "\n")
        with pytest.raises(hb.BadRecord, match=message) as info:
            hb.read_conversations(path)
        assert f"{path}:3" in str(info.value)


def test_test_texts_hold_messages_rubric_and_ideal_reply(hb):
    records = fixture_records()
    texts = hb.test_texts()
    assert len(texts) == 5
    for text, pid in zip(texts, EASY_IDS, strict=True):
        record = records[pid]
        assert all(m["content"] in text for m in record["prompt"])
        assert all(r["criterion"] in text for r in record["rubrics"])
    assert records[ID(7)]["ideal_completions_data"]["ideal_completion"] in texts[3]


def test_no_agent_context_files(hb, tmp_path):
    assert hb.write_agent_context(tmp_path) == []
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("text", "met"),
    [
        ('{"explanation": "does it", "criteria_met": true}', True),
        ('{"explanation": "no", "criteria_met": false}', False),
        ('```json\n{"explanation": "fenced", "criteria_met": true}\n```', True),
        ('Here is my answer: {"criteria_met": false, "explanation": "x"} thanks', False),
        ('{"explanation": "string", "criteria_met": "true"}', None),  # not a JSON boolean
        ('{"explanation": "missing"}', None),
        ('{"explanation": "cut off", "criteria_met": ', None),
        ("[true]", None),
        ("yes", None),
        ("", None),
    ],
)
def test_parse_verdict(hb, text, met):
    parsed = hb.parse_verdict(text)
    assert (parsed.met if parsed else None) == met


def grades(hb, *points_met):
    return [hb.CriterionGrade(hb.Criterion(f"c{i}", p, ()), met, "", 1, True) for i, (p, met) in enumerate(points_met)]


def test_example_score_positive_and_negative_points(hb):
    assert hb.example_score(grades(hb, (6, True), (4, False), (-5, True))) == pytest.approx(0.1)
    assert hb.example_score(grades(hb, (6, True), (4, False), (-5, False))) == pytest.approx(0.6)
    assert hb.example_score(grades(hb, (3, True), (2, True), (-1, False))) == 1.0  # the most there is
    assert hb.example_score(grades(hb, (3, False), (-8, True))) == 0.0  # clipped at 0, not -8/3
    assert hb.example_score(grades(hb, (3, True), (-8, True))) == 0.0  # clipped at 0, not -5/3
    assert hb.example_score(grades(hb, (-2, False))) == 0.0  # no positive points


def run_scorer(hb, grader, samples_and_replies, log_dir):
    """inspect eval of the task's scorer on our own samples, answered by a mock model."""
    samples = [
        Sample(id=sid, input=[ChatMessageUser(content=f"question {sid}")],
               metadata={"rubric": [{"criterion": c, "points": p, "tags": []} for c, p in rubric]})
        for sid, rubric, _ in samples_and_replies
    ]
    model = mock_model({f"question {sid}": reply for sid, _, reply in samples_and_replies})
    task = Task(dataset=MemoryDataset(samples), solver=generate(),
                scorer=hb.rubric_grader(SCRIPTED, grader.base_url, None))
    [log] = inspect_eval(task, model=model, display="none", log_dir=str(log_dir))
    assert log.status == "success", log.error
    return log, {s.id: next(iter(s.scores.values())) for s in log.samples}


def test_scorer_grades_each_criterion_and_clips(hb, tmp_path):
    cases = [
        ("partial", [("Offers ORS.", 6), ("Warns about BLOOD in stool.", 4), ("Gives LOPERAMIDE.", -5)],
         "Give ORS often. LOPERAMIDE also helps."),  # (6 - 5) / 10
        ("zero", [("Advises REST.", 3), ("Orders an MRI.", -8)], "Get an MRI today."),  # -8/3 -> 0
        ("full", [("Offers ORS.", 5), ("Mentions NSAID timing.", 5), ("Claims STROKE is certain.", -4)],
         "ORS and an early NSAID."),  # 10 / 10
        ("ungradeable", [("Offers ORS.", 4), ("GARBLE: warns about BLOOD.", 6), ("FLAKY: suggests ZINC.", 2),
                         ("GARBLE: recommends LOPERAMIDE.", -3)],
         "ORS, ZINC, BLOOD and LOPERAMIDE."),  # GARBLE ones count as not met: (4 + 2) / 12
    ]
    with ScriptedGrader(marker_rule()) as grader:
        log, scores = run_scorer(hb, grader, cases, tmp_path)
    assert {sid: s.value for sid, s in scores.items()} == pytest.approx(
        {"partial": 0.1, "zero": 0.0, "full": 1.0, "ungradeable": 0.5}
    )
    [result] = log.results.scores
    assert result.metrics["mean"].value == pytest.approx((0.1 + 0.0 + 1.0 + 0.5) / 4)
    assert "stderr" in result.metrics

    meta = scores["ungradeable"].metadata
    assert meta["ungraded"] == ["GARBLE: warns about BLOOD.", "GARBLE: recommends LOPERAMIDE."]
    assert (meta["earned_points"], meta["possible_points"]) == (6, 12)
    by_text = {c["criterion"]: c for c in meta["criteria"]}
    garbled = by_text["GARBLE: warns about BLOOD."]
    assert (garbled["met"], garbled["graded"], garbled["attempts"]) == (False, False, hb.GRADER_ATTEMPTS)
    assert garbled["last_answer"] == "The reply seems fine to me."
    assert (by_text["FLAKY: suggests ZINC."]["met"], by_text["FLAKY: suggests ZINC."]["attempts"]) == (True, 2)
    assert "2 ungraded (counted as not met)" in scores["ungradeable"].explanation
    assert scores["partial"].metadata["ungraded"] == []
    assert [c["met"] for c in scores["partial"].metadata["criteria"]] == [True, False, True]

    counts = Counter(_CRITERION.search(asked(r)).group(2) for r in grader.requests)
    assert counts["GARBLE: warns about BLOOD."] == hb.GRADER_ATTEMPTS  # bounded retries
    assert counts["FLAKY: suggests ZINC."] == 2
    assert counts["Offers ORS."] == 3 and sum(counts.values()) == 12 + 2 * (hb.GRADER_ATTEMPTS - 1) + 1


def test_criteria_of_one_reply_are_graded_concurrently(hb, tmp_path):
    barrier = threading.Barrier(3, timeout=20)  # only passes when all three requests are in flight together

    def reply(messages: list[dict]) -> str:
        barrier.wait()
        return verdict(True)

    rubric = [("Says A.", 1), ("Says B.", 1), ("Says C.", 1)]
    with ScriptedGrader(reply) as grader:
        _, scores = run_scorer(hb, grader, [("one", rubric, "A B C")], tmp_path)
    assert scores["one"].value == 1.0


def test_full_task_on_fixture_with_a_scripted_grader_behind_a_base_url(hb, tmp_path):
    records = fixture_records()
    replies = {
        ID(1): "Offer ORS in small sips and check for BLOOD in the stool.",  # 7 + 5 of 15
        ID(3): "Walk first, then jog; an MRI is needed first.",  # 0 - 4 of 12 -> 0
        ID(5): "Repeat it calmly; no EMERGENCY visit needed.",  # -5 of 14 -> 0
        ID(7): "Keep the PHONE out of the bedroom.",  # 5 of 13
        ID(9): "See your GP about STROKE risk; take the NSAID early.",  # 9 + 4 of 13 -> 1
    }
    by_last_message = {records[pid]["prompt"][-1]["content"]: text for pid, text in replies.items()}
    seen: list = []
    with ScriptedGrader(marker_rule()) as grader:
        task = hb.healthbench(grader_model=SCRIPTED, grader_base_url=grader.base_url, grader_api_key_env="PTB_NO_SUCH_KEY")
        [log] = inspect_eval(task, model=mock_model(by_last_message, seen), display="none", log_dir=str(tmp_path))
    assert log.status == "success", log.error
    values = {s.id: next(iter(s.scores.values())).value for s in log.samples}
    assert values == pytest.approx({ID(1): 12 / 15, ID(3): 0.0, ID(5): 0.0, ID(7): 5 / 13, ID(9): 1.0})
    assert log.results.scores[0].metrics["mean"].value == pytest.approx((12 / 15 + 5 / 13 + 1.0) / 5)

    # the evaluated model saw the whole conversation as chat messages
    lengths = sorted(len(messages) for messages in seen)
    assert lengths == sorted(len(records[pid]["prompt"]) for pid in EASY_IDS)
    assert any(isinstance(m, ChatMessageAssistant) for messages in seen for m in messages)
    # one grader request per criterion, each holding the conversation, the reply and the criterion
    assert len(grader.requests) == sum(len(records[pid]["rubrics"]) for pid in EASY_IDS)
    asks = [asked(r) for r in grader.requests if "LOPERAMIDE" in asked(r)]
    [ask] = asks
    for m in records[ID(1)]["prompt"]:
        assert f"{m['role']}: {m['content']}" in ask
    assert f"<reply>\n{replies[ID(1)]}\n</reply>" in ask
    assert '<criterion points="-6">' in ask


# --------------------------------------------------------------------------- errors


def test_missing_grader_key_says_which_variable(hb, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(GraderUnavailable, match=r"needs an API key in \$OPENAI_API_KEY"):
        hb.healthbench()
    monkeypatch.delenv("MY_GRADER_KEY", raising=False)
    with pytest.raises(GraderUnavailable, match=r"\$MY_GRADER_KEY"):
        hb.healthbench(grader_api_key_env="MY_GRADER_KEY")

    # through the harness's runner: the evaluation fails before any answer is generated
    from eval_smoke import compose_task

    from ptb.evaluation.inspect_runner import EvalFailed, run_inspect_task

    with pytest.raises(EvalFailed, match=r"GraderUnavailable.*OPENAI_API_KEY"):
        run_inspect_task(compose_task("healthbench"), UNUSED_URL, "m", limit=1, max_tokens=8,
                         max_connections=1, log_dir=tmp_path)


def test_missing_data_file_says_how_to_fetch_it(hb, monkeypatch, tmp_path):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    for call in (lambda: hb.healthbench(grader_base_url=UNUSED_URL), hb.test_texts):
        with pytest.raises(DataUnavailable, match=r"2025-05-07-06-14-12_oss_eval\.jsonl is not in the local data cache.*python -m ptb\.cache"):
            call()


# --------------------------------------------------------------------------- the evaluation pool


@pytest.mark.slow
def test_healthbench_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import compose_task, smoke_evaluate

    records = fixture_records()
    with ScriptedGrader(marker_rule()) as grader:
        task = compose_task("healthbench", [f"grader.model={SCRIPTED}", f"grader.base_url={grader.base_url}"])
        assert (task.params["grader_model"], task.params["grader_base_url"]) == (SCRIPTED, grader.base_url)
        metrics = smoke_evaluate(eval_pool, task, tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and 0.0 <= metrics.score <= 1.0 and metrics.samples == 3, metrics
    # every criterion of the first three easy conversations went to the grader once
    assert len(grader.requests) == sum(len(records[pid]["rubrics"]) for pid in EASY_IDS[:3])
    # the evaluated model's settings (its end-of-turn stop ids, max tokens) never reach the grader
    assert not any("stop_token_ids" in body for body in grader.requests), grader.requests[0]
    assert list((tmp_path / "eval").glob("*.eval")), "the inspect log is kept"
