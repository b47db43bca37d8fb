"""Cross-process locks: one per run, held by its driver from prepare to score, and one per
shared baseline cell, held while it is measured or read.

    with hold_run(spec):                       # RunLocked (naming the holder) when another driver has it
        ...
    with hold_cell(lock_file, "baseline base/tiny__arith", sweep):   # waits for another driver
        ...

Why: the same sweep started twice at once would run every run twice in one folder: the second
driver moves the first's live workspace aside, one collect deletes the other's workspace, a
good run is recorded as crashed. With the run lock the second driver skips the run and says who
has it; with the cell lock two drivers of one results folder measure a baseline once.

How: ``fcntl.flock`` on a lock file opened with O_CREAT. The kernel releases the lock when its
holder dies, however it dies (SIGKILL, OOM), so a dead holder's lock is simply taken over: no
pid guessing, no stale-lock timeouts. The lock files are never deleted (unlinking a lock file
while another process waits on it would give two holders two different files).

Where: ``<sweep_dir>/.locks/<run_id>.lock`` and ``<results_dir>/baselines/.locks/<kind>/<model>__<task>.lock``.
Inside the results folder, which every agent's sandbox hides (`ptb.stages.prepare.hidden_from_agents`),
never in a scratch folder (the agent's workspace and home live there); beside the run and cell
folders, not in them, so a run folder set aside or a baseline measurement moved aside never
takes its lock file with it, and nothing that lists runs (``*/result.json``) sees one.

Holder facts: the holder writes who it is (host, pid, start time, sweep, command) into the lock
file after taking it and empties it on release, so the one who cannot take the lock can name the
holder, and a non-empty file found on taking the lock is a dead holder's (logged as taken over).
Readers accept any content: an empty or half-written file reads as "holder not known yet".

Shared filesystems: the lock works across hosts wherever ``flock`` does. On Linux NFS (v3 with
lockd, v4 natively) flock is carried out as a whole-file POSIX lock on the server, so two drivers
on two hosts exclude each other; a holder host that dies loses its lock when the server's lease
expires (NFSv4: 90 s by default). Assumed: the results folder is not mounted with
``local_lock=flock``/``local_lock=all`` (then the lock is per host only) and, on Lustre, is mounted
with ``-o flock``. A filesystem that refuses locks gives `LockUnsupported`, never a silent
unlocked run. Over NFS the lock is per process (POSIX semantics), so it does not exclude two
threads of one driver; the baseline meter's thread lock does that, and a driver never runs one
run id twice.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ptb.records import RunSpec

log = logging.getLogger(__name__)

LOCKS = ".locks"  # the folder of lock files, beside the folders they lock
_MAX_HOLDER_BYTES = 4096


def run_lock_path(spec: RunSpec) -> Path:
    """The lock file of a run: <sweep_dir>/.locks/<run_id>.lock."""
    return Path(spec.run_dir).parent / LOCKS / f"{spec.run_id}.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its holder wrote it into the lock file."""

    host: str
    pid: int
    since: float  # time.time() when it took the lock
    sweep: str = ""
    command: str = ""

    @classmethod
    def me(cls, sweep: str) -> Holder:
        return cls(socket.gethostname(), os.getpid(), time.time(), sweep, " ".join(sys.argv)[:1000])

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.gmtime(self.since))
        what = f" (sweep '{self.sweep}')" if self.sweep else f" ({self.command[:200]})" if self.command else ""
        return f"pid {self.pid} on host {self.host} since {since} UTC{what}"


