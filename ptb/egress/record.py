"""What the egress proxy writes about each connection: `EgressRecord`, one line of ``egress.jsonl``.

    log = EgressLog(run_dir / "egress.jsonl")          # opened for append, 0600
    log.write(EgressRecord(t=start, end=time.time(), kind="http", host="api.openai.com",
                           port=80, method="POST", path="/v1/chat/completions", status=200,
                           bytes_up=512, bytes_down=4096, allowed=True, error=None))
    log.close()

A record never holds a header (they carry API keys) nor a query value (some APIs put ``key=``
in the query): `redacted_target` keeps the path and the query's keys only.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl

MAX_RECORDED_PATH = 2048  # a path is the agent's to choose: keep one line of the log small

Kind = Literal["connect", "http"]


@dataclass(frozen=True)
class EgressRecord:
    """One tunnel (``kind="connect"``) or one forwarded request (``kind="http"``).

    ``t``/``end``: epoch seconds when it began and ended. ``bytes_up``: payload bytes sent toward
    the origin (tunnel bytes, or the request body); ``bytes_down``: payload bytes relayed back
    (tunnel bytes, or the response body). ``status``: the origin's status, or the proxy's own
    (403 refused, 502 unreachable) when there was no origin answer. ``path`` is None for tunnels.
    """

    t: float
    end: float
    kind: Kind
    host: str
    port: int
    method: str
    path: str | None
    status: int | None
    bytes_up: int
    bytes_down: int
    allowed: bool
    error: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=True, separators=(",", ":"))


def redacted_target(path: str, query: str) -> str:
    """``/v1/x`` and ``alt=sse&key=sk-1`` → ``/v1/x?alt&key``: the query's keys, never its values."""
    if query:
        keys = [key for key, _ in parse_qsl(query, keep_blank_values=True)]
        path = f"{path}?{'&'.join(keys)}"
    if len(path) > MAX_RECORDED_PATH:
        path = path[:MAX_RECORDED_PATH] + "…"
    return path


class EgressLog:
    """``egress.jsonl``, appended to from many threads: one whole line per record, flushed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def write(self, record: EgressRecord) -> None:
        line = record.to_json() + "\n"
        with self._lock:
            if self._file.closed:  # a straggler thread after stop(): nothing to write to
                return
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()
