"""Run a server command that dies with the process that started it.

    python -m ptb.serve.guard --parent-pid 1234 -- vllm serve ckpt --port 8000

`start_server(..., exit_with_parent=True)` wraps the server in this guard, in the server's own
process group. When the parent (an evaluation actor) disappears without stopping its server
(killed, node lost), the guard ends the whole group, so no orphan server keeps a GPU or a port;
when the guard itself is killed, the kernel kills the server (parent-death signal). The guard
exits with the server's exit code otherwise. The guard is single-threaded, which makes setting
that signal between fork and exec safe.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

GRACE_S = 15.0


def _die_with_guard() -> None:
    """In the server (before exec): the kernel SIGKILLs it when the guard dies, even by SIGKILL
    (Ray kills a lost worker's direct children, which is the guard, not the server)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _end_group(child: subprocess.Popen) -> None:
    """SIGTERM to the group (the server and its children), SIGKILL after a grace period."""
    group = os.getpgid(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the guard outlives its own group signal
    os.killpg(group, signal.SIGTERM)
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    os.killpg(group, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--poll-s", type=float, default=1.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")

    child = subprocess.Popen(command, preexec_fn=_die_with_guard)
    # stop() signals the whole group; the guard just waits for the server to go
    signal.signal(signal.SIGTERM, lambda *_: None)
    while True:
        try:
            return child.wait(timeout=args.poll_s)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != args.parent_pid:  # re-parented: whoever started us is gone
            print(f"ptb guard: parent {args.parent_pid} is gone; stopping the server", file=sys.stderr, flush=True)
            _end_group(child)
            return 1


if __name__ == "__main__":
    sys.exit(main())
