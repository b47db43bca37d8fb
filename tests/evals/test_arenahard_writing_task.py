"""evals/arenahard_writing: the question loader, the stored baseline answers, the pairwise judging
(both game orders, the 3x weight of "much better", unparseable verdicts) and the smoke test
through the evaluation pool, all offline: the grader is `ScriptedGrader`, a stand-in
OpenAI-compatible server reached as ``openai-api/grader/scripted`` + base URL, whose verdict
follows marker words in the two answers it is shown (tests/scripted_chat.py); the model
under test is inspect's mockllm.

Scripted verdicts: an answer's quality is the N of "QUALITY-N" in it (0 without one); the
grader prefers the higher quality, by ">>" when the gap is 2 or more, "=" when equal. Markers
in the model's answer change that: PREFER-A (always [[A>B]]), NO-VERDICT (never a label),
FLAKY (no label the first time a request is seen, a verdict when it is asked again),
NO-VERDICT-WHEN-A (no label when the model's answer is shown as A).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import SampleScore, Score
from scripted_chat import ScriptedGrader  # tests/scripted_chat.py

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module
from ptb.tasks.grader import GraderUnavailable

# the creative-writing questions of the fixture, in file order (hard_prompt rows are left out)
UIDS = ("7c1e04b9a2d35f60", "a0d8e6f31b9c4472", "e91f3d7a60c2b548", "2d6b8e4f0a13c97d",
        "c4a57f19e2b06d38", "f07d2a8c5e194b61")
HARD_PROMPT_UIDS = ("3f2a9c01d4e7b815", "5b47c2e09f1d8a3e", "86e03b5d1f7a2c94")
FIXTURE_QUESTIONS = Path(__file__).resolve().parents[1] / "fixtures/hub/lmarena-ai/arena-hard-auto/data/arena-hard-v2.0/question.jsonl"
SCRIPTED = "openai-api/grader/scripted"  # ScriptedGrader's inspect model name (with its base URL)


@pytest.fixture(scope="module")
def arena():
    from eval_smoke import compose_task

    return load_task_module(compose_task("arenahard_writing"))


# --------------------------------------------------------------------------- the scripted grader

_SECTION = re.compile(r"\[Response (A|B)\]\n(.*?)\n\[End of Response \1\]", re.DOTALL)
_QUALITY = re.compile(r"QUALITY-(\d)")


def _quality(answer: str) -> int:
    found = _QUALITY.search(answer)
    return int(found.group(1)) if found else 0


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


class Judge:
    """The stand-in grader's policy (see the module docstring); it keeps what it was shown."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.shown: list[dict[str, str]] = []  # {"A": ..., "B": ...} of every request
        self.first_roles: list[str] = []

    def __call__(self, request) -> str:
        messages = list(getattr(request, "messages", request))  # a request object or its messages
        text = _text([m for m in messages if m.get("role") == "user"][-1].get("content"))
        answers = dict(_SECTION.findall(text))
        a, b = answers["A"], answers["B"]
        self.shown.append({"A": a, "B": b})
        self.first_roles.append(messages[0].get("role"))
        both = a + b
        if "NO-VERDICT-WHEN-A" in a:
            return "Response A is unreadable to me."
        if "NO-VERDICT" in both and "NO-VERDICT-WHEN-A" not in both:
            return "I cannot compare these."
        if "FLAKY" in both and text not in self.seen:
            self.seen.add(text)
            return "Both have merits; hard to say."
        if "PREFER-A" in both:
            return "The first one reads better.\n[[A>B]]"
        gap = _quality(a) - _quality(b)
        label = "A=B" if gap == 0 else ("A>>B" if gap >= 2 else "A>B") if gap > 0 else ("B>>A" if gap <= -2 else "B>A")
        return f"Compared craft and fidelity.\n[[{label}]]"


def _mock_model(answers: dict[str, str], prompts: dict[str, str]):
    """mockllm answering each question (found by its prompt text) with answers[uid]."""

    def reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        uid = next(u for u, p in prompts.items() if p == text)
        output = ModelOutput.from_content("mockllm/model", answers[uid])
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def _write_baselines(root: Path, answers: dict[str, str], model: str = "Qwen/Qwen3-1.7B") -> Path:
    path = root / "ptb" / "arenahard_writing" / "baseline_answers.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"uid": u, "model": model, "answer": a}) + "\n" for u, a in answers.items()))
    return path


