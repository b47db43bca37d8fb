"""A scripted judge model: an OpenAI-compatible chat-completions server on 127.0.0.1 for the
LLM-judge tests (no network, no real model).

    def script(n: int, messages: list[dict]) -> str | Fail:    # n: 1 for the first request
        return Fail(500) if n == 1 else json.dumps(answer)

    with ScriptedJudgeModel(script) as server:                  # http://127.0.0.1:<port>/v1
        options = {"model": server.model, "base_url": server.base_url, "api_key_env": "PTB_TEST_JUDGE_KEY"}
        ...
        server.requests                                          # every request body, in order

inspect-ai reaches it through its ``openai-api`` provider with ``base_url`` (what a user does
with any OpenAI-compatible endpoint). A scripted `Fail` answers that HTTP status (500, 429, 503)
with an OpenAI-style error body, so the judge's handling of API failures is tested against what
the OpenAI client really raises. Usage counts words (prompt = every message's words, completion =
the reply's), so token figures are deterministic without a tokenizer. The Authorization header
of each request is kept (``server.keys``) so a test can check which key the judge sent.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE = "judge"
MODEL = "scripted-judge"


@dataclass(frozen=True)
class Fail:
    """Answer this HTTP status instead of a completion."""

    status: int
    message: str = "scripted failure"


Script = Callable[[int, list[dict[str, Any]]], "str | Fail"]


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


class ScriptedJudgeModel:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.keys: list[str] = []  # the bearer token of each request
        self.errors: list[str] = []  # a script that raised (answered 400, never retried)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-judge", daemon=True)
        self._saved: dict[str, str | None] = {}
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self.model = f"openai-api/{SERVICE}/{MODEL}"

    def __enter__(self) -> ScriptedJudgeModel:  # noqa: PYI034
        self._thread.start()
        for var in ("NO_PROXY", "no_proxy"):  # the OpenAI client honours HTTP(S)_PROXY
            self._saved[var] = os.environ.get(var)
            os.environ[var] = ",".join(h for h in (os.environ.get(var) or "", "127.0.0.1", "localhost") if h)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        for var, value in self._saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value

    def _answer(self, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 400, _error(400, "no 'messages' list")
        with self._lock:
            self.requests.append(body)
            self.keys.append(key)
            number = len(self.requests)
        try:
            answer = self.script(number, messages)
        except Exception as exc:  # noqa: BLE001 (a broken script: 400, which no client retries)
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return 400, _error(400, f"script failed: {exc}")
        if isinstance(answer, Fail):
            return answer.status, _error(answer.status, answer.message)
        prompt = sum(len(text_of(m).split()) for m in messages if isinstance(m, dict))
        completion = len(answer.split())
        return 200, {
            "id": f"judge-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, _error(404, f"no route POST {self.path}"))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, _error(400, "the body is not JSON"))
                    return
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                self._send(*server._answer(body if isinstance(body, dict) else {}, key))

        return Handler


def _error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "code": status}}
