"""The egress proxy with real sockets: forwarding, streaming, tunnels, refusals and its log."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from egress_servers import TIMEOUT_S, EchoServer, Origin, UnixHTTPConnection, connect_unix, read_log, wait_records

from ptb.egress import EgressProxy, redacted_target

API = "http://api.scripted.test"


def _raw(proxy: EgressProxy) -> socket.socket:
    return connect_unix(proxy.socket_path)


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def _connect_tunnel(proxy: EgressProxy, target: str, early: bytes = b"") -> tuple[socket.socket, bytes, bytes]:
    """The socket, the proxy's answer head, and what already came through the tunnel after it."""
    sock = _raw(proxy)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + early)
    head, _, rest = _read_until(sock, b"\r\n\r\n").partition(b"\r\n\r\n")
    return sock, head, rest


def test_get_and_post_are_forwarded_and_recorded_without_secrets(proxy: EgressProxy, origin: Origin) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    headers = {
        "Authorization": "Bearer sk-secret",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "Proxy-Connection": "keep-alive",
    }
    conn.request("GET", f"{API}/echo/x?alt=sse&key=sk-secret2", headers=headers)
    response = conn.getresponse()
    got = json.loads(response.read())
    assert response.status == 200
    assert got["path"] == "/echo/x?alt=sse&key=sk-secret2"  # the origin gets the full query
    seen = {name.lower(): value for name, value in got["headers"].items()}
    assert seen["authorization"] == "Bearer sk-secret"  # end-to-end headers pass
    assert "proxy-authorization" not in seen and "proxy-connection" not in seen
    assert seen["host"] == "api.scripted.test" and seen["connection"] == "close"

    conn.request("POST", f"{API}/echo", body=b'{"prompt": "hi"}', headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    posted = response.read()
    assert json.loads(posted)["body"] == '{"prompt": "hi"}'
    conn.close()

    get, post = wait_records(proxy, 2)
    assert get["kind"] == "http" and get["method"] == "GET" and get["host"] == "api.scripted.test" and get["port"] == 80
    assert get["path"] == "/echo/x?alt&key" and get["status"] == 200 and get["allowed"] is True and get["error"] is None
    assert get["bytes_up"] == 0 and get["bytes_down"] > 0 and get["t"] <= get["end"]
    assert post["method"] == "POST" and post["bytes_up"] == len(b'{"prompt": "hi"}') and post["bytes_down"] == len(posted)
    assert set(get) == {
        "t",
        "end",
        "kind",
        "host",
        "port",
        "method",
        "path",
        "status",
        "bytes_up",
        "bytes_down",
        "allowed",
        "error",
        "rule",
        "reason",
        "intercepted",
    }
    assert get["rule"] is None and get["reason"] is None and get["intercepted"] is False
    text = proxy.log_path.read_text()
    assert "sk-secret" not in text and "cHJveHk6c2VjcmV0" not in text and "Bearer" not in text


def test_keep_alive_carries_several_requests_on_one_connection(proxy: EgressProxy, origin: Origin) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    for n in range(2):
        conn.request("GET", f"{API}/echo?n={n}")
        assert conn.getresponse().read()
    first_sock = conn.sock
    conn.request("HEAD", f"{API}/echo")  # no body, still keep-alive
    assert conn.getresponse().read() == b"" and conn.sock is first_sock
    conn.close()
    records = wait_records(proxy, 3)
    assert [r["method"] for r in records] == ["GET", "GET", "HEAD"] and {r["path"] for r in records[:2]} == {"/echo?n"}


def test_chunked_request_body_is_relayed(proxy: EgressProxy, origin: Origin) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("POST", f"{API}/echo", body=iter([b"part one, ", b"part two"]), encode_chunked=True)
    assert json.loads(conn.getresponse().read())["body"] == "part one, part two"
    conn.close()
    (record,) = wait_records(proxy, 1)
    assert record["bytes_up"] == len("part one, part two")
    assert "chunked" in origin.requests[0]["headers"].get("Transfer-Encoding", "")


def test_expect_100_continue_is_answered_by_the_proxy(proxy: EgressProxy, origin: Origin) -> None:
    sock = _raw(proxy)
    sock.sendall(
        b"PUT http://api.scripted.test/echo HTTP/1.1\r\nHost: api.scripted.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(b"body")
    response = _read_until(sock, b'"body": "body"')
    assert response.startswith(b"HTTP/1.0 200") or response.startswith(b"HTTP/1.1 200")
    sock.close()
    assert "expect" not in {name.lower() for name in origin.requests[0]["headers"]}


def test_sse_events_are_relayed_as_they_arrive(proxy: EgressProxy, origin: Origin) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("POST", f"{API}/sse?alt=sse", body=b"{}")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"data: first\n"  # arrives while the origin still holds the last
    origin.sse_seen_first.set()
    rest = response.read()
    conn.close()
    assert rest == b"\ndata: last\n\n"
    assert origin.sse_first_seen_before_last is True
    (record,) = wait_records(proxy, 1)
    assert record["path"] == "/sse?alt" and record["bytes_down"] == len(b"data: first\n\ndata: last\n\n")


def test_close_delimited_and_http10_responses(proxy: EgressProxy, origin: Origin) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("GET", f"{API}/close-delimited")
    assert conn.getresponse().read() == b"until the origin closes"
    conn.close()
    sock = _raw(proxy)  # a 1.0 client cannot read chunks: it gets the bare body, then EOF
    sock.sendall(b"GET http://api.scripted.test/chunked HTTP/1.0\r\n\r\n")
    response = _read_all(sock)
    sock.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert body == b"hello chunked world" and b"transfer-encoding" not in head.lower()
    assert [r["bytes_down"] for r in wait_records(proxy, 2)] == [len(b"until the origin closes"), len(b"hello chunked world")]


def test_connect_tunnels_bytes_both_ways_with_half_close(proxy: EgressProxy, echo: EchoServer) -> None:
    payload = bytes(range(256)) * 1000
    sock, head, echoed = _connect_tunnel(proxy, "echo.scripted.test:443", early=b"early ")  # a TLS hello may not wait
    assert head.startswith(b"HTTP/1.1 200")
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)  # the echo server answers EOF with EOF
    assert echoed + _read_all(sock) == b"early " + payload
    sock.close()
    (record,) = wait_records(proxy, 1)
    assert record["kind"] == "connect" and record["method"] == "CONNECT" and record["path"] is None
    assert (record["host"], record["port"], record["status"], record["error"]) == ("echo.scripted.test", 443, 200, None)
    assert record["bytes_up"] == record["bytes_down"] == len(payload) + len(b"early ")


def test_policy_denial_is_403_and_recorded(tmp_path: Path, resolve: dict, origin: Origin) -> None:
    asked: list[tuple[str, int]] = []

    def policy(host: str, port: int) -> bool:
        asked.append((host, port))
        return host != "api.scripted.test"

    with EgressProxy(tmp_path / "p.sock", tmp_path / "egress.jsonl", resolve=resolve, policy=policy) as proxy:
        conn = UnixHTTPConnection(proxy.socket_path)
        conn.request("POST", f"{API}/echo", body=b"x" * 100_000)  # the lingering close lets the 403 arrive
        response = conn.getresponse()
        assert response.status == 403 and b"denied by policy" in response.read()
        conn.close()
        sock, head, _ = _connect_tunnel(proxy, "API.Scripted.Test.:443")
        assert head.startswith(b"HTTP/1.1 403")
        sock.close()
        records = wait_records(proxy, 2)
    assert asked == [("api.scripted.test", 80), ("api.scripted.test", 443)]  # normalised names
    assert [(r["kind"], r["allowed"], r["status"], r["error"], r["rule"], r["reason"]) for r in records] == [
        ("http", False, 403, None, "policy", "denied by policy"),
        ("connect", False, 403, None, "policy", "denied by policy"),
    ]
    assert origin.requests == []


def test_a_failing_policy_denies(tmp_path: Path, resolve: dict) -> None:
    def broken(host: str, port: int) -> bool:
        raise KeyError(host)

    with EgressProxy(tmp_path / "p.sock", tmp_path / "egress.jsonl", resolve=resolve, policy=broken) as proxy:
        conn = UnixHTTPConnection(proxy.socket_path)
        conn.request("GET", f"{API}/echo")
        assert conn.getresponse().status == 403
        conn.close()
        (record,) = wait_records(proxy, 1)
    assert record["allowed"] is False and (record["rule"], record["reason"]) == ("policy", "policy raised KeyError")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "0.0.0.0", "[::ffff:127.0.0.1]", "[::127.0.0.1]", "169.254.169.254", "10.1.2.3"]
)
def test_the_hosts_own_network_is_refused(proxy: EgressProxy, origin: Origin, host: str) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("GET", f"http://{host}:{origin.port}/echo")
    response = conn.getresponse()
    assert response.status == 403 and b"not a public address" in response.read()
    conn.close()
    (record,) = wait_records(proxy, 1)
    assert record["allowed"] is False and record["status"] == 403 and record["rule"] == "internal_address"
    assert "not a public address" in record["reason"] and record["error"] is None
    assert origin.requests == []


