"""Word n-grams of text as 64-bit hashes, for overlap between test items and an agent's files.

Text is normalised (JSON/Python string escapes undone, lowercased) and split into words and
numbers; numbers spelt as words become digits ("twenty-one" → 21, "three hundred and five" → 305),
so "Mia has three apples" and "Mia has 3 apples" are the same tokens. Tokens are mapped to ids through the vocabulary of the *test items*: a token the test
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


_UNITS = {w: i for i, w in enumerate((
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen").split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i >= 2}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)


def _spelt_numbers(tokens: list[str]) -> list[str]:
    """Runs of number words as one digit token each ("and" inside a run after a scale word is
    part of it). Two numbers in a row ("two three", "twenty thirty") stay two numbers."""
    out: list[str] = []
    total = current = 0
    last: str | None = None  # kind of the last number word of the run: unit, teen, ten, scale

    def flush() -> None:
        nonlocal total, current, last
        if last is not None:
            out.append(str(total + current))
        total = current = 0
        last = None

    for i, tok in enumerate(tokens):
        if tok in _UNITS:
            value = _UNITS[tok]
            kind = "unit" if value < 10 else "teen"
            if last in ("unit", "teen") or (last == "ten" and kind == "teen"):
                flush()
            current += value
            last = kind
        elif tok in _TENS:
            if last in ("unit", "teen", "ten"):
                flush()
            current += _TENS[tok]
            last = "ten"
        elif tok in _SCALES:
            if last is None:  # "hundred" alone is a word, not a number
                out.append(tok)
                continue
            scale = _SCALES[tok]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
            last = "scale"
        elif tok == "and" and last == "scale" and i + 1 < len(tokens) and (tokens[i + 1] in _UNITS or tokens[i + 1] in _TENS):
            continue
        else:
            flush()
            out.append(tok)
    flush()
    return out


def normalise_tokens(text: str) -> list[str]:
    """Lowercased words and numbers, numbers spelt as words as digits; string escapes (``\\n``,
    ``\\"``, ``\\u00e9``) undone first, so text inside JSON strings tokenises like the plain text."""
    if "\\" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        text = _ESCAPE.sub(" ", text)
    tokens = _TOKEN.findall(text.lower())
    if NUMBER_WORDS.isdisjoint(tokens):
        return tokens
    return _spelt_numbers(tokens)


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
