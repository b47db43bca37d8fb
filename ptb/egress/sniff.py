"""Which name a tunnel's first bytes ask for: the TLS ClientHello's server name, or an HTTP Host.

    seen = sniff(first_bytes)     # Sniffed("tls", "api.openai.com") | ("http", host) | ("other", None)
                                  # | ("incomplete", None): read more (bounded by MAX_SNIFF)

Why: a CONNECT names one host, but on a shared CDN (Cloudflare, CloudFront) every edge address
serves every site, and the edge picks the site by the TLS server name. ``CONNECT allowed.example``
with a ClientHello for ``api.openai.com`` would reach OpenAI through a tunnel the policy let
through; so would any name that resolves to the Hub's addresses (wildcard DNS services). The
proxy reads the hello (never decrypts anything) and applies the policy to that name as well.
Encrypted Client Hello hides the inner name; its outer name is what is checked.

Parsing is bounded and defensive: the bytes are the hostile agent's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_SNIFF = 64 * 1024  # a ClientHello with post-quantum key shares is a few KB; an HTTP head 64 KB at most
_HTTP_METHOD = re.compile(rb"^[A-Z]{3,10} ")
_HOST_LINE = re.compile(rb"\r?\nhost:[ \t]*([^\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Sniffed:
    kind: Literal["tls", "http", "other", "incomplete", "malformed"]
    name: str | None = None  # lowercase, without port or final dot


def sniff(data: bytes) -> Sniffed:
    if not data:
        return Sniffed("incomplete")
    if data[0] == 0x16:
        return _tls(data)
    if _HTTP_METHOD.match(data[:11]) or (len(data) < 11 and data.isupper()):
        return _http(data)
    return Sniffed("other")


def _tls(data: bytes) -> Sniffed:
    """The server_name of a ClientHello that may span several TLS records."""
    handshake = bytearray()
    offset = 0
    while True:
        if len(data) < offset + 5:
            return Sniffed("incomplete")
        content_type, major, length = data[offset], data[offset + 1], int.from_bytes(data[offset + 3 : offset + 5], "big")
        if content_type != 0x16 or major != 3 or length == 0 or length > 16384 + 256:
            return Sniffed("malformed")
        if len(data) < offset + 5 + length:
            return Sniffed("incomplete")
        handshake += data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if len(handshake) >= 4:
            if handshake[0] != 0x01:  # not a ClientHello
                return Sniffed("malformed")
            body_length = int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= 4 + body_length:
                return _client_hello(bytes(handshake[4 : 4 + body_length]))


def _client_hello(body: bytes) -> Sniffed:
    try:
        at = 2 + 32  # legacy_version, random
        at += 1 + body[at]  # session id
        at += 2 + int.from_bytes(body[at : at + 2], "big")  # cipher suites
        at += 1 + body[at]  # compression methods
        if at == len(body):
            return Sniffed("tls")  # no extensions: no server name
        end = at + 2 + int.from_bytes(body[at : at + 2], "big")
        at += 2
        if end > len(body):
            return Sniffed("malformed")
        while at + 4 <= end:
            kind, length = int.from_bytes(body[at : at + 2], "big"), int.from_bytes(body[at + 2 : at + 4], "big")
            at += 4
            if kind == 0:  # server_name: a list of (type, name); type 0 is a host name
                names = body[at : at + length]
                pos = 2
                while pos + 3 <= len(names):
                    name_type, name_length = names[pos], int.from_bytes(names[pos + 1 : pos + 3], "big")
                    name = names[pos + 3 : pos + 3 + name_length]
                    if name_type == 0:
                        return Sniffed("tls", _host(name))
                    pos += 3 + name_length
                return Sniffed("malformed")
            at += length
        return Sniffed("tls")
    except IndexError:
        return Sniffed("malformed")


def _http(data: bytes) -> Sniffed:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    if end < 0:
        return Sniffed("incomplete") if len(data) < MAX_SNIFF else Sniffed("malformed")
    found = _HOST_LINE.search(data[: end + 2])
    if found is None:
        return Sniffed("http")
    authority = found.group(1).strip()
    if authority.startswith(b"["):
        return Sniffed("http", _host(authority[1 : authority.find(b"]")]))
    return Sniffed("http", _host(authority.split(b":", 1)[0]))


def _host(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip().lower().rstrip(".")