def parse_holder(raw: bytes) -> Holder | None:
    """Holder facts from a lock file's bytes; None for an empty, torn or garbled file."""
    try:
        facts = json.loads(raw.decode())
        return Holder(
            host=str(facts["host"]), pid=int(facts["pid"]), since=float(facts["since"]),
            sweep=str(facts.get("sweep", "")), command=str(facts.get("command", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):  # UnicodeDecodeError is a ValueError
        return None


def read_holder(path: Path) -> Holder | None:
    """The holder facts in a lock file; None when there are none, or none readable yet (a holder
    between taking the lock and writing them, or a garbled file): never an exception."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return parse_holder(os.read(fd, _MAX_HOLDER_BYTES))
    except OSError:
        return None
    finally:
        os.close(fd)


class LockUnsupported(OSError):
    """The results folder's filesystem refuses file locks (see the module docstring)."""


class RunLocked(RuntimeError):
    """Another process holds the lock; the message names it."""

    def __init__(self, what: str, path: Path, holder: Holder | None) -> None:
        self.what, self.path, self.holder = what, path, holder
        who = holder.describe() if holder else "another process (it has not written its name yet)"
        super().__init__(f"{what} is held by {who}; lock file {path}")


class FileLock:
    """One exclusive flock on one lock file; not reentrant, one acquisition per instance."""

    def __init__(self, path: Path, sweep: str = "") -> None:
        self.path = Path(path)
        self.sweep = sweep
        self._fd: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a lock file is a plain file; O_CLOEXEC: a child process (Ray's own, started
        # by the driver) must not inherit the lock and keep it after the driver died.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(self.path, flags, 0o666)  # the umask decides; others' drivers must open it too

    def _flock(self, fd: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise LockUnsupported(exc.errno, f"cannot lock {self.path}: {exc.strerror} (file locks are needed; see ptb.locks)") from exc

    def acquire(self, blocking: bool = False, on_wait: Callable[[Holder | None], None] | None = None) -> bool:
        """Take the lock. Not blocking: False when another process holds it. Blocking: waits
        (``on_wait(holder)`` is called once first, when it has to wait)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is taken already by this FileLock")
        fd = self._open()
        try:
            taken = self._flock(fd, blocking=False)
            if not taken and blocking:
                if on_wait is not None:
                    on_wait(current_holder(self.path))
                taken = self._flock(fd, blocking=True)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            os.close(fd)
            return False
        self._fd = fd
        self._claim(fd)
        return True

    def _claim(self, fd: int) -> None:
        """Write our holder facts over what a dead holder left (it never released: logged)."""
        try:
            left = os.pread(fd, _MAX_HOLDER_BYTES, 0)
            if left.strip():
                dead = parse_holder(left)
                log.warning("%s: taking over the lock of a holder that is gone: %s", self.path, dead.describe() if dead else "unknown")
            facts = json.dumps(asdict(Holder.me(self.sweep))).encode()
            # Emptied, then one small write: a reader sees nothing, or the whole line, or a
            # torn line it ignores (read_holder never raises).
            os.ftruncate(fd, 0)
            os.pwrite(fd, facts, 0)
        except OSError as exc:  # the lock is ours either way; only the message would be poorer
            log.warning("%s: could not write the holder facts: %s", self.path, exc)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty file: released cleanly (a full one: its holder died)
        except OSError:
            pass
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> FileLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def current_holder(path: Path, wait_s: float = 1.0) -> Holder | None:
    """The holder facts, waiting a moment for a holder that took the lock but has not written them."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = read_holder(path)
        if holder is not None or time.monotonic() >= deadline:
            return holder
        time.sleep(0.05)


@contextmanager
def hold_run(spec: RunSpec) -> Iterator[None]:
    """Hold the run's lock for the block; RunLocked when another driver holds it."""
    lock = FileLock(run_lock_path(spec), spec.sweep)
    if not lock.acquire(blocking=False):
        path = run_lock_path(spec)
        raise RunLocked(f"run {spec.run_id}", path, current_holder(path))
    try:
        yield
    finally:
        lock.release()


@contextmanager
def hold_cell(path: Path, what: str, sweep: str = "") -> Iterator[None]:
    """Hold a shared cell's lock for the block, waiting for another process that has it (logged
    with its name: a wait of minutes is another driver measuring the same cell, not a hang)."""

    def waiting(holder: Holder | None) -> None:
        log.warning("%s: waiting for %s, which is measuring it", what, holder.describe() if holder else "another process")

    lock = FileLock(path, sweep)
    lock.acquire(blocking=True, on_wait=waiting)
    try:
        yield
    finally:
        lock.release()


__all__ = ["FileLock", "Holder", "LockUnsupported", "RunLocked", "hold_cell", "hold_run", "parse_holder", "read_holder", "run_lock_path"]
