"""bridge.py as a real ``python -I -S`` subprocess in front of the proxy, and inside a real bwrap sandbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from egress_servers import TIMEOUT_S, EchoServer, Origin, read_log, wait_records

from ptb.egress import BRIDGE, DEFAULT_PORT, EgressProxy, bridged_argv, proxy_env
from ptb.sandbox import SandboxRequest, bwrap_probe
from ptb.sandbox.bwrap import BwrapSandbox

PYTHON = os.path.realpath(sys.executable)


def _bridge_cmd(socket_path: Path | str, port: int, *command: str) -> list[str]:
    argv = [PYTHON, "-I", "-S", str(BRIDGE), str(socket_path), str(port)]
    return argv + ["--", *command] if command else argv


@pytest.fixture
def bridge(proxy: EgressProxy) -> Iterator[int]:
    """A standalone bridge on a free host port, relaying to the proxy; yields the port."""
    proc = subprocess.Popen(
        _bridge_cmd(proxy.socket_path, 0), stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline().decode()
        assert ready.startswith("bridge: listening on 127.0.0.1:"), ready
        yield int(ready.rsplit(":", 1)[1])
    finally:
        proc.kill()
        proc.wait(TIMEOUT_S)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _opener(port: int) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"}))


def test_urllib_reaches_the_origin_through_bridge_and_proxy(bridge: int, proxy: EgressProxy, origin: Origin) -> None:
    with _opener(bridge).open("http://api.scripted.test/echo?key=sk-secret", data=b"hello", timeout=TIMEOUT_S) as response:
        got = json.loads(response.read())
    assert got["body"] == "hello" and got["path"] == "/echo?key=sk-secret"
    (record,) = wait_records(proxy, 1)
    assert (record["method"], record["host"], record["path"], record["status"]) == ("POST", "api.scripted.test", "/echo?key", 200)


def test_many_concurrent_tunnels_with_half_close(bridge: int, proxy: EgressProxy, echo: EchoServer) -> None:
    results: dict[int, bytes] = {}

    def tunnel(n: int) -> None:
        payload = f"tunnel {n} ".encode() * 2000
        with socket.create_connection(("127.0.0.1", bridge), timeout=TIMEOUT_S) as sock:
            sock.sendall(b"CONNECT echo.scripted.test:443 HTTP/1.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 200")
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)  # the bridge must pass it on, or the echo never ends
            data = b""
            while piece := sock.recv(65536):
                data += piece
        results[n] = data if data == payload else b"MISMATCH"

    threads = [threading.Thread(target=tunnel, args=(n,), daemon=True) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert sorted(results) == list(range(40)) and b"MISMATCH" not in results.values()
    records = wait_records(proxy, 40)
    assert len(records) == 40 and all(r["kind"] == "connect" and r["error"] is None for r in records)


def test_a_bad_client_does_not_kill_the_bridge(bridge: int, proxy: EgressProxy, origin: Origin) -> None:
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", bridge), timeout=TIMEOUT_S)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        sock.sendall(b"\xff\xfe garbage")
        sock.close()
    with _opener(bridge).open("http://api.scripted.test/echo", timeout=TIMEOUT_S) as response:
        assert response.status == 200


def test_a_socket_path_too_long_for_sun_path(tmp_path: Path, origin: Origin) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "proxy.sock"
    with EgressProxy(deep, tmp_path / "egress.jsonl", resolve={"api.scripted.test": ("127.0.0.1", origin.port)}) as proxy:
        proc = subprocess.Popen(_bridge_cmd(deep, 0), stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        try:
            port = int(proc.stderr.readline().decode().rsplit(":", 1)[1])
            with _opener(port).open("http://api.scripted.test/echo", timeout=TIMEOUT_S) as response:
                assert response.status == 200
        finally:
            proc.stdin.close()
            assert proc.wait(TIMEOUT_S) == 0
            proc.stderr.close()
        assert wait_records(proxy, 1)[0]["status"] == 200


def test_standalone_lifetime_stdin_eof_and_sigterm(proxy: EgressProxy) -> None:
    for stop in ("eof", "sigterm"):
        proc = subprocess.Popen(
            _bridge_cmd(proxy.socket_path, 0), stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
        try:
            assert proc.stderr.readline().startswith(b"bridge: listening")
            if stop == "eof":
                proc.stdin.close()
            else:
                proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT_S) == 0
            assert proc.stdout.read() == b""  # stdout is never the bridge's
        finally:
            proc.kill()
            proc.wait(TIMEOUT_S)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()


def test_command_mode_exit_codes_and_sigterm_is_not_forwarded(proxy: EgressProxy) -> None:
    def run(*command: str) -> int:
        return subprocess.run(_bridge_cmd(proxy.socket_path, 0, *command), timeout=TIMEOUT_S).returncode

    assert run(PYTHON, "-c", "import sys; sys.exit(3)") == 3
    assert run("sh", "-c", "kill -TERM $$") == 128 + signal.SIGTERM  # as keeper.py reads it
    assert run("/nonexistent/command") == 127
    assert subprocess.run([PYTHON, "-I", "-S", str(BRIDGE), "sock", "x"], capture_output=True, timeout=TIMEOUT_S).returncode == 2

    # SIGTERM to the bridge alone: the child is left alone and runs to its end; the bridge follows.
    child = "import sys, time; print('started', flush=True); time.sleep(0.5); sys.exit(5)"
    proc = subprocess.Popen(_bridge_cmd(proxy.socket_path, 0, PYTHON, "-c", child), stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"  # stdout is the child's
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT_S) == 5
    finally:
        proc.kill()
        proc.wait(TIMEOUT_S)
        assert proc.stdout is not None
        proc.stdout.close()


def test_the_port_is_taken_then_the_command_does_not_run(proxy: EgressProxy, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        marker = tmp_path / "ran"
        done = subprocess.run(
            _bridge_cmd(proxy.socket_path, taken.getsockname()[1], "touch", str(marker)), capture_output=True, timeout=TIMEOUT_S
        )
    assert done.returncode == 1 and b"cannot listen" in done.stderr and not marker.exists()


# --- inside a real sandbox -----------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import http.client, json, os, shutil, socket, subprocess, sys, urllib.request
    origin_port, socket_dir = int(sys.argv[1]), sys.argv[2]
    out = {}
    with open("/proc/net/dev") as f:
        out["interfaces"] = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    # what any client does with the proxy variables (urllib reads them from the environment)
    with urllib.request.urlopen("http://api.scripted.test/echo?from=sandbox", timeout=5) as r:
        out["via_proxy"] = json.loads(r.read())["path"]
    if shutil.which("curl"):
        out["curl"] = subprocess.run(["curl", "-s", "-m", "5", "http://api.scripted.test/echo?from=curl"],
                                     capture_output=True, text=True).stdout
    # straight to the host's loopback, where the origin listens: not in this namespace
    try:
        socket.create_connection(("127.0.0.1", origin_port), timeout=2).close()
        out["direct"] = "connected"
    except OSError as exc:
        out["direct"] = type(exc).__name__
    # asking the proxy for the host's loopback: refused
    conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["PTB_BRIDGE_PORT"]), timeout=5)
    conn.request("GET", f"http://127.0.0.1:{origin_port}/echo")
    out["proxied_loopback"] = conn.getresponse().status
    # the socket's folder is mounted read-only, and connecting works all the same
    try:
        open(os.path.join(socket_dir, "planted"), "w").close()
        out["socket_dir_writable"] = True
    except OSError:
        out["socket_dir_writable"] = False
    print(json.dumps(out))
    """
)