def _judged_eval(arena, tmp_path, monkeypatch, model_answers: dict[str, str], baselines: dict[str, str]):
    """Run the task on the questions in `model_answers` with the scripted grader; returns
    (log, samples by uid, the grader's judge)."""
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path / "data"))
    _write_baselines(tmp_path / "data", {u: baselines.get(u, "QUALITY-1 a filler answer") for u in UIDS})
    prompts = {q.uid: q.prompt for q in arena.questions()}
    judge = Judge()
    with ScriptedGrader(judge) as grader:
        assert grader.model == SCRIPTED
        task = arena.arenahard_writing(grader_model=SCRIPTED, grader_base_url=grader.base_url)
        [log] = inspect_eval(
            task, model=_mock_model(model_answers, prompts), sample_id=list(model_answers),
            log_dir=str(tmp_path / "logs"), display="none",
        )
    assert not grader.errors and len(grader.requests) == len(judge.shown)
    assert log.status == "success", log.error
    samples = {s.id: s for s in log.samples}
    return log, samples, judge


def _score(sample) -> Score:
    return sample.scores["pairwise_vs_baseline"]


def _games(sample) -> list[dict]:
    return _score(sample).metadata["games"]


# --------------------------------------------------------------------------- data


def test_questions_are_the_creative_writing_rows_in_file_order(arena):
    items = arena.questions()
    assert tuple(q.uid for q in items) == UIDS
    rows = {r["uid"]: r for r in map(json.loads, FIXTURE_QUESTIONS.read_text().splitlines())}
    for q in items:
        assert q.prompt == rows[q.uid]["prompt"]  # verbatim, newlines and unicode kept
    assert "\n- strict iambic pentameter" in items[1].prompt
    assert items[2].language == "es" and items[2].subcategory == "creative_writing"
    assert not set(HARD_PROMPT_UIDS) & {q.uid for q in items}  # "Write a poem? No: prove..." is hard_prompt


def test_task_samples_are_the_prompts_with_their_baseline_answers(arena):
    task = arena.arenahard_writing(grader_model=SCRIPTED, grader_base_url="http://127.0.0.1:9/v1")
    samples = list(task.dataset)
    assert [s.id for s in samples] == list(UIDS)
    assert [s.input for s in samples] == [q.prompt for q in arena.questions()]  # no added instruction
    stored = arena.load_baseline_answers()
    assert all(s.metadata["baseline_answer"] == stored[s.id].answer for s in samples)
    assert samples[0].metadata["baseline_model"] == "Qwen/Qwen3-1.7B"
    with pytest.raises(ValueError, match="no split 'train'.*accepted: test"):
        arena.arenahard_writing(split="train", grader_model=SCRIPTED, grader_base_url="http://127.0.0.1:9/v1")


