"""Reading tool calls out of a model's reply text, as vLLM's tool parsers do.

    reply = parse_tool_calls(text, "hermes")     # or "pythonic"
    reply.content   # the text that is not a call (None when nothing is left)
    reply.calls     # (ToolCall(name="get_weather", arguments={"city": "Paris"}), ...)

Parsers (chosen per model family, see conf/model/*.yaml ``tool_parser``):

- ``hermes`` (Qwen3, SmolLM3, the tiny model): each ``<tool_call>{"name": ..., "arguments":
  {...}}</tool_call>`` block whose body is a JSON object with a string name and object
  arguments is one call; a block that is not (malformed JSON, missing name) stays in the text.
  A block left open at the end of the reply (generation stopped before ``</tool_call>``) counts
  too, as in vLLM.
- ``pythonic`` (Gemma-3 with gemma3_tools.jinja): the whole reply is a Python list of calls,
  ``[get_weather(city="Paris"), add(a=1, b=2)]``, optionally fenced in ``` or ```tool_code.
  Arguments must be keyword arguments with literal values (strings, numbers, True/False/None,
  lists, tuples, dicts with string keys); anything else makes the whole reply plain content.

Each parser is a ``tool_parser`` plug-in (`ptb.registry`): adding a format is one decorated
function. Only the standard library is used, so the planner imports this without torch.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ptb import registry

ToolCallParser = Callable[[str], "ParsedReply"]


def tool_parser(name: str) -> Callable[[ToolCallParser], ToolCallParser]:
    """Register a function ``reply text -> ParsedReply`` as the tool-call parser ``name``."""
    return registry.register("tool_parser", name)


def tool_parser_names() -> list[str]:
    return registry.names("tool_parser")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class ParsedReply:
    content: str | None  # the reply without its tool calls, stripped; None when empty
    calls: tuple[ToolCall, ...]


def parse_tool_calls(text: str, parser: str) -> ParsedReply:
    """Split a reply into its tool calls and the remaining text, with the named parser."""
    parse: ToolCallParser = registry.load("tool_parser", parser, where="tool_parser")
    return parse(text)


def _plain(text: str) -> ParsedReply:
    return ParsedReply(content=text, calls=())


# A complete block, or one left open at the very end of the reply.
_HERMES_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)\Z", re.DOTALL)


def _hermes_call(body: str) -> ToolCall | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    arguments = obj.get("arguments", {})
    if isinstance(arguments, str):  # some models double-encode the arguments
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(name=obj["name"], arguments=arguments)


@tool_parser("hermes")
def _parse_hermes(text: str) -> ParsedReply:
    calls: list[ToolCall] = []
    kept: list[str] = []
    position = 0
    for match in _HERMES_BLOCK.finditer(text):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        call = _hermes_call(body)
        if call is None:
            continue  # not a call: the block stays in the text
        kept.append(text[position : match.start()])
        position = match.end()
        calls.append(call)
    if not calls:
        return _plain(text)
    kept.append(text[position:])
    content = "".join(kept).strip()
    return ParsedReply(content=content or None, calls=tuple(calls))


_FENCE = re.compile(r"\A```[A-Za-z_]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)


class _NotALiteral(ValueError):
    pass


def _literal(node: ast.expr) -> Any:
    """The JSON value of a literal argument; raises _NotALiteral for anything else."""
    if isinstance(node, ast.Constant):
        if node.value is None or isinstance(node.value, (str, bool, int, float)):
            return node.value
        raise _NotALiteral(f"{type(node.value).__name__} constant")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise _NotALiteral("sign on a non-number")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                raise _NotALiteral("dict unpacking")
            name = _literal(key)
            if not isinstance(name, str):
                raise _NotALiteral("non-string dict key")
            result[name] = _literal(value)
        return result
    raise _NotALiteral(type(node).__name__)


@tool_parser("pythonic")
def _parse_pythonic(text: str) -> ParsedReply:
    source = text.strip()
    fenced = _FENCE.match(source)
    if fenced:
        source = fenced.group(1).strip()
    if not (source.startswith("[") and source.endswith("]")):
        return _plain(text)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError):
        return _plain(text)
    if not isinstance(tree.body, ast.List) or not tree.body.elts:
        return _plain(text)
    calls = []
    for node in tree.body.elts:
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
            return _plain(text)
        arguments = {}
        for keyword in node.keywords:
            if keyword.arg is None:  # f(**kwargs)
                return _plain(text)
            try:
                arguments[keyword.arg] = _literal(keyword.value)
            except _NotALiteral:
                return _plain(text)
        calls.append(ToolCall(name=node.func.id, arguments=arguments))
    return ParsedReply(content=None, calls=tuple(calls))
