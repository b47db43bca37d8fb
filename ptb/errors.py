"""Errors that callers branch on across ptb: bad configuration, and infrastructure that failed.

    raise ConfigError("budget.hours=-1 is invalid: expected a number > 0")

A `ConfigError` is always raised before anything is scheduled (plan time); the commands print
it as one ``ptb: error: ...`` line and exit 2.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which and what is accepted."""


class InfraFailure(RuntimeError):
    """Infrastructure kept failing after its retries: the run has no result yet (rerun retries)."""
