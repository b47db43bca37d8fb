"""Finding and ending every process an agent started, daemons included.

An agent can escape a plain "kill the process group": ``setsid`` gives a child its own
session, and a double fork orphans a grandchild, which Linux then hands to the nearest
*child subreaper* ancestor (else to init, out of our sight). So the supervising process makes
itself a subreaper (`become_subreaper`): orphans land on it, and `ProcessTree` counts as the
agent's every descendant of the root plus every child of ours that appeared after the root
started. Inside a bwrap sandbox orphans stay in the sandbox's PID namespace anyway.

    become_subreaper()
    before = own_children()
    proc = subprocess.Popen(...)
    tree = ProcessTree(proc.pid, adopt_orphans_after=before)
    ...
    report = terminate_tree(tree, grace_seconds=30)   # SIGTERM all, wait, SIGKILL, reap

The supervising process must not start other long-lived children while it supervises (the
`AgentRun` actor does nothing else): they would count as the agent's.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def _prctl(option: int, arg: int | ctypes.c_int | object) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, arg, 0, 0, 0)


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux ≥ 3.4). False where impossible."""
    if not hasattr(os, "fork"):
        return False
    try:
        return _prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    except (OSError, AttributeError):
        return False


def is_subreaper() -> bool:
    flag = ctypes.c_int(0)
    try:
        if _prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag)) != 0:
            return False
    except (OSError, AttributeError):
        return False
    return flag.value != 0


def own_children() -> frozenset[int]:
    return frozenset(c.pid for c in psutil.Process().children())


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def process_name(proc: psutil.Process) -> str:
    """The process name, or "" once it is gone."""
    try:
        return proc.name()
    except psutil.Error:
        return ""


@dataclass(frozen=True)
class ProcessTree:
    """The processes of one supervised command.

    ``adopt_orphans_after``: the children this process had before the root started. When given
    (and this process is a subreaper), any later child of ours other than the root is an
    orphan the agent left behind, and belongs to the tree with its own descendants.
    ``launcher_names``: sandbox launcher processes, spared the SIGTERM (see `Sandbox`).
    """

    root_pid: int
    adopt_orphans_after: frozenset[int] | None = None
    launcher_names: frozenset[str] = frozenset()

    def members(self) -> list[psutil.Process]:
        """Every live process of the tree (zombies excluded), root first when alive."""
        found: dict[int, psutil.Process] = {}

        def add_with_descendants(proc: psutil.Process) -> None:
            found.setdefault(proc.pid, proc)
            try:
                for child in proc.children(recursive=True):
                    found.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass

        try:
            add_with_descendants(psutil.Process(self.root_pid))
        except psutil.NoSuchProcess:
            pass
        if self.adopt_orphans_after is not None:
            for child in psutil.Process().children():
                if child.pid not in self.adopt_orphans_after and child.pid not in found:
                    add_with_descendants(child)
        return [p for p in found.values() if _alive(p)]


@dataclass(frozen=True)
class Termination:
    """What `terminate_tree` did."""

    terminated: tuple[int, ...]  # pids sent SIGTERM
    killed: tuple[int, ...]  # pids still alive after the grace period: SIGKILL
    exit_codes: Mapping[int, int]  # our own children reaped here (Popen convention: -N = signal N)
    survivors: tuple[int, ...] = ()  # alive even after SIGKILL (should never happen)


def terminate_tree(
    target: ProcessTree | psutil.Process | int, grace_seconds: float, *, poll_seconds: float = 0.05
) -> Termination:
    """SIGTERM to the whole tree, wait up to ``grace_seconds``, SIGKILL survivors, reap zombies.

    Returns early once every member is gone. Our own children that end here are reaped, and
    their exit status is in ``exit_codes`` (a `Popen` of one of them will not see it: set its
    ``returncode`` from there).
    """
    tree = _as_tree(target)
    deadline = time.monotonic() + max(0.0, grace_seconds)
    seen: dict[int, psutil.Process] = {p.pid: p for p in tree.members()}
    terminated = [
        pid for pid, proc in seen.items()
        if process_name(proc) not in tree.launcher_names and _signal(proc, signal.SIGTERM)
    ]
    # Processes started during the grace period get no SIGTERM of their own: they are the
    # agent's clean-up (a copy of its last checkpoint, say), and the SIGKILL ends them anyway.
    while time.monotonic() < deadline:
        members = tree.members()
        if not members:
            break
        for proc in members:
            seen.setdefault(proc.pid, proc)
        time.sleep(poll_seconds)

    killed: list[int] = []
    codes: dict[int, int] = {}
    for _ in range(20):  # repeat: a process may fork between the listing and its SIGKILL
        members = tree.members()
        if not members:
            break
        for proc in members:
            seen.setdefault(proc.pid, proc)
            if _signal(proc, signal.SIGKILL) and proc.pid not in killed:
                killed.append(proc.pid)
        gone, _ = psutil.wait_procs(members, timeout=1.0)
        # psutil's wait reaps our own children: keep the status it got
        codes.update({p.pid: rc for p in gone if isinstance(rc := getattr(p, "returncode", None), int)})
    survivors = tuple(p.pid for p in tree.members())
    codes.update(_reap(tree, seen))
    return Termination(tuple(terminated), tuple(killed), codes, survivors)


def _as_tree(target: ProcessTree | psutil.Process | int) -> ProcessTree:
    if isinstance(target, ProcessTree):
        return target
    if isinstance(target, psutil.Process):
        return ProcessTree(target.pid)
    return ProcessTree(int(target))


def _signal(proc: psutil.Process, signum: int) -> bool:
    try:
        proc.send_signal(signum)  # psutil refuses a pid that was reused by another process
        return True
    except psutil.Error:
        return False


def _reap(tree: ProcessTree, seen: Mapping[int, psutil.Process]) -> dict[int, int]:
    """waitpid every dead child of ours in the tree so no zombie stays behind."""
    candidates = set(seen) | {tree.root_pid}
    if tree.adopt_orphans_after is not None:  # orphans that died before we ever listed them
        candidates |= {c.pid for c in psutil.Process().children()} - tree.adopt_orphans_after
    codes: dict[int, int] = {}
    for pid in sorted(candidates):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (or already reaped): its parent reaps it
            continue
        if done == pid:
            codes[pid] = os.waitstatus_to_exitcode(status)
    return codes
