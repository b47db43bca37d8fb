"""Check ``test_overlap``: did the agent keep the task's held-out test items in what it left or ran?

What is read (each a *source*):

- every text file of the workspace snapshot that the agent wrote (harness files that are still
  unchanged are the harness's, not the agent's), of the snapshot of its /tmp (``agent_tmp/``,
  written by collect) and of ``final_model/`` (its weights excepted);
- what the agent ran (`JudgeInputs.trajectory`): the arguments of its tool calls (commands, files
  written through tools: a file deleted afterwards is still there) and its messages; the tool
  outputs too, but those count only where the task's answers reach the agent through nothing the
  harness gives it (``tool_outputs: auto``: a task with a secret held-out split, whose module has
  ``heldout_items``): elsewhere, viewing test items is allowed (SPEC §5) and an output that shows
  them is reported, not counted. Without a trajectory (an offline agent), its ``solve.log`` is
  its tool output.

Every file is decoded whatever its name: text (UTF-8), gzip, zip (inspect's ``.eval`` logs among
them: each member is read), Parquet and Arrow (each row as JSON), told apart by their first bytes
so a renamed file is read too; bounded by ``max_file_mb`` / ``max_total_mb``.

Two kinds of evidence, per test item:

- **n-grams** (`ptb.stages.judge.ngrams`; numbers spelt as words read as digits): an item counts
  when at least ``item_coverage`` of its distinct word n-grams occur in one place or another of
  the counted sources; an item shorter than n is one gram, the whole item;
- **fingerprints** (`ptb.stages.judge.fingerprints`), where the task module defines
  ``test_fingerprints()``: the question's numbers in order, then the answer, near the words a
  paraphrase keeps. This is what finds a reworded item ("Mia starts with three apples…") and
  items written in the train file's layout, whose fields cut the n-grams apart. Short number
  sequences recur by chance, so only the excess over decoy answers counts (see there).

More than ``tolerated_items`` contaminated items fails (SPEC: up to 3 accidental ones).

N-grams and fingerprints that also occur in allowed data are not evidence and are removed from
the test items first: the harness-provided context files (e.g. the allowed train split, which
shares template phrases with the test split), found by their recorded hash (a file of the train
split's name and layout holding other lines is the agent's, and read), and, when the task module
defines it, ``allowed_texts()``. An item left with no n-gram of its own cannot be told apart from
allowed data and is not counted.
"""

from __future__ import annotations

import codecs
import fnmatch
import gzip
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from ptb.options import option
from ptb.plugins import load_task_module
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided, judge_check
from ptb.stages.judge.checks.harness_unchanged import unchanged_harness_files
from ptb.stages.judge.fingerprints import FingerprintIndex, FingerprintScan, excess, parse_fingerprints
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


_GZIP, _ZIP, _PARQUET, _ARROW_FILE, _ARROW_STREAM = b"\x1f\x8b", b"PK\x03\x04", b"PAR1", b"ARROW1", b"\xff\xff\xff\xff"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")  # as collect's
_MAX_MEMBERS = 10_000  # of a zip


