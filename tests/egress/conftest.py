"""Fixtures for the egress tests: a started origin, echo server and proxy (see egress_servers.py).

The proxy maps ``api.scripted.test`` to the origin, ``echo.scripted.test`` to the echo server and
``down.scripted.test`` to a closed port; it logs to ``<tmp>/run/egress.jsonl``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from egress_servers import TIMEOUT_S, EchoServer, Origin, closed_port

from ptb.egress import EgressProxy


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.sse_seen_first.set()
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT_S)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def resolve(origin: Origin, echo: EchoServer) -> dict[str, tuple[str, int]]:
    return {
        "api.scripted.test": ("127.0.0.1", origin.port),
        "echo.scripted.test": ("127.0.0.1", echo.port),
        "down.scripted.test": ("127.0.0.1", closed_port()),
    }


@pytest.fixture
def proxy(tmp_path: Path, resolve: dict[str, tuple[str, int]]) -> Iterator[EgressProxy]:
    with EgressProxy(tmp_path / "egress" / "proxy.sock", tmp_path / "run" / "egress.jsonl", resolve=resolve,
                     dial_timeout=2.0, idle_timeout=TIMEOUT_S, keepalive_timeout=TIMEOUT_S) as started:  # fmt: skip
        yield started
