"""Just enough HTTP/1.x for a forwarding proxy: bounded reading of heads and streaming of bodies.

    reader = Reader(sock, "client")
    head = read_head(reader)                 # None: the peer closed before sending anything
    method, target, version = parse_request_line(head.start)
    meter = Meter()
    relay_chunked(reader, send, meter)       # re-frames chunk by chunk: an SSE event goes out
                                             # the moment it arrives, nothing is buffered

Every read is bounded (a line, a head, a chunk-size line): the peer is the hostile agent (or an
origin it chose), so a malformed or endless message is an error, never unbounded memory.
Heads are decoded as latin-1 so that forwarding them re-encodes the exact bytes received.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_LINE = 8 * 1024  # a request or status line
MAX_HEAD = 64 * 1024  # a whole head: start line and headers
MAX_HEADERS = 128
MAX_CHUNK_LINE = 4 * 1024
IO_SIZE = 64 * 1024

# RFC 9110 token characters: header names and methods
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VERSION = re.compile(r"^HTTP/1\.[01]$")
_HEX = re.compile(r"^[0-9A-Fa-f]{1,15}$")
_DIGITS = re.compile(r"^[0-9]{1,18}$")  # not str.isdigit: it takes "²", which int() refuses

# Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded. Framing
# (Content-Length, Transfer-Encoding) is dropped too and rewritten by the proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class StreamError(Exception):
    """A connection broke or misbehaved mid-message; the text is the record's reason (no data in it).

    ``side`` is whose fault it is: "client", "origin", or "" where the caller knows best."""

    def __init__(self, reason: str, side: str = "") -> None:
        super().__init__(reason)
        self.side = side


class BadMessage(StreamError):
    """A malformed or oversized message; ``status`` is what to answer a client with."""

    def __init__(self, reason: str, status: int = 400, side: str = "") -> None:
        super().__init__(reason, side)
        self.status = status


class Meter:
    """Payload bytes relayed so far: still right when a relay ends in an error."""

    def __init__(self) -> None:
        self.n = 0


class Reader:
    """A socket with a small buffer, so a parsed head's leftover bytes are never lost."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name  # "client" or "origin": which side an error is about
        self._buf = bytearray()

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(IO_SIZE)
        except TimeoutError:
            raise StreamError(f"{self.name} timed out", self.name) from None
        except OSError as exc:
            raise StreamError(f"{self.name} read failed: {exc.strerror or type(exc).__name__}", self.name) from None
        self._buf += data
        return bool(data)

    def readline(self, limit: int) -> bytes:
        """One line with its ``\\n``; a shorter piece without one at EOF; BadMessage past ``limit``."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                if end + 1 > limit:
                    break
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > limit:
                break
            start = len(self._buf)
            if not self._fill():
                line = bytes(self._buf)
                self._buf.clear()
                return line
        raise BadMessage(f"{self.name} sent a line longer than {limit} bytes", 431, self.name)

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes: what is buffered, else what one recv gives (b"" at EOF)."""
        if not self._buf and not self._fill():
            return b""
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def take_buffered(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


@dataclass(frozen=True)
class Head:
    start: str  # the request line or the status line
    headers: tuple[tuple[str, str], ...]

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def tokens(self, name: str) -> list[str]:
        """A comma-separated header's items, lowercased (Connection, Transfer-Encoding)."""
        return [item.strip().lower() for value in self.get_all(name) for item in value.split(",") if item.strip()]


def _strip_eol(line: bytes, side: str) -> str:
    if not line.endswith(b"\n"):
        raise StreamError(f"{side} closed mid-message", side)
    text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if b"\r" in text or b"\0" in text:
        raise BadMessage(f"control character in a line from the {side}", 400, side)
    return text.decode("latin-1")


def read_head(reader: Reader, *, max_head: int = MAX_HEAD) -> Head | None:
    """A start line and headers, at most ``max_head`` bytes; None if the peer closed before a byte."""
    side = reader.name
    budget = max_head
    line = b""
    for _ in range(4):  # RFC 9112 §2.2: ignore a few empty lines before a request line
        line = reader.readline(min(MAX_LINE, budget))
        if line not in (b"\r\n", b"\n"):
            break
    if not line:
        return None
    budget -= len(line)
    start = _strip_eol(line, side)
    if not start:
        raise BadMessage(f"empty start line from the {side}", 400, side)
    headers: list[tuple[str, str]] = []
    while True:
        if budget <= 0:
            raise BadMessage(f"{side} head is larger than {max_head} bytes", 431, side)
        line = reader.readline(budget)
        budget -= len(line)
        text = _strip_eol(line, side)
        if not text:
            return Head(start, tuple(headers))
        if text[0] in " \t":
            raise BadMessage(f"obsolete header line folding from the {side}", 400, side)
        name, sep, value = text.partition(":")
        if not sep or not _TOKEN.match(name):
            raise BadMessage(f"malformed header line from the {side}", 400, side)
        if len(headers) >= MAX_HEADERS:
            raise BadMessage(f"more than {MAX_HEADERS} headers from the {side}", 431, side)
        headers.append((name, value.strip(" \t")))


def parse_request_line(start: str) -> tuple[str, str, str]:
    """``(method, target, version)``; BadMessage (blamed on the client) if malformed."""
    parts = start.split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1] or not _VERSION.match(parts[2]):
        raise BadMessage("malformed request line", 400, "client")
    return parts[0], parts[1], parts[2]


