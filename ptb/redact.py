"""Secrets out of everything ptb writes: the values of the agent's key variables, masked.

    redact = Redactor.of_env(env, ("ANTHROPIC_API_KEY",))
    solve_log.write("stdout", redact(line))     # "... key sk-ant-xyz ..." -> "... key [ANTHROPIC_API_KEY] ..."

The agent is handed its own vendor key and may print it (a CLI's debug output, an agent that
echoes its environment); solve.log, trace.jsonl, outcome.json and trajectory.json are published
with the results, so every line passes through here first. Values too short to be a secret
(under 8 characters) are left alone: masking "1" would garble every number in the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class Redactor:
    pattern: re.Pattern[str] | None
    names: Mapping[str, str]  # secret value -> the variable it came from

    @classmethod
    def of_env(cls, env: Mapping[str, str], variables: Iterable[str]) -> Redactor:
        names = {env[v]: v for v in variables if len(env.get(v, "")) >= MIN_SECRET_LENGTH}
        if not names:
            return cls(None, {})
        # longest first: a key that contains another key is masked whole
        alternatives = sorted(names, key=len, reverse=True)
        return cls(re.compile("|".join(re.escape(a) for a in alternatives)), names)

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: f"[{self.names[m.group(0)]}]", text)
