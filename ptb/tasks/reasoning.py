"""Removing a reply's ``<think>`` reasoning before it is scored: one rule for every task.

    strip_reasoning("<think>\\nplan it\\n</think>\\n\\nThe poem.")   # "The poem."
    strip_reasoning("plan it</think>The poem.")                    # "The poem." (template opened it)
    strip_reasoning("<think>a plan that never ends")               # "" (cut off while thinking)

Closed ``<think>...</think>`` blocks are dropped; a lone ``</think>`` (the chat template opened the
block) drops everything before it; an open ``<think>`` that never closes (generation stopped by
max tokens) drops everything after it, because there is no answer after unfinished reasoning.
Whitespace left at the start once reasoning was removed is dropped; a reply without reasoning
comes back unchanged (indentation matters to code).
"""

from __future__ import annotations

import re

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_reasoning(text: str) -> str:
    """The answer without its reasoning."""
    if "<think>" not in text and "</think>" not in text:
        return text
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.lstrip()
