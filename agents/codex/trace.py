"""Codex CLI's `codex exec --json` output as trace events.

One JSON object per stdout line (measured on 0.171.0, tests/agents/fixtures/codex_*):

    {"type": "thread.started", "thread_id"}            {"type": "turn.started"}
    {"type": "item.started" | "item.updated" | "item.completed", "item": {"id", "type", ...}}
    {"type": "turn.completed", "usage": {"input_tokens", "cached_input_tokens", "output_tokens",
                                         "reasoning_output_tokens"}}
    {"type": "turn.failed", "error": {"message"}}       {"type": "error", "message"}

Items: ``agent_message`` (text), ``reasoning`` (text), ``command_execution`` (command,
aggregated_output, exit_code), ``file_change`` (changes: path, kind), ``mcp_tool_call``
(server, tool, arguments, result | error), ``web_search`` (query), ``todo_list`` (items),
``error`` (message). A command is a tool call when it starts, so a run the deadline kills in the
middle of one still shows it; its result comes with ``item.completed``. OpenAI's input tokens
include the cached ones and its output tokens the reasoning ones, as a trace's do. One
``codex exec`` is one turn, so ``turn.completed`` carries the session's totals -- of the whole
thread: a resumed session (``exec resume``, same ``thread_id``) states the previous sessions'
tokens again, so a session's own figures are the difference. Item ids restart in each session;
a call's id here is ``<session>.<item id>``.
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
    as_list,
    as_mapping,
    call_text,
    json_lines,
    trace_parser,
    unparsed,
)


def _call(item: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The tool call an item stands for: (tool name, arguments), or None for a non-call item."""
    kind = item.get("type")
    if kind == "command_execution":
        return "shell", {"command": item.get("command", "")}
    if kind == "file_change":
        return "apply_patch", {"changes": item.get("changes", [])}
    if kind == "mcp_tool_call":
        args = item.get("arguments")
        return f"{item.get('server', 'mcp')}.{item.get('tool', 'tool')}", dict(args) if isinstance(args, Mapping) else {"arguments": args}
    if kind == "web_search":
        return "web_search", {"query": item.get("query", "")}
    return None


def _result(item: Mapping[str, Any]) -> str:
    kind = item.get("type")
    if kind == "command_execution":
        code = item.get("exit_code")
        return f"{item.get('aggregated_output', '')}" + (f"\n[exit code {code}]" if code not in (0, None) else "")
    if kind == "file_change":
        changes = as_list(item.get("changes"))
        done = ", ".join(f"{c.get('kind', 'change')} {c.get('path', '?')}" for c in changes if isinstance(c, Mapping))
        return f"{item.get('status', '')}: {done}".strip(": ")
    if kind == "mcp_tool_call":
        error = item.get("error")
        if error:
            return f"[error] {error.get('message') if isinstance(error, Mapping) else error}"
        return json.dumps(item.get("result"), default=str)
    return str(item.get("status", ""))


def _error_text(obj: Mapping[str, Any]) -> str:
    error = obj.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message", json.dumps(error, default=str)))
    return str(obj.get("message") or error or "no detail")


@trace_parser("codex_json")
def parse_codex_json(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
    called: set[str] = set()  # items whose call was already shown when they started
    session, thread = 0, ""
    thread_totals: dict[str, tuple[int, int, int]] = {}  # the thread's totals stated so far
    for line, obj in json_lines(lines):
        kind = obj.get("type") if obj is not None else None
        if obj is None or not isinstance(kind, str):
            yield unparsed(line)
            continue
        item = obj.get("item") if isinstance(obj.get("item"), Mapping) else None
        if kind in ("item.started", "item.updated", "item.completed") and item is not None:
            item_id, item_kind = f"{session}.{item.get('id', '')}", item.get("type")
            call = _call(item)
            if call is not None:
                if item_id not in called:
                    called.add(item_id)
                    yield TraceEvent(line.t, "tool", call_text(*call), call=ToolCall(item_id, call[0], call[1]))
                if kind == "item.completed":
                    yield TraceEvent(line.t, "tool", _result(item), result_of=item_id)
            elif kind != "item.completed":
                continue  # messages and reasoning are shown once, complete
            elif item_kind == "agent_message":
                yield TraceEvent(line.t, "message", str(item.get("text", "")))
            elif item_kind == "reasoning":
                yield TraceEvent(line.t, "thinking", str(item.get("text", "")))
            elif item_kind == "error":
                yield TraceEvent(line.t, "error", f"codex: {item.get('message', '')}")
            elif item_kind == "todo_list":
                todos = as_list(item.get("items"))
                plan = "; ".join(f"[{'x' if t.get('completed') else ' '}] {t.get('text', '')}" for t in todos if isinstance(t, Mapping))
                yield TraceEvent(line.t, "output", f"plan: {plan}")
            else:
                yield TraceEvent(line.t, "output", f"[{item_kind}] {json.dumps(item, default=str)[:2000]}")
        elif kind == "turn.completed":
            u = as_mapping(obj.get("usage"))
            now = (as_int(u.get("input_tokens")), as_int(u.get("cached_input_tokens")), as_int(u.get("output_tokens")))
            before = thread_totals.get(thread, (0, 0, 0))
            thread_totals[thread] = now
            own = [max(0, a - b) for a, b in zip(now, before, strict=True)]
            usage = Usage(input_tokens=own[0], cached_input_tokens=own[1], output_tokens=own[2], scope="session")
            yield TraceEvent(line.t, "usage", "turn totals", usage=usage)
        elif kind == "thread.started":
            session, thread = session + 1, str(obj.get("thread_id", ""))
        elif kind in ("turn.failed", "error"):
            yield TraceEvent(line.t, "error", f"codex {kind}: {_error_text(obj)}")
        elif kind == "turn.started":
            continue
        else:
            yield TraceEvent(line.t, "output", f"[{kind}]")
