"""Inside the sandbox: a TCP listener on 127.0.0.1 that relays every connection to the egress proxy.

Run with the host interpreter and the standard library only (like keeper.py)::

    python -I -S bridge.py SOCKET PORT -- COMMAND [ARGS...]   # how a run uses it
    python -I -S bridge.py SOCKET PORT                         # standalone

It listens on 127.0.0.1:PORT (and [::1]:PORT where the namespace has IPv6) and relays each
connection byte for byte, half-closes included, to the Unix socket SOCKET, where the host's
`ptb.egress.proxy.EgressProxy` listens. The agent's HTTP_PROXY points at it
(`ptb.egress.proxy_env`); it is the sandbox's only way out.

Lifetime:

- with a COMMAND: listens first, then runs the command as its child (stdin, stdout and stderr
  inherited: the prompt stays on stdin) and exits with the child's exit code (128+N when a
  signal N killed it) as soon as the child ends. It never signals the child: a SIGTERM only
  marks the bridge as terminating, because the harness SIGTERMs every process of the tree at
  once and a forwarded second SIGTERM would make many programs (torchrun, accelerate) skip
  their graceful shutdown. So under keeper.py the bridge outlives its child by a moment only,
  and the keeper sees the child's exit code unchanged.
- standalone: runs until stdin reaches EOF or a SIGTERM arrives; prints ``bridge: listening on
  127.0.0.1:PORT`` to stderr once ready (PORT 0 picks a free port: read it from that line).

Stdout stays the command's. A client the bridge cannot serve (proxy unreachable, too many
connections) is closed, never fatal. Only a failure to listen is: exit code 1, and then the
command is not run at all (an agent without its network would be a silent, wasted run).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading

IO_SIZE = 64 * 1024
MAX_CONNECTIONS = 1024  # threads are cheap, but not free: a runaway client hurts only itself
CONNECT_TIMEOUT_S = 10.0
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes


def _say(line: str) -> None:
    """One line to stderr (the agent's log in command mode); a closed stderr is no reason to fail."""
    try:
        print(f"bridge: {line}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """One direction: EOF becomes a half-close of ``dst``; an error ends both directions."""
    try:
        while data := src.recv(IO_SIZE):
            dst.sendall(data)
        _shutdown(dst, socket.SHUT_WR)
    except OSError:
        _shutdown(src, socket.SHUT_RDWR)
        _shutdown(dst, socket.SHUT_RDWR)


class Bridge:
    def __init__(self, socket_path: str) -> None:
        self.address = socket_path
        if len(os.fsencode(socket_path)) > _UNIX_PATH_MAX:  # too long for sun_path: go through an fd
            directory, name = os.path.split(socket_path)
            fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY)
            self.address = f"/proc/self/fd/{fd}/{name}"
        self.listeners: list[socket.socket] = []
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def listen(self, port: int) -> int:
        """127.0.0.1:port, then [::1] on the same port if possible; returns the port."""
        v4 = socket.create_server(("127.0.0.1", port), backlog=128)
        self.listeners.append(v4)
        port = v4.getsockname()[1]
        if socket.has_ipv6:
            try:
                self.listeners.append(socket.create_server(("::1", port), family=socket.AF_INET6, backlog=128))
            except OSError:
                pass  # no IPv6 loopback in this namespace: clients fall back to 127.0.0.1
        for listener in self.listeners:
            listener.setblocking(False)
        return port

    def accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except BlockingIOError:
            return
        except OSError:  # EMFILE and the like: drop this wake-up, keep serving
            threading.Event().wait(0.05)
            return
        client.setblocking(True)
        if not self._slots.acquire(blocking=False):
            client.close()
            return
        threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # SSE events: no Nagle delay
            upstream.settimeout(CONNECT_TIMEOUT_S)
            upstream.connect(self.address)
            upstream.settimeout(None)
            down = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            down.start()
            _pump(client, upstream)
            down.join()
        except OSError as exc:
            _say(f"cannot reach the egress proxy: {exc}")
        finally:
            upstream.close()
            client.close()
            self._slots.release()


def _wake(fd: int, byte: bytes) -> None:
    try:
        os.write(fd, byte)
    except BlockingIOError:  # the pipe is full: the loop is awake anyway
        pass


def _exit_code(code: int) -> int:
    return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
        if not command:
            argv = []  # "--" with nothing after it: a usage error
    if len(argv) != 2 or not argv[1].isdigit():
        _say("usage: bridge.py SOCKET PORT [-- COMMAND [ARGS...]]")
        return 2
    bridge = Bridge(argv[0])
    try:
        port = bridge.listen(int(argv[1]))
    except OSError as exc:
        _say(f"cannot listen on 127.0.0.1:{argv[1]}: {exc}")
        return 1

    # Every reason to stop lands on one pipe, so the loop below waits on sockets and it alike.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    terminating = False

    def on_sigterm(signum: int, frame: object) -> None:  # a handler, not SIG_IGN: the child gets the default
        nonlocal terminating
        terminating = True

    signal.signal(signal.SIGTERM, on_sigterm)

    child: subprocess.Popen[bytes] | None = None
    stdin_closed = threading.Event()
    if command:
        try:
            child = subprocess.Popen(command)
        except OSError as exc:
            _say(f"cannot run {command[0]}: {exc}")
            return 127
        watched = child

        def watch_child() -> None:
            watched.wait()
            _wake(wake_w, b"c")

        threading.Thread(target=watch_child, daemon=True).start()
    else:

        def watch_stdin() -> None:
            try:
                while os.read(0, IO_SIZE):
                    pass
            except OSError:
                pass
            stdin_closed.set()
            _wake(wake_w, b"e")

        threading.Thread(target=watch_stdin, daemon=True).start()
        _say(f"listening on 127.0.0.1:{port}")

    selector = selectors.DefaultSelector()
    for listener in bridge.listeners:
        selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is wake_r:
                os.read(wake_r, 512)
            else:
                assert isinstance(key.fileobj, socket.socket)
                bridge.accept(key.fileobj)
        if child is not None:
            code = child.poll()
            if code is not None:
                return _exit_code(code)
        elif terminating or stdin_closed.is_set():
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
