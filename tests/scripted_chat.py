"""One stand-in OpenAI-compatible chat server for the offline tests of everything that calls an
LLM through inspect-ai: the LLM graders of the LLM-graded tasks and the LLM judges.

The real endpoints (gpt-5-mini or any OpenAI-compatible service) are unreachable in tests. This
serves ``POST /v1/chat/completions`` (non-streaming, one choice) on 127.0.0.1 from a thread of
the test process; each answer is what the test's script computes from the request number (1 for
the first) and its OpenAI-style messages:

    def script(n: int, messages: list[dict]) -> str | Fail:
        return Fail(500) if n == 1 else json.dumps(answer)

    with ScriptedJudgeModel(script) as server:          # an LLM judge: http://127.0.0.1:<port>/v1
        options = {"model": server.model, "base_url": server.base_url, ...}
    with ScriptedGrader(lambda messages: "[[B>A]]") as grader:    # a task's grader
        task = compose_task("healthbench", grader.overrides())
    server.requests, server.keys, server.errors          # bodies, bearer tokens, script failures

inspect reaches it through its ``openai-api`` provider with ``base_url`` (what a user does with
any OpenAI-compatible endpoint), so that path is tested too; Ray workers on this machine reach
it as well (plain HTTP). A scripted `Fail` answers that HTTP status (500, 429, 503) with an
OpenAI-style error body, so callers are tested against what the OpenAI client really raises. A
script that raises is answered 400 (which the client does not retry) and kept in ``errors``, so a
broken script fails its test instead of hanging in retries. Usage counts words (prompt = every
message's words, completion = the answer's): deterministic token figures without a tokenizer.
``GET /health`` and ``GET /v1/models`` answer as a real server's would.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


@dataclass(frozen=True)
class Fail:
    """Answer this HTTP status instead of a completion."""

    status: int
    message: str = "scripted failure"


Script = Callable[[int, list[dict[str, Any]]], "str | Fail"]
Reply = Callable[[list[dict[str, Any]]], str]
ChatServer = TypeVar("ChatServer", bound="ScriptedChat")


def message_text(message: dict[str, Any]) -> str:
    """The text of an OpenAI-style message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


text_of = message_text


class ScriptedChat:
    """An OpenAI-compatible chat server whose answers come from `script` (a context manager);
    inspect's model name for it is ``openai-api/<service>/<model_id>``."""

    def __init__(self, script: Script, *, service: str = "scripted", model_id: str = "scripted", host: str = "127.0.0.1") -> None:
        self.script = script
        self.model_id = model_id
        self.model = f"openai-api/{service}/{model_id}"
        self.requests: list[dict[str, Any]] = []  # request bodies, in arrival order
        self.keys: list[str] = []  # the bearer token of each request
        self.errors: list[str] = []  # exceptions raised by the script
        self._lock = threading.Lock()
        self._host = host
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"scripted-{service}", daemon=True)
        self._saved_no_proxy: dict[str, str | None] = {}
        self.base_url = f"http://{host}:{self._server.server_address[1]}/v1"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self: ChatServer) -> ChatServer:
        self._thread.start()
        # The OpenAI client honours HTTP(S)_PROXY; the server on 127.0.0.1 must be reached directly.
        for var in ("NO_PROXY", "no_proxy"):
            self._saved_no_proxy[var] = os.environ.get(var)
            hosts = [h for h in (os.environ.get(var) or "").split(",") if h]
            os.environ[var] = ",".join(dict.fromkeys([*hosts, self._host, "localhost"]))
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        for var, value in self._saved_no_proxy.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value

    # ------------------------------------------------------------------ serving

    def _answer(self, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 400, _error(400, "the request has no 'messages' list")
        with self._lock:
            self.requests.append(body)
            self.keys.append(key)
            number = len(self.requests)
        try:
            answer = self.script(number, messages)
            if not isinstance(answer, str | Fail):
                raise TypeError(f"the script returned {type(answer).__name__}, expected str or Fail")
        except Exception as exc:  # noqa: BLE001 (the script is broken: report it, no client retries)
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return 400, _error(400, f"scripted reply failed: {type(exc).__name__}: {exc}")
        if isinstance(answer, Fail):
            return answer.status, _error(answer.status, answer.message)
        prompt_words = sum(len(message_text(m).split()) for m in messages if isinstance(m, dict))
        completion_words = len(answer.split())
        return 200, {
            "id": f"scripted-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model_id),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests assert on .requests
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path == "/health":
                    self._send(200, {"status": "ok"})
                elif path == "/v1/models":
                    card = {"id": server.model_id, "object": "model", "created": 0, "owned_by": "ptb-tests"}
                    self._send(200, {"object": "list", "data": [card]})
                else:
                    self._send(404, _error(404, f"no route GET {self.path}"))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, _error(404, f"no route POST {self.path}"))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError as exc:
                    self._send(400, _error(400, f"the request body is not JSON: {exc}"))
                    return
                if not isinstance(body, dict):
                    self._send(400, _error(400, "the request body must be a JSON object"))
                    return
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                self._send(*server._answer(body, key))

        return Handler


class ScriptedGrader(ScriptedChat):
    """A task's LLM grader: `reply` computes each answer from the request's messages."""

    def __init__(self, reply: Reply, *, host: str = "127.0.0.1") -> None:
        super().__init__(lambda _n, messages: reply(messages), service="grader", model_id="scripted", host=host)

    def overrides(self) -> list[str]:
        """Hydra overrides that make a run's LLM grader this server."""
        return [f"grader.model={self.model}", f"grader.base_url={self.base_url}"]


class ScriptedJudgeModel(ScriptedChat):
    """An LLM judge's model: `script` gets the request number and its messages."""

    def __init__(self, script: Script) -> None:
        super().__init__(script, service="judge", model_id="scripted-judge")


def _error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "code": status}}
