"""The bubblewrap backend: private PID/IPC/UTS (and network) namespaces, host read-only.

Inside: the host's filesystem read-only, a private /dev (plus the NVIDIA device nodes, so GPUs
keep working), a private /proc and /tmp, the request's writable paths read-write, no network
unless asked (only a loopback interface), no host process visible.

The environment is handed to bwrap through Popen's ``env`` rather than ``--setenv`` pairs: bwrap
passes its own environment on unchanged, and values given as arguments would sit in the host's
process table (readable by every user of the node) — the agent's API key among them.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ptb.sandbox.base import Sandbox, SandboxRequest, sandbox_kind

log = logging.getLogger(__name__)

KEEPER = Path(__file__).resolve().parent / "keeper.py"


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _namespace_flags(network: bool) -> list[str]:
    flags = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "ptb-sandbox"]
    if not network:
        flags.append("--unshare-net")
    # die-with-parent: if the supervising process dies, the sandbox (and all in it) dies too.
    # new-session: the agent cannot push keystrokes into the harness's terminal (TIOCSTI).
    return flags + ["--die-with-parent", "--new-session"]


def _filesystem_flags() -> list[str]:
    flags = ["--ro-bind", "/", "/", "--dev", "/dev"]
    for node in sorted(glob.glob("/dev/nvidia*")):
        flags += ["--dev-bind-try", node, node]
    return flags + ["--proc", "/proc", "--tmpfs", "/tmp"]


@functools.lru_cache(maxsize=1)
def bwrap_probe() -> tuple[bool, str]:
    """Whether bwrap can build our strictest sandbox here (checked once per process), and why not."""
    bwrap = _bwrap_path()
    if bwrap is None:
        return False, "bwrap is not installed (apt-get install bubblewrap)"
    argv = [bwrap, *_namespace_flags(network=False), *_filesystem_flags(), "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap probe failed: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        why = detail[-1] if detail else f"exit code {done.returncode}"
        log.info("bwrap probe failed: %s", why)
        return False, f"bwrap cannot create namespaces here ({why}); user namespaces may be disabled"
    return True, "ok"


def bwrap_works() -> bool:
    return bwrap_probe()[0]


def _runtime_paths_under_tmp() -> list[str]:
    """The interpreter, the venv and the project, where they live under /tmp: the sandbox's
    private /tmp would otherwise hide the very Python that runs the agent and evaluate.py."""
    from ptb.paths import PROJECT_ROOT

    candidates = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), str(PROJECT_ROOT)}
    under_tmp = [os.path.realpath(p) for p in candidates if os.path.realpath(p).startswith("/tmp/")]
    # a parent covers its children; binding both would be harmless but noisy
    return sorted(p for p in under_tmp if not any(p != q and p.startswith(q + "/") for q in under_tmp))


def _keeper_command() -> list[str]:
    # The host interpreter without site-packages: the keeper needs only the standard library.
    return [os.path.realpath(sys.executable), "-I", "-S", str(KEEPER)]


@sandbox_kind("bwrap")
class BwrapSandbox(Sandbox):
    kind = "bwrap"
    warning = None
    launcher_names = frozenset({"bwrap"})
    isolates_network = True

    def __init__(self) -> None:
        ok, why = bwrap_probe()
        if not ok:
            raise RuntimeError(f"sandbox kind 'bwrap' is unavailable: {why}; use sandbox=auto or sandbox=none")
        self.bwrap = _bwrap_path()

    def command(self, request: SandboxRequest) -> tuple[list[str], dict[str, str]]:
        argv = [str(self.bwrap), *_namespace_flags(request.network), *_filesystem_flags()]
        # Order matters: later mounts cover earlier ones. First what the private /tmp would
        # hide but the agent needs (a checkout or venv under /tmp), then the hidden folders,
        # the writable paths on top of them, then read-only paths (which win even inside a
        # writable one).
        for path in _runtime_paths_under_tmp():
            argv += ["--ro-bind", path, path]
        for path in request.hidden:
            if os.path.isdir(path):
                argv += ["--tmpfs", path]
        for path in request.writable:
            argv += ["--bind", path, path]
        for path in (*request.readonly, str(KEEPER)):
            argv += ["--ro-bind", path, path]
        argv += ["--chdir", request.cwd, "--", *_keeper_command(), *request.argv]
        return argv, dict(request.env)
