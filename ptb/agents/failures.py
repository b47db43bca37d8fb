"""Why an agent's CLI gave up, from what it printed: a typed reason for outcome.json.

    failure = classify_failure(error_texts)   # ("quota", "insufficient_quota: ...") or None

A user reading the leaderboard must tell an agent that gave up from an agent whose key ran dry.
The CLIs say so in their own words (an API error event, a stderr line); these patterns cover
what the four vendors' APIs and the CLIs print. Only error output is classified — the scaffold's
trace parser marks API errors as ``error`` events and stderr lines are errors — so a training
log that mentions "rate limit" in a tool result does not count. The last matching line wins: it
is what ended the session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ptb.records import FailureKind

# Order matters within one line: a 429 that says "quota" is a quota failure, not throttling.
_RULES: tuple[tuple[FailureKind, str], ...] = (
    ("rate_limit", r"per minute|per second|requests per|tokens per min"),
    ("quota", r"insufficient_quota|quota|usage limit|credit balance|billing|out of credits|spending limit|RESOURCE_EXHAUSTED.*(per day|daily)"),
    ("context_overflow", r"context[_ ]length|context window|prompt is too long|maximum context|too many tokens|input is too long|context_length_exceeded"),
    ("auth", r"\b401\b|\b403\b|authentication|unauthori[sz]ed|invalid[ _-]?(x-)?api[ _-]?key|api key not valid|unauthenticated|authentication_failed|permission_denied|invalid_api_key|forbidden"),
    ("rate_limit", r"\b429\b|rate[_ ]?limit|too many requests|overloaded|RESOURCE_EXHAUSTED|\b529\b"),
    ("network", r"ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EAI_AGAIN|fetch failed|connection (refused|reset|error)|network error|stream disconnected|could not resolve|unable to connect|timed out"),
)
_PATTERNS = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _RULES)


def classify_line(text: str) -> FailureKind | None:
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return kind
    return None


def classify_failure(error_texts: Iterable[str]) -> tuple[FailureKind, str] | None:
    """The failure the last matching error line names, with that line (trimmed), or None."""
    found: tuple[FailureKind, str] | None = None
    for text in error_texts:
        kind = classify_line(text)
        if kind is not None:
            found = (kind, text.strip()[:300])
    return found
