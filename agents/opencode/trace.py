"""OpenCode's `opencode run --format json` output as trace events.

One JSON object per stdout line (measured on 1.18.33, tests/agents/fixtures/opencode_*), each
``{"type", "timestamp", "sessionID", "part": {...}}``:

    step_start   a model response begins
    text         part.text: the model's text       reasoning   part.text: its reasoning
    tool_use     part.tool, part.callID, part.state: {status, input, output | error}
    step_finish  part.tokens: {input, output, reasoning, cache: {read, write}}, part.cost
    error        error: {name, data: {message}}

A ``tool_use`` line comes when the call has finished, so it is the call and its result at once.
OpenCode states no session totals: each ``step_finish`` is one response's figures. Its
``input`` leaves out cache reads and writes and its ``output`` the reasoning; a trace counts
them in. ``cost`` is priced from OpenCode's model catalogue; 0 for tokens it has no price for
means unknown, not free.
"""

from __future__ import annotations

import dataclasses
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


def _step_usage(part: Mapping[str, Any]) -> Usage:
    tokens = as_mapping(part.get("tokens"))
    cache = as_mapping(tokens.get("cache"))
    read, write = as_int(cache.get("read")), as_int(cache.get("write"))
    usage = Usage(
        input_tokens=as_int(tokens.get("input")) + read + write,
        cached_input_tokens=read,
        output_tokens=as_int(tokens.get("output")) + as_int(tokens.get("reasoning")),
    )
    cost = part.get("cost")
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
        return usage
    if cost == 0 and usage.input_tokens + usage.output_tokens > 0:
        return usage  # tokens OpenCode has no price for
    return dataclasses.replace(usage, cost_usd=float(cost))


def _error_text(error: Any) -> str:
    if isinstance(error, Mapping):
        data = as_mapping(error.get("data"))
        status = f" (HTTP {data['statusCode']})" if data.get("statusCode") else ""
        return f"{error.get('name', 'error')}{status}: {data.get('message', json.dumps(error, default=str))}"
    return str(error or "no detail")


@trace_parser("opencode_json")
def parse_opencode_json(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
    for line, obj in json_lines(lines):
        kind = obj.get("type") if obj is not None else None
        if obj is None or not isinstance(kind, str):
            yield unparsed(line)
            continue
        part = as_mapping(obj.get("part"))
        if kind == "text" and str(part.get("text", "")).strip():
            yield TraceEvent(line.t, "message", str(part["text"]))
        elif kind == "reasoning":
            yield TraceEvent(line.t, "thinking", str(part.get("text", "")))
        elif kind == "tool_use":
            state = as_mapping(part.get("state"))
            name, call_id = str(part.get("tool", "tool")), str(part.get("callID", ""))
            arguments = as_mapping(state.get("input"))
            yield TraceEvent(line.t, "tool", call_text(name, arguments), call=ToolCall(call_id, name, dict(arguments)))
            if state.get("status") == "error":
                yield TraceEvent(line.t, "tool", f"[error] {state.get('error', '')}", result_of=call_id)
            elif state.get("status") == "completed":
                yield TraceEvent(line.t, "tool", str(state.get("output", "")), result_of=call_id)
        elif kind == "step_finish":
            yield TraceEvent(line.t, "usage", "", usage=_step_usage(part))
        elif kind == "error":
            yield TraceEvent(line.t, "error", f"opencode {_error_text(obj.get('error'))}")
        elif kind in ("step_start", "text"):
            continue
        else:
            yield TraceEvent(line.t, "output", f"[{kind}]")
