"""The first process inside a bwrap sandbox: drops privileges, then keeps the sandbox alive
through the grace period.

Run by the bwrap backend as
``python -I -S keeper.py [--cwd DIR] [--uid N --gid N] [--seccomp HEX] -- <argv...>``
(standard library only: it runs with the host interpreter inside the sandbox, without the
project's site-packages).

Before the command starts, in this order (any failure ends the keeper with code 125 and the
command never runs: a sandbox that could not be locked down must not run the agent):
``--uid/--gid`` drop to that host user with no supplementary groups (the harness is root; bwrap
left the keeper CAP_SETUID/CAP_SETGID for exactly this, and the drop clears them) and check that
root cannot be regained; no_new_privs; ``--seccomp`` loads the filter built by
`ptb.sandbox.seccomp` (hex of struct sock_filter[]), which binds every process started after it;
then ``--cwd`` (entered as the agent: the workspace may be open to the agent's uid only).

Why it exists: bwrap tears the whole PID namespace down (SIGKILL to everything in it) the
moment its first process exits. At the deadline every agent process gets SIGTERM, and a plain
``bash solve.sh`` dies of it at once, so a trainer it started would be SIGKILLed before it
could save anything. The keeper runs the command as its child and, when that child ended
because of a termination, waits until every other process of the sandbox is gone (or the
harness's SIGKILL arrives at the end of the grace period) before exiting.
When the command ends by itself (no termination), the keeper exits at once: whatever the agent
left running dies with the sandbox.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 24, 38, 22, 2
SETUP_FAILED = 125

_terminating = False


def _on_sigterm(signum, frame):  # a handler, not SIG_IGN: the child must get the default back
    global _terminating
    _terminating = True


def _others_alive() -> bool:
    """Any process in this PID namespace besides its init (pid 1) and the keeper itself."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(libc, option, arg2, arg3=None) -> None:
    zero = ctypes.c_ulong(0)
    if libc.prctl(ctypes.c_int(option), arg2, zero if arg3 is None else arg3, zero, zero) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed: {os.strerror(ctypes.get_errno())}")


def _drop_to(libc, uid: int, gid: int) -> None:
    # Empty the bounding set first (bwrap left CAP_SETPCAP for this): no later exec of anything,
    # setuid or with file capabilities, can bring a capability back.
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _prctl(libc, PR_CAPBSET_DROP, ctypes.c_ulong(cap))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError(f"root could be regained after dropping to uid {uid}")


def _lock_down(uid, gid, program: bytes | None, cwd) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if uid is not None:
        _drop_to(libc, uid, gid)
    _prctl(libc, PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1))
    if program is not None:
        if len(program) % 8 or not program:
            raise ValueError("the seccomp program is not a whole number of 8-byte instructions")
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        _prctl(libc, PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog))
    if cwd is not None:
        os.chdir(cwd)
        os.environ["PWD"] = cwd  # what bwrap's --chdir would have set


def _parse(argv: list[str]):
    """(uid, gid, seccomp program, cwd, command); the old form without ``--`` is the command alone."""
    uid = gid = program = cwd = None
    if "--" not in argv:
        return uid, gid, program, cwd, argv
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    while options:
        name, value = options.pop(0), options.pop(0)
        if name == "--uid":
            uid = int(value)
        elif name == "--gid":
            gid = int(value)
        elif name == "--seccomp":
            program = bytes.fromhex(value)
        elif name == "--cwd":
            cwd = value
        else:
            raise ValueError(f"unknown option {name}")
    if (uid is None) != (gid is None):
        raise ValueError("--uid and --gid go together")
    return uid, gid, program, cwd, command


def main(argv: list[str]) -> int:
    try:
        uid, gid, program, cwd, argv = _parse(argv)
    except (ValueError, IndexError) as exc:
        print(f"keeper: {exc}; usage: keeper.py [--cwd DIR] [--uid N --gid N] [--seccomp HEX] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if not argv:
        print("keeper: usage: keeper.py [--cwd DIR] [--uid N --gid N] [--seccomp HEX] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        _lock_down(uid, gid, program, cwd)
    except (OSError, ValueError) as exc:
        print(f"keeper: the sandbox could not be locked down, the command was not started: {exc}", file=sys.stderr)
        return SETUP_FAILED
    signal.signal(signal.SIGTERM, _on_sigterm)
    child = subprocess.Popen(argv)  # stdin/stdout/stderr inherited: the prompt stays on stdin
    code = child.wait()
    if code in (-signal.SIGTERM, 128 + signal.SIGTERM):
        # Ended by a SIGTERM: if it was the harness's, the keeper's own SIGTERM (sent in the
        # same sweep over the tree) is a moment away. Any other SIGTERM: exit as usual.
        end = time.monotonic() + 0.5
        while not _terminating and time.monotonic() < end:
            time.sleep(0.01)
    if _terminating:
        while _others_alive():
            _reap_children()
            time.sleep(0.05)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
