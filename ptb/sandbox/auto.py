"""The ``auto`` sandbox kind, and choosing a sandbox by name (the ``sandbox.kind`` config value).

    sandbox = make_sandbox("auto")     # bwrap where it works here, else none (with a warning)
"""

from __future__ import annotations

import logging

from ptb import registry
from ptb.sandbox.base import Sandbox, sandbox_kind
from ptb.sandbox.bwrap import BwrapSandbox, bwrap_probe
from ptb.sandbox.direct import DirectSandbox

log = logging.getLogger(__name__)


@sandbox_kind("auto")
def auto_sandbox() -> Sandbox:
    """bubblewrap when it can build our strictest sandbox on this host, else no isolation (warns)."""
    ok, why = bwrap_probe()
    if ok:
        return BwrapSandbox()
    log.warning("sandbox=auto: bwrap does not work here (%s); falling back to sandbox=none", why)
    return DirectSandbox(why=f"sandbox=auto fell back because {why}")


def make_sandbox(kind: str) -> Sandbox:
    """The sandbox of kind ``kind`` (a ``sandbox`` plug-in: auto, bwrap, none, ...)."""
    factory = registry.load("sandbox", kind)
    return factory()
