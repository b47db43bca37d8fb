"""Per-item fingerprints that survive a rewording, for the overlap check.

A task module may define ``test_fingerprints()``: per test item, ``(numbers, words)``, optionally
followed by ``solution_numbers`` and ``question_words`` — the numbers of the question in order with
the answer last, words a paraphrase keeps (arith: the names and the object), the numbers of the
worked solution in order ("10 + 3 = 13. 13 - 4 = 9." → 10 3 13 13 4 9), and the question's
words in order. Numbers spelt as words
count as digits (`ngrams.normalise_tokens`); words match up to a plural "s". An item is *found*
where, its words within ``window`` tokens (``answer_window`` before a solution):

- its question's numbers occur in order as consecutive numbers of the text (other words in
  between are fine, another number is not; no two more than ``max_gap`` tokens apart) and the
  number right after or right before them, within ``answer_window`` tokens, is its answer; or
- its solution's numbers occur so (a worked answer, in a chat or any other layout).

So a reworded item ("Max starts with ten stamps and wins three more: thirteen") is found, and so
is one written in the train file's layout or a chat format, whose fields cut the n-grams apart.
Two tiers are counted apart, and the one with more evidence decides: *loose* (the paraphrase
words) and *strict* (the question's words and numbers in order, as one run of tokens, up to case,
punctuation and spelt numbers: the question kept verbatim, which data generated otherwise almost
never matches, so a few test items hidden among many generated ones stand out).

Small numbers recur by chance, so found items are evidence only beyond what chance finds in the
same text: beyond chance plus 2.5 standard deviations (`Excess.margin`). Chance is measured
twice, and the larger measure counts (`excess`):

- *decoy answers*: the same items with the answer ±1, ±2. Text that does not hold the answers
  (a list of the bare test questions, whose next question's first number is now and then the
  answer) finds decoy answers as often as the real ones;
- *decoy splits*: where the module defines ``decoy_fingerprints(k)``, k other splits made the way
  the test split is (arith: other seeds of the same public generator). Data generated with the
  task's public generator (allowed: it is not the test split) finds them as often as the real one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ptb.stages.judge.ngrams import normalise_tokens

DECOY_OFFSETS = (1, -1, 2, -2)  # decoy answers: the real one plus these
Z = 2.5  # standard deviations above chance before found items count


@dataclass(frozen=True)
class Fingerprint:
    question: tuple[str, ...]  # the question's numbers in order
    answer: str
    words: tuple[str, ...]
    solution: tuple[str, ...] = ()  # the worked solution's numbers in order, the answer last
    strict: tuple[str, ...] = ()  # the question's tokens in order (the strict tier), numbers included


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def parse_fingerprints(raw: Iterable[Sequence[Sequence[object]]]) -> list[Fingerprint]:
    """A task module's fingerprints (``[(numbers..., answer), (words...)]`` per item) as records."""
    out = []
    for entry in raw:
        numbers, words = entry[0], entry[1]
        nums = _digits(numbers)
        if len(nums) < 2:
            raise ValueError(f"a fingerprint needs a question number and the answer, got {numbers!r}")
        solution = _digits(entry[2]) if len(entry) > 2 else ()
        strict = tuple(normalise_tokens(" ".join(str(w) for w in entry[3]))) if len(entry) > 3 else ()
        out.append(Fingerprint(nums[:-1], nums[-1], tuple(_stem(str(w)) for w in words), solution, strict))
    return out


def _digits(numbers: Sequence[object]) -> tuple[str, ...]:
    return tuple(normalise_tokens(" ".join(str(n) for n in numbers)))


def _variants(answer: str) -> list[str | None]:
    if not answer.isdigit():
        return [answer] + [None] * len(DECOY_OFFSETS)
    value = int(answer)
    return [answer] + [str(value + d) if value + d >= 0 else None for d in DECOY_OFFSETS]


@dataclass
class FingerprintScan:
    """found[tier, split, variant, item]: tier 0 loose, 1 strict; split 0 is the test split,
    variant 0 the real answer."""

    found: np.ndarray

    @classmethod
    def empty(cls, splits: int, items: int) -> FingerprintScan:
        return cls(np.zeros((2, splits, 1 + len(DECOY_OFFSETS), items), dtype=bool))

    def merge(self, other: FingerprintScan) -> None:
        self.found |= other.found

    @property
    def real(self) -> np.ndarray:
        return self.found[0, 0, 0]


@dataclass(frozen=True)
class Excess:
    found: int  # test items found (among those counted)
    chance: float  # what chance finds: the larger mean of the decoy answers' and the decoy splits' counts
    items: np.ndarray  # indices of the test items found

    @property
    def margin(self) -> float:
        """Chance plus 2.5 standard deviations (counts of rare hits are about Poisson)."""
        return self.chance + Z * math.sqrt(self.chance + 1.0)

    @property
    def count(self) -> int:
        return max(0, math.floor(self.found - self.margin))


