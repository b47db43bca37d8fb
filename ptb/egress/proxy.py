"""The host side of a sandbox's only way out: an HTTP proxy on a Unix socket that records everything.

    with EgressProxy(scratch / "egress" / "proxy.sock", run_dir / "egress.jsonl",
                     resolve={"api.vendor.com": "gateway.internal:8443"}) as proxy:
        ...  # the sandbox reaches the socket through bridge.py; proxy.records counts the lines

A Unix socket, not a TCP port: a sandbox with its own network namespace cannot reach the host's
loopback, but a socket file bind-mounted into it crosses namespaces. Inside, `ptb.egress.bridge`
turns it back into a TCP proxy on the sandbox's 127.0.0.1.

What it serves (one thread per client connection, standard library only):

- ``CONNECT host:port``: dials out and tunnels bytes both ways (half-closes passed on); one
  ``kind="connect"`` record per tunnel. HTTPS goes this way, so the proxy never sees inside it.
- absolute-form requests (``POST http://host:port/path HTTP/1.1``), any method: forwarded to the
  origin, bodies (Content-Length or chunked) and responses streamed as they come (an SSE
  stream reaches the client event by event), keep-alive with the client; one ``kind="http"``
  record per request. The origin gets ``Connection: close``: one origin connection per request.

Nothing else: an origin-form request (the proxy is not a web server), ``https://`` URLs,
credentials in a URL and malformed messages get a 4xx and no record (nothing left the host).

Who may be dialled: ``policy`` (default: everyone) sees the requested name: a callable
``policy(host, port) -> bool``, or an `EgressPolicy` (`ptb.egress.policy`: the run's forbidden
models on the Hub, other vendors' LLM APIs), whose denials carry a rule and a reason. A denial is
answered 403 with the reason and recorded ``allowed=false`` with ``rule`` and ``reason``.

With an `EgressPolicy`, a CONNECT to one of the Hub's hosts is not a blind tunnel: the proxy
answers the TLS handshake itself with a leaf certificate of a per-run CA (`ptb.egress.tls`; the
sandbox trusts it through ``sandbox_env``), reads each request, applies the path rules, and
forwards what is allowed over its own TLS connection to the real host, verified against the
system's CAs. Each such request is one ``kind="https"`` record; the tunnel itself is a
``kind="connect"`` record with ``intercepted=true``. Every other host stays an opaque tunnel, but its first bytes are read (never decrypted): the
TLS server name or HTTP Host they ask for goes through the policy too (`ptb.egress.sniff`: on a
shared CDN the edge picks the site by that name, whatever the CONNECT said).

Independently of the policy, a name that resolves only to
non-public addresses (loopback, private, link-local: the host's own services, the cluster's
network, cloud metadata) is refused the same way unless ``allow_internal`` — through the proxy
the sandbox would otherwise reach exactly what its network namespace hides. The address that
passed the check is the one dialled (no second lookup to rebind). ``resolve`` names are the
operator's own choice and skip the check: ``{"api.scripted.test": ("127.0.0.1", 8080)}`` or
``{"api.openai.com": "gateway.local"}`` (same port) dial there instead, like ``curl --resolve``;
the Host header stays the requested name.

Records (`ptb.egress.record`) hold no header and no query value. Every read is bounded, every
socket has a timeout, and `stop` ends every open connection and tunnel.
"""

from __future__ import annotations

import http
import ipaddress
import logging
import os
import selectors
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from ptb.egress.http1 import (
    IO_SIZE,
    BadMessage,
    Head,
    Meter,
    Reader,
    StreamError,
    content_length,
    encode_head,
    forwarded_headers,
    parse_request_line,
    parse_status_line,
    read_head,
    relay_chunked,
    relay_fixed,
    relay_until_eof,
)
from ptb.egress.launch import proxy_env
from ptb.egress.policy import Denial, EgressPolicy
from ptb.egress.record import EgressLog, EgressRecord, Kind, redacted_target
from ptb.egress.sniff import MAX_SNIFF, sniff

