"""The final numeric answer of a model's reply, and the scorer of the numeric-answer tasks.

gsm8k and aime2025 both score "is the reply's final number the target number?":

    found = extract_numeric_answer("... so 3 * 400 = 1,200. The answer is $1,200.00.")
    found.value, found.source            # Decimal('1200.00'), 'phrase'
    format_number(found.value)           # '1200'
    Task(..., scorer=numeric_answer())   # CORRECT when that value equals the target's

The rule, in order (the first that applies decides):

0. The reply's reasoning is removed first (`ptb.tasks.reasoning.strip_reasoning`: closed
   ``<think>`` blocks, everything before a lone ``</think>``, an unfinished ``<think>`` to the end):
   reasoning is not the answer.
1. **boxed**: the last ``\\boxed{...}`` (or ``\\fbox{...}``) whose content holds a digit; its
   content must hold exactly one number (``\\boxed{18 \\text{ dollars}}`` → 18), else the reply
   has no answer (``\\boxed{\\frac{9}{2}}`` → none). Boxes without a digit (``\\boxed{}``,
   ``\\boxed{N}``: an echoed instruction) are skipped.
2. **phrase**: the number directly after the last answer phrase followed by one: "answer is",
   "answer:" / "answer =" (any case, so "The final answer is", "ANSWER:", "**Answer**:") or "####". Between
   the phrase and the number only spaces and ``: = * _ $ \\ ( [ {`` may stand ("The answer is:
   **$1,080**." → 1080). A phrase not directly followed by a number is skipped.
3. **last_number**: the last number anywhere in the reply.

A number is an optional sign attached to it (``-5``, ``−5``; not the ``-`` of ``10 - 4``), an
optional ``$``, then digits with optional comma thousands groups (``1,200``; LaTeX ``1{,}200``
and ``1\\,200`` too) and an optional decimal part (``18.00``, ``.5``). A trailing period, comma,
``%`` or unit is not part of it. Values compare exactly as decimals: ``18.00`` equals ``18``;
``2.5`` equals no integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Target,
    accuracy,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from ptb.tasks.reasoning import strip_reasoning

AnswerSource = Literal["boxed", "phrase", "last_number"]

_NUMBER = re.compile(
    r"(?:(?<![\w)\]}.])(?P<sign>[-−]))?"  # a sign glued to the number, not a binary minus
    r"\$?"
    r"(?<![\w.])"  # not the tail of a word, a version string or another number
    r"(?P<body>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?!\d)"
)
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE = re.compile(r"(?:\banswer\s+is|\banswer\s*\**\s*[:=]|####)[\s:=*_$\\(\[{]*", re.IGNORECASE)
_LATEX_SPACING = re.compile(r"\\[,!;: ]")  # thin/negative spaces, e.g. 1\,200


@dataclass(frozen=True)
class ExtractedAnswer:
    value: Decimal
    source: AnswerSource  # which rule found it (see the module docstring)


def _normalise(text: str) -> str:
    # LaTeX spellings of the characters a number may hold: 1{,}200, 1\,200, \$18, \-5
    text = text.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%")
    return _LATEX_SPACING.sub("", text)


def _to_decimal(match: re.Match[str]) -> Decimal:
    value = Decimal(match.group("body").replace(",", ""))
    return -value if match.group("sign") else value


def numbers_in(text: str) -> list[Decimal]:
    """Every number in `text`, in order (see the module docstring for what a number is)."""
    return [_to_decimal(m) for m in _NUMBER.finditer(_normalise(text))]


def parse_number(text: str) -> Decimal | None:
    """The value of a text holding exactly one number ("1,200", "$18.00.", "-3"), else None."""
    found = numbers_in(text)
    return found[0] if len(found) == 1 else None


def format_number(value: Decimal) -> str:
    """Canonical text of a value: "18" for 18.00, "2.5" for 2.50, "-3" for -3."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _box_contents(text: str) -> list[str]:
    """The contents of every \\boxed{...} in `text` (nested braces matched), in order."""
    contents = []
    for opening in _BOX_OPEN.finditer(text):
        depth, start = 1, opening.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                contents.append(text[start:i])
                break
    return contents


def extract_numeric_answer(reply: str) -> ExtractedAnswer | None:
    """The reply's final numeric answer by the rule of the module docstring, or None."""
    text = _normalise(strip_reasoning(reply))

    boxes = [content for content in _box_contents(text) if any(c.isdigit() for c in content)]
    if boxes:
        value = parse_number(boxes[-1])
        return None if value is None else ExtractedAnswer(value, "boxed")

    for phrase in reversed(list(_PHRASE.finditer(text))):
        number = _NUMBER.match(text, phrase.end())
        if number:
            return ExtractedAnswer(_to_decimal(number), "phrase")

    numbers = list(_NUMBER.finditer(text))
    return ExtractedAnswer(_to_decimal(numbers[-1]), "last_number") if numbers else None


def target_number(target: str) -> Decimal:
    """A task's target as a number; a target that is not exactly one number is a data error."""
    value = parse_number(target)
    if value is None:
        raise ValueError(f"the target {target!r} is not a single number; numeric-answer tasks need one")
    return value


@scorer(metrics=[accuracy(), stderr()])
def numeric_answer():
    """CORRECT when the reply's final numeric answer (module docstring) equals the target."""

    async def score(state: TaskState, target: Target) -> Score:
        expected = target_number(target.text)
        found = extract_numeric_answer(state.output.completion or "")
        if found is None:
            return Score(value=INCORRECT, answer=None, explanation="no numeric answer in the reply")
        return Score(
            value=CORRECT if found.value == expected else INCORRECT,
            answer=format_number(found.value),
            explanation=f"answer read by the '{found.source}' rule; target {format_number(expected)}",
            metadata={"answer_source": found.source},
        )

    return score


__all__ = [
    "AnswerSource",
    "ExtractedAnswer",
    "extract_numeric_answer",
    "format_number",
    "numbers_in",
    "numeric_answer",
    "parse_number",
    "target_number",
]
