"""Error types of the evaluation path that callers branch on."""

from __future__ import annotations


class EvalInfraError(RuntimeError):
    """The evaluation machinery failed (an evaluation actor or its node was lost), not the
    checkpoint: the caller may retry the evaluation a bounded number of times."""
