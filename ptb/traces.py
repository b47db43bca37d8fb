"""Turning an agent's solve.log into trace.jsonl: one event format for every scaffold.

solve.log lines are ``<time> <stream> <text>`` (time: UTC ISO or epoch seconds; stream:
stdout, stderr, or ptb for the harness's own notes). A trace format parses the agent's lines
(what its scaffold prints: plain text, Claude Code stream-json, Codex ``--json``...) into
`TraceEvent`s; harness lines become ``harness`` events whatever the format. A format is a
``trace_parser`` plug-in (`ptb.registry`); a scaffold's own format lives in its agent folder
(``agents/<name>/trace.py``, loaded by `ptb.plugins`) and is one decorated function::

    @trace_parser("claude_stream_json")
    def _claude(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
        for line in lines:
            ...
            yield TraceEvent(line.t, "tool", "Bash: ls -la")

    write_trace(run_dir / "solve.log", run_dir / "trace.jsonl", "plain")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ptb import registry
from ptb.io import to_jsonable, write_text_atomic

# What an event is: agent text (output), agent errors/stderr (error), a tool call or its
# result (tool), a model message (message), the model's reasoning (thinking), usage figures
# (usage), and the harness's own notes (harness).
EVENT_KINDS = ("output", "error", "tool", "message", "thinking", "usage", "harness")


@dataclass(frozen=True)
class LogLine:
    t: float  # epoch seconds
    stream: str  # stdout | stderr | ptb
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str  # the scaffold's call id: its result names it
    name: str  # the tool (Bash, exec_command, run_shell_command, bash, ...)
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Tokens (and cost, where the CLI states it) of one model response, or a session's totals."""

    input_tokens: int = 0  # prompt tokens, cached ones included
    cached_input_tokens: int = 0
    output_tokens: int = 0  # reasoning tokens included
    cost_usd: float | None = None  # as the CLI states it (None: it states none)
    model: str | None = None
    scope: Literal["step", "session"] = "step"  # session: the CLI's own totals for one session


@dataclass(frozen=True)
class TraceEvent:
    """One event of trace.jsonl. ``call``, ``result_of`` and ``usage`` are what a scaffold's
    parser knows beyond the text: `ptb.trajectory` builds trajectory.json (steps, tool calls and
    their results, tokens, cost) from them."""

    t: float  # epoch seconds
    kind: str  # one of EVENT_KINDS
    text: str
    call: ToolCall | None = None  # kind tool: the agent called a tool
    result_of: str | None = None  # kind tool: the result of the call with this id
    usage: Usage | None = None  # kind usage


TraceParser = Callable[[Iterable[LogLine]], Iterable[TraceEvent]]


def trace_parser(name: str) -> Callable[[TraceParser], TraceParser]:
    """Register a parser of an agent's solve.log lines under a ``trace_format`` name."""
    return registry.register("trace_parser", name)


def trace_formats() -> list[str]:
    return registry.names("trace_parser")


def get_trace_parser(name: str) -> TraceParser:
    return registry.load("trace_parser", name)


def parse_log_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


def read_solve_log(path: str | os.PathLike) -> Iterator[LogLine]:
    """The lines of a solve.log; a line without the ``<time> <stream>`` prefix continues the last."""
    last_t, last_stream = 0.0, "stdout"
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            parts = raw.split(" ", 2)
            if len(parts) >= 2:
                try:
                    last_t, last_stream = parse_log_time(parts[0]), parts[1]
                    yield LogLine(last_t, last_stream, parts[2] if len(parts) == 3 else "")
                    continue
                except ValueError:
                    pass
            yield LogLine(last_t, last_stream, raw)


def parse_trace(solve_log: str | os.PathLike, trace_format: str) -> list[TraceEvent]:
    parser = get_trace_parser(trace_format)
    if not Path(solve_log).exists():
        return []
    lines = list(read_solve_log(solve_log))
    events = [TraceEvent(line.t, "harness", line.text) for line in lines if line.stream == "ptb"]
    agent_lines = [line for line in lines if line.stream != "ptb"]
    try:
        events += list(parser(agent_lines))
    except Exception as exc:  # the agent's output is hostile input: a parser bug must not lose it
        when = agent_lines[0].t if agent_lines else 0.0
        note = f"trace format {trace_format!r} failed ({type(exc).__name__}: {exc}); the agent's lines are kept as plain text"
        events += [TraceEvent(when, "harness", note), *_plain(agent_lines)]
    return sorted(events, key=lambda event: event.t)  # stable: same-time events keep their order


def write_trace(solve_log: str | os.PathLike, out_path: str | os.PathLike, trace_format: str) -> int:
    """Write trace.jsonl (atomically); returns the number of events."""
    events = parse_trace(solve_log, trace_format)
    write_events(out_path, events)
    return len(events)


def write_events(out_path: str | os.PathLike, events: Iterable[TraceEvent]) -> None:
    """trace.jsonl: one event per line; fields that are empty are left out."""
    lines = []
    for event in events:
        record = {k: v for k, v in to_jsonable(event).items() if v is not None}
        lines.append(json.dumps(record) + "\n")
    write_text_atomic(out_path, "".join(lines))


def read_events(path: str | os.PathLike) -> list[TraceEvent]:
    """trace.jsonl back as events (what the judge and the trajectory read)."""
    from ptb.io import from_jsonable

    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                events.append(from_jsonable(TraceEvent, json.loads(line)))
    return events


def json_lines(lines: Iterable[LogLine]) -> Iterator[tuple[LogLine, dict[str, Any] | None]]:
    """Each stdout line with its JSON object, or None: a stderr line, or a stdout line that is
    not one JSON object (a CLI's banner, a crash trace). Scaffold parsers start from this."""
    for line in lines:
        obj: Any = None
        if line.stream == "stdout" and line.text.lstrip().startswith("{"):
            try:
                obj = json.loads(line.text)
            except ValueError:
                obj = None
        yield line, obj if isinstance(obj, dict) else None


def unparsed(line: LogLine) -> TraceEvent:
    """A line a scaffold parser does not understand, kept as it was: stderr is error, else output."""
    return TraceEvent(line.t, "error" if line.stream == "stderr" else "output", line.text)


def call_text(name: str, arguments: Mapping[str, Any]) -> str:
    """A tool call as one readable line: the shell command itself where there is one."""
    for key in ("command", "cmd"):
        value = arguments.get(key)
        if isinstance(value, str):
            return f"{name}: {value}"
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return f"{name}: {' '.join(value)}"
    return f"{name}: {json.dumps(dict(arguments), ensure_ascii=False, default=str)}"


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object from a CLI's output, or an empty one for anything else (hostile input)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int:
    """A token count from a CLI's JSON: hostile or missing values count as 0, never crash."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@trace_parser("plain")
def _plain(lines: Iterable[LogLine]) -> Iterator[TraceEvent]:
    """Scaffolds without structured output: stdout lines are output, stderr lines errors."""
    for line in lines:
        yield TraceEvent(line.t, "error" if line.stream == "stderr" else "output", line.text)
