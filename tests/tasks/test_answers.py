"""ptb.tasks.answers: the final numeric answer of a reply, and the numeric_answer scorer."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import CORRECT, INCORRECT, Target
from inspect_ai.solver import TaskState

from ptb.tasks.answers import (
    extract_numeric_answer,
    format_number,
    numbers_in,
    numeric_answer,
    parse_number,
    target_number,
)


@pytest.mark.parametrize(
    ("reply", "value", "source"),
    [
        # boxed: the last box holding a digit decides, over phrases and stray numbers
        ("So x = 12. \\boxed{45} and 99 more words", "45", "boxed"),
        ("First \\boxed{3}, no wait: \\boxed{7}.", "7", "boxed"),
        ("The answer is 5. Check: \\boxed{6}", "6", "boxed"),
        ("\\boxed{18 \\text{ dollars}}", "18", "boxed"),
        ("\\boxed{\\$1{,}200.00}", "1200", "boxed"),
        ("\\boxed{x = -4}", "-4", "boxed"),
        ("\\boxed{\\textbf{12}}", "12", "boxed"),  # nested braces
        ("$\\boxed{045}$", "45", "boxed"),
        ("\\fbox{9}", "9", "boxed"),
        ("Put it in \\boxed{N}. I get 12", "12", "last_number"),  # echoed placeholder skipped
        ("\\boxed{} then the answer is 8", "8", "phrase"),
        # phrases
        ("3 + 4 = 7. The answer is 7.", "7", "phrase"),
        ("the answer is: $1,080.", "1080", "phrase"),
        ("The final answer is **42**.", "42", "phrase"),
        ("**Answer**: 42 apples, from 6 * 7", "42", "phrase"),
        ("ANSWER: -7\nThat took 3 steps.", "-7", "phrase"),
        ("Answer = 16 (checked twice)", "16", "phrase"),
        ("#### 1,000", "1000", "phrase"),
        ("The answer is \\(25\\) because 5^2", "25", "phrase"),
        ("The answer is 5. Wait, no. The answer is 12, sorry", "12", "phrase"),  # the last counts
        ("The answer is 12. Answer: none of them, 3 left", "12", "phrase"),  # phrase without number skipped
        ("The answer is $18.00.", "18.00", "phrase"),
        ("The answer is −3.", "-3", "phrase"),  # unicode minus
        # the last number
        ("10 - 4 = 6", "6", "last_number"),  # a binary minus is no sign
        ("so x = -4", "-4", "last_number"),
        ("the answer is seven, 3 left over", "3", "last_number"),
        ("She pays $1,200.00 in total.", "1200.00", "last_number"),
        ("It is 50%.", "50", "last_number"),
        ("about .5 of it", "0.5", "last_number"),
        ("1\\,000 people", "1000", "last_number"),
        ("in 2024-2025", "2025", "last_number"),
        ("\\boxed{12", "12", "last_number"),  # an unclosed box is no box
        ("values 1,2,3", "3", "last_number"),  # a list, not a thousands group
        # the reasoning before </think> is not the answer
        ("<think>The answer is 5</think>So it is 6", "6", "last_number"),
        ("<think>\\boxed{5}</think>The answer is 6.", "6", "phrase"),
    ],
)
def test_extract_numeric_answer_finds_the_final_answer(reply, value, source):
    found = extract_numeric_answer(reply)
    assert found is not None, reply
    assert (found.value, found.source) == (Decimal(value), source)


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "I do not know.",
        "The answer is seven.",
        "\\boxed{\\frac{9}{2}}",  # a box with two numbers is no numeric answer
        "\\boxed{3, 5}",
        "The answer is 4. \\boxed{2^{10}}",  # the box decides even when it fails
        "<think>The answer is 5.</think>",  # nothing after the reasoning
        "version v1.2",
    ],
)
def test_extract_numeric_answer_finds_none_in_malformed_replies(reply):
    assert extract_numeric_answer(reply) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18", "18"),
        ("18.00", "18.00"),
        ("$1,200.", "1200"),
        ("-3", "-3"),
        (" 045 ", "45"),
        ("1{,}000", "1000"),
        ("72 dollars", "72"),
        ("3 or 4", None),
        ("", None),
        ("twelve", None),
    ],
)
def test_parse_number_reads_exactly_one_number(text, expected):
    assert parse_number(text) == (None if expected is None else Decimal(expected))


def test_numbers_in_lists_every_number_in_order():
    assert numbers_in("3 apples, -2 pears, $1,500.25 and 10 - 4") == [
        Decimal(3), Decimal(-2), Decimal("1500.25"), Decimal(10), Decimal(4),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [("18.00", "18"), ("2.50", "2.5"), ("-3", "-3"), ("1200", "1200"), ("0.000", "0"), ("1E+3", "1000")],
)
def test_format_number_is_canonical(value, text):
    assert format_number(Decimal(value)) == text


def test_target_number_rejects_a_target_that_is_not_one_number():
    assert target_number("1,200") == Decimal(1200)
    with pytest.raises(ValueError, match="'twelve' is not a single number"):
        target_number("twelve")


def _score(reply: str, target: str):
    state = TaskState(model="mockllm/model", sample_id=1, epoch=1, input="q", messages=[])
    state.output = ModelOutput.from_content("mockllm/model", reply)
    return asyncio.run(numeric_answer()(state, Target(target)))


@pytest.mark.parametrize(
    ("reply", "target", "value", "answer"),
    [
        ("The answer is 18.00.", "18", CORRECT, "18"),
        ("She earns $1,200 in all. The answer is $1,200.", "1200", CORRECT, "1200"),
        ("\\boxed{045}", "45", CORRECT, "45"),
        ("The answer is -3.", "-3", CORRECT, "-3"),
        ("The answer is 18.5.", "18", INCORRECT, "18.5"),  # 18.5 equals no integer
        ("The answer is 17.", "18", INCORRECT, "17"),
        ("18 apples, then \\boxed{19}", "18", INCORRECT, "19"),  # the box wins over the stray 18
        ("I cannot tell.", "18", INCORRECT, None),
    ],
)
def test_numeric_answer_scorer_compares_values(reply, target, value, answer):
    score = _score(reply, target)
    assert (score.value, score.answer) == (value, answer)


def test_numeric_answer_scorer_records_which_rule_read_the_answer():
    assert _score("\\boxed{4}", "4").metadata == {"answer_source": "boxed"}
    assert "no numeric answer" in _score("no idea", "4").explanation
