"""The ``none`` backend: the command runs directly on the host, with nothing isolated.

Only the environment is emptied (the request's env is the whole environment). The agent can
read and write everything the harness user can, see every process, and use the network.
For debugging, or hosts where bwrap cannot work; every run says so loudly.
"""

from __future__ import annotations

import logging

from ptb.sandbox.base import Sandbox, SandboxRequest, sandbox_kind

log = logging.getLogger(__name__)

NO_ISOLATION = (
    "NO SANDBOX: the agent runs directly on the host (sandbox=none): it can read and write every "
    "file of this user, see and signal host processes, and reach the network. Only its "
    "environment is emptied."
)


@sandbox_kind("none")
class DirectSandbox(Sandbox):
    kind = "none"
    launcher_names = frozenset()

    def __init__(self, why: str | None = None) -> None:
        self.warning = NO_ISOLATION if why is None else f"{NO_ISOLATION} Reason: {why}"

    def command(self, request: SandboxRequest) -> tuple[list[str], dict[str, str]]:
        log.warning("%s", self.warning)
        return list(request.argv), dict(request.env)
