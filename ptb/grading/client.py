"""The sandbox's side of the grading service: standard library only (it runs in the agent's Python).

    client = GradingClient(os.environ["PTB_GRADING_SOCKET"])
    items = client.items()                        # [{"id": "test-0", "input": "<prompt>"}, ...]
    reply = client.grade([("test-0", "3 + 4 = 7. The answer is 7.")])
    reply["results"]                              # [{"id": "test-0", "correct": true}]

The protocol (one JSON object per line, each request answered by one line, on a Unix socket):

    {"op": "items"}                                  -> {"ok": true, "task": ..., "items": [{"id", "input"}]}
    {"op": "grade", "answers": [{"id", "output"}]}   -> {"ok": true, "results": [{"id", "correct"}],
                                                         "correct": k, "graded": n, "limited": m}
    anything wrong                                   -> {"ok": false, "error": "..."}

``correct`` is true or false; null with ``"limited": true`` when the item has been graded on too
many different outputs this run (each distinct output of an item counts once; see the service).
Nothing in a reply is the target or derived from it beyond correct or not.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from typing import Any

SOCKET_ENV = "PTB_GRADING_SOCKET"  # where the sandbox finds the service's socket
MAX_LINE_BYTES = 64 * 1024 * 1024


_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes


def _connect(sock: socket.socket, path: str) -> None:
    """Connect, through /proc/self/fd when the path is longer than a socket address holds (a
    run's scratch folder deep in a results tree), as the service binds it."""
    if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
        sock.connect(path)
        return
    folder, name = os.path.split(path)
    fd = os.open(folder or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


class GradingError(RuntimeError):
    """The service refused a request or could not be reached."""


class GradingClient:
    def __init__(self, socket_path: str, timeout_s: float = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        data = (json.dumps(message) + "\n").encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                _connect(sock, self.socket_path)
                sock.sendall(data)
                with sock.makefile("rb") as stream:
                    line = stream.readline(MAX_LINE_BYTES)
        except OSError as exc:
            raise GradingError(f"the grading service at {self.socket_path} cannot be reached: {exc}") from exc
        if not line.endswith(b"\n"):
            raise GradingError("the grading service closed the connection without a full answer")
        reply = json.loads(line)
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise GradingError(f"the grading service refused the request: {reply.get('error') if isinstance(reply, dict) else reply}")
        return reply

    def items(self) -> list[dict[str, str]]:
        return list(self.request({"op": "items"})["items"])

    def task(self) -> str:
        return str(self.request({"op": "items"})["task"])

    def grade(self, answers: Iterable[tuple[str, str]]) -> dict[str, Any]:
        return self.request({"op": "grade", "answers": [{"id": i, "output": o} for i, o in answers]})
