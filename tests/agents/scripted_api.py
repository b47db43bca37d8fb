"""A scripted stand-in for the four vendor APIs the agent CLIs talk to (stdlib only).

One threaded HTTP server on 127.0.0.1 answers all four wire APIs at once:

==========================  ==============================================================  ==================
wire API                    endpoints                                                       CLI
==========================  ==============================================================  ==================
Anthropic Messages (SSE)    ``POST /v1/messages`` (``?beta=true`` allowed), ``HEAD /``,      Claude Code
                            ``POST /v1/messages/count_tokens``
OpenAI Responses (SSE)      ``POST /v1/responses``                                          Codex CLI
Gemini                      ``POST /v1beta/models/<m>:streamGenerateContent?alt=sse``,      Gemini CLI
                            ``:generateContent``, ``:countTokens``
OpenAI Chat Completions     ``POST /v1/chat/completions``                                   OpenCode
==========================  ==============================================================  ==================

The script
----------
A script is a list of turns, played in order, one turn per *real* model request: a request
that offers tools (``body["tools"]`` non-empty). Every other request -- Claude Code's
``HEAD /``, a count_tokens call, OpenCode's title request, Gemini CLI's router or
next-speaker check, a GET of a model list -- is a *side call*: it gets a short harmless answer
(``side_text``; for a Gemini request asking for JSON, an object built from its response schema)
and does not consume a turn. A real request after the script is exhausted gets
``FinalText("done")``.

* ``ShellCall(command)`` -- the model calls the CLI's own shell tool with ``command``. The tool
  is picked from the tools the request offers (``Bash``, ``exec_command``, ``shell_command``,
  ``shell``, ``run_shell_command``, ``bash``, else any tool with a ``command``/``cmd``
  parameter), and its arguments are built from that tool's JSON schema: the command goes into
  ``cmd`` or ``command`` (as ``["bash", "-lc", command]`` where the schema wants an array), and
  any other *required* parameter gets a filler value (``description`` -> ``"scripted shell
  call"``).
* ``ShellCall(command, until=MARKER, times=N)`` -- the same call again (``# poll 2``, ... appended),
  up to N times, until a request carries MARKER (the command's output once what it waits for
  happened): polling.
* ``FinalText(text)`` -- the model answers with text and ends its turn.
* ``Fail(status, message="", body=None, headers={}, times=1)`` -- the request is answered with
  HTTP ``status`` and the vendor's own error JSON (``body`` replaces it verbatim when given),
  for ``times`` real requests in a row (``None`` = every real request from then on, e.g. a
  revoked key). Side calls are not failed.

Each turn carries ``usage=Usage(input, cached_input, output, reasoning)``. The numbers are
sent *verbatim* in each vendor's own fields, never recomputed, so a test can find them again
in the CLI's output: Anthropic ``input_tokens`` / ``cache_read_input_tokens`` /
``output_tokens``; Responses ``input_tokens`` / ``input_tokens_details.cached_tokens`` /
``output_tokens`` / ``output_tokens_details.reasoning_tokens``; Gemini ``promptTokenCount`` /
``cachedContentTokenCount`` / ``candidatesTokenCount`` / ``thoughtsTokenCount``; Chat
``prompt_tokens`` / ``prompt_tokens_details.cached_tokens`` / ``completion_tokens`` /
``completion_tokens_details.reasoning_tokens``. Only the totals are derived (input + output).
Side calls report ``side_usage`` (zeros by default), so they do not disturb the totals.

As JSON (``load_script`` / ``dump_script``, and the command line below)::

    [{"shell": "echo hello > f.txt", "usage": {"input": 1200, "cached_input": 800, "output": 30}},
     {"text": "All done."},
     {"fail": 429, "message": "slow down", "times": null}]

Recording
---------
``server.requests`` is the list of every request received (``RecordedRequest``): time,
method, the raw request target (absolute-form ``http://host:port/...`` when a proxy forwarded
it that way), path and query, the header *names*, the auth header values separately
(``auth``: ``x-api-key`` / ``authorization`` / ``x-goog-api-key`` / ``api-key``), the Host
header, the user agent, the parsed JSON body, which wire API it was, and the script turn it
consumed (``None`` for a side call).

Use::

    with ScriptedAPI([ShellCall("echo hi > a.txt"), FinalText("done")]) as api:
        env["ANTHROPIC_BASE_URL"] = api.base_url          # http://127.0.0.1:<port>
        ...
        assert api.real_requests()[0].auth == {"x-api-key": "sk-test-KEY"}

``TunnelProxy(api)`` is a tiny HTTP forward proxy for testing whether a CLI honours
``HTTP(S)_PROXY``: it accepts both ``CONNECT host:port`` tunnels and absolute-form requests,
sends every byte to the scripted server whatever host was asked for, and records each
connection (``proxy.connections``: ``("CONNECT", "host:port")`` or ``("FORWARD", "http://...")``).

From the command line (e.g. inside a sandbox): ``python tests/agents/scripted_api.py --script
FILE.json --port N`` prints ``port=<port>`` on stdout, then serves until killed, logging one
JSON line per request on stderr.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import select
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Fail",
    "FinalText",
    "RecordedRequest",
    "ScriptedAPI",
    "ShellCall",
    "TunnelProxy",
    "Turn",
    "Usage",
    "dump_script",
    "load_script",
]


# ---------------------------------------------------------------------------------------------
# the script


@dataclass(frozen=True)
class Usage:
    """Token numbers one reply reports, sent verbatim in the vendor's fields (see module doc)."""

    input: int = 100
    cached_input: int = 0
    output: int = 10
    reasoning: int = 0


