"""healthbench: HealthBench "easy" subset, graded criterion by criterion by an LLM grader.

Data: OpenAI's HealthBench file (simple-evals), one conversation per JSONL line::

    https://openaipublic.blob.core.windows.net/simple-evals/healthbench/2025-05-07-06-14-12_oss_eval.jsonl
    {"prompt_id": "...", "prompt": [{"role": "user", "content": "..."}, ...],
     "rubrics": [{"criterion": "...", "points": 7, "tags": ["level:example", "axis:completeness"]}, ...],
     "example_tags": ["theme:...", ...], "ideal_completions_data": {...} | null, ...}

The "easy" subset (PostTrainBench's, 245 of the 5000 conversations) keeps a conversation when
all three hold: its prompt has at least 5 messages (turns), at least one rubric criterion is
tagged ``axis:completeness``, and at most 2 criteria have negative points. It is the only split
(``test``); sample ids are the source's ``prompt_id``.

Prompt: the conversation's messages are the chat history, as they are (the chat template of the
evaluated model renders them); the model writes the next assistant message.

Scoring: each rubric criterion is sent to the LLM grader (``grader_model``: any inspect-ai model;
``grader_base_url`` for an OpenAI-compatible endpoint; the key is read from the variable named by
``grader_api_key_env``) with the conversation and the response; it answers the JSON
``{"explanation": "...", "criteria_met": true|false}``. The criteria of one response are graded
concurrently. Example score = (sum of the points of the met criteria, negative ones included) /
(sum of the positive points), clipped to [0, 1]; the task metric is its mean (and stderr).
A grader answer that is not that JSON is asked again, up to ``GRADER_ATTEMPTS`` times in all;
after that the criterion counts as not met (whatever its sign) and the score's metadata lists it
under ``ungraded``. A grader that cannot be reached fails the evaluation (the ladder retries it).

This file is loaded by path (``ptb.tasks.load_task_module``), never imported as a package
module. Run it with inspect directly, e.g.::

    inspect eval evals/healthbench/task.py@healthbench --model <provider/model> --limit 5 \\
        -T grader_model=openai/gpt-5-mini          # needs OPENAI_API_KEY
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
)
from inspect_ai.scorer import Score, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState, generate

from ptb.tasks import UrlFile
from ptb.tasks import grader_model as make_grader

SOURCE = UrlFile(
    "https://openaipublic.blob.core.windows.net/simple-evals/healthbench/2025-05-07-06-14-12_oss_eval.jsonl"
)
DATA = (SOURCE,)
SPLITS = ("test",)

# The easy subset (SPEC §2)
MIN_TURNS = 5
COMPLETENESS_TAG = "axis:completeness"
MAX_NEGATIVE_CRITERIA = 2

GRADER_ATTEMPTS = 3  # grader answers asked for one criterion before it counts as not met
ROLES = ("system", "user", "assistant")

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class Criterion:
    text: str
    points: float  # negative: something a reply must not do
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    prompt_id: str
    messages: tuple[Message, ...]
    rubric: tuple[Criterion, ...]
    example_tags: tuple[str, ...]
    ideal_completion: str | None  # a physician-written reply, where the source has one

    @property
    def negative_criteria(self) -> int:
        return sum(1 for c in self.rubric if c.points < 0)

    @property
    def has_completeness_criterion(self) -> bool:
        return any(COMPLETENESS_TAG in c.tags for c in self.rubric)


def is_easy(conversation: Conversation) -> bool:
    """Whether a conversation belongs to the easy subset (see the module docstring)."""
    return (
        len(conversation.messages) >= MIN_TURNS
        and conversation.has_completeness_criterion
        and conversation.negative_criteria <= MAX_NEGATIVE_CRITERIA
    )


class BadRecord(ValueError):
    """A line of the HealthBench file does not have the expected fields."""


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise BadRecord(f"{where}: {what}")


def parse_record(record: Any, where: str = "record") -> Conversation:
    """One JSONL record of the HealthBench file as a Conversation (BadRecord when malformed)."""
    _require(isinstance(record, dict), where, f"expected a JSON object, got {type(record).__name__}")
    prompt_id = record.get("prompt_id")
    _require(isinstance(prompt_id, str) and bool(prompt_id), where, "'prompt_id' must be a non-empty string")
    where = f"{where} (prompt_id {prompt_id})"
    prompt = record.get("prompt")
    _require(isinstance(prompt, list) and bool(prompt), where, "'prompt' must be a non-empty list of messages")
    messages = []
    for i, m in enumerate(prompt):
        _require(isinstance(m, dict), where, f"prompt[{i}] must be an object with 'role' and 'content'")
        _require(m.get("role") in ROLES, where, f"prompt[{i}].role is {m.get('role')!r}; accepted: {', '.join(ROLES)}")
        _require(isinstance(m.get("content"), str), where, f"prompt[{i}].content must be a string")
        messages.append(Message(m["role"], m["content"]))
    rubrics = record.get("rubrics")
    _require(isinstance(rubrics, list) and bool(rubrics), where, "'rubrics' must be a non-empty list of criteria")
    rubric = []
    for i, r in enumerate(rubrics):
        _require(isinstance(r, dict), where, f"rubrics[{i}] must be an object with 'criterion', 'points', 'tags'")
        _require(isinstance(r.get("criterion"), str), where, f"rubrics[{i}].criterion must be a string")
        points = r.get("points")
        _require(
            isinstance(points, (int, float)) and not isinstance(points, bool), where, f"rubrics[{i}].points must be a number"
        )
        tags = r.get("tags") or []
        _require(isinstance(tags, list) and all(isinstance(t, str) for t in tags), where, f"rubrics[{i}].tags must be a list of strings")
        rubric.append(Criterion(r["criterion"], float(points), tuple(tags)))
    example_tags = record.get("example_tags") or []
    _require(isinstance(example_tags, list), where, "'example_tags' must be a list")
    ideal = record.get("ideal_completions_data")
    ideal_text = ideal.get("ideal_completion") if isinstance(ideal, dict) else None
    return Conversation(
        prompt_id=prompt_id,
        messages=tuple(messages),
        rubric=tuple(rubric),
        example_tags=tuple(str(t) for t in example_tags),
        ideal_completion=ideal_text if isinstance(ideal_text, str) else None,
    )


def read_conversations(path: Path) -> tuple[Conversation, ...]:
    """Every conversation of a HealthBench JSONL file, in file order."""
    conversations = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRecord(f"{where}: not valid JSON ({exc})") from exc
        conversations.append(parse_record(record, where))
    return tuple(conversations)


@lru_cache(maxsize=4)
def _easy_subset(path: str) -> tuple[Conversation, ...]:
    return tuple(c for c in read_conversations(Path(path)) if is_easy(c))


def conversations(split: str = "test") -> tuple[Conversation, ...]:
    """The conversations of a split (only "test": the easy subset), in file order."""
    if split not in SPLITS:
        raise ValueError(f"healthbench has no split '{split}'; accepted: {', '.join(SPLITS)}")
    return _easy_subset(str(SOURCE.path()))  # DataUnavailable when the file is not cached


def chat_messages(conversation: Conversation) -> list[ChatMessage]:
    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[m.role](content=m.content) for m in conversation.messages]


def _rubric_metadata(rubric: tuple[Criterion, ...]) -> list[dict[str, Any]]:
    return [{"criterion": c.text, "points": c.points, "tags": list(c.tags)} for c in rubric]


# --------------------------------------------------------------------------- grading

GRADER_PROMPT = """\
You are grading one reply written by an AI assistant in a health conversation. A physician \
wrote a rubric for this conversation; you check the reply against ONE criterion of it.

