"""The egress policy in the proxy: HTTPS to a stand-in "huggingface.co" opened with the run CA, denied and
allowed paths, vendor tunnels, records with reasons, the off switch. Real sockets, real clients (curl,
requests, huggingface_hub) through the real bridge, with the variables the sandbox gets."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from egress_servers import TIMEOUT_S, EchoServer, Origin, connect_unix, wait_records
from tls_servers import COMMIT, TestCA, TlsOrigin, bridge, client_hello

from ptb.egress import EgressPolicy, EgressProxy, build_policy, format_denials, read_denials, read_egress
from ptb.egress.tls import system_ca_pem
from ptb.records import AgentCli, AgentSpec, EgressSpec, ModelSpec

OPUS = AgentSpec(name="opus", scaffold="claude_code", model="claude-opus-4-6", network=True,
                 cli=AgentCli(package="@anthropic-ai/claude-code", version="2.1.197", bin="claude"))  # fmt: skip
QWEN = ModelSpec(name="qwen3-4b", template="qwen3", hf_id="Qwen/Qwen3-4B-Base", instruct="Qwen/Qwen3-4B",
                 forbidden=("Qwen/Qwen3-4B", "Qwen/Qwen3-4B-Instruct-2507"))  # fmt: skip
FORBIDDEN = "/Qwen/Qwen3-4B/resolve/main/config.json"
BASE = "/Qwen/Qwen3-4B-Base/resolve/main/config.json"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def hub(ca: TestCA) -> Iterator[TlsOrigin]:
    server = TlsOrigin(ca, "huggingface.co")
    yield server
    server.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def make_proxy(
    tmp_path: Path, resolve: dict[str, str], *, upstream_ca: Path | None, policy: bool = True
) -> tuple[EgressProxy, EgressPolicy]:
    spec = EgressSpec(resolve=resolve, policy=policy, upstream_ca=str(upstream_ca) if upstream_ca else None)
    egress_policy = build_policy(spec, OPUS, QWEN)
    proxy = EgressProxy(tmp_path / "egress" / "proxy.sock", tmp_path / "run" / "egress.jsonl", resolve=resolve,
                        policy=egress_policy, dial_timeout=TIMEOUT_S, idle_timeout=TIMEOUT_S, keepalive_timeout=TIMEOUT_S)  # fmt: skip
    return proxy, egress_policy


@pytest.fixture
def proxy(tmp_path: Path, hub: TlsOrigin, ca: TestCA, echo: EchoServer) -> Iterator[EgressProxy]:
    resolve = {"huggingface.co": f"127.0.0.1:{hub.port}", "api.anthropic.com": f"127.0.0.1:{echo.port}"}
    started, _ = make_proxy(tmp_path, resolve, upstream_ca=ca.cert_file)
    with started:
        yield started


def client_env(proxy: EgressProxy, port: int, tmp_path: Path) -> dict[str, str]:
    """What the sandbox's processes get: the proxy and CA variables, nothing of ours."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"), **proxy.sandbox_env(port)}


