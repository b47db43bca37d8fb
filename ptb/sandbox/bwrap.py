"""The bubblewrap backend: an unprivileged agent in private namespaces, the host read-only.

Inside: the host's filesystem read-only, a private /dev (plus the device nodes of the run's own
GPUs, `ptb.sandbox.gpus`), a private /proc and /tmp (or the request's folder as /tmp), the request's
writable paths read-write, its hidden paths empty, no network unless asked (only a loopback
interface), no host process visible.

Who the agent is (the escape this closes: as root with its capabilities, an agent made its own
mount namespace, remounted the host read-write and wrote a forged metrics.json into its real
run folder):

- the harness runs as root: bwrap (root) builds the namespaces and mounts, keeping only
  CAP_SETUID/CAP_SETGID; the keeper, its first process, drops to the unprivileged host uid
  `AGENT_UID` (no groups), which clears every capability, before anything of the agent runs.
  The agent is then a real non-root user of the host: root-only files (keys, tokens,
  /etc/shadow) and root's sockets (docker, systemd, Ray) are closed to it by plain permissions,
  and the harness chowns the request's writable paths (and sockets) to that uid.
- the harness runs as a normal user: a user namespace of its own (``--unshare-user``) with every
  capability dropped and, where bwrap supports it, ``--disable-userns``. The agent has the
  harness's uid, so what must stay out of its reach is hidden (the request's ``hidden``).
- always: no_new_privs, and the seccomp filter of `ptb.sandbox.seccomp` (no namespaces, no
  mounts, no keyrings, no io_uring, ...) loaded by the keeper, so nothing the agent starts can
  regain a capability or make a mount.

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
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ptb.sandbox.base import Sandbox, SandboxRequest, sandbox_kind
from ptb.sandbox.gpus import GpuMappingError, GpuMounts, gpu_mounts, node_gpus
from ptb.sandbox.seccomp import agent_filter

log = logging.getLogger(__name__)

KEEPER = Path(__file__).resolve().parent / "keeper.py"


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


class SandboxSetupError(RuntimeError):
    """The host is set up so that this sandbox cannot work (a needed path closed to the agent)."""


# The host uid an agent runs as when the harness is root: "nobody" owns nothing of the host's.
AGENT_UID = AGENT_GID = 65534


def harness_is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def bwrap_supports(flag: str) -> bool:
    """Whether this host's bwrap knows ``flag`` (its --help names it); asked once per flag."""
    bwrap = _bwrap_path()
    if bwrap is None:
        return False
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in (done.stdout + done.stderr)


def _privilege_flags(as_root: bool) -> list[str]:
    if as_root:
        # No user namespace: the agent becomes a real unprivileged host user (see the keeper).
        # The keeper needs these to empty the bounding set and drop to it; setresuid to a
        # non-root uid then clears them.
        keep = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
        return ["--cap-drop", "ALL", *(flag for cap in keep for flag in ("--cap-add", cap))]
    flags = ["--unshare-user", "--cap-drop", "ALL"]
    if bwrap_supports("--disable-userns"):  # bwrap >= 0.8; the seccomp filter covers older ones
        flags.append("--disable-userns")
    return flags