def test_baseline_answers_path_is_under_the_data_root(arena, tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    assert arena.baseline_answers_path() == tmp_path / "ptb" / "arenahard_writing" / "baseline_answers.jsonl"


def test_missing_baseline_file_names_the_command_that_makes_it(arena, tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailable) as caught:
        arena.arenahard_writing(grader_model=SCRIPTED, grader_base_url="http://127.0.0.1:9/v1")
    message = str(caught.value)
    assert isinstance(caught.value, arena.BaselineAnswersMissing)
    assert str(arena.baseline_answers_path()) in message and "does not exist" in message
    assert "python evals/arenahard_writing/make_baseline_answers.py" in message


def test_baseline_file_lacking_a_question_names_it_and_the_command(arena, tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    _write_baselines(tmp_path, {u: "an answer" for u in UIDS if u != "e91f3d7a60c2b548"})
    with pytest.raises(arena.BaselineAnswersMissing, match=r"no baseline answer for 1 of the 6 .*e91f3d7a60c2b548") as caught:
        arena.arenahard_writing(grader_model=SCRIPTED, grader_base_url="http://127.0.0.1:9/v1")
    assert "make_baseline_answers.py" in str(caught.value)


def test_malformed_baseline_file_says_where(arena, tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    path = _write_baselines(tmp_path, {u: "an answer" for u in UIDS})
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"baseline_answers.jsonl, line 7: not valid JSON"):
        arena.load_baseline_answers()
    path.write_text(json.dumps({"uid": UIDS[0], "text": "wrong key"}) + "\n")
    with pytest.raises(TypeError, match=r"every line needs a string 'uid' and 'answer', got keys \['text', 'uid'\]"):
        arena.load_baseline_answers()


def test_missing_questions_give_data_unavailable(arena, empty_data_caches):
    with pytest.raises(DataUnavailable, match="lmarena-ai/arena-hard-auto is not in the HF cache.*python -m ptb.cache"):
        arena.questions()


def test_missing_grader_key_gives_the_grader_unavailable_message(arena, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(GraderUnavailable, match=r"openai/gpt-5-mini, which needs an API key in \$OPENAI_API_KEY"):
        arena.arenahard_writing()  # the default grader, no base URL
    monkeypatch.delenv("MY_GRADER_KEY", raising=False)
    with pytest.raises(GraderUnavailable, match=r"\$MY_GRADER_KEY"):
        arena.arenahard_writing(grader_api_key_env="MY_GRADER_KEY")


def test_test_texts_hold_each_question_and_its_baseline_answer(arena):
    texts = arena.test_texts()
    items = arena.questions()
    stored = arena.load_baseline_answers()
    assert len(texts) == len(UIDS)
    for text, q in zip(texts, items, strict=True):
        assert text.startswith(q.prompt)
        assert arena.strip_reasoning(stored[q.uid].answer).strip() in text and "<think>" not in text
    assert not any("mutex" in t.lower() or "intervals" in t for t in texts)


def test_test_texts_are_the_questions_alone_without_baseline_answers(arena, tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))  # no baseline file here
    assert arena.test_texts() == [q.prompt for q in arena.questions()]


def test_agent_context_is_empty(arena, tmp_path):
    assert arena.write_agent_context(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- verdicts and weights


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Long analysis...\n\nMy final verdict is: [[A>>B]]", "A>>B"),
        ("[[A>B]]", "A>B"),
        ("tie: [[A=B]]", "A=B"),
        ("[[B>A]]", "B>A"),
        ("**[[B>>A]]**", "B>>A"),
        ("[[ B > A ]]", "B>A"),  # spaces
        ("[[A<B]]", "B>A"),  # mirror spellings
        ("[[A<<B]]", "B>>A"),
        ("[[B=A]]", "A=B"),
        ("I lean to [[A>B]]. Final verdict: [[A>B]]", "A>B"),  # repeated, same verdict
        ("Not [[A>>B]], rather [[A>B]]", None),  # labels that disagree
        ("A is better", None),  # no label
        ("[A>B]", None),  # single brackets
        ("[[A>A]]", None),
        ("[[Tick>Tock]]", None),
        ("", None),
    ],
)
def test_parse_verdict(arena, reply, verdict):
    assert arena.parse_verdict(reply) == verdict


@pytest.mark.parametrize(
    ("verdict", "position", "outcome"),
    [
        ("B>>A", "B", (1.0, 3)), ("B>A", "B", (1.0, 1)), ("A=B", "B", (0.5, 1)), ("A>B", "B", (0.0, 1)), ("A>>B", "B", (0.0, 3)),
        ("A>>B", "A", (1.0, 3)), ("A>B", "A", (1.0, 1)), ("A=B", "A", (0.5, 1)), ("B>A", "A", (0.0, 1)), ("B>>A", "A", (0.0, 3)),
    ],
)
def test_game_outcome_for_the_model_in_each_position(arena, verdict, position, outcome):
    assert arena.game_outcome(verdict, position) == outcome


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>\nplan it\n</think>\n\nThe poem.", "The poem."),
        ("The poem.", "The poem."),
        ("plan it</think>The poem.", "The poem."),  # the template opened the block
        ("<think>a plan that never ends", ""),  # cut off while thinking: no answer
        ("<think>a</think> one <think>b</think> two", "one  two"),
    ],
)
def test_strip_reasoning(arena, text, answer):
    assert arena.strip_reasoning(text) == answer


def test_judge_prompt_asks_for_one_of_the_five_labels_and_shows_the_answers_in_order(arena):
    system, user = arena.judge_messages("Write a limerick.", "first answer", "second answer")
    assert system.role == "system" and user.role == "user"
    for label in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"):
        assert label in system.text
    assert "creative-writing" in system.text
    text = user.text
    assert text.index("Write a limerick.") < text.index("[Response A]\nfirst answer\n[End of Response A]") \
        < text.index("[Response B]\nsecond answer\n[End of Response B]")


def _sample_score(games: list[tuple[str | None, float | None, int]]) -> SampleScore:
    metadata = {
        "games": [{"model_position": "B", "verdict": v, "value": x, "weight": w, "grader_calls": 1} for v, x, w in games],
        "missing_games": sum(v is None for v, _, _ in games),
    }
    return SampleScore(score=Score(value=0.0, metadata=metadata))


