"""Running untrusted Python source (e.g. a model's HumanEval answer) inside bubblewrap.

    from ptb.sandbox.code_exec import run_python

    result = run_python("assert 1 + 1 == 2\\nprint('ok')", timeout_s=10)
    result.passed, result.returncode, result.timed_out, result.stdout   # True, 0, False, "ok\\n"

What the code gets:

- ``python -I`` (the harness's own interpreter, isolated mode: no PYTHON* variables, no user
  site-packages, no script folder on ``sys.path``), running ``/program/main.py`` (read-only);
- an empty environment, no network (a private network namespace with only loopback), private
  PID/IPC/UTS namespaces, an unprivileged uid (65534, no capabilities) in a private user
  namespace, ``--die-with-parent`` and ``--new-session``;
- from the host only ``/usr`` (plus the ``/bin``, ``/lib``... links into it) and the interpreter's
  installation, read-only: no home folders, no /etc, no project checkout, no caches;
- no /proc (see `_bwrap_argv`), a minimal private /dev;
- a private, empty, writable tmpfs as cwd (``/scratch``) and a private ``/tmp``, both size-capped
  where bwrap supports ``--size``;
- rlimits: CPU seconds, address space, processes, file size (stdout/stderr go to files, so the
  file-size limit caps them too), no core dumps; and a wall-clock timeout after which the whole
  sandbox (bwrap's process group; its pid namespace dies with it) is killed.

The rlimits are set by a tiny trusted launcher inside the sandbox right before it ``exec``s the
program, not in a ``preexec_fn``: RLIMIT_NPROC counts every process of the harness's user on the
host (set before bwrap it would either limit nothing or stop bwrap itself on a busy node), while
inside bwrap's user namespace it counts only the sandbox's own processes; and ``preexec_fn`` is
unsafe in the threaded processes (inspect, Ray workers) that call this. The kernel does not apply
RLIMIT_NPROC to root: when the harness runs as root, the pid namespace and the wall-clock kill are
what bound a fork bomb.

When bwrap is missing or cannot build the sandbox, `SandboxUnavailable` is raised: generated code
is never run on the host instead.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

DEFAULT_MEMORY_MB = 1024
DEFAULT_FILE_SIZE_MB = 16
DEFAULT_MAX_PROCESSES = 32
TMPFS_SIZE_MB = 64  # each of /scratch and /tmp, where bwrap supports --size
TAIL_CHARS = 4000

PROGRAM_PATH = "/program/main.py"
SCRATCH_DIR = "/scratch"
SANDBOX_UID = "65534"  # "nobody": a non-root uid inside the sandbox has no capabilities

INSTALL_HINT = "humaneval runs generated code only inside bubblewrap; install it: apt-get install bubblewrap"

# The launcher inside the sandbox: lower the limits, then replace itself with the program.
# argv: cpu_seconds address_space_bytes file_size_bytes max_processes (-1: leave as is) program
_LAUNCHER = """
import os, resource, sys
cpu, address_space, file_size, processes = (int(v) for v in sys.argv[1:5])
limits = (
    (resource.RLIMIT_CPU, cpu, cpu + 1),
    (resource.RLIMIT_AS, address_space, address_space),
    (resource.RLIMIT_FSIZE, file_size, file_size),
    (resource.RLIMIT_CORE, 0, 0),
) + (((resource.RLIMIT_NPROC, processes, processes),) if processes >= 0 else ())
for kind, soft, hard in limits:
    _, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))
os.execv(sys.executable, [sys.executable, "-I", sys.argv[5]])
"""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here; the code was not run."""


@dataclass(frozen=True)
class ExecResult:
    passed: bool  # exited with status 0 within the time limit
    returncode: int | None  # None when killed at the timeout
    timed_out: bool
    stdout: str  # the last TAIL_CHARS characters
    stderr: str  # the last TAIL_CHARS characters
    duration_s: float


# --------------------------------------------------------------------------- the bwrap command


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _interpreter() -> str:
    # The real file behind the venv's python: the venv itself is not needed by generated code.
    return os.path.realpath(sys.executable)


def _interpreter_paths() -> list[str]:
    """Folders the interpreter needs besides /usr: its installation (pyenv, conda, uv; a venv
    only when its interpreter is a copy), each once and never one inside another."""
    candidates = {os.path.realpath(sys.base_prefix), os.path.dirname(_interpreter())}
    venv = os.path.realpath(sys.prefix)
    if _interpreter().startswith(venv + "/"):  # a venv with a copied interpreter reads its pyvenv.cfg
        candidates.add(venv)
    outside_usr = [p for p in candidates if p != "/usr" and not p.startswith("/usr/") and p != "/"]
    return sorted(p for p in outside_usr if not any(p != q and p.startswith(q + "/") for q in outside_usr))