@dataclass(frozen=True)
class ShellCall:
    """The model runs ``command`` through the CLI's own shell tool.

    With ``until``, the same call is made again, up to ``times`` real requests, until a request
    carries the text ``until`` (the command's output once the awaited thing happened; the
    tool result comes back in the next request): the way a model polls a job it started in the
    background. Build the marker so the command's own text does not contain it, since the call
    itself is in the conversation too: ``printf '%s%s\\n' DONE 42`` prints the marker ``DONE42``
    (not ``$((...))``: Gemini CLI refuses any command substitution). The second and later calls
    end in a comment ``# poll N``: a CLI may stop a session that repeats one call verbatim
    (Gemini CLI's loop detection does after 5)."""

    command: str
    usage: Usage = Usage()
    until: str | None = None
    times: int = 1


@dataclass(frozen=True)
class FinalText:
    """The model answers ``text`` and ends its turn."""

    text: str
    usage: Usage = Usage()


@dataclass(frozen=True)
class Fail:
    """Answer HTTP ``status`` with the vendor's error JSON, for ``times`` real requests (None = all)."""

    status: int
    message: str = ""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1


Turn = ShellCall | FinalText | Fail
Api = Literal["anthropic", "responses", "gemini", "chat", "other"]

SIDE_TEXT = "Scripted session"
EXHAUSTED = FinalText("done")


def load_script(data: Sequence[dict[str, Any]]) -> list[Turn]:
    """Turns from their JSON form (see the module docstring)."""
    turns: list[Turn] = []
    for i, entry in enumerate(data):
        usage = Usage(**entry.get("usage", {}))
        if "shell" in entry:
            until = entry.get("until")
            turns.append(ShellCall(str(entry["shell"]), usage, None if until is None else str(until), int(entry.get("times", 1))))
        elif "text" in entry:
            turns.append(FinalText(str(entry["text"]), usage))
        elif "fail" in entry:
            turns.append(
                Fail(int(entry["fail"]), str(entry.get("message", "")), entry.get("body"),
                     dict(entry.get("headers", {})), entry.get("times", 1))
            )
        else:
            raise ValueError(f"script turn {i}: expected one of 'shell', 'text', 'fail': {entry!r}")
    return turns


