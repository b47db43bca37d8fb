"""TLS for the few hosts the egress proxy opens: a per-run CA, leaf certificates on demand.

    tls = Interceptor(("huggingface.co", "hf.co"), folder=socket_dir, upstream_ca=None)
    tls.ca_bundle          # <folder>/ca-bundle.pem: the system's CAs + the run CA (for SSL_CERT_FILE)
    tls.ca_cert            # <folder>/run-ca.pem: the run CA alone (for NODE_EXTRA_CA_CERTS)
    server = tls.accept(client_socket, "huggingface.co")   # the sandbox's side, our leaf certificate
    origin = tls.connect(origin_socket, "huggingface.co")  # the real Hub, verified against the system

Why these choices:

- The CA is made when the proxy starts and its key never leaves this process's memory: it is
  never written to a file, and a leaf key reaches OpenSSL through a memfd (a file without a
  path, closed right after loading), so nothing the sandbox can open ever holds a private key.
- The CA is name-constrained (RFC 5280, critical) to the intercepted hosts: were its key to
  leak anyway, it could not vouch for any other site.
- The bundle holds the system's CAs too: ``SSL_CERT_FILE`` (and ``REQUESTS_CA_BUNDLE``...)
  replaces a client's trust store, and every other host is a plain tunnel to its real certificate.
- Only ``http/1.1`` is offered by ALPN: the proxy reads HTTP/1.x only (every Hub client speaks it).
- The upstream leg trusts the system's CAs (the proxy's own environment), plus ``upstream_ca``
  where given (the tests' stand-in Hub on 127.0.0.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 60  # longer than any run's budget; a fresh CA every run anyway
_ALPN = ["http/1.1"]


class RunCA:
    """A CA for one run, constrained to ``hosts`` (and their subdomains)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ptb egress proxy"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"ptb run CA {secrets.token_hex(6)}"),
        ])  # fmt: skip
        public = self._key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))  # clocks of sandbox and host may differ
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
            .add_extension(
                x509.NameConstraints(permitted_subtrees=[x509.DNSName(h) for h in hosts], excluded_subtrees=None), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def leaf(self, host: str) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for ``host``, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS - 2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def system_ca_pem() -> str:
    """The CAs this host trusts (the OpenSSL default file, else certifi's bundle), as PEM text."""
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile]
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            text = Path(candidate).read_text(encoding="ascii", errors="replace")
            if "-----BEGIN CERTIFICATE-----" in text:
                return text
    # an OSError: the proxy's start fails as any other of its I/O does (the solve retries it as infrastructure)
    raise FileNotFoundError(f"no CA bundle of the system found (tried {[c for c in candidates if c]})")


def _write_public(path: Path, data: str) -> None:
    """A world-readable file (the sandbox's uid may differ from ours), replaced atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)  # whatever the umask
    os.replace(tmp, path)


def _load_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Loads a certificate and key without a file anyone else could open (a memfd, then closed)."""
    fd = os.memfd_create("ptb-egress-leaf", os.MFD_CLOEXEC)
    try:
        data = memoryview(cert_pem + key_pem)
        while data:
            data = data[os.write(fd, data) :]
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class Interceptor:
    """The TLS side of the proxy for the intercepted hosts: one CA, a leaf context per host."""

    def __init__(self, hosts: Sequence[str], folder: str | os.PathLike[str], upstream_ca: str | None = None) -> None:
        self.hosts = tuple(hosts)
        self._ca = RunCA(self.hosts)
        folder = Path(folder)
        self.ca_cert = folder / "run-ca.pem"
        self.ca_bundle = folder / "ca-bundle.pem"
        ca_text = self._ca.cert_pem.decode("ascii")
        _write_public(self.ca_cert, ca_text)
        system = system_ca_pem()
        _write_public(self.ca_bundle, system.rstrip("\n") + "\n\n# ptb egress proxy: this run's CA\n" + ca_text)
        self._upstream = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if upstream_ca:
            self._upstream.load_verify_locations(cafile=upstream_ca)
        self._upstream.set_alpn_protocols(_ALPN)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def server_context(self, host: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.set_alpn_protocols(_ALPN)
                _load_chain(context, *self._ca.leaf(host))
                self._contexts[host] = context
            return context

    def accept(self, sock: socket.socket, host: str, timeout: float) -> ssl.SSLSocket:
        """The client's TLS handshake with our certificate for ``host``; the socket is taken over."""
        return _handshake(self.server_context(host).wrap_socket(sock, server_side=True, do_handshake_on_connect=False), timeout)

    def connect(self, sock: socket.socket, host: str, timeout: float) -> ssl.SSLSocket:
        """TLS to the real ``host``, its certificate verified (system CAs + upstream_ca)."""
        return _handshake(self._upstream.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False), timeout)


def _handshake(tls: ssl.SSLSocket, timeout: float) -> ssl.SSLSocket:
    try:
        tls.settimeout(timeout)
        tls.do_handshake()
    except BaseException:
        tls.close()  # the plain socket was taken over: nobody else would close it
        raise
    return tls