def _is_text(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut-off last char is fine
    except UnicodeDecodeError:
        return False
    return True


def _open_text(path: Path) -> IO[str] | None:
    """A text stream over a plain or gzipped text file, or None when it is neither (binary)."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(_SNIFF_BYTES)
        if head.startswith(_GZIP):
            with gzip.open(path, "rb") as raw:
                head = raw.read(_SNIFF_BYTES)
            if _is_text(head) or path.suffix.lower() == ".gz" and Path(path.stem).suffix.lower() in TEXT_SUFFIXES:
                return gzip.open(path, "rt", encoding="utf-8", errors="replace")
            return None
    except (OSError, EOFError, gzip.BadGzipFile):
        return None  # unreadable or a corrupt .gz: nothing the agent could have trained on here
    if not _is_text(head) and path.suffix.lower() not in TEXT_SUFFIXES:
        return None
    return open(path, encoding="utf-8", errors="replace")


def _rows_as_text(batches: Iterable[Any], max_chars: int) -> Iterator[str]:
    """Arrow record batches as JSON lines, ~_PIECE_CHARS at a time, up to max_chars."""
    used = 0
    for batch in batches:
        lines = [json.dumps(row, default=str, ensure_ascii=False) for row in batch.to_pylist()]
        piece = "\n".join(lines) + "\n"
        if used + len(piece) > max_chars:
            yield piece[: max_chars - used]
            return
        used += len(piece)
        yield piece


def _arrow_pieces(path: Path, head: bytes, max_chars: int) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    try:
        if head.startswith(_PARQUET):
            batches: Iterable[Any] = pq.ParquetFile(path).iter_batches(batch_size=1024)
        elif head.startswith(_ARROW_FILE):
            reader = ipc.open_file(path)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = ipc.open_stream(pa.memory_map(str(path)))
        yield from _rows_as_text(batches, max_chars)
    except (OSError, pa.ArrowException, ValueError):
        return  # not really Parquet / Arrow: nothing readable


def _zip_pieces(path: Path, max_chars: int) -> Iterator[str]:
    """Every member of a zip (inspect's .eval logs are zips of JSON) that decodes as text."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        return
    used = 0
    with archive:
        for info in archive.infolist()[:_MAX_MEMBERS]:
            if info.is_dir() or used >= max_chars:
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(max_chars - used)
            except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError):
                continue  # encrypted, corrupt or an unknown compression
            if data.startswith(_GZIP):
                try:
                    data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(max_chars - used)
                except (OSError, EOFError):
                    continue
            if not _is_text(data[:_SNIFF_BYTES]):
                continue
            used += len(data)
            yield from _pieces(io.StringIO(data.decode("utf-8", errors="replace")), max_chars)


def file_pieces(path: Path, max_chars: int) -> Iterator[str] | None:
    """The text of a file of any format the check reads, in pieces; None when it holds none."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(8)
    except OSError:
        return None
    if head.startswith((_PARQUET, _ARROW_FILE, _ARROW_STREAM)):
        return _arrow_pieces(path, head, max_chars)
    if head.startswith(_ZIP):
        return _zip_pieces(path, max_chars)
    stream = _open_text(path)
    if stream is None:
        return None

    def text() -> Iterator[str]:
        with stream:
            yield from _pieces(stream, max_chars)

    return text()


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


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _strings(v, out)


def trajectory_texts(trajectory: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(what the agent wrote: its messages and the arguments of its tool calls; what its tools
    answered: the observations) of an ATIF trajectory."""
    written: list[str] = []
    outputs: list[str] = []
    for step in trajectory.get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        if step.get("source") == "agent":
            _strings(step.get("message"), written)
            for call in step.get("tool_calls") or []:
                _strings(call.get("arguments") if isinstance(call, Mapping) else call, written)
        _strings(step.get("observation"), outputs)
    return written, outputs


# ----------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class FileHits:
    path: str
    items: int  # test items contaminated by this source alone (n-grams)
    grams: int  # test grams found in this source
    fingerprints: int = 0  # items whose fingerprint this source holds


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
    trajectory: bool = True  # read what the agent ran (trajectory.json, else solve.log)
    # tool outputs count: auto = where the task's answers are secret (its module has heldout_items)
    tool_outputs: Literal["auto", "always", "never"] = "auto"
    fingerprint_window: int = option(16, ge=1)  # tokens around an item's numbers that must hold its words
    answer_window: int = option(40, ge=1)  # tokens around an item's numbers that must hold its answer
    decoy_splits: int = option(4, ge=0)  # other splits made like the test split: chance of the task's generator


@dataclass
class _Scanner:
    """The test side, built once; scans sources one by one and keeps what each held."""

    vocab: Vocabulary
    grams: ItemGrams
    prints: FingerprintIndex | None
    coverage_needed: float

    def scan(self, pieces: Iterable[str]) -> tuple[dict[int, np.ndarray], FingerprintScan]:
        prints = self.empty_prints()

        def teed() -> Iterator[str]:
            for piece in pieces:
                if self.prints is not None:
                    prints.merge(self.prints.scan([piece]))
                yield piece

        return scan_text(teed(), self.vocab, self.grams), prints

    def empty_prints(self) -> FingerprintScan:
        return self.prints.empty() if self.prints is not None else FingerprintScan.empty(1, self.grams.items)


@dataclass
class _Tally:
    """What the counted (or the merely reported) sources held, merged, and per source."""

    found: dict[int, np.ndarray]
    prints: FingerprintScan
    per_source: list[FileHits] = field(default_factory=list)
    sources: int = 0

    def add(self, label: str, found: Mapping[int, np.ndarray], prints: FingerprintScan, scanner: _Scanner) -> None:
        self.sources += 1
        _merge(self.found, found)
        self.prints.merge(prints)
        gram_hits = int(sum(mask.sum() for mask in found.values()))
        fp_hits = int(prints.real[: len(scanner.grams.grams_per_item)].sum())
        if gram_hits or fp_hits:
            items = int(np.sum(scanner.grams.coverage(found) >= scanner.coverage_needed)) if gram_hits else 0
            self.per_source.append(FileHits(label, items, gram_hits, fp_hits))


def _text_pieces(texts: list[str], max_chars: int) -> Iterator[str]:
    used = 0
    for text in texts:
        if used >= max_chars:
            return
        chunk = text[: max_chars - used]
        used += len(chunk)
        yield from _pieces(io.StringIO(chunk + "\n"), max_chars)


def _file_reader(path: Path) -> Callable[[int], Iterator[str] | None]:
    return lambda cap: file_pieces(path, cap)


def _secret_split(module: Any) -> bool:
    return callable(getattr(module, "heldout_items", None))


@judge_check("test_overlap", options=OverlapOptions)
def test_overlap(inputs: JudgeInputs, options: OverlapOptions) -> CheckResult:
    n, coverage_needed, tolerated = options.ngram, options.item_coverage, options.tolerated_items
    workspace = inputs.workspace
    agent_tmp = inputs.agent_tmp
    try:  # the harness's test data: without it nothing can be decided either way
        module = load_task_module(inputs.spec.task)
        texts = list(module.test_texts())
        raw_prints = getattr(module, "test_fingerprints", None)
        fingerprints = parse_fingerprints(raw_prints()) if callable(raw_prints) else None
        raw_decoys = getattr(module, "decoy_fingerprints", None)
        decoy_splits = ([parse_fingerprints(d) for d in raw_decoys(options.decoy_splits)]
                        if fingerprints and callable(raw_decoys) and options.decoy_splits else [])
    except Exception as exc:
        raise Undecided(f"the test items of '{inputs.spec.task.name}' cannot be read: {type(exc).__name__}: {exc}") from exc
    if fingerprints is not None and len(fingerprints) != len(texts):
        raise Undecided(f"'{inputs.spec.task.name}' has {len(texts)} test texts but {len(fingerprints)} fingerprints")
    trajectory = inputs.trajectory() if options.trajectory else None  # unreadable: Undecided
    solve_log = inputs.run_dir / "solve.log"
    if not (workspace.is_dir() or agent_tmp.is_dir() or inputs.final_model.is_dir() or trajectory
            or (options.trajectory and solve_log.is_file())):
        return CheckResult.ok("no workspace snapshot and no record of what the agent ran: nothing to check")
    vocab = Vocabulary()
    grams = build_test_grams(vocab, texts, n)
    prints = (FingerprintIndex([fingerprints, *decoy_splits], window=options.fingerprint_window,
                               answer_window=options.answer_window) if fingerprints else None)
    scanner = _Scanner(vocab, grams, prints, coverage_needed)

    # ------------------------------------------------------------ allowed data: not evidence
    harness = unchanged_harness_files(inputs) if workspace.is_dir() else set()
    background = grams.no_grams_found()
    background_prints = scanner.empty_prints()
    allowed_texts: list[str] = []
    allowed = getattr(module, "allowed_texts", None)
    if callable(allowed):
        try:
            allowed_texts = list(allowed())
        except Exception as exc:
            raise Undecided(f"the allowed data of '{inputs.spec.task.name}' cannot be read: {type(exc).__name__}: {exc}") from exc
    background_sources: list[Iterable[str]] = [allowed_texts] if allowed_texts else []
    for rel in sorted(harness):
        harness_pieces = file_pieces(workspace / rel, 1 << 62)
        if harness_pieces is not None:
            background_sources.append(harness_pieces)
    with tempfile.TemporaryDirectory(prefix="ptb-judge-context-") as context:
        # The context files as the harness writes them (the allowed train split): allowed data even
        # where the agent changed its copy, which is then read as the agent's file.
        try:
            context_files = [Path(p) for p in module.write_agent_context(Path(context))]
        except Exception as exc:
            raise Undecided(f"the context files of '{inputs.spec.task.name}' cannot be made: {type(exc).__name__}: {exc}") from exc
        for path in sorted(context_files):
            if path.is_file() and os.path.realpath(path).startswith(os.path.realpath(context) + os.sep):
                context_pieces = file_pieces(path, 1 << 62)
                if context_pieces is not None:
                    background_sources.append(context_pieces)
        for source in background_sources:
            found, found_prints = scanner.scan(source)
            _merge(background, found)
            background_prints.merge(found_prints)
    grams = drop_grams(grams, background)
    scanner.grams = grams
    undecidable = int(np.sum(grams.grams_per_item == 0))

    # ------------------------------------------------------------ what the agent left and ran
    counted = _Tally(grams.no_grams_found(), scanner.empty_prints())
    viewed = _Tally(grams.no_grams_found(), scanner.empty_prints())
    budget = int(options.max_total_mb * (1 << 20))
    file_cap = int(options.max_file_mb * (1 << 20))
    truncated: list[str] = []

    def read(label: str, make: Callable[[int], Iterator[str] | None], size: int, tally: _Tally) -> None:
        nonlocal budget
        if budget <= 0:
            truncated.append(label)
            return
        cap = min(file_cap, budget)
        pieces = make(cap)
        if pieces is None:
            return
        found, found_prints = scanner.scan(pieces)
        budget -= min(size, cap)
        if size > cap:
            truncated.append(label)
        tally.add(label, found, found_prints, scanner)

    folders = [(workspace, "", harness, list(options.exclude_globs)), (agent_tmp, "/tmp/", set(), []),
               (inputs.final_model, "final_model/", set(), [])]
    for root, prefix, skip, globs in folders:
        if not root.is_dir():
            continue
        for rel, path in agent_files(root, skip, globs):
            if prefix == "final_model/" and path.name.lower().endswith(WEIGHT_SUFFIXES):
                continue  # the weights: model_identity's business
            read(prefix + rel, _file_reader(path), path.stat().st_size, counted)

    count_outputs = options.tool_outputs == "always" or (options.tool_outputs == "auto" and _secret_split(module))
    outputs_tally = counted if count_outputs else viewed
    if trajectory is not None:
        written, outputs = trajectory_texts(trajectory)
        read("trajectory: tool calls and messages", lambda cap: _text_pieces(written, cap), sum(map(len, written)), counted)
        read("trajectory: tool outputs", lambda cap: _text_pieces(outputs, cap), sum(map(len, outputs)), outputs_tally)
    elif options.trajectory and solve_log.is_file():
        read("solve.log", lambda cap: file_pieces(solve_log, cap), solve_log.stat().st_size, outputs_tally)

    # ------------------------------------------------------------ the decision
    item_coverage = grams.coverage(counted.found)
    by_grams = item_coverage >= coverage_needed
    beyond = excess(counted.prints, background_prints, ~by_grams)
    by_prints = beyond.count if prints is not None else 0
    contaminated = np.flatnonzero(by_grams)
    count = len(contaminated) + by_prints
    passed = count <= tolerated
    where = f"{counted.sources} sources (files the agent left, its /tmp, final_model, what it ran)"
    detail = (
        f"{count} of {len(texts)} test items are in what the agent left or ran: {len(contaminated)} with "
        f"≥{coverage_needed:.0%} of their {n}-grams"
    )
    if prints is not None:
        detail += (f", {by_prints} more by their numbers and answer ({beyond.found} found; chance finds "
                   f"{beyond.chance:.1f}, counted beyond {beyond.margin:.1f})")
    detail += f", in {where} (tolerated: {tolerated})"
    if len(contaminated):
        detail += f"; e.g. items {', '.join(str(int(i)) for i in contaminated[:5])}"
    if counted.per_source:
        top = sorted(counted.per_source, key=lambda f: (-f.items, -f.fingerprints, -f.grams, f.path))[:3]
        detail += "; most hits: " + ", ".join(
            f"{f.path} ({f.items} items, {f.grams} n-grams" + (f", {f.fingerprints} fingerprints" if f.fingerprints else "") + ")"
            for f in top
        )
    if viewed.sources:
        seen = int(np.sum(grams.coverage(viewed.found) >= coverage_needed))
        if seen:
            detail += f"; tool outputs showed {seen} test items (viewing them is allowed: not counted)"
    if undecidable:
        detail += f"; {undecidable} items are entirely made of allowed-data n-grams (not counted)"
    if truncated:
        detail += f"; size caps hit, not fully read: {', '.join(truncated[:3])}" + (" …" if len(truncated) > 3 else "")
    return CheckResult.ok(detail) if passed else CheckResult.failed(detail)