def test_weighted_win_rate_counts_much_better_three_times_and_leaves_missing_games_out(arena):
    scores = [
        _sample_score([("B>>A", 1.0, 3), ("A>>B", 1.0, 3)]),  # much better, twice
        _sample_score([("A=B", 0.5, 1), ("A=B", 0.5, 1)]),
        _sample_score([("A>B", 0.0, 1), (None, None, 0)]),  # one game missing
    ]
    # (3 + 3 + 0.5 + 0.5 + 0) / (3 + 3 + 1 + 1 + 1); with equal weights it would be 3/5
    assert arena.weighted_win_rate()(scores) == pytest.approx(7 / 9)
    assert arena.missing_games()(scores) == 1
    assert math.isnan(arena.weighted_win_rate()([]))


# --------------------------------------------------------------------------- judged end to end


def test_both_game_orders_give_win_tie_loss_and_much_better(arena, tmp_path, monkeypatch):
    model = {
        UIDS[0]: "QUALITY-3 a vivid story",  # vs QUALITY-1: much better
        UIDS[1]: "<think>draft</think>QUALITY-2 a sonnet",  # vs QUALITY-1: better (reasoning stripped)
        UIDS[2]: "QUALITY-1 cinco frases",  # vs QUALITY-1: tie
        UIDS[3]: "QUALITY-1 a monologue",  # vs QUALITY-2: worse
        UIDS[4]: "a song without any marker",  # vs QUALITY-3: much worse
        UIDS[5]: "PREFER-A QUALITY-1 haiku",  # the grader always picks A: one loss, one win
    }
    baselines = {UIDS[3]: "QUALITY-2 the baseline", UIDS[4]: "<think>long plan</think>QUALITY-3 the baseline"}
    log, samples, judge = _judged_eval(arena, tmp_path, monkeypatch, model, baselines)

    expected = {  # (verdict, value, weight) of game 1 (model as B) and game 2 (model as A)
        UIDS[0]: [("B>>A", 1.0, 3), ("A>>B", 1.0, 3)],
        UIDS[1]: [("B>A", 1.0, 1), ("A>B", 1.0, 1)],
        UIDS[2]: [("A=B", 0.5, 1), ("A=B", 0.5, 1)],
        UIDS[3]: [("A>B", 0.0, 1), ("B>A", 0.0, 1)],
        UIDS[4]: [("A>>B", 0.0, 3), ("B>>A", 0.0, 3)],
        UIDS[5]: [("A>B", 0.0, 1), ("A>B", 1.0, 1)],
    }
    for uid, games in expected.items():
        got = _games(samples[uid])
        assert [g["model_position"] for g in got] == ["B", "A"]
        assert [(g["verdict"], g["value"], g["weight"]) for g in got] == games, uid
        assert all(g["grader_calls"] == 1 for g in got)
    assert [_score(samples[u]).value for u in UIDS] == [1.0, 1.0, 0.5, 0.0, 0.0, 0.5]

    # each question was judged twice, baseline first as A, then the model first as A;
    # the grader saw the answers without their <think> blocks
    assert len(judge.shown) == 12
    assert {"A": "QUALITY-3 the baseline", "B": "a song without any marker"} in judge.shown
    assert {"A": "a song without any marker", "B": "QUALITY-3 the baseline"} in judge.shown
    assert not any("<think>" in s["A"] + s["B"] for s in judge.shown)
    assert judge.first_roles == ["system"] * 12  # our judge prompt comes first

    # sum(w*v)/sum(w) = (3+3 + 1+1 + .5+.5 + 0+0 + 0+0 + 0+1) / (6 + 2 + 2 + 2 + 6 + 2)
    metrics = log.results.scores[0].metrics
    assert metrics["weighted_win_rate"].value == pytest.approx(10 / 20)
    assert metrics["missing_games"].value == 0


def test_much_better_verdicts_weigh_three_times_in_the_task_score(arena, tmp_path, monkeypatch):
    model = {UIDS[0]: "QUALITY-3", UIDS[2]: "QUALITY-1", UIDS[3]: "QUALITY-1"}  # much better, tie, worse
    log, samples, _ = _judged_eval(arena, tmp_path, monkeypatch, model, {UIDS[3]: "QUALITY-2"})
    assert [_score(samples[u]).value for u in (UIDS[0], UIDS[2], UIDS[3])] == [1.0, 0.5, 0.0]
    # weighted (6*1 + 2*0.5 + 2*0) / 10 = 0.7, where the mean of the samples would be 0.5
    assert log.results.scores[0].metrics["weighted_win_rate"].value == pytest.approx(0.7)


