"""What a sandbox is asked to run, the interface every backend implements, and its decorator."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from ptb import registry

F = TypeVar("F", bound=Callable[..., "Sandbox"])


def sandbox_kind(name: str) -> Callable[[F], F]:
    """Register a Sandbox class (or a function returning a Sandbox) as ``sandbox.kind=name``."""
    return registry.register("sandbox", name)


@dataclass(frozen=True)
class SandboxRequest:
    """One command to run isolated.

    ``env`` is the COMPLETE environment of the command: nothing of the host's leaks in.
    ``writable`` are the only paths the command may write (workspace, private home);
    ``readonly`` are extra paths it must see read-only even where they would otherwise be
    hidden (under /tmp, or under a ``hidden`` path); ``hidden`` are host folders replaced by an
    empty tmpfs (e.g. the results of other runs) — a writable or readonly path under one is
    mounted back on top. ``tmp`` is a host folder the command gets as its /tmp (so that what the
    agent kept there can be looked at afterwards; None = an empty tmpfs that dies with it);
    ``sockets`` are Unix sockets the command must be able to connect to (the egress proxy's):
    their folders are mounted read-only and, where the agent runs as another user, given to it.
    ``gpus`` is the run's CUDA_VISIBLE_DEVICES: only those GPUs' device nodes go in (None: every
    device node of the node, for commands that are not a run's).
    """

    argv: tuple[str, ...]
    cwd: str
    writable: tuple[str, ...]
    readonly: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    network: bool = False
    hidden: tuple[str, ...] = ()
    tmp: str | None = None
    sockets: tuple[str, ...] = ()
    gpus: str | None = None


class Sandbox(abc.ABC):
    """Turns a `SandboxRequest` into what `subprocess.Popen` runs.

    Usage::

        argv, env = sandbox.command(request)
        subprocess.Popen(argv, env=env, cwd=request.cwd, start_new_session=True, ...)
    """

    kind: str
    # Missing isolation, as one line for the run's solve.log (None = fully isolated).
    warning: str | None = None
    # Process names of the launcher itself. They are spared the SIGTERM of a termination
    # (bwrap's own processes die of it and take the whole sandbox down with SIGKILL, which
    # would cut the agent's grace period short); they still get the SIGKILL.
    launcher_names: frozenset[str] = frozenset()
    # Whether the command gets a network namespace of its own (then a fixed port inside it is
    # always free; without one, the egress bridge takes a free port of the host).
    isolates_network: bool = False

    @abc.abstractmethod
    def command(self, request: SandboxRequest) -> tuple[list[str], dict[str, str]]:
        """argv and environment for Popen; also pass ``cwd=request.cwd``."""