def _root_links() -> list[str]:
    """/bin, /lib, ... as on the host: links into /usr (merged /usr) or read-only binds."""
    flags: list[str] = []
    for path in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(path):
            flags += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            flags += ["--ro-bind", path, path]
    return flags


def _tmpfs(path: str) -> list[str]:
    from ptb.sandbox.bwrap import bwrap_supports

    size = ["--size", str(TMPFS_SIZE_MB * 1024 * 1024)] if bwrap_supports("--size") else []
    return [*size, "--tmpfs", path]


def _bwrap_argv(bwrap: str, program_fd: int, launcher_args: list[str]) -> list[str]:
    python = _interpreter()
    argv = [
        bwrap,
        "--unshare-all",  # user, pid, ipc, uts, cgroup and network (loopback only) namespaces
        "--unshare-user", "--uid", SANDBOX_UID, "--gid", SANDBOX_UID,
        "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr", *_root_links(),
        # No /proc: a fresh procfs cannot be mounted when this runs nested inside the agent's
        # bwrap sandbox (evaluate.py), and generated code has no need for one.
        "--dev", "/dev",
        *_tmpfs("/tmp"),
    ]  # fmt: skip
    # After the private /tmp: an interpreter installed under /tmp must stay visible on top of it.
    for path in _interpreter_paths():
        argv += ["--ro-bind", path, path]
    argv += [
        *_tmpfs(SCRATCH_DIR),
        "--perms", "0444", "--ro-bind-data", str(program_fd), PROGRAM_PATH,
        "--chdir", SCRATCH_DIR,
        "--", python, "-I", "-c", _LAUNCHER, *launcher_args, PROGRAM_PATH,
    ]  # fmt: skip
    return argv


# --------------------------------------------------------------------------- running


def _tail(handle: IO[bytes]) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 4 * TAIL_CHARS))  # utf-8: at most 4 bytes a character
    return handle.read().decode("utf-8", errors="replace")[-TAIL_CHARS:]


def _program_fd(source: str) -> int:
    """A memory-backed file holding the source, handed to bwrap by descriptor (no host file)."""
    fd = os.memfd_create("ptb-program", 0)  # not CLOEXEC: bwrap reads it
    os.write(fd, source.encode("utf-8"))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # bwrap leads its own group (start_new_session)
    except ProcessLookupError:
        pass


def _run(
    source: str, timeout_s: float, memory_mb: int, file_size_mb: int, max_processes: int, stdin: str | None = None
) -> ExecResult:
    bwrap = _bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"{INSTALL_HINT} (no `bwrap` on PATH)")
    launcher_args = [
        str(max(1, math.ceil(timeout_s))),
        str(memory_mb * 1024 * 1024),
        str(file_size_mb * 1024 * 1024),
        str(max_processes),
    ]
    fd = _program_fd(source)
    stdin_fd = _program_fd(stdin) if stdin is not None else None  # memory-backed: no host file
    started = time.monotonic()
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                _bwrap_argv(bwrap, fd, launcher_args),
                stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={},
                pass_fds=(fd,),
                start_new_session=True,
            )
            timed_out = False
            try:
                returncode: int | None = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                proc.wait()
                returncode = None
            except BaseException:  # interrupted: never leave the sandbox running
                _kill_group(proc)
                proc.wait()
                raise
            duration = time.monotonic() - started
            return ExecResult(
                passed=not timed_out and returncode == 0,
                returncode=returncode,
                timed_out=timed_out,
                stdout=_tail(out),
                stderr=_tail(err),
                duration_s=duration,
            )
    finally:
        os.close(fd)
        if stdin_fd is not None:
            os.close(stdin_fd)


# Set inside `trust_enclosing_sandbox`: the reason generated code runs without a sandbox of its own.
_ENCLOSED_BY: str | None = None


def _confined() -> bool:
    """Whether this process runs under a seccomp filter with no_new_privs, as everything in the
    agent's sandbox does (the keeper loads the filter): the enclosing sandbox is really there."""
    try:
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    except OSError:
        return False
    return status.get("Seccomp", "").strip() == "2" and status.get("NoNewPrivs", "").strip() == "1"