def dump_script(turns: Iterable[Turn]) -> list[dict[str, Any]]:
    """The JSON form of turns (the inverse of load_script)."""
    out: list[dict[str, Any]] = []
    for turn in turns:
        if isinstance(turn, ShellCall):
            shell: dict[str, Any] = {"shell": turn.command, "usage": asdict(turn.usage)}
            if turn.until is not None:
                shell.update(until=turn.until, times=turn.times)
            out.append(shell)
        elif isinstance(turn, FinalText):
            out.append({"text": turn.text, "usage": asdict(turn.usage)})
        else:
            out.append({"fail": turn.status, "message": turn.message, "body": turn.body,
                        "headers": turn.headers, "times": turn.times})
    return out


# ---------------------------------------------------------------------------------------------
# recording


AUTH_HEADERS = ("x-api-key", "authorization", "x-goog-api-key", "api-key")


@dataclass
class RecordedRequest:
    time: float
    method: str
    target: str  # the raw request target: origin-form "/v1/..." or absolute-form "http://host/v1/..."
    path: str
    query: dict[str, list[str]]
    header_names: list[str]  # lower-cased, in arrival order
    auth: dict[str, str]  # the auth headers that arrived, name -> value
    host: str | None
    user_agent: str | None
    body: Any  # parsed JSON, or None
    body_bytes: int
    api: Api = "other"
    turn: int | None = None  # index of the script turn it consumed; None = side call
    status: int = 200

    @property
    def absolute_form(self) -> bool:
        return self.target.startswith(("http://", "https://"))

    def summary(self) -> dict[str, Any]:
        """A one-line-able view for logs (no body, no auth values)."""
        return {"time": round(self.time, 3), "method": self.method, "target": self.target, "api": self.api,
                "turn": self.turn, "status": self.status, "auth": sorted(self.auth), "host": self.host,
                "user_agent": self.user_agent, "body_bytes": self.body_bytes}


# ---------------------------------------------------------------------------------------------
# tool choice and arguments


SHELL_TOOL_NAMES = ("Bash", "exec_command", "shell_command", "shell", "run_shell_command", "bash")
DEFAULT_SHELL_TOOL: dict[str, tuple[str, dict[str, Any]]] = {
    "anthropic": ("Bash", {"type": "object", "properties": {"command": {"type": "string"}}}),
    "responses": ("exec_command", {"type": "object", "properties": {"cmd": {"type": "string"}}}),
    "gemini": ("run_shell_command", {"type": "object", "properties": {"command": {"type": "string"}}}),
    "chat": ("bash", {"type": "object", "properties": {"command": {"type": "string"}}}),
}


def offered_tools(api: Api, body: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, JSON schema of its parameters) of each function tool a request offers."""
    if not isinstance(body, dict):
        return []
    tools = body.get("tools") or []
    out: list[tuple[str, dict[str, Any]]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        if api == "gemini":
            for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
                schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {}
                out.append((str(decl.get("name")), schema))
        elif api == "chat":
            fn = tool.get("function") or {}
            out.append((str(fn.get("name")), fn.get("parameters") or {}))
        elif api == "responses":
            if tool.get("type", "function") == "function":
                out.append((str(tool.get("name")), tool.get("parameters") or {}))
        else:  # anthropic
            if "name" in tool:
                out.append((str(tool["name"]), tool.get("input_schema") or {}))
    return out


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    return props if isinstance(props, dict) else {}


def pick_shell_tool(api: Api, body: Any) -> tuple[str, dict[str, Any]]:
    tools = offered_tools(api, body)
    by_name = dict(tools)
    for name in SHELL_TOOL_NAMES:
        if name in by_name:
            return name, by_name[name]
    for name, schema in tools:
        if {"command", "cmd"} & set(_props(schema)):
            return name, schema
    return DEFAULT_SHELL_TOOL[api]


def _type_of(prop: Any) -> str:
    t = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return str(t or "string").lower()  # Gemini writes STRING / ARRAY


def shell_arguments(schema: dict[str, Any], command: str) -> dict[str, Any]:
    """The tool's arguments for running ``command``, shaped by its parameter schema."""
    props = _props(schema)
    key = "cmd" if "cmd" in props else "command"
    args: dict[str, Any] = {key: ["bash", "-lc", command] if _type_of(props.get(key)) == "array" else command}
    for name in schema.get("required") or []:
        if name in args:
            continue
        kind = _type_of(props.get(name))
        if kind == "string":
            args[name] = "scripted shell call"
        elif kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = False
        elif kind == "array":
            args[name] = []
        else:
            args[name] = {}
    return args


