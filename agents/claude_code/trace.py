"""Claude Code's `claude -p --output-format stream-json --verbose` output as trace events.

One JSON object per stdout line (measured on 2.1.197, tests/agents/fixtures/claude_code_*):

    {"type": "system", "subtype": "init", "session_id", "model", "tools", ...}
    {"type": "assistant", "message": {"id", "model", "content": [text | thinking | tool_use], "usage"}}
    {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id", "content", "is_error"}]}}
    {"type": "result", "subtype": "success" | "error_*", "is_error", "result", "total_cost_usd",
     "usage": {...}, "modelUsage": {<model>: {...}}}

One API message may arrive as several ``assistant`` lines (one per content block) that repeat its
``id`` and ``usage``: the usage counts once, after the message's last block. Anthropic's
``input_tokens`` leaves out cache reads and writes; a trace's input tokens include them. The
``usage`` of an assistant line is a snapshot from the start of the response (its output count is
partial), so the ``result`` line's totals are the session's figures; the step figures only stand
for a session the deadline killed before it printed a result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ptb.traces import (
    LogLine,
    ToolCall,
    TraceEvent,
    Usage,
    as_int,
    as_mapping,
    call_text,
    json_lines,
    trace_parser,
    unparsed,
)


def _usage(raw: Any, *, model: str | None, cost: float | None, scope: str) -> Usage:
    u = raw if isinstance(raw, Mapping) else {}
    cache_read, cache_write = as_int(u.get("cache_read_input_tokens")), as_int(u.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=as_int(u.get("input_tokens")) + cache_read + cache_write,
        cached_input_tokens=cache_read,
        output_tokens=as_int(u.get("output_tokens")),
        cost_usd=cost,
        model=model,
        scope="session" if scope == "session" else "step",
    )


def _result_text(content: Any) -> str:
    """A tool result's content: a string, or a list of text (and image) blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, Mapping):
                parts.append(f"[{block.get('type', 'block')}]")
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, default=str)


def _assistant(t: float, message: Mapping[str, Any]) -> Iterator[TraceEvent]:
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text" and str(block.get("text", "")).strip():
            yield TraceEvent(t, "message", str(block["text"]))
        elif kind == "thinking":
            yield TraceEvent(t, "thinking", str(block.get("thinking", "")))
        elif kind == "redacted_thinking":
            yield TraceEvent(t, "thinking", "[redacted thinking]")
        elif kind in ("tool_use", "server_tool_use"):
            name = str(block.get("name", "tool"))
            arguments = as_mapping(block.get("input"))
            yield TraceEvent(t, "tool", call_text(name, arguments),
                             call=ToolCall(str(block.get("id", "")), name, dict(arguments)))


def _tool_results(t: float, message: Mapping[str, Any]) -> Iterator[TraceEvent]:
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            text = _result_text(block.get("content"))
            if block.get("is_error"):
                text = f"[error] {text}"
            yield TraceEvent(t, "tool", text, result_of=str(block.get("tool_use_id", "")))


def _result(t: float, obj: Mapping[str, Any]) -> Iterator[TraceEvent]:
    if obj.get("is_error") or obj.get("subtype") not in (None, "success"):
        detail = obj.get("result") or "; ".join(str(e) for e in obj.get("errors") or []) or "no detail"
        status = obj.get("api_error_status")
        yield TraceEvent(t, "error", f"claude {obj.get('subtype', 'error')}" + (f" (HTTP {status})" if status else "") + f": {detail}")
    models = obj.get("modelUsage")
    model = next(iter(models)) if isinstance(models, Mapping) and len(models) == 1 else None
    cost = obj.get("total_cost_usd")
    cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0 else None
    if isinstance(obj.get("usage"), Mapping):
        yield TraceEvent(t, "usage", "session totals", usage=_usage(obj["usage"], model=model, cost=cost, scope="session"))


@trace_parser("claude_stream_json")
def parse_claude_stream_json(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
    pending: tuple[str, float, Usage] | None = None  # the open message's usage: (id, time of its last line, usage)

    def flush() -> Iterator[TraceEvent]:
        nonlocal pending
        if pending is not None:
            yield TraceEvent(pending[1], "usage", "", usage=pending[2])
            pending = None

    for line, obj in json_lines(lines):
        kind = obj.get("type") if obj is not None else None
        message = obj.get("message") if obj is not None else None
        if obj is None or not isinstance(kind, str):
            yield unparsed(line)
            continue
        if kind == "assistant" and isinstance(message, Mapping):
            message_id = str(message.get("id", ""))
            if pending is not None and pending[0] != message_id:
                yield from flush()
            yield from _assistant(line.t, message)
            if isinstance(message.get("usage"), Mapping):
                model = message.get("model") if isinstance(message.get("model"), str) else None
                pending = (message_id, line.t, _usage(message["usage"], model=model, cost=None, scope="step"))
            if obj.get("error"):  # an API error Claude Code shows as an assistant message
                yield TraceEvent(line.t, "error", f"claude API error {obj['error']}: {_result_text(message.get('content'))}")
            continue
        yield from flush()
        if kind == "user" and isinstance(message, Mapping):
            yield from _tool_results(line.t, message)
        elif kind == "result":
            yield from _result(line.t, obj)
        elif kind == "system" and obj.get("subtype") == "init":
            continue  # the session's start: its tools and model, nothing the agent did
        elif kind == "system" and "api_retry" in str(obj.get("subtype")):
            yield TraceEvent(line.t, "error", f"claude {obj.get('subtype')}: {json.dumps(obj, default=str)[:500]}")
        else:
            yield TraceEvent(line.t, "output", f"[{kind}{' ' + str(obj['subtype']) if obj.get('subtype') else ''}]")
    yield from flush()
