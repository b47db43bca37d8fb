"""What the egress proxy writes about each connection: `EgressRecord`, one line of ``egress.jsonl``.

    log = EgressLog(run_dir / "egress.jsonl")          # opened for append, 0600
    log.write(EgressRecord(t=start, end=time.time(), kind="http", host="api.openai.com",
                           port=80, method="POST", path="/v1/chat/completions", status=200,
                           bytes_up=512, bytes_down=4096, allowed=True, error=None))
    log.close()

A record never holds a header (they carry API keys) nor a query value (some APIs put ``key=``
in the query): `redacted_target` keeps the path and the query's keys only.

What the judge reads (the sandbox can neither see nor write the file)::

    records = read_egress(run_dir)        # every record, [] for a run without network
    denials = read_denials(run_dir)       # the policy's denials: allowed=false with a rule
    print(format_denials(denials))        # one bounded line each, for evidence and LLM judges
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

MAX_RECORDED_PATH = 2048  # a path is the agent's to choose: keep one line of the log small
EGRESS_LOG = "egress.jsonl"  # in the run folder

Kind = Literal["connect", "http", "https"]


@dataclass(frozen=True)
class EgressRecord:
    """One tunnel (``kind="connect"``), one forwarded request (``kind="http"``), or one request
    inside a tunnel the proxy opened (``kind="https"``: the Hub's hosts under an egress policy).

    ``t``/``end``: epoch seconds when it began and ended. ``bytes_up``: payload bytes sent toward
    the origin (tunnel bytes, or the request body); ``bytes_down``: payload bytes relayed back
    (tunnel bytes, or the response body). ``status``: the origin's status, or the proxy's own
    (403 refused, 502 unreachable) when there was no origin answer. ``path`` is None for tunnels.
    ``error``: what went wrong with a connection that was let through. A refused one has
    ``allowed=false``, ``rule`` (forbidden_model, llm_api, denied_host, address, hub_by_other_name,
    internal_address, policy) and ``reason`` (what the client was told). ``intercepted``: a tunnel the proxy
    opened itself (its requests are the https records); its bytes are their bodies.
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
    rule: str | None = None
    reason: str | None = None
    intercepted: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EgressRecord:
        """A record from one parsed line (keys it does not know are ignored: newer writers)."""
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)

    @property
    def target(self) -> str:
        """``host:port`` and the path, as a person reads it."""
        scheme = {"https": "https://", "http": "http://"}.get(self.kind, "")
        return f"{scheme}{self.host}:{self.port}{self.path or ''}"


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


def read_egress(run_dir: str | os.PathLike[str]) -> list[EgressRecord]:
    """Every record of ``<run_dir>/egress.jsonl`` in order of start; [] when the run had no proxy.

    Only the harness writes the file; a line that does not parse (a run killed mid-write) is
    skipped, never fatal."""
    path = Path(run_dir) / EGRESS_LOG
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                data = json.loads(line)
                records.append(EgressRecord.from_dict(data))
            except (ValueError, TypeError):
                continue
    return sorted(records, key=lambda record: record.t)


def read_denials(run_dir: str | os.PathLike[str]) -> list[EgressRecord]:
    """The records the egress policy refused (``rule`` set), in order of start: what the judge
    weighs as evidence. Refusals of the host's own network (``internal_address``) are included."""
    return [record for record in read_egress(run_dir) if not record.allowed and record.rule]


def format_denials(denials: list[EgressRecord], limit: int = 40) -> str:
    """One line per denial (time, method, target, reason), at most ``limit``, then a count."""
    lines = [
        f"{time.strftime('%H:%M:%S', time.gmtime(record.t))} {record.method} {record.target}: {record.reason}"
        for record in denials[:limit]
    ]
    if len(denials) > limit:
        lines.append(f"... and {len(denials) - limit} more denials")
    return "\n".join(lines)