def test_dial_failure_is_502_with_the_reason(proxy: EgressProxy) -> None:
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("GET", "http://down.scripted.test/x")
    assert conn.getresponse().status == 502
    conn.close()
    sock, head, _ = _connect_tunnel(proxy, "down.scripted.test:443")
    assert head.startswith(b"HTTP/1.1 502")
    sock.close()
    records = wait_records(proxy, 2)
    assert [(r["kind"], r["status"], r["allowed"], r["error"]) for r in records] == [
        ("http", 502, True, "dial failed: Connection refused"),
        ("connect", 502, True, "dial failed: Connection refused"),
    ]


def test_stop_ends_open_tunnels_and_requests(tmp_path: Path, resolve: dict, echo: EchoServer, origin: Origin) -> None:
    proxy = EgressProxy(tmp_path / "p.sock", tmp_path / "egress.jsonl", resolve=resolve).start()
    tunnel, head, _ = _connect_tunnel(proxy, "echo.scripted.test:443")
    assert head.startswith(b"HTTP/1.1 200")
    tunnel.sendall(b"ping")
    assert tunnel.recv(4) == b"ping"
    stream = UnixHTTPConnection(proxy.socket_path)
    stream.request("GET", f"{API}/sse")
    response = stream.getresponse()
    assert response.readline() == b"data: first\n"  # the origin now waits: an open stream
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 2.0
    assert tunnel.recv(100) == b""
    assert not proxy.socket_path.exists()
    tunnel.close()
    stream.close()
    records = read_log(proxy.log_path)
    assert sorted((r["kind"], r["error"].split(" (")[0]) for r in records) == [
        ("connect", "proxy stopped"),
        ("http", "proxy stopped"),
    ]
    assert next(r for r in records if r["kind"] == "connect")["bytes_up"] == 4


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # origin-form: the proxy serves no files
        (b"GET file:///etc/passwd HTTP/1.1\r\n\r\n", 400),
        (b"GET https://api.scripted.test/ HTTP/1.1\r\n\r\n", 400),
        (b"GET http://user:pw@api.scripted.test/ HTTP/1.1\r\n\r\n", 400),
        (b"GET http://api.scripted.test/ HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET http://" + b"a" * 9000 + b"/ HTTP/1.1\r\n\r\n", 431),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n", 400),
        (b"GET http://api.scripted.test/ HTTP/1.1\r\n folded: header\r\n\r\n", 400),
        (b"POST http://api.scripted.test/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST http://api.scripted.test/ HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", 400),
        (b"CONNECT api.scripted.test:99999 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT ::1:443 HTTP/1.1\r\n\r\n", 400),
    ],
)
def test_malformed_requests_are_refused_and_the_proxy_keeps_serving(
    proxy: EgressProxy, origin: Origin, request_bytes: bytes, status: int
) -> None:
    sock = _raw(proxy)
    sock.sendall(request_bytes)
    assert _read_all(sock).startswith(b"HTTP/1.1 %d" % status)
    sock.close()
    for junk in (b"\x00" * 10, b"GET http://api.scripted.test/ HTTP/1.1\r\nHost: x"):  # then a close mid-head
        sock = _raw(proxy)
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)
        _read_all(sock)
        sock.close()
    conn = UnixHTTPConnection(proxy.socket_path)
    conn.request("GET", f"{API}/echo")
    assert conn.getresponse().status == 200
    conn.close()
    assert [r["path"] for r in wait_records(proxy, 1)] == ["/echo"]  # refusals before any dial: no record


