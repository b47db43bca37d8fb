"""arenahard_writing: Arena-Hard v2.0, creative-writing subset, judged pairwise against Qwen3-1.7B.

Data: the Hugging Face dataset repository ``lmarena-ai/arena-hard-auto``, file
``data/arena-hard-v2.0/question.jsonl`` (one JSON object per line: ``uid``, ``category``,
``subcategory``, ``language``, ``prompt``; 750 questions, of which the 250 with
``category == "creative_writing"`` are this task). Sample ids are the questions' ``uid``.

Prompt: the question's ``prompt`` verbatim as the only user message (no system message, no
added instruction), rendered by the harness chat template.

Baseline: answers of Qwen3-1.7B (the official instruct model) to the same questions, stored
once per data cache as JSON lines ``{"uid", "model", "answer"}`` at `baseline_answers_path()`
(``$PTB_DATA_DIR/ptb/arenahard_writing/baseline_answers.jsonl``). They are not published, so
the harness makes them with ``make_baseline_answers.py`` beside this file; the task refuses to
start (naming that command) when the file is missing or lacks a question.

Scorer: two games per question, judged by an LLM grader (`ptb.tasks.grader`, default
``openai/gpt-5-mini``): game 1 shows the baseline as answer A and the model as answer B, game 2
the other way round. The grader ends its reply with one of ``[[A>>B]]``, ``[[A>B]]``,
``[[A=B]]``, ``[[B>A]]``, ``[[B>>A]]``. For the model a game is worth 1 (win), 0.5 (tie) or 0
(loss); a "much better" verdict (``>>``, either way) weighs 3, every other verdict 1. Before
judging, ``<think>...</think>`` reasoning is removed from both answers: the grader compares
the final texts only.

- Unparseable verdict: a reply with no label, or with labels that disagree, is asked again
  once; if the second reply cannot be parsed either the game is *missing*: it is left out of
  the score and counted. A question whose two games are both missing is unscored
  (``Score.unscored``, reason ``grader_failed``; inspect counts it in ``unscored_samples``).
- Per-sample value: the weighted mean of its judged games (0..1).
- Metrics: ``weighted_win_rate`` = sum(weight * value) / sum(weight) over all judged games of
  all samples (the task score), and ``missing_games`` (missing games of the scored samples).

Run it with inspect directly (the grader key in ``OPENAI_API_KEY``), e.g.::

    inspect eval evals/arenahard_writing/task.py@arenahard_writing --model <provider/model> --limit 5 \\
        -T grader_model=openai/gpt-5-mini

This file is loaded by path (``ptb.tasks.load_task_module``), never imported as a package.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, Model
from inspect_ai.scorer import Metric, SampleScore, Score, Target, metric, scorer
from inspect_ai.solver import TaskState, generate
from inspect_ai.util import collect

from ptb.tasks import DataUnavailable, HubDataset, harness_files_root, strip_reasoning
from ptb.tasks import grader_model as make_grader

ARENA_HARD = HubDataset("lmarena-ai/arena-hard-auto", files=("data/arena-hard-v2.0/question.jsonl",))
QUESTIONS_FILE = "data/arena-hard-v2.0/question.jsonl"
CATEGORY = "creative_writing"
SPLITS = ("test",)  # Arena-Hard has no train split

BASELINE_MODEL = "Qwen/Qwen3-1.7B"
MAKE_BASELINE_COMMAND = (
    "python evals/arenahard_writing/make_baseline_answers.py --model-path Qwen/Qwen3-1.7B --backend vllm"
)
MUCH_BETTER_WEIGHT = 3  # a ">>" verdict counts as three games
GRADER_ATTEMPTS = 2  # an unparseable verdict is asked once more, then the game is missing

DATA = (ARENA_HARD,)


def baseline_answers_path() -> Path:
    """Where the stored baseline answers live: ``<files_root>/ptb/arenahard_writing/baseline_answers.jsonl``
    (under `harness_files_root()`, which agents' sandboxes hide: they are the official instruct
    model's answers to the test questions)."""
    return harness_files_root() / "arenahard_writing" / "baseline_answers.jsonl"


class BaselineAnswersMissing(DataUnavailable):
    """The stored baseline answers are missing or incomplete; the message says how to make them."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Question:
    uid: str
    prompt: str
    subcategory: str
    language: str


@dataclass(frozen=True)
class BaselineAnswer:
    uid: str
    model: str
    answer: str


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise TypeError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def questions() -> tuple[Question, ...]:
    """The creative-writing questions of Arena-Hard v2.0, in the file's order."""
    path = ARENA_HARD.file(QUESTIONS_FILE)
    found = []
    for number, row in enumerate(_read_jsonl(path), start=1):
        if row.get("category") != CATEGORY:
            continue
        uid, prompt = row.get("uid"), row.get("prompt")
        if not isinstance(uid, str) or not uid or not isinstance(prompt, str):
            raise ValueError(f"{path}: creative-writing row {number} needs a string 'uid' and 'prompt', got keys {sorted(row)}")
        found.append(Question(uid, prompt, str(row.get("subcategory") or ""), str(row.get("language") or "")))
    return tuple(found)


def load_baseline_answers(path: Path | None = None) -> dict[str, BaselineAnswer]:
    """The stored baseline answers by uid (raises BaselineAnswersMissing when there is no file)."""
    path = baseline_answers_path() if path is None else Path(path)
    if not path.is_file():
        raise BaselineAnswersMissing(
            f"arenahard_writing judges against stored answers of {BASELINE_MODEL}, and {path} does not exist. "
            f"Make them once (GPU machine, same PTB_DATA_DIR / HF cache) with: {MAKE_BASELINE_COMMAND}"
        )
    answers: dict[str, BaselineAnswer] = {}
    for row in _read_jsonl(path):
        uid, answer = row.get("uid"), row.get("answer")
        if not isinstance(uid, str) or not isinstance(answer, str):
            raise TypeError(f"{path}: every line needs a string 'uid' and 'answer', got keys {sorted(row)}")
        answers[uid] = BaselineAnswer(uid, str(row.get("model") or ""), answer)
    return answers


def baseline_answers_for(items: tuple[Question, ...]) -> dict[str, BaselineAnswer]:
    """The baseline answer of every question in `items`; raises naming the questions without one."""
    path = baseline_answers_path()
    answers = load_baseline_answers(path)
    lacking = [q.uid for q in items if q.uid not in answers]
    if lacking:
        shown = ", ".join(lacking[:5]) + (", ..." if len(lacking) > 5 else "")
        raise BaselineAnswersMissing(
            f"{path} has no baseline answer for {len(lacking)} of the {len(items)} creative-writing questions "
            f"(uid {shown}); it was made for other questions or is incomplete. Make it again with: "
            f"{MAKE_BASELINE_COMMAND}"
        )
    return {q.uid: answers[q.uid] for q in items}


# --------------------------------------------------------------------------- judging

JUDGE_SYSTEM_PROMPT = """\
You compare two responses to the same creative-writing request and decide which one is the \
better piece of writing for the person who asked.

Weigh, in this order:
1. Fidelity to the request: does the response do what was asked (form, length, point of view, \
tone, audience, required elements, language)?
2. Craft: originality, a distinct voice, vivid and specific detail, rhythm of the prose or \
verse, coherence from beginning to end, and the emotional effect on a reader.
3. Completeness: a response that stops mid-way, drifts off topic, repeats itself or is empty \
loses to any genuine attempt.
Longer is not better by itself, and the order in which the two responses are shown must not \
influence you.

Write a short comparison first. Then end your reply with your verdict on its own line, \
written as exactly one of these five labels:
[[A>>B]]  (A is much better than B)
[[A>B]]   (A is better than B)
[[A=B]]   (A and B are about equally good)
[[B>A]]   (B is better than A)
[[B>>A]]  (B is much better than A)
Do not write any other label anywhere in your reply."""

JUDGE_INPUT = """\
[User request]
{request}

[Response A]
{answer_a}
[End of Response A]

[Response B]
{answer_b}
[End of Response B]"""


def judge_messages(request: str, answer_a: str, answer_b: str) -> list:
    """The grader's conversation for one game: our system prompt, then the request and answers."""
    return [
        ChatMessageSystem(content=JUDGE_SYSTEM_PROMPT),
        ChatMessageUser(content=JUDGE_INPUT.format(request=request, answer_a=answer_a, answer_b=answer_b)),
    ]


VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
_LABEL = re.compile(r"\[\[\s*([AB])\s*(>>|<<|>|<|=)\s*([AB])\s*\]\]")


def parse_verdict(reply: str) -> str | None:
    """The canonical verdict (one of VERDICTS) of a grader reply, or None when it has none.

    Mirror spellings are accepted ("[[B<A]]" is A>B, "[[B=A]]" is A=B, spaces are ignored);
    a reply whose labels disagree is ambiguous and counts as no verdict.
    """
    found = set()
    for left, op, right in _LABEL.findall(reply or ""):
        if left == right:
            continue  # "[[A>A]]" says nothing
        if op in ("<", "<<"):
            left, right, op = right, left, op.replace("<", ">")
        found.add("A=B" if op == "=" else f"{left}{op}{right}")
    return found.pop() if len(found) == 1 else None


Position = Literal["A", "B"]


def game_outcome(verdict: str, model_position: Position) -> tuple[float, int]:
    """(value for the model: 1 win / 0.5 tie / 0 loss, weight: 3 for a ">>" verdict, else 1)."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {VERDICTS}")
    weight = MUCH_BETTER_WEIGHT if ">>" in verdict else 1
    if verdict == "A=B":
        return 0.5, weight
    return (1.0 if verdict[0] == model_position else 0.0), weight


@dataclass(frozen=True)
class Game:
    """One judged game: where the model's answer stood, the verdict (None = missing) and its worth."""

    model_position: Position
    verdict: str | None
    value: float | None  # for the model; None when missing
    weight: int  # 0 when missing
    grader_calls: int


async def play_game(grader: Model, request: str, model_answer: str, baseline_answer: str,
                    model_position: Position) -> tuple[Game, list[str]]:
    """Judge one game, asking again once when the verdict cannot be parsed; returns the game and
    the grader's replies."""
    a, b = (model_answer, baseline_answer) if model_position == "A" else (baseline_answer, model_answer)
    replies: list[str] = []
    for _ in range(GRADER_ATTEMPTS):
        output = await grader.generate(judge_messages(request, a, b))
        replies.append(output.completion or "")
        verdict = parse_verdict(replies[-1])
        if verdict is not None:
            value, weight = game_outcome(verdict, model_position)
            return Game(model_position, verdict, value, weight, len(replies)), replies
    return Game(model_position, None, None, 0, len(replies)), replies


def _judged(games: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [g for g in games if g.get("verdict") is not None]


@metric
def weighted_win_rate() -> Metric:
    """sum(weight * value) / sum(weight) over every judged game (read from score metadata)."""

    def compute(scores: list[SampleScore]) -> float:
        games = [g for s in scores for g in _judged((s.score.metadata or {}).get("games", []))]
        total = sum(g["weight"] for g in games)
        return sum(g["weight"] * g["value"] for g in games) / total if total else float("nan")

    return compute


@metric
def missing_games() -> Metric:
    """Games of the scored samples whose verdict could not be parsed (left out of the score)."""

    def compute(scores: list[SampleScore]) -> int:
        return sum(int((s.score.metadata or {}).get("missing_games", 0)) for s in scores)

    return compute


@scorer(metrics=[weighted_win_rate(), missing_games()])
def pairwise_vs_baseline(grader: Model):
    """Two games against the stored baseline answer (baseline first, then model first)."""

    async def score(state: TaskState, target: Target) -> Score:
        request = state.input_text
        model_answer = strip_reasoning(state.output.completion or "").strip()
        baseline_answer = strip_reasoning(state.metadata["baseline_answer"]).strip()
        played = await collect(
            play_game(grader, request, model_answer, baseline_answer, "B"),  # baseline as A
            play_game(grader, request, model_answer, baseline_answer, "A"),  # model as A
        )
        games = [game for game, _ in played]
        explanation = "\n\n".join(
            f"game {i} (model as {game.model_position}), reply {n}:\n{reply}"
            for i, (game, replies) in enumerate(played, start=1)
            for n, reply in enumerate(replies, start=1)
        )
        metadata = {"games": [asdict(g) for g in games], "missing_games": sum(g.verdict is None for g in games)}
        answer = " | ".join(g.verdict or "missing" for g in games)
        judged = [g for g in games if g.verdict is not None]
        if not judged:
            return Score.unscored(reason="grader_failed", answer=answer, explanation=explanation, metadata=metadata)
        value = sum(g.weight * g.value for g in judged) / sum(g.weight for g in judged)  # type: ignore[operator]
        return Score(value=value, answer=answer, explanation=explanation, metadata=metadata)

    return score


# --------------------------------------------------------------------------- the contract


@task
def arenahard_writing(
    split: str = "test",
    grader_model: str = "openai/gpt-5-mini",
    grader_base_url: str | None = None,
    grader_api_key_env: str | None = "OPENAI_API_KEY",
) -> Task:
    if split not in SPLITS:
        raise ValueError(f"arenahard_writing has no split '{split}'; accepted: {', '.join(SPLITS)}")
    # the grader first: without a key nothing can be scored, so fail before generating anything
    grader = make_grader(grader_model, grader_base_url, grader_api_key_env)
    items = questions()
    baselines = baseline_answers_for(items)
    samples = [
        Sample(
            id=q.uid,
            input=q.prompt,
            metadata={
                "subcategory": q.subcategory,
                "language": q.language,
                "baseline_model": baselines[q.uid].model,
                "baseline_answer": baselines[q.uid].answer,
            },
        )
        for q in items
    ]
    return Task(
        dataset=MemoryDataset(samples, name="arenahard_writing-test"),
        solver=generate(),
        scorer=pairwise_vs_baseline(grader),
        name="arenahard_writing",
    )


def test_texts() -> list[str]:
    """Each creative-writing question, with the stored baseline answer when the file has one
    (training on the baseline's answers to the test questions is contamination too)."""
    try:
        stored = load_baseline_answers()
    except BaselineAnswersMissing:
        stored = {}
    texts = []
    for q in questions():
        answer = strip_reasoning(stored[q.uid].answer).strip() if q.uid in stored else ""
        texts.append(f"{q.prompt} {answer}".strip())
    return texts


def write_agent_context(workspace: Path) -> list[Path]:
    """No context files: Arena-Hard has no training split."""
    return []
