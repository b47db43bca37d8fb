"""How a run wires the egress path into a sandbox: the agent's command and its proxy variables.

    argv = bridged_argv(python, str(BRIDGE), str(socket_path), DEFAULT_PORT, agent_argv)
    env = {**agent_env, **proxy_env(DEFAULT_PORT)}

The port is the sandbox's own (its network namespace holds nothing else), so a fixed one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

BRIDGE = Path(__file__).resolve().parent / "bridge.py"
DEFAULT_PORT = 3128  # the customary proxy port; inside the sandbox's namespace it is always free

# Loopback targets never go to the proxy: inside the sandbox they are the sandbox's own (a vLLM
# server the agent started), which the host could not reach anyway (the proxy refuses loopback).
# Without this, curl, urllib, requests and httpx all send 127.0.0.1 and localhost to the proxy.
# "[::1]" would be right for urllib, but httpx cannot parse it and then fails to build any client.
NO_PROXY = "localhost,127.0.0.1,::1"


def proxy_env(port: int) -> dict[str, str]:
    """The variables that route the agent's HTTP(S) clients through the bridge on ``port``.

    Both spellings: curl and wget read only the lowercase ``http_proxy``; Python's urllib,
    requests, httpx, pip, uv, git and the Hugging Face hub read either. ``NODE_USE_ENV_PROXY``
    makes Node's own http and fetch honour them (Node ≥ 24; older Node ignores it, and npm has
    its own reading of these variables). ALL_PROXY covers what the others do not name.
    A client that ignores all of these simply has no network: the sandbox has no other way out.
    """
    url = f"http://127.0.0.1:{port}"
    env = {"NODE_USE_ENV_PROXY": "1"}
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = url
    env["no_proxy"] = env["NO_PROXY"] = NO_PROXY
    return env


def bridged_argv(python: str, bridge_py: str, socket_path: str, port: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run by the bridge, which listens on ``port`` first (see `ptb.egress.bridge`)."""
    if not argv:
        raise ValueError("bridged_argv needs a command to run")
    return [python, "-I", "-S", bridge_py, socket_path, str(port), "--", *argv]
