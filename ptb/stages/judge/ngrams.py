"""Word n-grams of text as 64-bit hashes, for overlap between test items and an agent's files.

Text is normalised (JSON/Python string escapes undone, lowercased) and split into words and
numbers. Tokens are mapped to ids through the vocabulary of the *test items*: a token the test
set never uses cannot be part of a matching n-gram, so every n-gram holding one is dropped
before hashing. That keeps the agent's side small however many MB of unrelated text it wrote.
Hashes are polynomial over the ids modulo 2**64 (numpy uint64 wrap-around), computed for all
windows at once.

    vocab = Vocabulary()
    test = [vocab.add_text(t) for t in test_texts]          # token ids per test item
    grams = window_hashes(vocab.ids(agent_text), 8)          # hashes of the agent's 8-grams
"""

from __future__ import annotations

import re

import numpy as np

_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ESCAPE = re.compile(r"\\[ntrbf\"'\\/]")

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, large: wrap-around keeps it a good mixer
_LENGTH_SEED = np.uint64(0xC2B2AE3D27D4EB4F)  # n-grams of different lengths never share hashes

OOV = 0  # the id of every token the test items do not use


def normalise_tokens(text: str) -> list[str]:
    """Lowercased words and numbers; string escapes (``\\n``, ``\\"``, ``\\u00e9``) undone first,
    so text inside JSON strings tokenises like the plain text."""
    if "\\" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        text = _ESCAPE.sub(" ", text)
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """Token → id for the tokens of the test items; everything else is OOV."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def add_text(self, text: str) -> np.ndarray:
        ids = [self._ids.setdefault(tok, len(self._ids) + 1) for tok in normalise_tokens(text)]
        return np.asarray(ids, dtype=np.uint64)

    def ids(self, text: str) -> np.ndarray:
        get = self._ids.get
        return np.asarray([get(tok, OOV) for tok in normalise_tokens(text)], dtype=np.uint64)


def window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every window of n consecutive ids that holds no OOV id (unsorted, may repeat)."""
    count = len(ids) - n + 1
    if n <= 0 or count <= 0:
        return np.empty(0, dtype=np.uint64)
    oov = np.concatenate(([0], np.cumsum(ids == OOV)))
    keep = (oov[n:] - oov[:-n]) == 0
    if not keep.any():
        return np.empty(0, dtype=np.uint64)
    hashes = np.full(count, _LENGTH_SEED, dtype=np.uint64) * np.uint64(n)  # array ops wrap silently
    for k in range(n):
        hashes = hashes * _MULTIPLIER + ids[k : k + count]
    return hashes[keep]