def curl(env: dict[str, str], url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", *extra, url],
                          env=env, capture_output=True, text=True, timeout=30)  # fmt: skip


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_https_to_the_hub_is_opened_denied_by_path_and_recorded(proxy: EgressProxy, hub: TlsOrigin, tmp_path: Path) -> None:
    with bridge(proxy) as port:
        env = client_env(proxy, port, tmp_path)
        denied = curl(env, f"https://huggingface.co{FORBIDDEN}")
        allowed = curl(env, f"https://huggingface.co{BASE}?download=true")
        encoded = curl(env, "https://huggingface.co/api/models/qwen%2FQWEN3-4B/revision/main")
    body, _, code = denied.stdout.rpartition("\n")
    assert code == "403", denied
    assert "denied: forbidden model Qwen/Qwen3-4B (the official instruct model)" in body
    body, _, code = allowed.stdout.rpartition("\n")
    assert code == "200", allowed
    assert json.loads(body) == {"path": f"{BASE}?download=true", "host": "huggingface.co"}  # what the real Hub would get
    assert encoded.stdout.endswith("403")
    assert hub.paths == [f"{BASE}?download=true"]  # the forbidden paths never left the host

    records = wait_records(proxy, 6)
    tunnels = [r for r in records if r["kind"] == "connect"]
    requests = [r for r in records if r["kind"] == "https"]
    assert len(tunnels) == 3 and all(r["intercepted"] and r["host"] == "huggingface.co" and r["status"] == 200 for r in tunnels)
    assert [(r["path"], r["allowed"], r["status"], r["rule"]) for r in requests] == [
        (FORBIDDEN, False, 403, "forbidden_model"),
        (f"{BASE}?download", True, 200, None),  # query keys only, as every record
        ("/api/models/qwen%2FQWEN3-4B/revision/main", False, 403, "forbidden_model"),
    ]
    assert requests[0]["reason"] == "forbidden model Qwen/Qwen3-4B (the official instruct model)"
    assert requests[1]["bytes_down"] > 0 and requests[1]["reason"] is None

    denials = read_denials(proxy.log_path.parent)
    assert [d.path for d in denials] == [FORBIDDEN, "/api/models/qwen%2FQWEN3-4B/revision/main"]
    text = format_denials(denials)
    assert f"GET https://huggingface.co:443{FORBIDDEN}: forbidden model Qwen/Qwen3-4B" in text


@needs_curl
def test_the_client_must_trust_the_run_ca(proxy: EgressProxy, ca: TestCA, tmp_path: Path) -> None:
    """The answer comes from the proxy's own certificate: with the system's CAs alone (or the
    stand-in's CA alone) the client refuses it; with the bundle it gets through."""
    system_only = tmp_path / "system.pem"
    system_only.write_text(system_ca_pem())
    with bridge(proxy) as port:
        env = client_env(proxy, port, tmp_path)
        refused = curl({**env, "CURL_CA_BUNDLE": str(system_only)}, f"https://huggingface.co{BASE}")
        refused_test_ca = curl({**env, "CURL_CA_BUNDLE": str(ca.cert_file)}, f"https://huggingface.co{BASE}")
        trusted = curl(env, f"https://huggingface.co{BASE}")
    assert refused.returncode == 60 and "certificate" in refused.stderr, refused  # 60: peer certificate not verified
    assert refused_test_ca.returncode == 60, refused_test_ca
    assert trusted.returncode == 0 and trusted.stdout.endswith("200")
    errors = [r["error"] for r in wait_records(proxy, 3) if r["kind"] == "connect"]
    assert sum(1 for e in errors if e and e.startswith("TLS with the client")) == 2


