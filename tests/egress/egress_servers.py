"""Real servers for the egress tests: an HTTP origin, a raw TCP echo origin, and client helpers.

The origin answers ``/echo`` with what it received (JSON), streams ``/sse`` in two events (the
second only once the test saw the first, or after 5 s), sends ``/chunked`` chunked and
``/close-delimited`` without a length. The fixtures are in conftest.py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ptb.egress import EgressProxy

TIMEOUT_S = 5.0


class Origin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OriginHandler)
        self.port = self.server_address[1]
        self.requests: list[dict] = []
        self.sse_seen_first = threading.Event()  # set by the test once the first event arrived
        self.sse_first_seen_before_last: bool | None = None


class _OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT_S
    server: Origin

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return body
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        self.server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        route = self.path.split("?")[0]
        if route == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"data: first\n\n")
            self.server.sse_seen_first.wait(TIMEOUT_S)
            self.server.sse_first_seen_before_last = self.server.sse_seen_first.is_set()
            self._chunk(b"data: last\n\n")
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self._chunk(part)
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the origin closes")
            self.close_connection = True
        else:
            payload = json.dumps(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body.decode("latin-1")}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class EchoServer:
    """Raw TCP: echoes every byte, and half-closes back once the client half-closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.02)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT_S)
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        self.listener.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client talking to the proxy's Unix socket (requests carry absolute URLs)."""

    def __init__(self, path: Path | str, timeout: float = TIMEOUT_S) -> None:
        super().__init__("egress-proxy", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        self.sock = connect_unix(self.unix_path, self.timeout)


def connect_unix(path: Path | str, timeout: float = TIMEOUT_S) -> socket.socket:
    """A connected Unix socket, also for paths beyond the 108 bytes of sun_path (as the bridge does)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if len(str(path)) <= 100:
        sock.connect(str(path))
        return sock
    fd = os.open(Path(path).parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{Path(path).name}")
    finally:
        os.close(fd)
    return sock


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_records(proxy: EgressProxy, n: int) -> list[dict]:
    """The log once it holds ``n`` lines, in the order the requests began.

    A record is written when its connection ends, just after the response went out: a client may
    already be on its next request, on another connection, so lines can land out of order."""
    end = time.monotonic() + TIMEOUT_S
    while proxy.records < n and time.monotonic() < end:
        time.sleep(0.01)
    return sorted(read_log(proxy.log_path), key=lambda record: record["t"])
