"""How a run wires the egress path into a sandbox: the agent's command and its proxy variables.

    argv = bridged_argv(python, str(BRIDGE), str(socket_path), DEFAULT_PORT, agent_argv)
    env = {**agent_env, **proxy_env(DEFAULT_PORT)}

The port is the sandbox's own (its network namespace holds nothing else), so a fixed one does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

BRIDGE = Path(__file__).resolve().parent / "bridge.py"
DEFAULT_PORT = 3128  # the customary proxy port; inside the sandbox's namespace it is always free

# Loopback targets never go to the proxy: inside the sandbox they are the sandbox's own (a vLLM
# server the agent started), which the host could not reach anyway (the proxy refuses loopback).
# Without this, curl, urllib, requests and httpx all send 127.0.0.1 and localhost to the proxy.
# "[::1]" would be right for urllib, but httpx cannot parse it and then fails to build any client.
NO_PROXY = "localhost,127.0.0.1,::1"


# Who reads which CA variable. Each names a whole bundle (the system's CAs and the run CA) and
# replaces the client's own store, so that the hosts the proxy tunnels keep their real
# certificates trusted: OpenSSL, Python's ssl (urllib, aiohttp), httpx (huggingface_hub), uv and
# Go read SSL_CERT_FILE; requests REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE), curl CURL_CA_BUNDLE,
# git GIT_SSL_CAINFO, pip PIP_CERT. Node adds NODE_EXTRA_CA_CERTS (the run CA alone) to its own.
CA_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT")


def proxy_env(
    port: int, ca_bundle: str | os.PathLike[str] | None = None, ca_cert: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """The variables that route the agent's HTTP(S) clients through the bridge on ``port``.

    Both spellings: curl and wget read only the lowercase ``http_proxy``; Python's urllib,
    requests, httpx, pip, uv, git and the Hugging Face hub read either. ``NODE_USE_ENV_PROXY``
    makes Node's own http and fetch honour them (Node ≥ 24; older Node ignores it, and npm has
    its own reading of these variables). ALL_PROXY covers what the others do not name.
    A client that ignores all of these simply has no network: the sandbox has no other way out.

    ``ca_bundle``/``ca_cert`` (`EgressProxy.ca_bundle`/``ca_cert``, when the proxy opens the
    Hub's TLS) add the CA variables (`CA_BUNDLE_VARS`, ``NODE_EXTRA_CA_CERTS``).
    """
    url = f"http://127.0.0.1:{port}"
    env = {"NODE_USE_ENV_PROXY": "1"}
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = url
    env["no_proxy"] = env["NO_PROXY"] = NO_PROXY
    if ca_bundle is not None:
        env.update(dict.fromkeys(CA_BUNDLE_VARS, os.fspath(ca_bundle)))
    if ca_cert is not None:
        env["NODE_EXTRA_CA_CERTS"] = os.fspath(ca_cert)
    return env


def bridged_argv(python: str, bridge_py: str, socket_path: str, port: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run by the bridge, which listens on ``port`` first (see `ptb.egress.bridge`)."""
    if not argv:
        raise ValueError("bridged_argv needs a command to run")
    return [python, "-I", "-S", bridge_py, socket_path, str(port), "--", *argv]