def test_origin_garbage_is_502(tmp_path: Path) -> None:
    bad = socket.create_server(("127.0.0.1", 0))
    port = bad.getsockname()[1]

    def answer() -> None:
        conn, _ = bad.accept()
        conn.settimeout(TIMEOUT_S)
        _read_until(conn, b"\r\n\r\n")
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with EgressProxy(tmp_path / "p.sock", tmp_path / "egress.jsonl", resolve={"odd.test": ("127.0.0.1", port)}) as proxy:
        conn = UnixHTTPConnection(proxy.socket_path)
        conn.request("GET", "http://odd.test/")
        assert conn.getresponse().status == 502
        conn.close()
        (record,) = wait_records(proxy, 1)
    thread.join(TIMEOUT_S)
    bad.close()
    assert record["status"] == 502 and record["error"] == "malformed status line from the origin"


def test_resolve_forms_and_a_long_socket_path(tmp_path: Path, origin: Origin) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # beyond the 108 bytes of sun_path
    resolve = {"a.test": f"127.0.0.1:{origin.port}", "B.Test": f"[::ffff:127.0.0.1]:{origin.port}"}
    with EgressProxy(deep / "proxy.sock", tmp_path / "egress.jsonl", resolve=resolve) as proxy:
        assert len(bytes(proxy.socket_path)) > 108 and proxy.socket_path.exists()
        assert oct(proxy.socket_path.stat().st_mode & 0o777) == "0o600"
        for host in ("a.test", "b.test"):
            conn = UnixHTTPConnection(proxy.socket_path)
            conn.request("GET", f"http://{host}/echo")
            assert json.loads(conn.getresponse().read())["headers"]["Host"] == host
            conn.close()
        assert [r["host"] for r in wait_records(proxy, 2)] == ["a.test", "b.test"]


def test_redacted_target_keeps_query_keys_only() -> None:
    assert redacted_target("/v1beta/models/m:streamGenerateContent", "alt=sse&key=AIza-secret") == (
        "/v1beta/models/m:streamGenerateContent?alt&key"
    )
    assert redacted_target("/x", "") == "/x"
    assert len(redacted_target("/" + "a" * 5000, "")) <= 2049