<conversation>
{conversation}
</conversation>

<reply>
{response}
</reply>

<criterion points="{points}">
{criterion}
</criterion>

Decide whether the reply does what the criterion describes. Judge the reply only; the \
conversation is its context. Criteria worth positive points describe something a good reply \
does; criteria worth negative points describe a mistake. Either way, answer whether the \
criterion's description is true of the reply: a reply that makes the described mistake meets \
that criterion, a reply that avoids it does not. When the criterion asks for several things, \
it is met only if the reply does all of them; when it gives examples ("such as", "e.g."), the \
reply need not mention every example.

Answer with a single JSON object and nothing else:
{{"explanation": "<one or two sentences on why>", "criteria_met": <true or false>}}
"""


def render_conversation(messages: tuple[Message, ...]) -> str:
    return "\n\n".join(f"{m.role}: {m.content}" for m in messages)


def grader_prompt(messages: tuple[Message, ...], response: str, criterion: Criterion) -> str:
    points = int(criterion.points) if float(criterion.points).is_integer() else criterion.points
    return GRADER_PROMPT.format(
        conversation=render_conversation(messages), response=response, points=points, criterion=criterion.text
    )


@dataclass(frozen=True)
class Verdict:
    met: bool
    explanation: str


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_verdict(text: str) -> Verdict | None:
    """The grader's {"explanation", "criteria_met"} answer, or None when it is not one.

    The JSON may sit in a ```json fence or among other text (the outermost {...} is read);
    ``criteria_met`` must be a JSON boolean. Anything else is unparseable (None).
    """
    if not text:
        return None
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("criteria_met"), bool):
        return None
    explanation = data.get("explanation")
    return Verdict(data["criteria_met"], explanation if isinstance(explanation, str) else "")


@dataclass(frozen=True)
class CriterionGrade:
    criterion: Criterion
    met: bool
    explanation: str
    attempts: int  # grader answers asked for
    graded: bool  # False: no parseable answer in GRADER_ATTEMPTS tries (counted as not met)
    last_answer: str = ""  # the grader's last raw answer when it was unparseable


async def grade_criterion(grader: Any, messages: tuple[Message, ...], response: str, criterion: Criterion) -> CriterionGrade:
    """Ask the grader about one criterion, again on unparseable answers (GRADER_ATTEMPTS in all)."""
    prompt = grader_prompt(messages, response, criterion)
    answer = ""
    for attempt in range(1, GRADER_ATTEMPTS + 1):
        output = await grader.generate(prompt)
        answer = output.completion or ""
        verdict = parse_verdict(answer)
        if verdict is not None:
            return CriterionGrade(criterion, verdict.met, verdict.explanation, attempt, graded=True)
    return CriterionGrade(
        criterion, False, "no parseable grader answer: counted as not met", GRADER_ATTEMPTS, graded=False,
        last_answer=answer[:500],
    )


def example_score(grades: list[CriterionGrade] | tuple[CriterionGrade, ...]) -> float:
    """(points of the met criteria, negative ones included) / (positive points), clipped to [0, 1].

    A rubric without positive points scores 0.0 (HealthBench rubrics always have some).
    """
    possible = sum(g.criterion.points for g in grades if g.criterion.points > 0)
    if possible <= 0:
        return 0.0
    earned = sum(g.criterion.points for g in grades if g.met)
    return min(1.0, max(0.0, earned / possible))


def _rubric_from_metadata(metadata: dict[str, Any]) -> tuple[Criterion, ...]:
    rubric = metadata.get("rubric")
    if not isinstance(rubric, list) or not rubric:
        raise ValueError("a healthbench sample needs metadata['rubric']: a list of {criterion, points, tags}")
    return tuple(Criterion(str(r["criterion"]), float(r["points"]), tuple(r.get("tags") or ())) for r in rubric)


def _history(state: TaskState) -> tuple[Message, ...]:
    """The conversation the model answered (the input messages, before its reply)."""
    messages = []
    for m in state.input if isinstance(state.input, list) else [ChatMessageUser(content=state.input)]:
        if m.role in ROLES:
            messages.append(Message(m.role, m.text))
    return tuple(messages)


@scorer(metrics=[mean(), stderr()])
def rubric_grader(
    grader_model: str = "openai/gpt-5-mini",
    grader_base_url: str | None = None,
    grader_api_key_env: str | None = "OPENAI_API_KEY",
):
    """Grade the reply against each rubric criterion with the LLM grader (see the module docstring)."""
    # Built now, when the task is built: a missing key fails before any answer is generated.
    grader = make_grader(grader_model, grader_base_url, grader_api_key_env)

    async def score(state: TaskState, target: Target) -> Score:
        rubric = _rubric_from_metadata(state.metadata)
        response = state.output.completion or ""
        history = _history(state)
        grades = await asyncio.gather(*(grade_criterion(grader, history, response, c) for c in rubric))
        value = example_score(grades)
        earned = sum(g.criterion.points for g in grades if g.met)
        possible = sum(g.criterion.points for g in grades if g.criterion.points > 0)
        ungraded = [g.criterion.text for g in grades if not g.graded]
        met = sum(g.met for g in grades)
        note = f"; {len(ungraded)} ungraded (counted as not met)" if ungraded else ""
        return Score(
            value=value,
            answer=response,
            explanation=f"{met} of {len(grades)} criteria met: {earned:g} of {possible:g} positive points{note}",
            metadata={
                "earned_points": earned,
                "possible_points": possible,
                "ungraded": ungraded,
                "criteria": [
                    {
                        "criterion": g.criterion.text,
                        "points": g.criterion.points,
                        "met": g.met,
                        "explanation": g.explanation,
                        "attempts": g.attempts,
                        "graded": g.graded,
                        **({"last_answer": g.last_answer} if not g.graded else {}),
                    }
                    for g in grades
                ],
            },
        )

    return score


# --------------------------------------------------------------------------- the contract


@task
def healthbench(
    split: str = "test",
    grader_model: str = "openai/gpt-5-mini",
    grader_base_url: str | None = None,
    grader_api_key_env: str | None = "OPENAI_API_KEY",
) -> Task:
    grader = rubric_grader(grader_model, grader_base_url, grader_api_key_env)  # fails fast without a key
    samples = [
        Sample(
            id=c.prompt_id,
            input=chat_messages(c),
            target="",  # graded against the rubric, not a reference answer
            metadata={"rubric": _rubric_metadata(c.rubric), "example_tags": list(c.example_tags)},
        )
        for c in conversations(split)
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"healthbench-easy-{split}"),
        solver=generate(),
        scorer=grader,
        name="healthbench",
    )


def test_texts() -> list[str]:
    """Each test conversation as text: its messages, the physician's reply where there is one,
    and its rubric (the rubric is what an answer is graded against)."""
    texts = []
    for c in conversations("test"):
        parts = [m.content for m in c.messages]
        if c.ideal_completion:
            parts.append(c.ideal_completion)
        parts.extend(cr.text for cr in c.rubric)
        texts.append("\n".join(parts))
    return texts


def write_agent_context(workspace: Path) -> list[Path]:
    """No task context files: the benchmark has no allowed training split."""
    return []
