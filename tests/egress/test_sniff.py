"""Reading the name a tunnel's first bytes ask for: real ClientHellos, split records, HTTP heads, junk."""

from __future__ import annotations

import pytest
from tls_servers import client_hello

from ptb.egress.sniff import Sniffed, sniff


def test_a_real_client_hello_names_its_server() -> None:
    hello = client_hello("Api.OpenAI.com")
    assert sniff(hello) == Sniffed("tls", "api.openai.com")
    assert sniff(client_hello(None)) == Sniffed("tls", None)  # no SNI at all


def test_a_hello_arriving_in_pieces_is_incomplete_until_whole() -> None:
    hello = client_hello("huggingface.co")
    for cut in (1, 5, 40, len(hello) - 1):
        assert sniff(hello[:cut]).kind == "incomplete", cut
    assert sniff(hello).name == "huggingface.co"


def test_a_hello_split_over_two_tls_records() -> None:
    hello = client_hello("huggingface.co")
    payload = hello[5:]
    half = len(payload) // 2
    split = b"\x16\x03\x01" + half.to_bytes(2, "big") + payload[:half]
    split += b"\x16\x03\x01" + (len(payload) - half).to_bytes(2, "big") + payload[half:]
    assert sniff(split[: len(split) - 3]).kind == "incomplete"
    assert sniff(split) == Sniffed("tls", "huggingface.co")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET /x HTTP/1.1\r\nHost: API.openai.com:443\r\n\r\n", Sniffed("http", "api.openai.com")),
        (b"POST / HTTP/1.1\r\nUser-Agent: x\r\nhost: [2001:db8::1]:80\r\n\r\n", Sniffed("http", "2001:db8::1")),
        (b"GET / HTTP/1.0\r\n\r\n", Sniffed("http", None)),
        (b"GET / HTTP/1.1\r\nHost: a", Sniffed("incomplete")),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Sniffed("other")),
        (b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", Sniffed("malformed")),  # a ServerHello
        (b"\x16\x02\x00\x00\x05hello", Sniffed("malformed")),
        (b"\x16\x03\x01\x00\x00", Sniffed("malformed")),
        (b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", Sniffed("malformed")),  # a body cut short
        (b"", Sniffed("incomplete")),
    ],
)
def test_heads_and_junk(data: bytes, expected: Sniffed) -> None:
    assert sniff(data) == expected