def _namespace_flags(network: bool, as_root: bool) -> list[str]:
    flags = [*_privilege_flags(as_root), "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    flags += ["--hostname", "ptb-sandbox"]
    if not network:
        flags.append("--unshare-net")
    # die-with-parent: if the supervising process dies, the sandbox (and all in it) dies too.
    # new-session: the agent cannot push keystrokes into the harness's terminal (TIOCSTI).
    return flags + ["--die-with-parent", "--new-session"]


def _filesystem_flags(tmp: str | None = None, gpus: GpuMounts | None = None) -> list[str]:
    flags = ["--ro-bind", "/", "/", "--dev", "/dev"]
    nodes = sorted(glob.glob("/dev/nvidia*")) if gpus is None else gpus.devices
    for node in nodes:
        flags += ["--dev-bind-try", node, node]
    flags += ["--proc", "/proc"]
    for entry in gpus.masked if gpus is not None else ():
        flags += ["--tmpfs", entry]  # another run's GPU: not listed to NVML either
    # /tmp as every program expects it: world-writable and sticky
    return flags + (["--bind", tmp, "/tmp"] if tmp else ["--perms", "1777", "--tmpfs", "/tmp"])


class _MountPoints:
    """The folders a mount needs above it, made traversable. Where bwrap has to create the
    folders leading to a mount point (inside /tmp or a hidden folder) it makes them mode 0700 and
    root's, which the agent, another user, could not pass through to its own workspace; so each
    one is created first, explicitly, with mode 0755."""

    def __init__(self) -> None:
        self.roots = ["/tmp"]  # folders whose contents the sandbox builds itself
        self.bound: list[str] = []  # bind mounts: the folders inside them exist already
        self.created: set[str] = set()

    def flags_before(self, dest: str) -> list[str]:
        flags: list[str] = []
        inside = [r for r in self.roots if dest != r and _is_under(dest, r)]
        if inside:
            root = max(inside, key=len)
            parent, chain = os.path.dirname(dest), []
            while parent != root and _is_under(parent, root):
                chain.append(parent)
                parent = os.path.dirname(parent)
            for folder in reversed(chain):
                if folder not in self.created and not any(_is_under(folder, b) for b in self.bound):
                    flags += ["--perms", "0755", "--dir", folder]
                    self.created.add(folder)
        return flags

    def mount(self, kind: str, source: str, dest: str) -> list[str]:
        flags = self.flags_before(dest)
        if kind == "--tmpfs":
            self.roots.append(dest)
            return [*flags, "--perms", "0755", "--tmpfs", dest]
        self.bound.append(dest)
        return [*flags, kind, source, dest]


@functools.lru_cache(maxsize=1)
def bwrap_probe() -> tuple[bool, str]:
    """Whether bwrap can build our strictest sandbox here (checked once per process), and why not."""
    bwrap = _bwrap_path()
    if bwrap is None:
        return False, "bwrap is not installed (apt-get install bubblewrap)"
    argv = [bwrap, *_namespace_flags(network=False, as_root=harness_is_root()), *_filesystem_flags(), "--", "true"]
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


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _runtime_paths() -> tuple[str, ...]:
    """What runs the agent's Python and evaluate.py: the venv, the interpreter's installation and
    its bin folder, the project."""
    from ptb.paths import PROJECT_ROOT

    return (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), str(PROJECT_ROOT))


def _runtime_paths_to_rebind(covered: Sequence[str]) -> list[str]:
    """The runtime paths that live under /tmp or a hidden folder: the sandbox's private /tmp (or
    an empty hidden folder) would otherwise hide the very Python that runs the agent."""
    candidates = set(_runtime_paths())
    folders = ["/tmp", *(os.path.realpath(c) for c in covered)]
    hidden = [os.path.realpath(p) for p in candidates if any(_is_under(os.path.realpath(p), f) for f in folders)]
    # a parent covers its children; binding both would be harmless but noisy
    return sorted(p for p in hidden if not any(p != q and _is_under(p, q) for q in hidden))


def _traversable(folder: str, uid: int, gid: int) -> bool:
    st = os.stat(folder)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def _closed_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The outermost folder above ``path`` that user ``uid`` (no supplementary groups) cannot
    pass through, e.g. /root (mode 0700) above a Python installed under /root/.pyenv."""
    real = os.path.realpath(path)
    parts = real.strip("/").split("/")[:-1]
    folder = ""
    for part in parts:
        folder += "/" + part
        try:
            if not _traversable(folder, uid, gid):
                return folder
        except OSError:
            return None
    return None


def unreadable_by_agent(paths: Sequence[str]) -> list[str]:
    """Which of ``paths`` (each mounted at its own place) the agent's uid could not use even with
    every folder above it made passable: the path itself closed to others (a folder without
    r-x, a file without r). Only the top of each path is looked at, not everything inside."""
    closed = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        need = 0o005 if os.path.isdir(path) else 0o004
        if st.st_uid != AGENT_UID and (st.st_mode & need) != need:
            closed.append(f"{path} (mode {st.st_mode & 0o777:04o}, owner uid {st.st_uid})")
    return closed


def _folders_to_hide(request: SandboxRequest, as_root: bool) -> list[str]:
    """The request's hidden folders, plus what the agent must not see or cannot pass through.

    As root: a folder the agent's uid cannot pass through but above something it needs (the
    interpreter under /root/.pyenv, a checkout under /root) becomes an empty folder with just
    the needed paths mounted back: the agent could not read the rest anyway, and now it can
    reach what it needs. As a normal user: the harness user's home folder (its keys, tokens,
    caches) is hidden the same way, since the agent has that user's uid."""
    hidden = [os.path.realpath(p) for p in request.hidden if os.path.isdir(p)]
    if as_root:
        runtime = (*_runtime_paths(), os.path.realpath(sys.executable))
        needed = (*runtime, *request.writable, *request.readonly, *request.sockets, request.cwd, str(KEEPER))
        for path in needed:
            closed = _closed_ancestor(path, AGENT_UID, AGENT_GID)
            if closed is not None:
                hidden.append(closed)
    else:
        home = os.path.realpath(os.path.expanduser("~"))
        if home != "/" and os.path.isdir(home):
            hidden.append(home)
    unique = sorted(set(hidden))
    return [p for p in unique if not any(p != q and _is_under(p, q) for q in unique)]