def test_the_leaf_is_the_run_cas_and_the_key_stays_in_memory(proxy: EgressProxy) -> None:
    assert proxy.ca_bundle is not None and proxy.ca_cert is not None
    folder = proxy.socket_path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["ca-bundle.pem", "proxy.sock", "run-ca.pem"]
    for name in ("ca-bundle.pem", "run-ca.pem"):
        text = (folder / name).read_text()
        assert "PRIVATE KEY" not in text and oct((folder / name).stat().st_mode & 0o777) == "0o644"
    run_ca = proxy.ca_cert.read_text()
    bundle = proxy.ca_bundle.read_text()
    assert bundle.endswith(run_ca) and bundle.count("BEGIN CERTIFICATE") > 10  # the system's CAs as well
    assert proxy.sandbox_files == (str(proxy.ca_bundle), str(proxy.ca_cert))

    raw = connect_unix(proxy.socket_path)
    raw.sendall(b"CONNECT huggingface.co:443 HTTP/1.1\r\nHost: huggingface.co:443\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with context.wrap_socket(raw, server_hostname="huggingface.co") as tls:
        cert = tls.getpeercert()
        assert tls.selected_alpn_protocol() in (None, "http/1.1")
    issuer = dict(item[0] for item in cert["issuer"])
    assert issuer["organizationName"] == "ptb egress proxy" and issuer["commonName"].startswith("ptb run CA ")
    assert ("DNS", "huggingface.co") in cert["subjectAltName"]

    from cryptography import x509

    constraints = x509.load_pem_x509_certificate(run_ca.encode()).extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and "huggingface.co" in {n.value for n in constraints.value.permitted_subtrees or []}


def test_sandbox_env_names_the_bundle_for_every_client(proxy: EgressProxy) -> None:
    env = proxy.sandbox_env(3128)
    bundle = str(proxy.ca_bundle)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"):
        assert env[var] == bundle, var
    assert env["NODE_EXTRA_CA_CERTS"] == str(proxy.ca_cert)
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://127.0.0.1:3128"


PYTHON_CLIENTS = textwrap.dedent(
    """
    import json, sys
    out = {}
    import requests
    for name, path in (("allowed", sys.argv[1]), ("denied", sys.argv[2])):
        r = requests.get("https://huggingface.co" + path, timeout=20)
        out["requests_" + name] = [r.status_code, r.text]
    import huggingface_hub
    path = huggingface_hub.hf_hub_download("Qwen/Qwen3-4B-Base", "config.json")
    out["hub_allowed"] = json.load(open(path))
    try:
        huggingface_hub.hf_hub_download("Qwen/Qwen3-4B", "config.json")
        out["hub_denied"] = "downloaded"
    except Exception as exc:
        out["hub_denied"] = type(exc).__name__ + ": " + str(exc)
    print(json.dumps(out))
    """
)


def test_requests_and_huggingface_hub_in_the_sandboxs_environment(proxy: EgressProxy, hub: TlsOrigin, tmp_path: Path) -> None:
    """Python's clients as the agent runs them: only the variables of sandbox_env point them at the
    proxy and the run CA (requests: REQUESTS_CA_BUNDLE; huggingface_hub's httpx: SSL_CERT_FILE)."""
    with bridge(proxy) as port:
        env = {**client_env(proxy, port, tmp_path), "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_ETAG_TIMEOUT": "20"}  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", PYTHON_CLIENTS, BASE, FORBIDDEN], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["requests_allowed"][0] == 200 and json.loads(out["requests_allowed"][1])["path"] == BASE
    assert out["requests_denied"][0] == 403 and "forbidden model Qwen/Qwen3-4B" in out["requests_denied"][1]
    assert out["hub_allowed"]["path"] == BASE
    assert out["hub_denied"].startswith("LocalEntryNotFoundError")  # its HEAD got a 403 (no body to read)
    assert FORBIDDEN not in hub.paths and "/api/models/Qwen/Qwen3-4B" not in " ".join(hub.paths)
    denied = [(d.method, d.path, d.rule) for d in read_denials(proxy.log_path.parent)]
    assert ("GET", FORBIDDEN, "forbidden_model") in denied and ("HEAD", FORBIDDEN, "forbidden_model") in denied
    snapshot = tmp_path / "hf" / "hub" / "models--Qwen--Qwen3-4B-Base" / "snapshots" / COMMIT / "config.json"
    assert snapshot.is_file()


def _connect(proxy: EgressProxy, target: str) -> tuple[socket.socket, bytes]:
    sock = connect_unix(proxy.socket_path)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return sock, data


def test_the_vendors_host_is_a_plain_tunnel_and_another_vendors_is_denied(proxy: EgressProxy, echo: EchoServer) -> None:
    sock, head = _connect(proxy, "api.anthropic.com:443")
    assert head.startswith(b"HTTP/1.1 200")
    opaque = client_hello("api.anthropic.com") + b" and then bytes it cannot read"
    sock.sendall(opaque)  # a blind tunnel to the echo: the hello names the CONNECT's own host
    sock.shutdown(socket.SHUT_WR)
    echoed = b""
    while piece := sock.recv(65536):
        echoed += piece
    sock.close()
    assert echoed == opaque
    sock, head = _connect(proxy, "api.openai.com:443")
    sock.close()
    assert head.startswith(b"HTTP/1.1 403")
    assert b"hosted LLM API api.openai.com (OpenAI; not this agent's vendor)" in head  # the answer's body
    sock, head = _connect(proxy, "104.18.33.45:443")
    sock.close()
    assert head.startswith(b"HTTP/1.1 403") and b"bare IP address" in head
    anthropic, openai, address = wait_records(proxy, 3)
    assert (anthropic["host"], anthropic["allowed"], anthropic["intercepted"], anthropic["bytes_up"]) == (
        "api.anthropic.com",
        True,
        False,
        len(opaque),
    )
    assert (openai["allowed"], openai["status"], openai["rule"]) == (False, 403, "llm_api")
    assert openai["reason"] == "hosted LLM API api.openai.com (OpenAI; not this agent's vendor)"
    assert (address["rule"], address["allowed"]) == ("address", False)


def test_plain_http_to_the_hub_is_checked_too(tmp_path: Path) -> None:
    origin = Origin()
    thread = threading.Thread(target=origin.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        resolve = {"hf.co": f"127.0.0.1:{origin.port}"}
        proxy, _ = make_proxy(tmp_path, resolve, upstream_ca=None)
        with proxy, bridge(proxy) as port:
            env = client_env(proxy, port, tmp_path)
            for path in (FORBIDDEN, BASE):
                subprocess.run(["curl", "-sS", "-o", "/dev/null", f"http://hf.co{path}"], env=env, timeout=30, check=False)
            records = wait_records(proxy, 2)
    finally:
        origin.shutdown()
        origin.server_close()
        thread.join(TIMEOUT_S)
    assert [(r["kind"], r["path"], r["status"], r["rule"]) for r in records] == [
        ("http", FORBIDDEN, 403, "forbidden_model"),
        ("http", BASE, 200, None),
    ]
    assert [r["path"] for r in origin.requests] == [BASE]


@needs_curl
def test_with_the_policy_off_nothing_is_opened_or_denied(tmp_path: Path, hub: TlsOrigin, ca: TestCA) -> None:
    """The red team's guard-off runs: the Hub is a blind tunnel, the forbidden path reaches it."""
    proxy, policy = make_proxy(tmp_path, {"huggingface.co": f"127.0.0.1:{hub.port}"}, upstream_ca=ca.cert_file, policy=False)
    assert not policy.enabled
    with proxy, bridge(proxy) as port:
        assert proxy.ca_bundle is None and proxy.sandbox_files == ()
        env = client_env(proxy, port, tmp_path)
        assert "SSL_CERT_FILE" not in env
        got = curl({**env, "CURL_CA_BUNDLE": str(ca.cert_file)}, f"https://huggingface.co{FORBIDDEN}")
        (record,) = wait_records(proxy, 1)
    assert got.stdout.endswith("200"), got
    assert hub.paths == [FORBIDDEN]
    assert record["kind"] == "connect" and not record["intercepted"] and record["allowed"]
    assert read_denials(proxy.log_path.parent) == []


def test_the_upstream_leg_is_verified(tmp_path: Path, hub: TlsOrigin) -> None:
    """Without the stand-in's CA among the trusted ones, the proxy refuses the origin: 502."""
    proxy, _ = make_proxy(tmp_path, {"huggingface.co": f"127.0.0.1:{hub.port}"}, upstream_ca=None)
    with proxy:
        status, body = _https_get(proxy, BASE)
        records = wait_records(proxy, 2)
    assert status == 502 and b"certificate verify failed" in body
    request = next(r for r in records if r["kind"] == "https")
    assert request["status"] == 502 and "TLS with the origin" in request["error"] and request["allowed"]
    assert hub.paths == []


def _https_get(
    proxy: EgressProxy, path: str, *, host_header: str = "huggingface.co", target: str | None = None
) -> tuple[int, bytes]:
    sock, head = _connect(proxy, "huggingface.co:443")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert proxy.ca_cert is not None
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with context.wrap_socket(sock, server_hostname="huggingface.co") as tls:
        tls.sendall(f"GET {target or path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while piece := tls.recv(65536):
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_inside_the_tunnel_only_the_tunnels_host_is_served(proxy: EgressProxy, hub: TlsOrigin) -> None:
    status, body = _https_get(proxy, BASE, host_header="evil.example")  # the origin hears its own name
    assert status == 200 and json.loads(body)["host"] == "huggingface.co"
    status, _ = _https_get(proxy, "", target=f"https://huggingface.co{BASE}")  # absolute-form, same host: fine
    assert status == 200
    status, body = _https_get(proxy, "", target="https://api.openai.com/v1/chat/completions")
    assert status == 400 and b"only huggingface.co's own paths" in body
    status, _ = _https_get(proxy, "", target=f"https://huggingface.co{FORBIDDEN}")
    assert status == 403
    assert hub.paths == [BASE, BASE]


def test_bytes_before_the_tunnel_is_established_are_refused(proxy: EgressProxy, hub: TlsOrigin) -> None:
    sock = connect_unix(proxy.socket_path)
    sock.sendall(b"CONNECT huggingface.co:443 HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x05hello")  # a pipelined hello
    data = b""
    while piece := sock.recv(65536):
        data += piece
    sock.close()
    assert data.startswith(b"HTTP/1.1 400") and b"before the tunnel was established" in data
    (record,) = wait_records(proxy, 1)
    assert record["status"] == 400 and record["intercepted"]


def test_read_egress_skips_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "egress.jsonl"
    good = {"t": 2.0, "end": 2.5, "kind": "https", "host": "huggingface.co", "port": 443, "method": "GET",
            "path": FORBIDDEN, "status": 403, "bytes_up": 0, "bytes_down": 0, "allowed": False, "error": None,
            "rule": "forbidden_model", "reason": "forbidden model Qwen/Qwen3-4B (the official instruct model)",
            "intercepted": False, "newer_field": 1}  # fmt: skip
    older = {k: v for k, v in good.items() if k not in ("rule", "reason", "intercepted", "newer_field")}
    log.write_text(json.dumps(good) + "\n" + json.dumps({**older, "t": 1.0, "allowed": True, "status": 200}) + '\n{"t": 3, "ki')
    records = read_egress(tmp_path)
    assert [r.t for r in records] == [1.0, 2.0]
    assert [d.reason for d in read_denials(tmp_path)] == [good["reason"]]
    assert read_egress(tmp_path / "nowhere") == []


SANDBOX_PROBE = textwrap.dedent(
    """
    import json, os, sys, urllib.error, urllib.request
    base, forbidden, folder = sys.argv[1:4]
    out = {}
    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return [r.status, r.read().decode()]
        except urllib.error.HTTPError as e:
            return [e.code, e.read().decode()]
        except Exception as e:
            return [type(e).__name__, str(e)]
    out["allowed"] = get("https://huggingface.co" + base)
    out["denied"] = get("https://huggingface.co" + forbidden)
    out["other_vendor"] = get("https://api.openai.com/v1/models")
    out["files"] = sorted(os.listdir(folder))
    out["private_key_visible"] = any("PRIVATE KEY" in open(os.path.join(folder, n)).read()
                                     for n in out["files"] if n.endswith(".pem"))
    try:
        open(os.path.join(folder, "ca-bundle.pem"), "a").close()
        out["bundle_writable"] = True
    except OSError:
        out["bundle_writable"] = False
    out["uid"] = os.getuid()
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not __import__("ptb.sandbox", fromlist=["bwrap_probe"]).bwrap_probe()[0], reason="bwrap unusable here")
def test_inside_bwrap_the_agent_trusts_the_run_ca_and_cannot_see_its_key(tmp_path: Path, hub: TlsOrigin, ca: TestCA) -> None:
    """The real path of a run: bridge → proxy from inside bubblewrap (as another uid where the harness
    is root), the CA variables of sandbox_env, the CA files in the socket's folder (mounted read-only)."""
    from ptb.egress import BRIDGE, DEFAULT_PORT, bridged_argv
    from ptb.sandbox import SandboxRequest
    from ptb.sandbox.bwrap import BwrapSandbox

    workspace = tmp_path / "ws"
    workspace.mkdir()
    probe = tmp_path / "probe.py"
    probe.write_text(SANDBOX_PROBE)
    python = os.path.realpath(sys.executable)
    proxy, _ = make_proxy(tmp_path, {"huggingface.co": f"127.0.0.1:{hub.port}"}, upstream_ca=ca.cert_file)
    with proxy:
        folder = str(proxy.socket_path.parent)
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(workspace), **proxy.sandbox_env(DEFAULT_PORT)}
        request = SandboxRequest(
            argv=tuple(bridged_argv(python, str(BRIDGE), str(proxy.socket_path), DEFAULT_PORT,
                                    [python, "-I", str(probe), BASE, FORBIDDEN, folder])),  # fmt: skip
            cwd=str(workspace), writable=(str(workspace),), readonly=(str(probe), str(BRIDGE)),
            env=env, network=False, sockets=(str(proxy.socket_path),),
        )  # fmt: skip
        argv, sandbox_env = BwrapSandbox().command(request)
        done = subprocess.run(argv, env=sandbox_env, cwd=workspace, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["allowed"][0] == 200 and json.loads(out["allowed"][1])["path"] == BASE
    assert out["denied"][0] == 403 and "forbidden model Qwen/Qwen3-4B" in out["denied"][1]
    assert out["other_vendor"][0] == 403 or "403" in str(out["other_vendor"][1])  # refused at CONNECT
    assert out["files"] == ["ca-bundle.pem", "proxy.sock", "run-ca.pem"]
    assert out["private_key_visible"] is False and out["bundle_writable"] is False
    assert out["uid"] != 0  # the agent is never root (65534 where the harness is)
    assert hub.paths == [BASE]
    rules = [r.rule for r in read_denials(proxy.log_path.parent)]
    assert sorted(rules) == ["forbidden_model", "llm_api"]


@pytest.mark.parametrize(
    ("hello_name", "rule", "reason"),
    [
        (
            "api.openai.com",
            "llm_api",
            "TLS server name api.openai.com in a tunnel to api.anthropic.com: hosted LLM API api.openai.com",
        ),
        (
            "huggingface.co",
            "hub_by_other_name",
            "TLS server name huggingface.co in a tunnel to api.anthropic.com: the Hub is reached",
        ),
        ("1.2.3.4", "address", "bare IP address"),
    ],
)
def test_a_tunnels_tls_server_name_goes_through_the_policy(proxy: EgressProxy, echo: EchoServer, hello_name: str,
                                                          rule: str, reason: str) -> None:  # fmt: skip
    """On a shared CDN the edge picks the site by the server name: CONNECT to an allowed host with a
    hello for a denied one is refused, the hello never reaches the origin, the client gets a TLS alert."""
    hello = client_hello(hello_name) if hello_name != "1.2.3.4" else _hello_with_raw_sni(b"1.2.3.4")
    sock, head = _connect(proxy, "api.anthropic.com:443")
    assert head.startswith(b"HTTP/1.1 200")
    sock.sendall(hello[:40])  # in two pieces: the proxy reads until the hello is whole
    sock.sendall(hello[40:])
    answer = b""
    while piece := sock.recv(65536):
        answer += piece
    sock.close()
    assert answer == b"\x15\x03\x03\x00\x02\x02\x31"  # a fatal access_denied alert, nothing echoed
    (record,) = wait_records(proxy, 1)
    assert (record["allowed"], record["rule"], record["bytes_up"]) == (False, rule, 0)
    assert reason in record["reason"]


def _hello_with_raw_sni(name: bytes) -> bytes:
    """A minimal ClientHello whose server_name is ``name`` as given (Python refuses to send an address)."""
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    sni = b"\x00\x00" + (len(entry) + 2).to_bytes(2, "big") + len(entry).to_bytes(2, "big") + entry
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + len(sni).to_bytes(2, "big") + sni
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def test_a_tunnels_http_host_goes_through_the_policy_and_an_unreadable_hello_is_refused(proxy: EgressProxy) -> None:
    sock, _ = _connect(proxy, "api.anthropic.com:443")
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 0\r\n\r\n")
    answer = b""
    while piece := sock.recv(65536):
        answer += piece
    sock.close()
    assert answer.startswith(b"HTTP/1.1 403") and b"HTTP Host api.openai.com in a tunnel to api.anthropic.com" in answer
    sock, _ = _connect(proxy, "api.anthropic.com:443")
    sock.sendall(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")  # a handshake record that is no ClientHello
    assert sock.recv(100) == b"\x15\x03\x03\x00\x02\x02\x31"
    sock.close()
    http_record, malformed = wait_records(proxy, 2)
    assert http_record["rule"] == "llm_api" and malformed["rule"] == "policy" and "cannot read" in malformed["reason"]


def test_a_client_that_waits_for_the_server_still_gets_its_tunnel(proxy: EgressProxy, echo: EchoServer) -> None:
    """Server-speaks-first protocols: after SNIFF_S without a byte the tunnel is opaque."""
    import time

    from ptb.egress import proxy as proxy_module

    sock, head = _connect(proxy, "api.anthropic.com:443")
    started = time.monotonic()
    time.sleep(0.2)
    sock.sendall(b"SSH-2.0-client\r\n")  # not TLS, not HTTP: passes at once
    assert sock.recv(100) == b"SSH-2.0-client\r\n"
    assert time.monotonic() - started < proxy_module.SNIFF_S
    sock.close()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_over_https_trusts_the_run_ca_and_is_denied_the_forbidden_repo(
    proxy: EgressProxy, hub: TlsOrigin, tmp_path: Path
) -> None:
    """git's smart HTTP (GIT_SSL_CAINFO): the forbidden repo's info/refs never leaves the host; the base
    repo's reaches the stand-in (which speaks no git, so git fails after a verified TLS exchange)."""
    with bridge(proxy) as port:
        env = {**client_env(proxy, port, tmp_path), "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}

        def ls_remote(repo: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["git", "ls-remote", f"https://huggingface.co/{repo}"], env=env, capture_output=True, text=True, timeout=60
            )

        denied = ls_remote("Qwen/Qwen3-4B")
        base = ls_remote("Qwen/Qwen3-4B-Base")
    assert denied.returncode != 0 and "403" in denied.stderr, denied.stderr
    assert "certificate" not in base.stderr.lower(), base.stderr  # TLS was fine; the stand-in is no git server
    assert hub.paths[0] == "/Qwen/Qwen3-4B-Base/info/refs?service=git-upload-pack"
    assert all(p.startswith("/Qwen/Qwen3-4B-Base/") for p in hub.paths)  # then git's dumb-HTTP fallback
    denials = read_denials(proxy.log_path.parent)
    assert denials and denials[0].path == "/Qwen/Qwen3-4B/info/refs?service"
    assert all(d.rule == "forbidden_model" and d.path and d.path.startswith("/Qwen/Qwen3-4B/") for d in denials)