def parse_status_line(start: str) -> tuple[str, int]:
    """``(version, status)``; BadMessage (blamed on the origin) if malformed."""
    version, _, rest = start.partition(" ")
    code = rest[:3]
    if not _VERSION.match(version) or not _DIGITS.match(code) or len(code) != 3 or rest[3:4] not in ("", " "):
        raise BadMessage("malformed status line from the origin", 502, "origin")
    return version, int(code)


def content_length(head: Head, side: str) -> int | None:
    """The Content-Length, None if absent; BadMessage if malformed or contradictory (smuggling)."""
    values = {item.strip(" \t") for value in head.get_all("content-length") for item in value.split(",")}
    if not values:
        return None
    if len(values) != 1:
        raise BadMessage(f"conflicting Content-Length values from the {side}", 400, side)
    (value,) = values
    if not _DIGITS.match(value):
        raise BadMessage(f"malformed Content-Length from the {side}", 400, side)
    return int(value)


def forwarded_headers(head: Head, drop: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The end-to-end headers: no hop-by-hop one, none the Connection header names, none in ``drop``."""
    dropped = HOP_BY_HOP | set(head.tokens("connection")) | {name.lower() for name in drop}
    return [(name, value) for name, value in head.headers if name.lower() not in dropped]


def encode_head(start: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


Send = Callable[[bytes], None]


def relay_fixed(reader: Reader, length: int, send: Send, meter: Meter) -> None:
    left = length
    while left:
        data = reader.read_some(min(left, IO_SIZE))
        if not data:
            raise StreamError(f"{reader.name} closed mid-body", reader.name)
        send(data)
        meter.n += len(data)
        left -= len(data)


def relay_until_eof(reader: Reader, send: Send, meter: Meter) -> None:
    while data := reader.read_some(IO_SIZE):
        send(data)
        meter.n += len(data)


def relay_chunked(reader: Reader, send: Send, meter: Meter, *, dechunk: bool = False) -> None:
    """Relays a chunked body chunk by chunk; ``dechunk`` sends the bare payload (for a 1.0 client).

    Chunk extensions are dropped; trailers are passed on (bounded), unless ``dechunk``."""
    side = reader.name
    while True:
        line = _strip_eol(reader.readline(MAX_CHUNK_LINE), side)
        size_text = line.split(";", 1)[0].strip(" \t")
        if not _HEX.match(size_text):
            raise BadMessage(f"malformed chunk size from the {side}", 400, side)
        size = int(size_text, 16)
        if size == 0:
            trailers = bytearray()
            while True:
                trailer = reader.readline(MAX_HEAD - len(trailers))
                _strip_eol(trailer, side)
                if trailer in (b"\r\n", b"\n"):
                    break
                trailers += trailer
            if not dechunk:
                send(b"0\r\n" + bytes(trailers) + b"\r\n")
            return
        if not dechunk:
            send(b"%x\r\n" % size)
        relay_fixed(reader, size, send, meter)
        if reader.readline(2) not in (b"\r\n", b"\n"):
            raise BadMessage(f"chunk without its CRLF from the {side}", 400, side)
        if not dechunk:
            send(b"\r\n")
