"""The first process inside a bwrap sandbox: keeps the sandbox alive through the grace period.

Run by the bwrap backend as ``python -I -S keeper.py <argv...>`` (standard library only: it
runs with the host interpreter inside the sandbox, without the project's site-packages).

Why it exists: bwrap tears the whole PID namespace down (SIGKILL to everything in it) the
moment its first process exits. At the deadline every agent process gets SIGTERM, and a plain
``bash solve.sh`` dies of it at once, so a trainer it started would be SIGKILLed before it
could save anything. The keeper runs the command as its child and, when that child ended
because of a termination, waits until every other process of the sandbox is gone (or the
harness's SIGKILL arrives at the end of the grace period) before exiting.
When the command ends by itself (no termination), the keeper exits at once: whatever the agent
left running dies with the sandbox.
"""

import os
import signal
import subprocess
import sys
import time

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


def main(argv: list[str]) -> int:
    if not argv:
        print("keeper: usage: keeper.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
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
