"""Tool-call parsers on replies that are right, wrong and malformed."""

from __future__ import annotations

import pytest

from ptb.serve.tool_calls import ParsedReply, ToolCall, parse_tool_calls, tool_parser_names


def test_hermes_reads_each_tool_call_block_and_keeps_the_rest_as_content():
    text = (
        "Let me look both up.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": [2.5, null, true]}}\n</tool_call>'
    )
    reply = parse_tool_calls(text, "hermes")
    assert reply == ParsedReply(
        content="Let me look both up.",
        calls=(
            ToolCall("get_weather", {"city": "Paris", "days": 2}),
            ToolCall("add", {"a": 1, "b": [2.5, None, True]}),
        ),
    )


def test_hermes_reply_with_only_calls_has_no_content_and_an_open_last_block_counts():
    reply = parse_tool_calls('<tool_call>{"name": "ping", "arguments": {}}</tool_call>', "hermes")
    assert reply == ParsedReply(content=None, calls=(ToolCall("ping", {}),))
    # generation stopped before the closing tag (vLLM accepts this too)
    reply = parse_tool_calls('<tool_call>\n{"name": "ping", "arguments": {"n": 1}}\n', "hermes")
    assert reply.calls == (ToolCall("ping", {"n": 1}),) and reply.content is None
    # arguments sent as a JSON string are decoded
    reply = parse_tool_calls('<tool_call>{"name": "ping", "arguments": "{\\"n\\": 2}"}</tool_call>', "hermes")
    assert reply.calls == (ToolCall("ping", {"n": 2}),)


@pytest.mark.parametrize("text", [
    "The answer is 4.",
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"</tool_call>',  # broken JSON
    '<tool_call>{"arguments": {"city": "Paris"}}</tool_call>',  # no name
    '<tool_call>["get_weather", {"city": "Paris"}]</tool_call>',  # not an object
    '<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>',  # arguments not an object
    '<tool_call>{"name": "f", "arguments": "not json"}</tool_call>',
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',  # no tags
])
def test_hermes_text_without_a_well_formed_block_is_plain_content(text):
    assert parse_tool_calls(text, "hermes") == ParsedReply(content=text, calls=())


def test_hermes_a_malformed_block_stays_in_the_content_beside_a_good_one():
    bad = '<tool_call>{"name": "broken", "arguments": </tool_call>'
    good = '<tool_call>{"name": "ok", "arguments": {"x": "y"}}</tool_call>'
    reply = parse_tool_calls(f"{bad}\n{good}", "hermes")
    assert reply.calls == (ToolCall("ok", {"x": "y"}),)
    assert reply.content == bad


def test_pythonic_reads_a_list_of_calls_with_literal_arguments():
    text = '[get_weather(city="Paris", days=2), add(a=-1, b=+2.5, flags=[True, None], opts={"k": (1, 2)})]'
    reply = parse_tool_calls(text, "pythonic")
    assert reply == ParsedReply(
        content=None,
        calls=(
            ToolCall("get_weather", {"city": "Paris", "days": 2}),
            ToolCall("add", {"a": -1, "b": 2.5, "flags": [True, None], "opts": {"k": [1, 2]}}),
        ),
    )


@pytest.mark.parametrize("text", [
    '```tool_code\n[get_weather(city="Paris")]\n```',
    '```\n[get_weather(city="Paris")]\n```',
    '```python\n[get_weather(city="Paris")]```',
    '  [get_weather(city="Paris")]\n',
    "[get_weather(city='Paris')]",
])
def test_pythonic_accepts_fenced_and_padded_lists(text):
    assert parse_tool_calls(text, "pythonic") == ParsedReply(None, (ToolCall("get_weather", {"city": "Paris"}),))


@pytest.mark.parametrize("text", [
    "It is sunny in Paris.",
    'get_weather(city="Paris")',  # not a list
    '[get_weather(city="Paris")',  # unbalanced
    "[]",  # no call
    '[get_weather("Paris")]',  # positional argument
    "[get_weather(city=location)]",  # a variable, not a literal
    "[get_weather(city=lookup())]",  # a call, not a literal
    "[get_weather(**kwargs)]",
    "[tools.get_weather(city='Paris')]",  # attribute, not a plain name
    "[get_weather(city={1, 2})]",  # a set is not JSON
    "[f(x={1: 'a'})]",  # non-string dict key
    "[f(x=1+2)]",  # an expression
    "[f(x=b'raw')]",
    '[get_weather(city="Paris"), "text"]',  # not every element is a call
    'Sure: [get_weather(city="Paris")]',  # text around the list
])
def test_pythonic_anything_but_a_list_of_literal_calls_is_plain_content(text):
    assert parse_tool_calls(text, "pythonic") == ParsedReply(content=text, calls=())


def test_an_unknown_parser_names_the_accepted_ones():
    assert tool_parser_names() == ["hermes", "pythonic"]
    with pytest.raises(ValueError, match=r"tool_parser='json' is unknown; accepted: \['hermes', 'pythonic'\]"):
        parse_tool_calls("[f()]", "json")