@contextlib.contextmanager
def trust_enclosing_sandbox(why: str) -> Iterator[None]:
    """Within this block, run generated code in this process's own sandbox, not a nested one.

    For the agent-facing evaluation only (``ptb.evaluation.agent_cli``, the agent's evaluate.py):
    it runs inside the agent's sandbox, whose seccomp filter refuses the user namespace a nested
    bwrap needs, and that sandbox already keeps the host out of reach of anything run in it —
    the model's code can do nothing the agent could not. It takes effect only where this
    process really is confined (a seccomp filter and no_new_privs): called anywhere else (the
    harness, a test calling agent_cli in-process) generated code keeps its bwrap, or does not run.
    """
    global _ENCLOSED_BY
    before = _ENCLOSED_BY
    _ENCLOSED_BY = why if _confined() else None
    try:
        yield
    finally:
        _ENCLOSED_BY = before


def _run_enclosed(source: str, timeout_s: float, memory_mb: int, file_size_mb: int, stdin: str | None) -> ExecResult:
    """The program with the same limits, in a private temporary folder, with an empty
    environment and its own session (killed whole at the timeout); no namespaces of its own.
    No process limit: RLIMIT_NPROC would count every process of the agent's uid on the host."""
    launcher_args = [str(max(1, math.ceil(timeout_s))), str(memory_mb * 1024 * 1024), str(file_size_mb * 1024 * 1024), "-1"]
    stdin_fd = _program_fd(stdin) if stdin is not None else None
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="ptb-code-") as folder, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            program = os.path.join(folder, "main.py")
            with open(program, "w", encoding="utf-8") as f:
                f.write(source)
            proc = subprocess.Popen(
                [_interpreter(), "-I", "-c", _LAUNCHER, *launcher_args, program],
                stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
                stdout=out, stderr=err, env={}, cwd=folder, start_new_session=True,
            )
            timed_out = False
            try:
                returncode: int | None = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                returncode = None
            finally:
                _kill_group(proc)  # whatever it left running, too
                proc.wait()
            return ExecResult(
                passed=not timed_out and returncode == 0, returncode=returncode, timed_out=timed_out,
                stdout=_tail(out), stderr=_tail(err), duration_s=time.monotonic() - started,
            )
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)


@functools.lru_cache(maxsize=1)
def sandbox_probe() -> tuple[bool, str]:
    """Whether the code sandbox works here (checked once per process), and why not."""
    if _bwrap_path() is None:
        return False, f"{INSTALL_HINT} (no `bwrap` on PATH)"
    try:
        result = _run("print('ptb-sandbox-ok')", 30, DEFAULT_MEMORY_MB, DEFAULT_FILE_SIZE_MB, DEFAULT_MAX_PROCESSES)
    except OSError as exc:
        return False, f"{INSTALL_HINT} (starting bwrap failed: {exc})"
    if result.passed and "ptb-sandbox-ok" in result.stdout:
        return True, "ok"
    detail = (result.stderr or result.stdout).strip().splitlines()
    why = detail[-1] if detail else f"exit code {result.returncode}"
    return False, (
        f"bubblewrap cannot build the code sandbox here ({why}); unprivileged user namespaces may be "
        f"disabled (sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces). {INSTALL_HINT}"
    )


def require_sandbox() -> None:
    """Raise `SandboxUnavailable` unless generated code can run sandboxed here."""
    if _ENCLOSED_BY is not None:
        return
    ok, why = sandbox_probe()
    if not ok:
        raise SandboxUnavailable(why)


def run_python(
    source: str,
    timeout_s: float,
    memory_mb: int = DEFAULT_MEMORY_MB,
    *,
    file_size_mb: int = DEFAULT_FILE_SIZE_MB,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    stdin: str | None = None,
) -> ExecResult:
    """Run `source` with ``python -I`` inside bubblewrap (see the module docstring).

    ``stdin``: text the program reads on its stdin (else /dev/null); unlike the program file,
    which every process in the sandbox can read, it reaches only the program's own process.

    ``timeout_s``: wall-clock limit (the CPU limit is the same, rounded up); ``memory_mb``: address
    space; ``file_size_mb``: the largest file it may write, stdout and stderr included;
    ``max_processes``: processes it may run at once (not enforced for root by the kernel).
    Raises `SandboxUnavailable` when bwrap is missing or broken: the code is never run on the host.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"memory_mb must be at least 64 (the interpreter alone needs ~30 MB), got {memory_mb}")
    if _ENCLOSED_BY is not None:
        return _run_enclosed(source, timeout_s, memory_mb, file_size_mb, stdin)
    require_sandbox()
    return _run(source, timeout_s, memory_mb, file_size_mb, max_processes, stdin)


__all__ = ["ExecResult", "SandboxUnavailable", "require_sandbox", "run_python", "sandbox_probe", "trust_enclosing_sandbox"]
