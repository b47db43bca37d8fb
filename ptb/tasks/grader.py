"""The LLM grader of the LLM-graded tasks (arenahard_writing, healthbench), as an inspect-ai model.

    grader = grader_model("openai/gpt-5-mini", base_url=None, api_key_env="OPENAI_API_KEY")
    output = await grader.generate(prompt)

Any inspect-ai model name works (``openai/...``, ``anthropic/...``, ``openai-api/<service>/<model>``
for an OpenAI-compatible endpoint given by ``base_url``). The key is read from the variable named
by ``api_key_env`` in the process that grades: the evaluation pool's workers, which get it from
the driver. Agents' sandboxes never get it (their environment is built from an allow-list), so an
agent's own ``evaluate.py`` on these tasks grades only with a key of its own.
"""

from __future__ import annotations

import os
from typing import Any

PLACEHOLDER_KEY = "ptb-no-key"  # local OpenAI-compatible graders usually want no key


class GraderUnavailable(RuntimeError):
    """The grader cannot be used here (no key); the message says what to set."""


def grader_model(model: str, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY") -> Any:
    from inspect_ai.model import get_model

    if not model or "/" not in model:
        raise ValueError(
            f"grader model {model!r} is invalid: expected an inspect-ai model name such as "
            f"'openai/gpt-5-mini' or 'openai-api/<service>/<model>' (with grader.base_url)"
        )
    key = os.environ.get(api_key_env) if api_key_env else None
    if not key and base_url is None:
        raise GraderUnavailable(
            f"this task is graded by the LLM {model}, which needs an API key in ${api_key_env or 'OPENAI_API_KEY'} "
            f"(grader.api_key_env); set it in the environment that runs the evaluation, or point grader.model "
            f"and grader.base_url at an OpenAI-compatible endpoint. Inside an agent's sandbox the harness's "
            f"grader key is never available."
        )
    kwargs: dict[str, Any] = {"api_key": key or PLACEHOLDER_KEY}
    if base_url:
        kwargs["base_url"] = base_url
    # memoize=False: every task instance gets its own client (Ray workers evaluate many tasks)
    return get_model(model, memoize=False, **kwargs)
