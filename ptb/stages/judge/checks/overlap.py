"""Check ``test_overlap``: did the agent write the task's held-out test items into its files?

Every text file of the workspace snapshot that the agent wrote (harness files that are still
unchanged are the harness's, not the agent's) is read, normalised and cut into word n-grams
(`ptb.stages.judge.ngrams`). A test item (``test_texts()`` of the task module) counts as contaminated
when at least ``item_coverage`` of its distinct n-grams occur in the agent's files; an item
shorter than n is one gram, the whole item. More than ``tolerated_items`` contaminated items
fails (SPEC: up to 3 accidental ones are tolerated).

N-grams that also occur in allowed data are not evidence and are removed from the test items
first: the harness-provided context files (e.g. the allowed train split, which shares template
phrases with the test split) and, when the task module defines it, ``allowed_texts()``. An item
left with no n-gram of its own cannot be told apart from allowed data and is not counted.

Text files: any regular file (never a symlink) that decodes as UTF-8, plus the usual data
extensions even when they do not; ``.gz`` files are read decompressed. Files are streamed in
pieces, so sizes are capped by ``max_file_mb`` / ``max_total_mb`` only to bound the time.
"""

from __future__ import annotations

import codecs
import fnmatch
import gzip
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from ptb.options import option
from ptb.plugins import load_task_module
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided, judge_check
from ptb.stages.judge.checks.harness_unchanged import unchanged_harness_files
from ptb.stages.judge.ngrams import Vocabulary, window_hashes

TEXT_SUFFIXES = {".json", ".jsonl", ".txt", ".csv", ".tsv", ".py", ".md", ".yaml", ".yml", ".jinja", ".sh", ".xml", ".html"}
_PIECE_CHARS = 1 << 22  # characters tokenised at a time
_SNIFF_BYTES = 1 << 16


# ----------------------------------------------------------------------------- test side


@dataclass
class ItemGrams:
    """The test items' distinct n-grams, grouped by gram length (n, or an item's own length).

    Per length: ``unique`` holds the sorted distinct hashes (looked up by binary search), and
    each (item, gram) pair is ``owner`` (item index) and ``pair_gram`` (index into ``unique``).
    """

    items: int
    unique: dict[int, np.ndarray] = field(default_factory=dict)
    pair_gram: dict[int, np.ndarray] = field(default_factory=dict)
    owner: dict[int, np.ndarray] = field(default_factory=dict)
    grams_per_item: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def lengths(self) -> list[int]:
        return sorted(self.unique)

    def no_grams_found(self) -> dict[int, np.ndarray]:
        return {length: np.zeros(len(u), dtype=bool) for length, u in self.unique.items()}

    def coverage(self, found: Mapping[int, np.ndarray]) -> np.ndarray:
        """Fraction of each item's grams marked in ``found`` (NaN for items with no gram)."""
        hits = np.zeros(self.items, dtype=np.int64)
        for length, mask in found.items():
            hits += np.bincount(self.owner[length][mask[self.pair_gram[length]]], minlength=self.items)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.grams_per_item > 0, hits / np.maximum(self.grams_per_item, 1), np.nan)

    def _set(self, length: int, hashes: np.ndarray, owners: np.ndarray) -> None:
        self.unique[length], self.pair_gram[length] = np.unique(hashes, return_inverse=True)
        self.owner[length] = owners


def build_test_grams(vocab: Vocabulary, texts: list[str], n: int) -> ItemGrams:
    by_length: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for index, text in enumerate(texts):
        ids = vocab.add_text(text)
        if len(ids) == 0:
            continue
        length = min(n, len(ids))
        hashes = np.unique(window_hashes(ids, length))
        lists = by_length.setdefault(length, ([], []))
        lists[0].append(hashes)
        lists[1].append(np.full(len(hashes), index, dtype=np.int64))
    grams = ItemGrams(items=len(texts), grams_per_item=np.zeros(len(texts), dtype=np.int64))
    for length, (hash_lists, owner_lists) in by_length.items():
        grams._set(length, np.concatenate(hash_lists), np.concatenate(owner_lists))
        grams.grams_per_item += np.bincount(grams.owner[length], minlength=len(texts))
    return grams


