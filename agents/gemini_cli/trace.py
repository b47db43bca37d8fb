"""Gemini CLI's `gemini --output-format stream-json` output as trace events.

One JSON object per stdout line (measured on 0.61.0, tests/agents/fixtures/gemini_cli_*):

    {"type": "init", "session_id", "model"}
    {"type": "message", "role": "user" | "assistant", "content", "delta": true}
    {"type": "tool_use", "tool_name", "tool_id", "parameters"}
    {"type": "tool_result", "tool_id", "status": "success" | "error", "output", "error": {"message"}}
    {"type": "error", "severity", "message"}
    {"type": "result", "status": "success" | "error", "error": {...},
     "stats": {"total_tokens", "input_tokens", "output_tokens", "cached", "models": {<model>: {...}}}}

Assistant text streams as ``delta`` pieces: consecutive pieces are one message. The user's own
message (the prompt) is not the agent's doing and is left out. Gemini's ``input_tokens`` include
the cached ones; its ``output_tokens`` leave out the model's thoughts, which ``total_tokens``
counts, so a trace's output tokens are ``total_tokens - input_tokens``. The ``result`` line holds
the session's totals.
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


def _main_model(models: Any) -> str | None:
    """The model that did most of the session's work (the CLI may ask a small model for its
    routing and next-speaker checks): the one with the most tokens in ``stats.models``."""
    if not isinstance(models, Mapping) or not models:
        return None
    return str(max(models, key=lambda name: as_int(as_mapping(models[name]).get("total_tokens"))))


def _session_usage(stats: Mapping[str, Any]) -> Usage:
    input_tokens, output_tokens = as_int(stats.get("input_tokens")), as_int(stats.get("output_tokens"))
    total = as_int(stats.get("total_tokens"))
    models = stats.get("models")
    return Usage(
        input_tokens=input_tokens,
        cached_input_tokens=as_int(stats.get("cached")),
        output_tokens=max(output_tokens, total - input_tokens),  # thoughts included
        model=_main_model(models),
        scope="session",
    )


def _error_text(obj: Mapping[str, Any]) -> str:
    error = obj.get("error")
    if isinstance(error, Mapping):
        kind = f"{error.get('type')}: " if error.get("type") else ""
        return kind + str(error.get("message", json.dumps(error, default=str)))
    return str(obj.get("message") or error or "no detail")


@trace_parser("gemini_stream_json")
def parse_gemini_stream_json(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
    text: list[str] = []  # the assistant message being streamed
    text_t = 0.0

    def flush() -> Iterator[TraceEvent]:
        if "".join(text).strip():
            yield TraceEvent(text_t, "message", "".join(text))
        text.clear()

    for line, obj in json_lines(lines):
        kind = obj.get("type") if obj is not None else None
        if obj is not None and kind == "message" and obj.get("role") == "assistant":
            if not text:
                text_t = line.t
            text.append(str(obj.get("content", "")))
            if not obj.get("delta"):
                yield from flush()
            continue
        yield from flush()
        if obj is None or not isinstance(kind, str):
            yield unparsed(line)
        elif kind == "tool_use":
            name = str(obj.get("tool_name", "tool"))
            arguments = as_mapping(obj.get("parameters"))
            yield TraceEvent(line.t, "tool", call_text(name, arguments), call=ToolCall(str(obj.get("tool_id", "")), name, dict(arguments)))
        elif kind == "tool_result":
            result = str(obj.get("output", "")) if obj.get("status") != "error" else f"[error] {_error_text(obj)}"
            yield TraceEvent(line.t, "tool", result, result_of=str(obj.get("tool_id", "")))
        elif kind == "error":
            yield TraceEvent(line.t, "error", f"gemini {obj.get('severity', 'error')}: {_error_text(obj)}")
        elif kind == "result":
            if obj.get("status") not in (None, "success"):
                yield TraceEvent(line.t, "error", f"gemini result {obj.get('status')}: {_error_text(obj)}")
            if isinstance(obj.get("stats"), Mapping):
                yield TraceEvent(line.t, "usage", "session totals", usage=_session_usage(obj["stats"]))
        elif kind in ("init", "message"):
            continue  # the session's start; the user's prompt
        else:
            yield TraceEvent(line.t, "output", f"[{kind}]")
    yield from flush()