def sample_from_schema(schema: Any) -> Any:
    """A value matching a JSON schema (for side calls that ask for structured JSON)."""
    if not isinstance(schema, dict):
        return "ok"
    if schema.get("enum"):
        values = list(schema["enum"])
        return "user" if "user" in values else values[0]  # the next-speaker check: hand back to the user
    kind = _type_of(schema)
    if kind == "object":
        props = _props(schema)
        return {name: sample_from_schema(props[name]) for name in props}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    return "ok"


# ---------------------------------------------------------------------------------------------
# the vendors' shapes


_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_scripted{next(_ids):06d}"


def _sse(events: Iterable[tuple[str | None, Any]]) -> bytes:
    chunks = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        chunks.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(chunks).encode()


ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 529: "overloaded_error"}
OPENAI_ERRORS = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                 403: ("invalid_request_error", "unsupported_country_region_territory"),
                 404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded"),
                 500: ("server_error", None), 503: ("server_error", None)}
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(api: Api, fail: Fail) -> dict[str, Any]:
    if fail.body is not None:
        return fail.body
    message = fail.message or f"scripted failure {fail.status}"
    if api == "anthropic":
        return {"type": "error", "error": {"type": ANTHROPIC_ERRORS.get(fail.status, "api_error"), "message": message}}
    if api == "gemini":
        return {"error": {"code": fail.status, "message": message,
                          "status": GOOGLE_STATUS.get(fail.status, "UNKNOWN")}}
    kind, code = OPENAI_ERRORS.get(fail.status, ("api_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class Reply:
    """What to send back: status, headers, body bytes."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(data).encode(), "application/json", headers)

    @classmethod
    def sse(cls, events: Iterable[tuple[str | None, Any]]) -> Reply:
        return cls(200, _sse(events), "text/event-stream", {"Cache-Control": "no-cache"})


def anthropic_reply(body: dict[str, Any], turn: ShellCall | FinalText, usage: Usage) -> Reply:
    model = str(body.get("model") or "claude-scripted")
    msg_id = _id("msg")
    if isinstance(turn, ShellCall):
        name, schema = pick_shell_tool("anthropic", body)
        args = shell_arguments(schema, turn.command)
        block: dict[str, Any] = {"type": "tool_use", "id": _id("toolu"), "name": name, "input": {}}
        delta: dict[str, Any] = {"type": "input_json_delta", "partial_json": json.dumps(args)}
        final_block: dict[str, Any] = {**block, "input": args}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": turn.text}
        final_block = {"type": "text", "text": turn.text}
        stop = "end_turn"
    full_usage = {"input_tokens": usage.input, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": usage.cached_input, "output_tokens": usage.output}
    if not body.get("stream"):
        return Reply.json({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                           "content": [final_block], "stop_reason": stop, "stop_sequence": None, "usage": full_usage})
    start_usage = {**full_usage, "output_tokens": 1}
    return Reply.sse([
        ("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": full_usage}),
        ("message_stop", {"type": "message_stop"}),
    ])


def responses_reply(body: dict[str, Any], turn: ShellCall | FinalText, usage: Usage) -> Reply:
    model = str(body.get("model") or "gpt-scripted")
    resp_id = _id("resp")
    base = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": model,
            "status": "in_progress", "output": [], "usage": None, "error": None, "incomplete_details": None}
    if isinstance(turn, ShellCall):
        name, schema = pick_shell_tool("responses", body)
        args = json.dumps(shell_arguments(schema, turn.command))
        item: dict[str, Any] = {"type": "function_call", "id": _id("fc"), "call_id": _id("call"), "name": name,
                                "arguments": args, "status": "completed"}
        middle = [
            ("response.function_call_arguments.delta", {"type": "response.function_call_arguments.delta",
                                                        "item_id": item["id"], "output_index": 0, "delta": args}),
            ("response.function_call_arguments.done", {"type": "response.function_call_arguments.done",
                                                       "item_id": item["id"], "output_index": 0, "arguments": args}),
        ]
        added = {**item, "arguments": "", "status": "in_progress"}
    else:
        part = {"type": "output_text", "text": turn.text, "annotations": []}
        item = {"type": "message", "id": _id("msg"), "role": "assistant", "status": "completed", "content": [part]}
        ref = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        middle = [
            ("response.content_part.added", {"type": "response.content_part.added", **ref,
                                             "part": {**part, "text": ""}}),
            ("response.output_text.delta", {"type": "response.output_text.delta", **ref, "delta": turn.text}),
            ("response.output_text.done", {"type": "response.output_text.done", **ref, "text": turn.text}),
            ("response.content_part.done", {"type": "response.content_part.done", **ref, "part": part}),
        ]
        added = {**item, "content": [], "status": "in_progress"}
    usage_json = {"input_tokens": usage.input, "input_tokens_details": {"cached_tokens": usage.cached_input},
                  "output_tokens": usage.output, "output_tokens_details": {"reasoning_tokens": usage.reasoning},
                  "total_tokens": usage.input + usage.output}
    done = {**base, "status": "completed", "output": [item], "usage": usage_json}
    if not body.get("stream"):
        return Reply.json(done)
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "response": base}),
        ("response.in_progress", {"type": "response.in_progress", "response": base}),
        ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": added}),
        *middle,
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        ("response.completed", {"type": "response.completed", "response": done}),
    ]
    for seq, (_, data) in enumerate(events):
        data["sequence_number"] = seq
    return Reply.sse(events)


def gemini_reply(body: dict[str, Any], turn: ShellCall | FinalText, usage: Usage, model: str,
                 method: str, sse: bool) -> Reply:
    if isinstance(turn, ShellCall):
        name, schema = pick_shell_tool("gemini", body)
        part: dict[str, Any] = {"functionCall": {"name": name, "args": shell_arguments(schema, turn.command)}}
    else:
        part = {"text": turn.text}
    usage_json = {"promptTokenCount": usage.input, "candidatesTokenCount": usage.output,
                  "cachedContentTokenCount": usage.cached_input, "thoughtsTokenCount": usage.reasoning,
                  "totalTokenCount": usage.input + usage.output + usage.reasoning}
    resp = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage_json, "modelVersion": model, "responseId": _id("gem")}
    if method == "streamGenerateContent":
        return Reply.sse([(None, resp)]) if sse else Reply.json([resp])
    return Reply.json(resp)


def chat_reply(body: dict[str, Any], turn: ShellCall | FinalText, usage: Usage) -> Reply:
    model = str(body.get("model") or "chat-scripted")
    base = {"id": _id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    if isinstance(turn, ShellCall):
        name, schema = pick_shell_tool("chat", body)
        call = {"index": 0, "id": _id("call"), "type": "function",
                "function": {"name": name, "arguments": json.dumps(shell_arguments(schema, turn.command))}}
        delta: dict[str, Any] = {"tool_calls": [call]}
        message: dict[str, Any] = {"role": "assistant", "content": None,
                                   "tool_calls": [{k: v for k, v in call.items() if k != "index"}]}
        finish = "tool_calls"
    else:
        delta = {"content": turn.text}
        message = {"role": "assistant", "content": turn.text}
        finish = "stop"
    usage_json = {"prompt_tokens": usage.input, "completion_tokens": usage.output,
                  "total_tokens": usage.input + usage.output,
                  "prompt_tokens_details": {"cached_tokens": usage.cached_input},
                  "completion_tokens_details": {"reasoning_tokens": usage.reasoning}}
    if not body.get("stream"):
        return Reply.json({**base, "object": "chat.completion", "usage": usage_json,
                           "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
    return Reply.sse([
        (None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}),
        (None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
        (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        (None, {**base, "choices": [], "usage": usage_json}),
        (None, "[DONE]"),
    ])


# ---------------------------------------------------------------------------------------------
# the server


def classify(path: str) -> Api:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/responses"):
        return "responses"
    if path.startswith("/v1beta/models/") or (path.startswith("/v1/models/") and ":" in path):
        return "gemini"
    if path.startswith("/v1/chat/completions"):
        return "chat"
    return "other"


def _decode_body(raw: bytes, encoding: str | None) -> Any:
    try:
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        return json.loads(raw) if raw else None
    except (ValueError, OSError, zlib.error):
        return None


class ScriptedAPI:
    """The scripted server; a context manager. See the module docstring."""

    def __init__(self, script: Sequence[Turn] = (), *, side_text: str = SIDE_TEXT, side_usage: Usage = Usage(0, 0, 0),
                 host: str = "127.0.0.1", port: int = 0, log: Any = None):
        self.side_text, self.side_usage = side_text, side_usage
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._log = log  # a text stream: one JSON summary line per request
        self.set_script(script)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- the script -----------------------------------------------------------------------------

    def set_script(self, script: Sequence[Turn]) -> None:
        """Replace the script and start it from its first turn (the request log is kept)."""
        with self._lock:
            self.script: list[Turn] = list(script)
            self._cursor = 0
            self._fail_count = 0
            self._repeats = 0  # calls made so far of the current polling ShellCall

    @property
    def turns_played(self) -> int:
        return self._cursor

    def _next_turn(self, request_text: str) -> tuple[int | None, Turn]:
        """The turn for a real request, advancing the script (under the lock)."""
        while True:
            if self._cursor >= len(self.script):
                return None, EXHAUSTED
            index, turn = self._cursor, self.script[self._cursor]
            if isinstance(turn, ShellCall) and turn.until is not None and self._repeats and turn.until in request_text:
                self._cursor, self._repeats = self._cursor + 1, 0  # what it polled for happened
                continue
            break
        if isinstance(turn, ShellCall) and turn.until is not None:
            self._repeats += 1
            polled = turn if self._repeats == 1 else replace(turn, command=f"{turn.command}  # poll {self._repeats}")
            if self._repeats >= turn.times:
                self._cursor, self._repeats = self._cursor + 1, 0
            return index, polled
        elif isinstance(turn, Fail):
            self._fail_count += 1
            if turn.times is not None and self._fail_count >= turn.times:
                self._cursor, self._fail_count = self._cursor + 1, 0
        else:
            self._cursor += 1
        return index, turn

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedAPI:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="scripted-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- queries --------------------------------------------------------------------------------

    def real_requests(self, api: Api | None = None) -> list[RecordedRequest]:
        """Requests that consumed a script turn (optionally of one wire API)."""
        return [r for r in list(self.requests) if r.turn is not None and (api is None or r.api == api)]

    def side_requests(self) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.turn is None]

    # -- answering ------------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        """Record one request and build its reply (the HTTP handler calls this; tests may too)."""
        url = urlsplit(target)
        path, query = url.path or "/", parse_qs(url.query)
        names = list(headers)
        body = _decode_body(raw, headers.get("content-encoding"))
        api = classify(path) if method == "POST" else "other"
        rec = RecordedRequest(
            time=time.time(), method=method, target=target, path=path, query=query, header_names=names,
            auth={k: headers[k] for k in AUTH_HEADERS if k in headers}, host=headers.get("host"),
            user_agent=headers.get("user-agent"), body=body, body_bytes=len(raw), api=api,
        )
        reply = self._build(rec)
        rec.status = reply.status
        with self._lock:
            self.requests.append(rec)
        if self._log is not None:
            print(json.dumps(rec.summary()), file=self._log, flush=True)
        return reply

    def _is_real(self, rec: RecordedRequest) -> bool:
        if rec.api == "other" or not isinstance(rec.body, dict):
            return False
        if rec.api == "anthropic" and rec.path.rstrip("/") != "/v1/messages":
            return False  # count_tokens and friends
        if rec.api == "gemini" and not rec.path.endswith(("generateContent", "GenerateContent")):
            return False  # countTokens, embedContent
        return bool(offered_tools(rec.api, rec.body))

    def _build(self, rec: RecordedRequest) -> Reply:
        if rec.api == "other":
            return Reply.json({}) if rec.method != "HEAD" else Reply(200, b"", "text/plain")
        body: dict[str, Any] = rec.body if isinstance(rec.body, dict) else {}
        if rec.api == "anthropic" and rec.path.endswith("/count_tokens"):
            return Reply.json({"input_tokens": self.side_usage.input})
        if rec.api == "gemini" and rec.path.endswith(":countTokens"):
            return Reply.json({"totalTokens": self.side_usage.input})
        turn: Turn
        with self._lock:
            if self._is_real(rec):
                rec.turn, turn = self._next_turn(json.dumps(rec.body))
                if rec.turn is None:
                    rec.turn = len(self.script)  # the "done" after the script: still a real request
            else:
                turn = FinalText(self.side_text, self.side_usage)
        if isinstance(turn, Fail):
            return Reply.json(error_body(rec.api, turn), turn.status, turn.headers)
        usage = turn.usage
        if rec.api == "anthropic":
            return anthropic_reply(body, turn, usage)
        if rec.api == "responses":
            return responses_reply(body, turn, usage)
        if rec.api == "chat":
            return chat_reply(body, turn, usage)
        model, _, method = rec.path.rsplit("/", 1)[-1].partition(":")
        if rec.turn is None:
            gen = body.get("generationConfig") or {}
            schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
            if schema is not None or gen.get("responseMimeType") == "application/json":
                turn = FinalText(json.dumps(sample_from_schema(schema or {"type": "object"})), usage)
        return gemini_reply(body, turn, usage, model, method, sse="sse" in rec.query.get("alt", []))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "ScriptedAPI/1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the log is api.requests
                pass

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                raw = self._read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    reply = api.answer(self.command, self.path, headers, raw)
                except Exception as exc:  # a bug here must not hang the client
                    reply = Reply.json({"error": {"message": f"scripted server error: {exc!r}"}}, 500)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("request-id", _id("req"))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
                self.wfile.flush()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        return Handler


# ---------------------------------------------------------------------------------------------
# a forward proxy that sends everything to the scripted server


class TunnelProxy:
    """An HTTP forward proxy on 127.0.0.1 whose every upstream is the scripted server.

    ``CONNECT host:port`` is answered 200 and then tunnelled; an absolute-form request
    (``POST http://host/...``) is passed on byte for byte (the scripted server understands
    absolute-form targets, and records them as such). ``connections`` lists
    ``(kind, target)`` per client connection, kind ``"CONNECT"`` or ``"FORWARD"``.
    """

    def __init__(self, upstream: ScriptedAPI | tuple[str, int]):
        self.upstream = ("127.0.0.1", upstream.port) if isinstance(upstream, ScriptedAPI) else upstream
        self.connections: list[tuple[str, str]] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        upstream = socket.create_connection(self.upstream)
        try:
            if method.upper() == "CONNECT":
                self.connections.append(("CONNECT", target))
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                leftover = head.split(b"\r\n\r\n", 1)[1]
            else:
                self.connections.append(("FORWARD", target))
                leftover = head
            if leftover:
                upstream.sendall(leftover)
            self._pipe(client, upstream)
        finally:
            upstream.close()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            ready, _, _ = select.select(list(peers), [], [], 60)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)

    def start(self) -> TunnelProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="tunnel-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TunnelProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a scripted stand-in of the agent CLIs' vendor APIs.")
    parser.add_argument("--script", help="a JSON file holding the script (see the module docstring); none = 'done'")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (printed)")
    parser.add_argument("--proxy", action="store_true", help="also start a TunnelProxy in front of it (printed)")
    args = parser.parse_args(argv)
    script = load_script(json.loads(open(args.script).read())) if args.script else []
    api = ScriptedAPI(script, host=args.host, port=args.port, log=sys.stderr).start()
    print(f"port={api.port}", flush=True)
    proxy = TunnelProxy(api).start() if args.proxy else None
    if proxy is not None:
        print(f"proxy_port={proxy.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proxy is not None:
            proxy.stop()
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