needs_bwrap = pytest.mark.skipif(not bwrap_probe()[0], reason=f"bwrap unusable here: {bwrap_probe()[1]}")


@needs_bwrap
def test_inside_bwrap_the_bridge_is_the_only_way_out(tmp_path: Path, origin: Origin) -> None:
    scratch, run_dir, workspace = tmp_path / "scratch", tmp_path / "run", tmp_path / "ws"
    workspace.mkdir()
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    socket_path = scratch / "egress" / "proxy.sock"
    resolve = {"api.scripted.test": ("127.0.0.1", origin.port)}
    with EgressProxy(socket_path, run_dir / "egress.jsonl", resolve=resolve, dial_timeout=2.0) as proxy:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(workspace), "PTB_BRIDGE_PORT": str(DEFAULT_PORT)}
        env |= proxy_env(DEFAULT_PORT)
        request = SandboxRequest(
            argv=tuple(
                bridged_argv(
                    PYTHON,
                    str(BRIDGE),
                    str(socket_path),
                    DEFAULT_PORT,
                    [PYTHON, str(probe), str(origin.port), str(socket_path.parent)],
                )
            ),
            cwd=str(workspace),
            writable=(str(workspace),),
            readonly=(str(probe), str(BRIDGE)),  # all under /tmp: hidden otherwise
            sockets=(str(socket_path),),  # its folder read-only (and the agent's, where it is another uid)
            env=env,
            network=False,
        )
        argv, sandbox_env = BwrapSandbox().command(request)
        done = subprocess.run(argv, env=sandbox_env, cwd=workspace, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        records = wait_records(proxy, 3 if "curl" in done.stdout else 2)
    out = json.loads(done.stdout)
    assert out["interfaces"] == ["lo"]
    assert out["via_proxy"] == "/echo?from=sandbox"
    assert out["direct"] == "ConnectionRefusedError"  # nothing listens on the sandbox's own loopback
    assert out["proxied_loopback"] == 403
    assert out["socket_dir_writable"] is False
    if "curl" in out:
        assert json.loads(out["curl"])["path"] == "/echo?from=curl"
    assert [(r["host"], r["allowed"]) for r in records if r["host"] == "127.0.0.1"] == [("127.0.0.1", False)]
    assert sum(r["host"] == "api.scripted.test" and r["status"] == 200 for r in records) == len(records) - 1
    assert len(origin.requests) == len(records) - 1  # every request the origin saw went through the proxy
    assert not (socket_path.parent / "planted").exists()
    assert sorted(read_log(run_dir / "egress.jsonl"), key=lambda r: r["t"]) == records