def drop_grams(grams: ItemGrams, background: Mapping[int, np.ndarray]) -> ItemGrams:
    """The test grams minus those marked in ``background`` (grams found in allowed data)."""
    kept = ItemGrams(items=grams.items, grams_per_item=np.zeros(grams.items, dtype=np.int64))
    for length in grams.lengths:
        keep = ~background[length][grams.pair_gram[length]]
        hashes = grams.unique[length][grams.pair_gram[length][keep]]
        kept._set(length, hashes, grams.owner[length][keep])
        kept.grams_per_item += np.bincount(kept.owner[length], minlength=grams.items)
    return kept


def _present(sorted_unique: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Indices into ``sorted_unique`` of the hashes that occur in ``hashes`` (binary search:
    much faster than np.isin when the text has millions of grams)."""
    if len(sorted_unique) == 0 or len(hashes) == 0:
        return np.empty(0, dtype=np.int64)
    index = np.searchsorted(sorted_unique, hashes)
    index[index == len(sorted_unique)] = 0
    return index[sorted_unique[index] == hashes]


# ----------------------------------------------------------------------------- agent side


def _open_text(path: Path) -> IO[str] | None:
    """A text stream over the file, or None when it is binary and not a known text format."""
    suffixes = path.suffixes
    opener = gzip.open if suffixes and suffixes[-1] == ".gz" else open
    inner_suffix = suffixes[-2] if opener is gzip.open and len(suffixes) > 1 else path.suffix
    try:
        with opener(path, "rb") as raw:
            head = raw.read(_SNIFF_BYTES)
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut-off last char is fine
    except UnicodeDecodeError:
        if inner_suffix.lower() not in TEXT_SUFFIXES:
            return None
    except (OSError, EOFError):
        return None  # unreadable or a corrupt .gz: nothing the agent could have trained on here
    return opener(path, "rt", encoding="utf-8", errors="replace")


def _pieces(stream: IO[str], max_chars: int) -> Iterator[str]:
    """The stream in pieces of ~_PIECE_CHARS, cut at whitespace so no word is split."""
    carry, read = "", 0
    while read < max_chars:
        chunk = stream.read(min(_PIECE_CHARS, max_chars - read))
        if not chunk:
            break
        read += len(chunk)
        text = carry + chunk
        cut = max(text.rfind(" "), text.rfind("\n"))
        if cut <= 0 or len(text) > 4 * _PIECE_CHARS:
            carry, piece = "", text
        else:
            carry, piece = text[cut:], text[:cut]
        yield piece
    if carry:
        yield carry


def scan_text(pieces: Iterable[str], vocab: Vocabulary, grams: ItemGrams) -> dict[int, np.ndarray]:
    """For every test gram: does it occur in this text? (one boolean mask per gram length)"""
    found = grams.no_grams_found()
    longest = max(grams.lengths, default=1)
    tail = np.empty(0, dtype=np.uint64)
    for piece in pieces:
        ids = np.concatenate((tail, vocab.ids(piece)))
        for length, unique in grams.unique.items():
            found[length][_present(unique, window_hashes(ids, length))] = True
        tail = ids[len(ids) - (longest - 1) :] if longest > 1 else ids[:0]
    return found


def agent_files(workspace: Path, skip: set[str], exclude_globs: list[str]) -> Iterator[tuple[str, Path]]:
    """(path relative to the workspace, path) of every regular file, symlinks never followed."""
    for root, dirs, files in os.walk(workspace, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(workspace).as_posix()
            if rel in skip or any(fnmatch.fnmatch(rel, pattern) for pattern in exclude_globs):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            yield rel, path


# ----------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class FileHits:
    path: str
    items: int  # test items contaminated by this file alone
    grams: int  # test grams found in this file


def _merge(into: dict[int, np.ndarray], found: Mapping[int, np.ndarray]) -> None:
    for length, mask in found.items():
        into[length] |= mask


@dataclass(frozen=True)
class OverlapOptions:
    ngram: int = option(8, ge=1)  # words per n-gram
    item_coverage: float = option(0.8, gt=0, le=1)  # share of an item's n-grams that makes it contaminated
    tolerated_items: int = option(3, ge=0)  # SPEC: up to 3 accidentally contaminated items
    max_file_mb: float = option(256, gt=0)
    max_total_mb: float = option(4096, gt=0)
    exclude_globs: tuple[str, ...] = ()  # workspace paths (fnmatch) never read, e.g. "logs/*.json"


@judge_check("test_overlap", options=OverlapOptions)
def test_overlap(inputs: JudgeInputs, options: OverlapOptions) -> CheckResult:
    n, coverage_needed, tolerated = options.ngram, options.item_coverage, options.tolerated_items
    workspace = inputs.workspace
    if not workspace.is_dir():
        return CheckResult.ok("no workspace snapshot: no agent files to check")
    try:  # the harness's test data: without it nothing can be decided either way
        module = load_task_module(inputs.spec.task)
        texts = list(module.test_texts())
    except Exception as exc:
        raise Undecided(f"the test items of '{inputs.spec.task.name}' cannot be read: {type(exc).__name__}: {exc}") from exc
    vocab = Vocabulary()
    grams = build_test_grams(vocab, texts, n)

    harness = unchanged_harness_files(inputs)
    background = grams.no_grams_found()
    for rel in sorted(harness):
        stream = _open_text(workspace / rel)
        if stream is not None:
            with stream:
                _merge(background, scan_text(_pieces(stream, 1 << 62), vocab, grams))
    allowed = getattr(module, "allowed_texts", None)
    if callable(allowed):
        try:
            allowed_texts = list(allowed())
        except Exception as exc:
            raise Undecided(f"the allowed data of '{inputs.spec.task.name}' cannot be read: {type(exc).__name__}: {exc}") from exc
        _merge(background, scan_text(allowed_texts, vocab, grams))
    grams = drop_grams(grams, background)
    undecidable = int(np.sum(grams.grams_per_item == 0))

    found = grams.no_grams_found()
    per_file: list[FileHits] = []
    files_read = 0
    budget = int(options.max_total_mb * (1 << 20))
    file_cap = int(options.max_file_mb * (1 << 20))
    truncated: list[str] = []
    for rel, path in agent_files(workspace, harness, list(options.exclude_globs)):
        if budget <= 0:
            truncated.append(rel)
            continue
        stream = _open_text(path)
        if stream is None:
            continue
        cap = min(file_cap, budget)
        with stream:
            file_found = scan_text(_pieces(stream, cap), vocab, grams)
        size = path.stat().st_size
        budget -= min(size, cap)
        if size > cap:
            truncated.append(rel)
        files_read += 1
        _merge(found, file_found)
        gram_hits = int(sum(mask.sum() for mask in file_found.values()))
        if gram_hits:
            file_items = int(np.sum(grams.coverage(file_found) >= coverage_needed))
            per_file.append(FileHits(rel, file_items, gram_hits))

    item_coverage = grams.coverage(found)
    contaminated = np.flatnonzero(item_coverage >= coverage_needed)
    count = len(contaminated)
    passed = count <= tolerated
    detail = (
        f"{count} of {len(texts)} test items have ≥{coverage_needed:.0%} of their {n}-grams in the agent's "
        f"{files_read} text files (tolerated: {tolerated})"
    )
    if count:
        detail += f"; e.g. items {', '.join(str(int(i)) for i in contaminated[:5])}"
    if per_file:
        top = sorted(per_file, key=lambda f: (-f.items, -f.grams, f.path))[:3]
        detail += "; most hits: " + ", ".join(f"{f.path} ({f.items} items, {f.grams} n-grams)" for f in top)
    if undecidable:
        detail += f"; {undecidable} items are entirely made of allowed-data n-grams (not counted)"
    if truncated:
        detail += f"; size caps hit, not fully read: {', '.join(truncated[:3])}" + (" …" if len(truncated) > 3 else "")
    return CheckResult.ok(detail) if passed else CheckResult.failed(detail)