def _keeper_command(as_root: bool, cwd: str) -> list[str]:
    # The host interpreter without site-packages: the keeper needs only the standard library.
    argv = [os.path.realpath(sys.executable), "-I", "-S", str(KEEPER), "--cwd", cwd]
    if as_root:
        argv += ["--uid", str(AGENT_UID), "--gid", str(AGENT_GID)]
    program = agent_filter()
    if program is not None:
        argv += ["--seccomp", program.hex()]
    return [*argv, "--"]


def _give_to_agent(paths: Sequence[str], uid: int, gid: int) -> None:
    """Make the agent's writable folders (recursively) and sockets its own: with the harness as
    root the agent is another host user. Symlinks are changed themselves, never followed. Runs
    between sessions, when nothing of the agent is alive to swap a path under it; a file with
    more than one link is left alone: where the host allows hard links to others' files
    (fs.protected_hardlinks=0) it could be a link the agent made to a host file (/etc/passwd)."""
    for top in paths:
        for root, dirs, files in os.walk(top):
            for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                st = os.lstat(name)
                if (st.st_uid != uid or st.st_gid != gid) and (stat.S_ISDIR(st.st_mode) or st.st_nlink == 1):
                    os.chown(name, uid, gid, follow_symlinks=False)
        if not os.path.isdir(top):
            os.chown(top, uid, gid, follow_symlinks=False)


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
        as_root = harness_is_root()
        if as_root:
            closed = unreadable_by_agent(request.readonly)
            if closed:
                raise SandboxSetupError(
                    f"the agent runs as uid {AGENT_UID} and could not read {', '.join(closed)}: make it readable "
                    "by other users (chmod -R o+rX), e.g. a toolchain or cache folder made by a tool with mode 0700"
                )
            owned = (*request.writable, *((request.tmp,) if request.tmp else ()), *request.sockets)
            _give_to_agent(owned, AGENT_UID, AGENT_GID)
            for socket_path in request.sockets:
                os.chown(os.path.dirname(socket_path), AGENT_UID, AGENT_GID)
        env = dict(request.env)
        gpus = None
        if request.gpus is not None and node_gpus():  # a node with NVIDIA GPUs: only the run's own
            try:
                gpus = gpu_mounts(request.gpus)
            except GpuMappingError as exc:
                raise SandboxSetupError(f"the run's GPUs cannot be given to its sandbox: {exc}") from exc
            env["CUDA_VISIBLE_DEVICES"] = gpus.visible
        argv = [str(self.bwrap), *_namespace_flags(request.network, as_root), *_filesystem_flags(request.tmp, gpus)]
        # Order matters: a later mount covers an earlier one. They go shallowest first, so the
        # most specific rule wins: the workspace (writable) inside the hidden results folder,
        # the hidden harness files inside a read-only shared cache, a read-only path inside a
        # writable one; at the same path, read-only beats writable and hidden beats both.
        hidden = _folders_to_hide(request, as_root)
        sockets = [os.path.dirname(path) for path in request.sockets]
        ops = [
            *(("--tmpfs", path) for path in hidden),
            *(("--ro-bind", path) for path in _runtime_paths_to_rebind(hidden)),
            *(("--bind", path) for path in request.writable),
            *(("--ro-bind", path) for path in (*request.readonly, *sockets, str(KEEPER))),
        ]
        rank = {"--bind": 0, "--ro-bind": 1, "--tmpfs": 2}
        resolved = sorted(
            {(kind, os.path.realpath(path)) for kind, path in ops},
            key=lambda op: (op[1].count("/") if op[1] != "/" else 0, rank[op[0]], op[1]),
        )
        points = _MountPoints()
        for kind, path in resolved:
            argv += points.mount(kind, path, path)
        # The keeper changes into cwd once it is the agent: bwrap itself, root without
        # capabilities by then, could not enter a workspace that is the agent's (mode 0700).
        argv += ["--chdir", "/", "--", *_keeper_command(as_root, request.cwd), *request.argv]
        return argv, env
