"""A stand-in HTTPS "huggingface.co" on 127.0.0.1 with its own test CA, and a bridge to reach the proxy.

ca = TestCA(tmp_path)                        # ca.cert_file: the CA the proxy's upstream leg trusts
hub = TlsOrigin(ca, "huggingface.co")        # answers every path with JSON; Hub-like headers on /resolve/
with bridge(proxy) as port: ...              # curl/requests/httpx reach the proxy at 127.0.0.1:port
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from egress_servers import TIMEOUT_S

from ptb.egress import BRIDGE, EgressProxy

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class TestCA:
    """A CA of the test's own, unknown to the system: only a client that trusts it can verify the origin."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ptb test upstream CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.cert_file = folder / "test-ca.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        chain = self.folder / f"{host}.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context


class TlsOrigin(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 with a certificate of ``ca`` for ``host``; records every request's path."""

    daemon_threads = True

    def __init__(self, ca: TestCA, host: str) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.port = self.server_address[1]
        self.paths: list[str] = []
        self.hosts: list[str] = []
        self.socket = ca.server_context(host).wrap_socket(self.socket, server_side=True)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(TIMEOUT_S)


class _HubHandler(BaseHTTPRequestHandler):
    """Every path: its JSON echo. Under /resolve/ the headers huggingface_hub reads for a download."""

    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT_S
    server: TlsOrigin

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        self.server.paths.append(self.path)
        self.server.hosts.append(self.headers.get("Host", ""))
        body = json.dumps({"path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if "/resolve/" in self.path:
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", '"stand-in-etag"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer


def client_hello(server_name: str | None) -> bytes:
    """The ClientHello Python's ssl sends for ``server_name`` (None: no SNI), as it goes on the wire."""
    context = ssl.create_default_context()
    if server_name is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


@contextlib.contextmanager
def bridge(proxy: EgressProxy) -> Iterator[int]:
    """A standalone bridge.py on a free port of the host's loopback, relaying to the proxy."""
    argv = [os.path.realpath(sys.executable), "-I", "-S", str(BRIDGE), str(proxy.socket_path), "0"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline().decode()
        assert ready.startswith("bridge: listening on 127.0.0.1:"), ready
        yield int(ready.rsplit(":", 1)[1])
    finally:
        proc.kill()
        proc.wait(TIMEOUT_S)
        for stream in (proc.stdin, proc.stderr):
            if stream:
                stream.close()
