"""Choosing a sandbox backend by name (the ``sandbox.kind`` config value)."""

from __future__ import annotations

import logging

from ptb.sandbox.base import Sandbox
from ptb.sandbox.bwrap import BwrapSandbox, bwrap_probe
from ptb.sandbox.direct import DirectSandbox

log = logging.getLogger(__name__)

SANDBOX_KINDS = ("auto", "bwrap", "none")


def make_sandbox(kind: str) -> Sandbox:
    """``bwrap``: bubblewrap or an error; ``none``: no isolation (warns); ``auto``: bwrap when it works here."""
    if kind == "bwrap":
        return BwrapSandbox()
    if kind == "none":
        return DirectSandbox()
    if kind == "auto":
        ok, why = bwrap_probe()
        if ok:
            return BwrapSandbox()
        log.warning("sandbox=auto: bwrap does not work here (%s); falling back to sandbox=none", why)
        return DirectSandbox(why=f"sandbox=auto fell back because {why}")
    raise ValueError(f"unknown sandbox kind {kind!r}; accepted: {list(SANDBOX_KINDS)}")