if TYPE_CHECKING:
    from ptb.egress.tls import Interceptor

log = logging.getLogger(__name__)

Policy = Callable[[str, int], bool]
Resolve = Mapping[str, tuple[str, int]] | Mapping[str, str]

LINGER_S = 0.5  # after an error reply, how long to drain what the client still sends
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes; longer paths go through /proc/self/fd
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_TLS_ACCESS_DENIED = b"\x15\x03\x03\x00\x02\x02\x31"  # a fatal TLS alert, access_denied: the client says why it failed
SNIFF_S = 3.0  # how long a tunnel waits for its client's first bytes (server-speaks-first protocols wait this once)
_MAX_AUTHORITY = 300


def allow_all(host: str, port: int) -> bool:
    return True


class Refused(Exception):
    """A destination the proxy will not dial; the text is the record's reason."""

    def __init__(self, reason: str, rule: str = "internal_address") -> None:
        super().__init__(reason)
        self.rule = rule


def parse_authority(text: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` or ``[v6][:port]`` → (lowercase host without brackets or final dot, port)."""
    bad = BadMessage("malformed host or port", 400, "client")
    if len(text) > _MAX_AUTHORITY:
        raise bad
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise bad
        host, rest = text[1:end], text[end + 1 :]
        if "%" in host:  # a zone id names one of the host's own interfaces
            raise bad
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad from None
    else:
        host, sep, rest = text.partition(":")
        rest = sep + rest
        labels = host.rstrip(".").split(".")
        if not host or any(not label or not _is_label(label) for label in labels):
            raise bad
    if not rest:
        return host.lower().rstrip("."), default_port
    digits = rest[1:]
    if not rest.startswith(":") or not (digits.isascii() and digits.isdigit()) or len(digits) > 5 or not 0 < int(digits) < 65536:
        raise bad
    return host.lower().rstrip("."), int(digits)


def _is_label(label: str) -> bool:
    return label.isascii() and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)


def _parse_resolve(resolve: Resolve | None) -> dict[str, tuple[str, int]]:
    """Name → (address, port); port 0 keeps the requested one."""
    out: dict[str, tuple[str, int]] = {}
    for name, target in (resolve or {}).items():
        if isinstance(target, str):
            if ":" in target and not target.startswith("[") and target.count(":") > 1:
                address, port = target, 0  # a bare IPv6 address
            else:
                address, port = parse_authority(target, 0)
        else:
            address, port = target[0], int(target[1])
        out[name.lower().rstrip(".")] = (address, port)
    return out


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated "::127.0.0.1": not global either


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _IPV4_COMPATIBLE:
            return False
    return ip.is_global and not ip.is_multicast


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _error_response(status: int, reason: str) -> bytes:
    body = (reason + "\n").encode("ascii", "replace")
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _bind_unix(sock: socket.socket, path: Path) -> None:
    if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
        sock.bind(str(path))
        return
    # sun_path is 108 bytes: a deep run folder would not fit. Name it through an open fd.
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


@dataclass
class _Draft:
    """A record being filled in while its connection lasts."""

    t: float
    kind: Kind
    host: str
    port: int
    method: str
    path: str | None = None
    status: int | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    allowed: bool = True
    error: str | None = None
    rule: str | None = None
    reason: str | None = None
    intercepted: bool = False

    def deny(self, rule: str, reason: str) -> None:
        self.allowed, self.status, self.rule, self.reason = False, 403, rule, reason

    def finish(self) -> EgressRecord:
        return EgressRecord(
            t=self.t, end=time.time(), kind=self.kind, host=self.host, port=self.port, method=self.method,
            path=self.path, status=self.status, bytes_up=self.bytes_up, bytes_down=self.bytes_down,
            allowed=self.allowed, error=self.error, rule=self.rule, reason=self.reason, intercepted=self.intercepted,
        )  # fmt: skip


class _Tunnel:
    """Two pumps (one per direction) over a client and an origin socket; the first error wins."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.last_activity = time.monotonic()
        self.error: str | None = None
        self.up = Meter()
        self.down = Meter()
        self._lock = threading.Lock()

    def pump(self, src: socket.socket, dst: socket.socket, meter: Meter, direction: str) -> None:
        try:
            while True:
                try:
                    data = src.recv(IO_SIZE)
                except TimeoutError:
                    # idle this way, but a download may be flowing the other way: only both idle ends it
                    if time.monotonic() - self.last_activity < self.idle_timeout:
                        continue
                    self.fail("idle timeout", src, dst)
                    return
                if not data:
                    _shutdown(dst, socket.SHUT_WR)  # pass the half-close on; the other way goes on
                    return
                self.last_activity = time.monotonic()
                dst.sendall(data)
                meter.n += len(data)
        except OSError as exc:
            self.fail(f"{direction}: {_describe(exc)}", src, dst)

    def fail(self, reason: str, *socks: socket.socket) -> None:
        with self._lock:
            if self.error is None:
                self.error = reason
        for sock in socks:  # wakes the other pump
            _shutdown(sock, socket.SHUT_RDWR)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        # The plain socket's shutdown even for a TLS socket: SSLSocket.shutdown drops its TLS state,
        # which a thread still reading it would trip over. This only wakes it up.
        socket.socket.shutdown(sock, how)
    except OSError:
        pass


class EgressProxy:
    """An HTTP proxy on ``socket_path`` that appends one line per connection to ``log_path``."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        log_path: str | os.PathLike[str],
        *,
        resolve: Resolve | None = None,
        policy: Policy | EgressPolicy | None = None,
        allow_internal: bool = False,
        dial_timeout: float = 10.0,
        idle_timeout: float = 1800.0,  # a reasoning model may think for many minutes before a byte
        keepalive_timeout: float = 120.0,
        max_connections: int = 512,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.log_path = Path(log_path)
        self.policy: Policy | EgressPolicy = policy or allow_all
        self.allow_internal = allow_internal
        self.dial_timeout = dial_timeout
        self.idle_timeout = idle_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_connections = max_connections
        self._resolve = _parse_resolve(resolve)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._connections = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._log: EgressLog | None = None
        self._tls: Interceptor | None = None

    # --- what the sandbox needs ------------------------------------------------------------

    @property
    def ca_bundle(self) -> Path | None:
        """The system's CAs plus the run CA (beside the socket), once started with interception."""
        return self._tls.ca_bundle if self._tls else None

    @property
    def ca_cert(self) -> Path | None:
        """The run CA alone (for NODE_EXTRA_CA_CERTS), once started with interception."""
        return self._tls.ca_cert if self._tls else None

    @property
    def sandbox_files(self) -> tuple[str, ...]:
        """Files the sandbox must see read-only (besides the socket): the CA files, if any."""
        return (str(self._tls.ca_bundle), str(self._tls.ca_cert)) if self._tls else ()

    def sandbox_env(self, port: int) -> dict[str, str]:
        """`proxy_env` for a bridge on ``port``, with the CA variables when the proxy intercepts."""
        return proxy_env(port, ca_bundle=self.ca_bundle, ca_cert=self.ca_cert)

    # --- lifetime -------------------------------------------------------------------------

    @property
    def records(self) -> int:
        """Lines written to the log so far."""
        return self._log.count if self._log else 0

    def start(self) -> Self:
        """Listen on the socket (replacing a stale one); returns once connections are accepted."""
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("an EgressProxy starts once")
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                os.unlink(self.socket_path)  # left by an earlier run that died
            else:
                raise FileExistsError(f"{self.socket_path} exists and is not a socket")
        except FileNotFoundError:
            pass
        policy = self.policy
        if isinstance(policy, EgressPolicy) and policy.enabled:
            from ptb.egress.tls import Interceptor  # cryptography: only where TLS is opened

            # The CA files go beside the socket (outside the workspace, mounted read-only);
            # the CA's key stays in this process.
            self._tls = Interceptor(policy.hub_hosts, self.socket_path.parent, policy.upstream_ca)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _bind_unix(listener, self.socket_path)
            os.chmod(self.socket_path, 0o600)  # the sandbox runs as our uid; other users stay out
            listener.listen(128)
            listener.setblocking(False)
            self._log = EgressLog(self.log_path)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        # accept() on a Unix socket is not woken by shutdown(): stop() writes to this pair instead
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="egress-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, end every open connection and tunnel, join the threads, close the log."""
        if self._stopping.is_set():
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._accept_thread is not None and self._wake_w is not None:
            self._wake_w.send(b"x")
            self._accept_thread.join(timeout)
            self._wake_w.close()
        if self._listener is not None:
            self._listener.close()
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:  # wakes every blocked recv/send; their threads record and close
            _shutdown(sock, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        still = [t.name for t in threads if t.is_alive()]
        if still:
            log.warning("egress proxy: %d thread(s) still running after stop: %s", len(still), ", ".join(still[:5]))
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- bookkeeping ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with self._wake_r, selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if any(key.fileobj is self._listener for key, _ in selector.select()):
                    self._accept_one(self._listener)

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # EMFILE and the like: wait a little, keep serving
            log.warning("egress proxy: accept failed: %s", _describe(exc))
            time.sleep(0.05)
            return
        conn.setblocking(True)
        with self._lock:
            busy = self._connections >= self.max_connections
            if not busy:
                self._connections += 1
                self._sockets.add(conn)
        if busy:
            conn.settimeout(1.0)
            log.warning("egress proxy: more than %d connections; refusing one", self.max_connections)
            self._reply(conn, 503, "too many connections through the egress proxy", linger=False)
            conn.close()
            return
        self._spawn(self._serve, conn)

    def _spawn(self, target: Callable[..., None], *args: object) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except Exception:  # a bug must not take the proxy down with it; the client just closes
                log.exception("egress proxy: unexpected error")
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"egress-{target.__name__}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _record(self, draft: _Draft) -> None:
        if self._stopping.is_set() and (draft.kind == "connect" or draft.error or draft.status is None):
            draft.error = "proxy stopped" + (f" ({draft.error})" if draft.error else "")
        if self._log is not None:
            self._log.write(draft.finish())

    def _reply(self, client: socket.socket, status: int, reason: str, *, linger: bool = True) -> None:
        """An error answer, then a lingering close: closing with unread input would reset the
        connection, and the client could lose the answer before reading it."""
        try:
            client.sendall(_error_response(status, reason))
            if not linger:
                return
            _shutdown(client, socket.SHUT_WR)
            client.settimeout(LINGER_S)
            end, drained = time.monotonic() + LINGER_S, 0
            while time.monotonic() < end and drained < 1 << 20 and (data := client.recv(IO_SIZE)):
                drained += len(data)
        except OSError:
            pass

    # --- one client connection ------------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        reader = Reader(client, "client")
        try:
            while not self._stopping.is_set():
                client.settimeout(self.keepalive_timeout)
                try:
                    head = read_head(reader)
                    if head is None:
                        return
                    method, target, version = parse_request_line(head.start)
                except BadMessage as exc:
                    self._reply(client, exc.status, str(exc))
                    return
                except StreamError:  # closed or timed out between requests: nothing was asked
                    return
                client.settimeout(self.idle_timeout)
                if method == "CONNECT":
                    self._tunnel(reader, client, target)
                    return
                if not self._forward(reader, client, head, method, target, version):
                    return
        finally:
            self._close(client)
            with self._lock:
                self._connections -= 1

    def _denial(self, host: str, port: int, path: str | None = None) -> Denial | None:
        """The policy's verdict on a destination (and a request's path), None if allowed."""
        policy = self.policy
        try:
            if isinstance(policy, EgressPolicy):
                return policy.deny_host(host, port) or (policy.deny_request(host, path) if path is not None else None)
            return None if policy(host, port) else Denial("policy", "denied by policy")
        except Exception as exc:  # a broken policy denies: fail closed
            return Denial("policy", f"policy raised {type(exc).__name__}")

    def _intercepts(self, host: str) -> bool:
        return self._tls is not None and isinstance(self.policy, EgressPolicy) and self.policy.intercepts(host)

    def _refuse(self, draft: _Draft, client: socket.socket, denial: Denial) -> None:
        draft.deny(denial.rule, denial.reason)
        self._record(draft)
        self._reply(client, 403, f"egress proxy: {draft.host}:{draft.port}: denied: {denial.reason}")

    def _open(self, draft: _Draft, client: socket.socket, path: str | None = None) -> socket.socket | None:
        """The origin connection if policy and dialling allow it; else answers, records, None."""
        denial = self._denial(draft.host, draft.port, path)
        if denial is not None:
            self._refuse(draft, client, denial)
            return None
        try:
            origin = self._dial(draft.host, draft.port)
        except Refused as exc:
            self._refuse(draft, client, Denial(exc.rule, str(exc)))
            return None
        except (OSError, ValueError) as exc:  # gaierror, refused, unreachable, timeout; IDNA errors
            draft.status, draft.error = 502, f"dial failed: {_describe(exc)}"
        else:
            if self._track(origin):
                return origin
            origin.close()
            self._record(draft)  # no error of its own: _record names the stop
            return None
        self._record(draft)  # before the reply: its lingering close may take a while
        self._reply(client, draft.status or 502, f"egress proxy: {draft.host}:{draft.port}: {draft.error}")
        return None

    def _dial(self, host: str, port: int) -> socket.socket:
        mapped = self._resolve.get(host)
        if mapped is not None:
            address, mapped_port = mapped
            infos = socket.getaddrinfo(address, mapped_port or port, type=socket.SOCK_STREAM)
            check = False  # the operator's own mapping: a local gateway is the point of it
        else:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            check = not self.allow_internal
        deadline = time.monotonic() + self.dial_timeout
        last_error: OSError | None = None
        internal: list[str] = []
        for family, kind, proto, _, sockaddr in infos:
            ip = str(sockaddr[0])
            if check and not _is_public(ip):
                internal.append(ip)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last_error = TimeoutError()
                break
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(remaining)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small SSE writes go at once
            return sock
        if last_error is not None:
            raise last_error
        if internal:
            raise Refused(f"{internal[0]} is not a public address")
        raise OSError(f"no address for {host}")

    def _tunnel(self, reader: Reader, client: socket.socket, target: str) -> None:
        t0 = time.time()
        try:
            host, port = parse_authority(target, 443)
        except BadMessage as exc:
            self._reply(client, exc.status, str(exc))
            return
        draft = _Draft(t=t0, kind="connect", host=host, port=port, method="CONNECT")
        if self._intercepts(host):
            self._intercept(reader, client, draft)
            return
        origin = self._open(draft, client)
        if origin is None:
            return
        tunnel = _Tunnel(self.idle_timeout)
        try:
            origin.settimeout(self.idle_timeout)
            client.sendall(_ESTABLISHED)
            draft.status = 200
            early = reader.take_buffered()  # a client may send its TLS hello without waiting
            if isinstance(self.policy, EgressPolicy) and self.policy.enabled:
                early, denial = self._sniff(client, early, draft)
                if denial is not None:
                    draft.allowed, draft.rule, draft.reason = False, denial.rule, denial.reason
                    _send_quietly(client, _TLS_ACCESS_DENIED if early[:1] == b"\x16" else _error_response(403, denial.reason))
                    return  # nothing reached the origin
            if early:
                origin.sendall(early)
                tunnel.up.n += len(early)
            down = self._spawn(tunnel.pump, origin, client, tunnel.down, "origin to client")
            tunnel.pump(client, origin, tunnel.up, "client to origin")
            down.join()  # ends: by EOF from the origin, a failure, the idle timeout or stop()
        except OSError as exc:
            tunnel.fail(_describe(exc), client, origin)
        finally:
            self._close(origin)
            draft.bytes_up, draft.bytes_down, draft.error = tunnel.up.n, tunnel.down.n, tunnel.error
            self._record(draft)

    def _sniff(self, client: socket.socket, data: bytes, draft: _Draft) -> tuple[bytes, Denial | None]:
        """The tunnel's first bytes (read for at most SNIFF_S) and the policy's verdict on the name
        they ask for (`ptb.egress.sniff`): a TLS server name or HTTP Host other than the CONNECT's."""
        assert isinstance(self.policy, EgressPolicy)
        deadline = time.monotonic() + SNIFF_S
        seen = sniff(data)
        while seen.kind == "incomplete" and len(data) < MAX_SNIFF and (left := deadline - time.monotonic()) > 0:
            client.settimeout(left)
            try:
                piece = client.recv(IO_SIZE)
            except TimeoutError:
                break
            if not piece:
                break
            data += piece
            seen = sniff(data)
        client.settimeout(self.idle_timeout)
        if data[:1] == b"\x16" and seen.kind in ("incomplete", "malformed"):
            # fail closed: a hello the proxy cannot read could name anything
            return data, Denial("policy", f"a TLS hello the egress proxy cannot read ({seen.kind}) in a tunnel to {draft.host}")
        name = seen.name
        if not name or name == draft.host:
            return data, None
        what = "TLS server name" if seen.kind == "tls" else "HTTP Host"
        denial = self.policy.deny_host(name, draft.port)
        if denial is not None:
            return data, Denial(denial.rule, f"{what} {name} in a tunnel to {draft.host}: {denial.reason}")
        if self.policy.intercepts(name):
            return data, Denial(
                "hub_by_other_name",
                f"{what} {name} in a tunnel to {draft.host}: the Hub is reached by its own name only (where its paths are checked)",
            )
        return data, None

    # --- a tunnel the proxy opens (the Hub's hosts, with an EgressPolicy) -------------------

    def _intercept(self, reader: Reader, client: socket.socket, draft: _Draft) -> None:
        """Answers the client's TLS as ``draft.host`` and serves its requests one by one."""
        assert self._tls is not None
        draft.intercepted = True
        denial = self._denial(draft.host, draft.port)
        if denial is not None:
            self._refuse(draft, client, denial)
            return
        if reader.take_buffered():
            # Bytes sent before our answer would be parsed as TLS by neither side: refuse
            # rather than guess (every real client waits for the 200).
            draft.status, draft.error = 400, "data sent before the tunnel was established"
            self._record(draft)
            self._reply(client, 400, f"egress proxy: {draft.error}")
            return
        tls: ssl.SSLSocket | None = None
        try:
            client.sendall(_ESTABLISHED)
            draft.status = 200
            tls = self._tls.accept(client, draft.host, self.dial_timeout)
            if not self._track(tls):
                return
            inner = Reader(tls, "client")
            while not self._stopping.is_set():
                tls.settimeout(self.keepalive_timeout)
                try:
                    head = read_head(inner)
                    if head is None:
                        return
                    method, target, version = parse_request_line(head.start)
                except BadMessage as exc:
                    self._reply(tls, exc.status, str(exc))
                    return
                except StreamError:
                    return
                tls.settimeout(self.idle_timeout)
                if not self._forward_tls(inner, tls, head, method, target, version, draft):
                    return
        except (OSError, ValueError) as exc:  # the client's handshake failed (it does not trust the run CA?)
            draft.error = f"TLS with the client: {_describe(exc)}"
        finally:
            if tls is not None:
                self._close(tls)
            self._record(draft)

    def _forward_tls(self, reader: Reader, tls: ssl.SSLSocket, head: Head, method: str, target: str,
                     version: str, tunnel: _Draft) -> bool:  # fmt: skip
        """One request inside an opened tunnel; True if the client's connection may carry another."""
        t0 = time.time()
        host, port = tunnel.host, tunnel.port
        try:
            if method == "CONNECT":
                raise BadMessage("CONNECT inside a tunnel")
            if not target.startswith("/"):
                # absolute-form is legal, but the tunnel fixes the host: only its own name is served
                url = urlsplit(target)
                if url.scheme.lower() != "https" or "@" in url.netloc or parse_authority(url.netloc, 443) != (host, port):
                    raise BadMessage(f"only {host}'s own paths go through this tunnel")
                target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            chunked_te, length = _framing(head)
        except BadMessage as exc:
            self._reply(tls, exc.status, str(exc))
            return False
        path, _, query = target.partition("?")
        draft = _Draft(t=t0, kind="https", host=host, port=port, method=method, path=redacted_target(path, query))
        denial = self._denial(host, port, path)
        if denial is not None:
            self._refuse(draft, tls, denial)
            return False
        origin = self._dial_tls(draft, tls)
        if origin is None:
            return False
        authority = host if port == 443 else f"{host}:{port}"  # the Host the origin hears: the tunnel's
        try:
            return self._exchange(reader, tls, origin, head, draft, version, authority, target, chunked_te, length)
        finally:
            self._close(origin)
            tunnel.bytes_up += draft.bytes_up
            tunnel.bytes_down += draft.bytes_down

    def _dial_tls(self, draft: _Draft, client: socket.socket) -> ssl.SSLSocket | None:
        """A verified TLS connection to the real host; else answers 502 (or 403), records, None."""
        assert self._tls is not None
        try:
            raw = self._dial(draft.host, draft.port)
        except Refused as exc:
            self._refuse(draft, client, Denial(exc.rule, str(exc)))
            return None
        except (OSError, ValueError) as exc:
            draft.status, draft.error = 502, f"dial failed: {_describe(exc)}"
        else:
            try:
                origin = self._tls.connect(raw, draft.host, self.dial_timeout)
            except (OSError, ValueError) as exc:  # ssl.SSLCertVerificationError is an OSError
                raw.close()
                draft.status, draft.error = 502, f"TLS with the origin: {_describe(exc)}"
            else:
                if self._track(origin):
                    return origin
                origin.close()
                self._record(draft)
                return None
        self._record(draft)
        self._reply(client, draft.status or 502, f"egress proxy: {draft.host}:{draft.port}: {draft.error}")
        return None

    # --- absolute-form HTTP ---------------------------------------------------------------

    def _forward(self, reader: Reader, client: socket.socket, head: Head, method: str, target: str, version: str) -> bool:
        """One absolute-form request; True if the client connection may carry another."""
        t0 = time.time()
        try:
            scheme = target[:8].lower()
            if not scheme.startswith("http://"):
                https = scheme.startswith("https://")
                raise BadMessage("https:// goes through CONNECT" if https else "only absolute http:// URLs and CONNECT", 400)
            try:
                url = urlsplit(target)
            except ValueError:
                raise BadMessage("malformed URL") from None
            if "@" in url.netloc:
                raise BadMessage("credentials in the URL")  # never forwarded nor recorded
            host, port = parse_authority(url.netloc, 80)
            chunked_te, length = _framing(head)
        except BadMessage as exc:
            self._reply(client, exc.status, str(exc))
            return False
        path = url.path or "/"
        draft = _Draft(t=t0, kind="http", host=host, port=port, method=method, path=redacted_target(path, url.query))
        origin = self._open(draft, client, path)
        if origin is None:
            return False
        try:
            return self._exchange(reader, client, origin, head, draft, version, url.netloc,
                                  path + (f"?{url.query}" if url.query else ""), chunked_te, length)  # fmt: skip
        finally:
            self._close(origin)

    def _exchange(
        self,
        reader: Reader,
        client: socket.socket,
        origin: socket.socket,
        head: Head,
        draft: _Draft,
        version: str,
        authority: str,
        request_target: str,
        chunked_te: list[str],
        length: int | None,
    ) -> bool:
        origin.settimeout(self.idle_timeout)
        to_origin, to_client = _sender(origin, "origin"), _sender(client, "client")
        up, down = Meter(), Meter()
        answered = False  # a final response head went to the client: no 502 after that
        keep = False
        try:
            # The origin hears the URL's authority (RFC 9112 §3.2.2) and "close": one connection
            # per request, so the client's keep-alive never ties an origin connection to it.
            headers = [("Host", authority), *forwarded_headers(head, drop=("host", "expect"))]
            if chunked_te:
                headers.append(("Transfer-Encoding", ", ".join(chunked_te)))
            elif length is not None:
                headers.append(("Content-Length", str(length)))
            headers.append(("Connection", "close"))
            has_body = bool(chunked_te) or bool(length)
            if has_body and version == "HTTP/1.1" and "100-continue" in head.tokens("expect"):
                to_client(b"HTTP/1.1 100 Continue\r\n\r\n")  # Expect is ours to answer: it was not forwarded
            to_origin(encode_head(f"{draft.method} {request_target} {version}", headers))
            if chunked_te:
                relay_chunked(reader, to_origin, up)
            elif length:
                relay_fixed(reader, length, to_origin, up)

            origin_reader = Reader(origin, "origin")
            while True:
                response = read_head(origin_reader)
                if response is None:
                    raise StreamError("origin closed without answering", "origin")
                _, status = parse_status_line(response.start)
                if status == 101:
                    raise StreamError("origin switched protocols", "origin")
                if status >= 200:
                    break
                if status != 100 and version == "HTTP/1.1":  # 103 Early Hints and the like
                    to_client(encode_head(response.start, forwarded_headers(response)))

            response_te = response.tokens("transfer-encoding")
            response_length = None if response_te else content_length(response, "origin")
            if draft.method == "HEAD" or status in (204, 304):
                mode = "none"
            elif response_te:
                mode = "chunked" if response_te[-1] == "chunked" else "eof"
            else:
                mode = "eof" if response_length is None else "fixed"
            dechunk = mode == "chunked" and version != "HTTP/1.1"  # a 1.0 client: close-delimited
            keep = version == "HTTP/1.1" and "close" not in head.tokens("connection") and mode != "eof" and not dechunk
            out = forwarded_headers(response)
            if mode == "chunked" and not dechunk:
                out.append(("Transfer-Encoding", ", ".join(response_te)))
            elif response_length is not None and mode != "eof":
                out.append(("Content-Length", str(response_length)))
            if not keep:
                out.append(("Connection", "close"))
            to_client(encode_head(response.start, out))
            answered, draft.status = True, status
            if mode == "chunked":
                relay_chunked(origin_reader, to_client, down, dechunk=dechunk)
            elif mode == "fixed" and response_length:
                relay_fixed(origin_reader, response_length, to_client, down)
            elif mode == "eof":
                relay_until_eof(origin_reader, to_client, down)
        except StreamError as exc:
            keep = False
            draft.error = str(exc)
            if not answered and exc.side != "client":
                draft.status = 502
                self._reply(client, 502, f"egress proxy: {draft.host}:{draft.port}: {exc}")
            elif not answered and isinstance(exc, BadMessage):
                self._reply(client, exc.status, str(exc))
        finally:
            draft.bytes_up, draft.bytes_down = up.n, down.n
            self._record(draft)
        return keep


def _framing(head: Head) -> tuple[list[str], int | None]:
    """A request's Transfer-Encoding items and Content-Length; BadMessage if they conflict."""
    chunked_te = head.tokens("transfer-encoding")
    length = content_length(head, "client")
    if chunked_te and (chunked_te[-1] != "chunked" or length is not None):
        raise BadMessage("unsupported Transfer-Encoding framing")  # the stuff of request smuggling
    return chunked_te, length


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass


def _sender(sock: socket.socket, side: str) -> Callable[[bytes], None]:
    def send(data: bytes) -> None:
        try:
            sock.sendall(data)
        except TimeoutError:
            raise StreamError(f"{side} timed out", side) from None
        except OSError as exc:
            raise StreamError(f"{side} write failed: {_describe(exc)}", side) from None

    return send