def excess(scan: FingerprintScan, background: FingerprintScan, counted: np.ndarray) -> Excess:
    """Test items found beyond chance, in the tier with more of them. ``counted``: the test items
    that may count (not already found otherwise); an item of any split whose real fingerprint is
    in allowed data is left out."""
    tiers = [_excess(scan.found[t], background.found[0], counted) for t in range(scan.found.shape[0])]
    return max(tiers, key=lambda e: (e.count, -e.chance))


def _excess(scan: np.ndarray, background: np.ndarray, counted: np.ndarray) -> Excess:
    fresh = scan & ~background  # a hit that allowed data holds too is no evidence, real or decoy
    decidable = ~background[:, 0, :]  # per split
    mask = decidable[0] & counted
    found = fresh[0, 0] & mask
    answers = [float((fresh[0, v] & mask).sum()) for v in range(1, fresh.shape[1])]
    # a decoy split scaled to as many decidable items as the test split has
    splits = [float((fresh[s, 0] & decidable[s]).sum()) * mask.sum() / max(1, decidable[s].sum())
              for s in range(1, fresh.shape[0])]
    chance = max(float(np.mean(answers)) if answers else 0.0, float(np.mean(splits)) if splits else 0.0)
    return Excess(int(found.sum()), chance, np.flatnonzero(found))


_Entry = tuple[int, int, list[str | None], tuple[str, ...], tuple[str, ...]]  # split, item, answers, words, strict


class FingerprintIndex:
    """The fingerprints of the test split and of its decoy splits, looked up in texts."""

    def __init__(
        self, splits: Sequence[Sequence[Fingerprint]], *, window: int = 16, answer_window: int = 40, max_gap: int = 16
    ) -> None:
        self.splits = len(splits)
        self.items = max((len(s) for s in splits), default=0)
        self.window, self.answer_window, self.max_gap = window, answer_window, max_gap
        self._by_question: dict[tuple[str, ...], list[_Entry]] = {}
        self._by_solution: dict[tuple[str, ...], list[_Entry]] = {}  # keyed without the answer
        for split, fingerprints in enumerate(splits):
            for item, fp in enumerate(fingerprints):
                self._by_question.setdefault(fp.question, []).append((split, item, _variants(fp.answer), fp.words, fp.strict))
                if len(fp.solution) >= 3:
                    key, answer = fp.solution[:-1], fp.solution[-1]
                    self._by_solution.setdefault(key, []).append((split, item, _variants(answer), fp.words, fp.strict))
        self._lengths = sorted({len(k) for k in self._by_question} | {len(k) for k in self._by_solution})

    def empty(self) -> FingerprintScan:
        return FingerprintScan.empty(self.splits, self.items)

    def scan(self, pieces: Iterable[str], cap_matches: int = 2_000_000) -> FingerprintScan:
        result = self.empty()
        checked = 0
        for piece in pieces:
            tokens = normalise_tokens(piece)
            positions = [i for i, tok in enumerate(tokens) if tok.isdigit()]
            if len(positions) < 2:
                continue
            numbers = [tokens[i] for i in positions]
            stems: list[str] | None = None
            for length in self._lengths:
                for start in range(len(numbers) - length + 1):
                    key = tuple(numbers[start : start + length])
                    by_question, by_solution = self._by_question.get(key), self._by_solution.get(key)
                    if by_question is None and by_solution is None:
                        continue
                    span = positions[start : start + length]
                    if any(b - a > self.max_gap for a, b in zip(span, span[1:], strict=False)):
                        continue
                    checked += 1
                    if checked > cap_matches:
                        return result
                    if stems is None:
                        stems = [_stem(t) for t in tokens]
                    end = start + length
                    after = numbers[end] if end < len(numbers) and positions[end] - span[-1] <= self.answer_window else None
                    if by_question is not None:
                        before = numbers[start - 1] if start > 0 and span[0] - positions[start - 1] <= self.answer_window else None
                        near = set(stems[max(0, span[0] - self.window) : span[-1] + self.window + 1])
                        self._mark(result, by_question, near, {after, before}, tokens, span[0])
                    if by_solution is not None and after is not None and positions[end] - span[-1] <= self.max_gap:
                        near = set(stems[max(0, span[0] - self.answer_window) : positions[end] + self.window + 1])
                        self._mark(result, by_solution, near, {after}, tokens, None)
        return result

    @staticmethod
    def _mark(
        result: FingerprintScan, entries: list[_Entry], near: set[str], answers: set[str | None],
        tokens: list[str], first_number: int | None,
    ) -> None:
        for split, item, variants, words, strict in entries:
            if not all(w in near for w in words):
                continue
            tiers = (0, 1) if first_number is not None and _verbatim(strict, tokens, first_number) else (0,)
            for variant, answer in enumerate(variants):
                if answer is not None and answer in answers:
                    for tier in tiers:
                        result.found[tier, split, variant, item] = True


def _verbatim(question: tuple[str, ...], tokens: list[str], first_number: int) -> bool:
    """Whether the question's tokens run in order in ``tokens``, its first number at ``first_number``."""
    lead = next((i for i, tok in enumerate(question) if tok.isdigit()), None)
    if not question or lead is None:
        return False
    start = first_number - lead
    return start >= 0 and tuple(tokens[start : start + len(question)]) == question