def test_unparseable_verdicts_are_asked_again_once_then_missing(arena, tmp_path, monkeypatch):
    model = {
        UIDS[0]: "NO-VERDICT QUALITY-3",  # never a label: both games missing, sample unscored
        UIDS[1]: "FLAKY QUALITY-1",  # a label on the second asking; vs QUALITY-2: worse twice
        UIDS[2]: "NO-VERDICT-WHEN-A QUALITY-3",  # game 2 (model as A) missing; game 1 much better
    }
    log, samples, judge = _judged_eval(arena, tmp_path, monkeypatch, model, {UIDS[1]: "QUALITY-2"})

    unscored = _score(samples[UIDS[0]])
    assert math.isnan(unscored.value) and unscored.reason == "grader_failed"
    assert unscored.metadata["missing_games"] == 2
    assert [(g["verdict"], g["weight"], g["grader_calls"]) for g in unscored.metadata["games"]] == [(None, 0, 2), (None, 0, 2)]

    flaky = _games(samples[UIDS[1]])
    assert [(g["verdict"], g["value"], g["grader_calls"]) for g in flaky] == [("A>B", 0.0, 2), ("B>A", 0.0, 2)]

    half = _score(samples[UIDS[2]])
    assert half.value == 1.0 and half.metadata["missing_games"] == 1
    assert [(g["verdict"], g["grader_calls"]) for g in half.metadata["games"]] == [("B>>A", 1), (None, 2)]

    assert len(judge.shown) == 4 + 4 + 3
    [scores] = log.results.scores
    assert scores.unscored_samples == 1 and scores.scored_samples == 2
    assert scores.metrics["missing_games"].value == 1  # of the scored samples
    # judged games: flaky 2 x (0, w1), half 1 x (1, w3) -> 3 / 5
    assert scores.metrics["weighted_win_rate"].value == pytest.approx(3 / 5)


# --------------------------------------------------------------------------- the harness paths


@pytest.mark.slow
def test_make_baseline_answers_writes_what_the_task_reads(arena, tiny_model_dir, tmp_path, monkeypatch):
    import importlib.util

    from ptb.paths import EVALS_DIR, template_path

    spec = importlib.util.spec_from_file_location("make_baseline_answers_under_test", EVALS_DIR / "arenahard_writing" / "make_baseline_answers.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path / "data"))
    code = make.main([
        "--model-path", str(tiny_model_dir), "--model-name", "tiny-baseline", "--template", str(template_path("chatml")),
        "--backend", "hf", "--max-tokens", "8", "--concurrency", "3",
    ])
    assert code == 0
    path = arena.baseline_answers_path()
    assert path == tmp_path / "data" / "ptb" / "arenahard_writing" / "baseline_answers.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["uid"] for r in rows] == list(UIDS)
    assert all(set(r) == {"uid", "model", "answer"} and r["model"] == "tiny-baseline" for r in rows)
    assert all(isinstance(r["answer"], str) for r in rows)
    assert not list(path.parent.glob(".*"))  # no temp file left behind
    task = arena.arenahard_writing(grader_model=SCRIPTED, grader_base_url="http://127.0.0.1:9/v1")
    assert [s.metadata["baseline_model"] for s in task.dataset] == ["tiny-baseline"] * len(UIDS)


@pytest.mark.slow
def test_arenahard_writing_limit_smoke_through_the_evaluation_pool(eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import compose_task, smoke_evaluate

    judge = Judge()
    with ScriptedGrader(judge) as grader:
        task = compose_task("arenahard_writing", grader.overrides())  # grader.model=..., grader.base_url=...
        assert task.params["grader_model"] == SCRIPTED and task.params["grader_base_url"] == grader.base_url
        metrics = smoke_evaluate(eval_pool, task, tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    assert metrics.metric == "weighted_win_rate"
    # the tiny model's gibberish and the fixture's baseline answers carry no quality marker: ties
    assert metrics.score == pytest.approx(0.5)
    assert not grader.errors
    assert len(grader.requests) == len(judge.shown) == 6  # two games per sample, each parsed at once
    assert list((tmp_path / "eval").glob("**/*.eval")), "the inspect log is kept"
