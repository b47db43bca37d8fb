"""What an LLM judge is shown about a run, within a character budget, most relevant first.

    evidence = gather_evidence(inputs, findings, max_chars=200_000)
    evidence.text        # the sections below, each in full or cut; len(text) <= max_chars (about)
    evidence.notes       # what was cut or left out, recorded in judge.json

Sections, in this order:

1. **run**: the task, the base model, the forbidden models, the allowed and disallowed data,
   the agent's own vendor (its API is the one hosted LLM it may use) — written by the harness;
2. **deterministic checks**: each check's outcome and detail (harness hashes, model identity,
   n-gram overlap), so the judge weighs them and need not redo them;
3. **egress**: ``egress.jsonl`` read line by line (a malformed line is counted, never fatal):
   denials first (with the proxy's ``reason`` where it gives one), then every host with its
   connection count and bytes, then the records themselves; each cited as "egress line N";
4. **trajectory**: the ATIF steps ("step N"): messages, the tool calls (what the agent ran) and
   their results, the calls kept longer than the results when the budget is short;
5. **files**: the workspace snapshot (``workspace/``, what collect copied: the agent's files,
   without weights): a listing of every file, then contents ranked — see `rank_file`.

The budget: the first two sections are small and always whole (each detail capped); the
other three share what is left fairly (a section that needs less than its share leaves the
rest to the others). Everything the agent wrote is untrusted: the LLM prompt wraps it in a
delimiter with a random tag the agent cannot know (`ptb.stages.judge.llm`).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb.records import CollectReport, Finding
from ptb.stages.judge.check import JudgeInputs

# File kinds by suffix. Code is what the agent ran; data is what it may have trained on.
CODE_SUFFIXES = {".py", ".sh", ".bash", ".ipynb", ".js", ".ts", ".mjs", ".rb", ".pl", ".r", ".jl", ".go", ".rs",
                 ".c", ".cc", ".cpp", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".json5", ".sql"}
CODE_NAMES = {"Makefile", "Dockerfile", "requirements.txt", "Justfile"}
DATA_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv", ".txt", ".md", ".xml", ".html", ".ndjson", ".log"}
# Words in a script that mean it trains, fetches data or models, or calls a hosted model: such
# scripts come first, the more distinct words the earlier.
RELEVANT_WORDS = (
    "train", "fine-tune", "finetune", "sft", "trainer", "from_pretrained", "save_pretrained", "load_dataset",
    "datasets", "hf_hub_download", "snapshot_download", "huggingface-cli", "hf download", "wget", "curl",
    "requests.", "urllib", "http://", "https://", "openai", "anthropic", "generativelanguage", "api_key",
    "test", "evaluate", "instruct", "distill", "synthetic", "generate", "paraphrase", "answer",
)
MAX_READ_BYTES = 4 << 20  # read at most this much of one file (data files are sampled from it)
MAX_LISTED_FILES = 400
DETAIL_CAP = 3000  # one deterministic finding's detail
RECORD_FIELD_CAP = 300  # one field of one egress record
MIN_FILE_SHARE = 400  # a file shown with less than this is left out instead


@dataclass(frozen=True)
class Evidence:
    text: str
    notes: tuple[str, ...] = ()  # what the budget cut or left out


@dataclass
class _Section:
    title: str
    render: Callable[[int], tuple[str, list[str]]]  # budget → text, notes
    wanted: int  # its length uncut
    notes: list[str] = field(default_factory=list)


def gather_evidence(inputs: JudgeInputs, findings: Sequence[Finding], max_chars: int) -> Evidence:
    fixed = [("run", run_facts(inputs)), ("deterministic checks", findings_text(findings))]
    fixed_text = "".join(_block(title, body) for title, body in fixed)
    trajectory = inputs.trajectory()  # Undecided when the harness's record is broken
    sections = [
        _egress_section(inputs.run_dir / "egress.jsonl"),
        _trajectory_section(trajectory),
        _files_section(inputs),
    ]
    overheads = [len(_block(s.title, "")) for s in sections]
    budgets = fair_shares([s.wanted + o for s, o in zip(sections, overheads, strict=True)], max(0, max_chars - len(fixed_text)))
    parts: list[str] = [fixed_text]
    notes: list[str] = []
    for section, budget, overhead in zip(sections, budgets, overheads, strict=True):
        body, cut = section.render(max(0, budget - overhead))
        parts.append(_block(section.title, body))
        notes.extend(f"{section.title}: {n}" for n in cut)
    return Evidence("".join(parts), tuple(notes))


def fair_shares(wanted: Sequence[int], budget: int) -> list[int]:
    """Split ``budget`` so that no part gets more than it wants and the rest is shared equally
    (water-filling): [10, 500, 900] of 600 → [10, 295, 295]."""
    shares = [0] * len(wanted)
    left = budget
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    for position, i in enumerate(order):
        share = left // (len(order) - position)
        shares[i] = min(wanted[i], share)
        left -= shares[i]
    return shares


def _block(title: str, body: str) -> str:
    return f"=== {title} ===\n{body}\n"


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head and tail, and how much was cut between."""
    if len(text) <= limit:
        return text
    if limit < 40:
        return text[: max(0, limit)]
    marker = f" [… {len(text) - limit} characters cut …] "
    keep = max(0, limit - len(marker))
    head = keep * 2 // 3
    return text[:head] + marker + text[len(text) - (keep - head):]


# --------------------------------------------------------------------------- run facts, findings


def run_facts(inputs: JudgeInputs) -> str:
    spec = inputs.spec
    model, task, agent = spec.model, spec.task, spec.agent
    lines = [
        f"run id: {spec.run_id}; budget {spec.budget.hours:g} h",
        f"task: {task.name} ({task.benchmark or task.name}); the benchmark's test split is held out",
        f"allowed training data: {', '.join(task.allowed_data) or 'any public data that is not the benchmark'}",
        f"disallowed data (the benchmark itself): {', '.join(task.disallowed_data) or '(none named)'}",
        f"base model to post-train: {model.hf_id or model.builder or model.name}",
        f"forbidden models (never submit or fine-tune): {', '.join(model.forbidden) or '(none named)'}",
        f"agent: {agent.name} (scaffold {agent.scaffold or agent.name}, model {agent.model or 'none: no LLM'}"
        + (f", its API via {agent.base_url}" if agent.base_url else "") + "); the agent's own vendor API is allowed",
        "harness files in the workspace (must stay unchanged): evaluate.py, templates/, timer.sh, ptb_eval.json",
    ]
    return "\n".join(lines)


def findings_text(findings: Sequence[Finding]) -> str:
    if not findings:
        return "(no deterministic checks configured)"
    return "\n".join(
        f"- {f.check}: {f.outcome}{'' if f.flag else ' (does not flag)'}: {_cut(f.detail, DETAIL_CAP)}" for f in findings
    )


# --------------------------------------------------------------------------- egress


def read_egress(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """The records of ``egress.jsonl`` as (line number, record), and how many lines were not a
    JSON object (a proxy killed mid-line). A missing file is no records: no networked agent.
    (`ptb.egress.record.read_egress` gives typed records sorted by time; the judge needs the line
    numbers it cites, and every field the proxy wrote, ``rule`` and ``reason`` of a denial among them.)"""
    records: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(record, dict):
                    records.append((number, record))
                else:
                    bad += 1
    except FileNotFoundError:
        pass
    return records, bad


def _egress_line(number: int, record: dict[str, Any]) -> str:
    def get(key: str) -> str:
        return _cut(str(record.get(key, "")), RECORD_FIELD_CAP)

    verdict = "allowed" if record.get("allowed", True) else "DENIED"
    reason = (f" rule={get('rule')}" if record.get("rule") else "") + (f" reason={get('reason')}" if record.get("reason") else "")
    error = f" error={get('error')}" if record.get("error") else ""
    target = f" {get('method')} {get('path')}" if record.get("path") else f" {get('method')}"
    return (f"egress line {number}: {verdict} {get('kind')} {get('host')}:{get('port')}{target} status={get('status')} "
            f"up={get('bytes_up')} down={get('bytes_down')}{reason}{error}")


def _egress_section(path: Path) -> _Section:
    records, bad = read_egress(path)
    if not records and not bad:
        text = "(no egress.jsonl records: the agent had no network, or made no connection)"
        return _Section("egress", lambda budget: (_cut(text, budget), []), len(text))
    denied = [(n, r) for n, r in records if r.get("allowed") is False]
    hosts: dict[str, list[int]] = {}
    for _, r in records:
        host = f"{r.get('host')}:{r.get('port')}"
        counts = hosts.setdefault(host, [0, 0, 0])
        counts[0] += 1
        for i, key in ((1, "bytes_up"), (2, "bytes_down")):
            value = r.get(key)
            counts[i] += value if isinstance(value, int) else 0
    head = [f"{len(records)} records, {len(denied)} denied" + (f", {bad} malformed lines" if bad else "")]
    head += ["denied:"] + [_egress_line(n, r) for n, r in denied] if denied else []
    head += ["hosts (connections, bytes up, bytes down):"]
    head += [f"  {h}: {c[0]}, {c[1]}, {c[2]}" for h, c in sorted(hosts.items(), key=lambda kv: -kv[1][0])]
    head += ["records:"]
    lines = [_egress_line(n, r) for n, r in records]

    def render(budget: int) -> tuple[str, list[str]]:
        out: list[str] = []
        used = 0
        for line in head:
            if used + len(line) + 1 > budget:
                return "\n".join(out), [f"cut after {len(out)} summary lines"]
            out.append(line)
            used += len(line) + 1
        for kept, line in enumerate(lines):
            if used + len(line) + 1 > budget:
                return "\n".join(out), [f"{len(lines) - kept} of {len(lines)} records left out (denials and hosts above)"]
            out.append(line)
            used += len(line) + 1
        return "\n".join(out), []

    return _Section("egress", render, sum(len(x) + 1 for x in head + lines))


# --------------------------------------------------------------------------- trajectory


def _step_text(step: dict[str, Any], cap: int) -> str:
    """One ATIF step; calls and messages cut at ``cap``, reasoning and results at half of it."""
    sid = step.get("step_id", "?")
    lines = [f"[step {sid}] {step.get('source', '?')} {step.get('timestamp', '')}".rstrip()]
    message = str(step.get("message") or "")
    if message:
        lines.append("  message: " + _cut(message, cap))
    reasoning = str(step.get("reasoning_content") or "")
    if reasoning:
        lines.append("  reasoning: " + _cut(reasoning, cap // 2))
    for call in step.get("tool_calls") or ():
        if isinstance(call, dict):
            args = json.dumps(call.get("arguments", {}), ensure_ascii=False)
            lines.append(f"  call {call.get('function_name', '?')}: " + _cut(args, cap))
    observation = step.get("observation")
    results = observation.get("results") if isinstance(observation, dict) else None
    for result in results or ():
        if isinstance(result, dict):
            lines.append("  result: " + _cut(str(result.get("content") or ""), cap // 2))
    return "\n".join(lines)


def _trajectory_section(trajectory: dict[str, Any] | None) -> _Section:
    if trajectory is None:
        text = "(no trajectory: an agent without an LLM, such as noop or recipe_sft; read the files)"
        return _Section("trajectory", lambda budget: (_cut(text, budget), []), len(text))
    steps = [s for s in trajectory.get("steps", []) if isinstance(s, dict)]
    final = trajectory.get("final_metrics")
    header = f"{len(steps)} steps" + (f"; totals {json.dumps(final)}" if isinstance(final, dict) else "")
    full_cap = 1 << 30

    def length(cap: int) -> int:
        return len(header) + 1 + sum(len(_step_text(s, cap)) + 1 for s in steps)

    def render(budget: int) -> tuple[str, list[str]]:
        if length(full_cap) <= budget:
            return "\n".join([header, *(_step_text(s, full_cap) for s in steps)]), []
        # the largest per-field cap that fits (fields cut, every step kept) ...
        low, high = 160, 64_000
        if length(low) <= budget:
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if length(mid) <= budget else (low, mid - 1)
            return "\n".join([header, *(_step_text(s, low) for s in steps)]), [f"long fields cut to {low} characters"]
        # ... else the first and the last steps at the smallest cap, the middle left out
        texts = [_step_text(s, 160) for s in steps]
        room = budget - len(header) - 80
        first: list[str] = []
        last: list[str] = []
        used = 0
        i, j = 0, len(texts) - 1
        while i <= j:
            take_first = used < room // 2 or not last and i == j
            text = texts[i] if take_first else texts[j]
            if used + len(text) + 1 > room:
                break
            used += len(text) + 1
            if take_first:
                first.append(text)
                i += 1
            else:
                last.insert(0, text)
                j -= 1
        left_out = j - i + 1
        middle = [f"[… {left_out} steps left out …]"] if left_out > 0 else []
        return "\n".join([header, *first, *middle, *last]), [f"{left_out} of {len(steps)} steps left out, fields cut to 160"]

    return _Section("trajectory", render, length(full_cap))


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class _File:
    rel: str
    size: int
    kind: str  # code | data | text | binary | harness | link
    rank: int  # lower first
    score: int  # relevant words (more first)
    text: str  # what may be shown (data: a sample)


def rank_file(rel: str, kind: str, text: str, harness_state: str | None) -> tuple[int, int]:
    """(rank, score) of one file; files are shown by rank, then by score (descending):

    0. a harness file the agent changed (tampering is read in full, first);
    1. code that names training, data, downloads or hosted APIs (`RELEVANT_WORDS`: more first);
    2. other code and configs;
    3. data files (a sample: the first lines, lines spread over the file, the last lines);
    4. other text.
    Unchanged harness files, binaries and links are only listed.
    """
    if harness_state == "modified":
        return 0, 0
    lowered = text.lower()
    score = sum(1 for word in RELEVANT_WORDS if word in lowered)
    if kind == "code":
        return (1 if score else 2), score
    if kind == "data":
        return 3, score
    return 4, score


def _kind(rel: str, head: bytes) -> str:
    name = Path(rel).name
    suffix = Path(rel).suffix.lower()
    if b"\x00" in head:
        return "binary"
    if suffix in CODE_SUFFIXES or name in CODE_NAMES or head.startswith(b"#!"):
        return "code"
    if suffix in DATA_SUFFIXES:
        return "data"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the read
            return "binary"
    return "text"


def sample_lines(text: str, head: int = 20, spread: int = 20, tail: int = 5, width: int = 600) -> tuple[str, bool]:
    """A data file as its first lines, lines spread evenly over it and its last lines (each cut
    to ``width``), and whether that is less than the whole file."""
    lines = text.splitlines()
    if len(lines) <= head + spread + tail:
        picked = list(range(len(lines)))
    else:
        middle = range(head, len(lines) - tail)
        step = len(middle) / spread
        picked = [*range(head), *(middle[int(k * step)] for k in range(spread)), *range(len(lines) - tail, len(lines))]
    out, previous = [], -1
    for i in picked:
        if i != previous + 1:
            out.append(f"[… lines {previous + 2}–{i} not shown …]")
        out.append(f"{i + 1}: {_cut(lines[i], width)}")
        previous = i
    sampled = len(picked) < len(lines) or any(len(line) > width for line in lines)
    return "\n".join(out), sampled


def _read_head(path: Path, limit: int) -> bytes | None:
    """At most ``limit`` bytes of a regular file, never following a link (the snapshot is the
    agent's: a link could point anywhere on the host)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _harness_state(inputs: JudgeInputs, rel: str, path: Path) -> str | None:
    hashes = inputs.harness_hashes or {}
    if rel not in hashes:
        return None
    from ptb.io import sha256_file

    try:
        return "unchanged" if sha256_file(path) == hashes[rel] else "modified"
    except OSError:
        return "modified"


def _workspace_files(inputs: JudgeInputs) -> list[_File]:
    root = inputs.workspace
    files: list[_File] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        base = Path(folder)
        for name in sorted(names) + sorted(d for d in dirs if (base / d).is_symlink()):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                files.append(_File(rel, 0, "link", 9, 0, f"-> {os.readlink(path)}"))
                continue
            try:
                size = path.lstat().st_size
            except OSError:
                continue
            state = _harness_state(inputs, rel, path)
            if state == "unchanged":
                files.append(_File(rel, size, "harness", 9, 0, ""))
                continue
            raw = _read_head(path, MAX_READ_BYTES) or b""
            kind = _kind(rel, raw[:8192])
            if kind == "binary":
                files.append(_File(rel, size, kind, 9, 0, ""))
                continue
            text = raw.decode("utf-8", errors="replace")
            if size > len(raw):
                text += f"\n[… the file is {size} bytes; only the first {len(raw)} were read …]"
            rank, score = rank_file(rel, kind, text, state)
            if kind == "data" and rank != 0:
                text, _ = sample_lines(text)
            files.append(_File(rel, size, "harness MODIFIED" if state == "modified" else kind, rank, score, text))
    return files


def _skipped(run_dir: Path) -> list[str]:
    """What collect left out of the snapshot (weights, huge files), from collect.json."""
    from ptb.io import read_record

    try:
        report = read_record(run_dir / "collect.json", CollectReport)
    except (OSError, ValueError, TypeError, KeyError):
        return []
    return [f"  {s.path} ({s.bytes} bytes): not in the snapshot, {s.reason}" for s in report.skipped]


def _files_section(inputs: JudgeInputs) -> _Section:
    if not inputs.workspace.is_dir():
        text = "(no workspace snapshot)"
        return _Section("files", lambda budget: (_cut(text, budget), []), len(text))
    files = _workspace_files(inputs)
    listing = [f"{len(files)} files in the workspace snapshot (path, bytes, kind):"]
    listing += [f"  {f.rel} ({f.size}, {f.kind}{' ' + f.text if f.kind == 'link' else ''})" for f in files[:MAX_LISTED_FILES]]
    if len(files) > MAX_LISTED_FILES:
        listing.append(f"  [… {len(files) - MAX_LISTED_FILES} more files not listed …]")
    listing += _skipped(inputs.run_dir)
    shown = sorted((f for f in files if f.rank < 9), key=lambda f: (f.rank, -f.score, f.rel))
    bodies = [(f, f"--- file {f.rel} ({f.kind}, {f.size} bytes{', sampled' if f.kind == 'data' else ''}) ---\n{f.text}") for f in shown]

    def render(budget: int) -> tuple[str, list[str]]:
        notes: list[str] = []
        head = "\n".join(listing)
        if len(head) > budget // 5:  # the listing may take a fifth of the budget
            head = _cut(head, budget // 5)
            notes.append("file listing cut")
        room = budget - len(head) - 1
        # Files share the room fairly (water-filling, as the sections do), in rank order; while
        # a share would be too small to be useful, the least relevant file is left out.
        candidates = bodies[:MAX_LISTED_FILES]

        def starved(shares: list[int]) -> bool:
            return any(share < min(len(b) + 1, MIN_FILE_SHARE) for (_, b), share in zip(candidates, shares, strict=True))

        shares = fair_shares([len(b) + 1 for _, b in candidates], room)
        while len(candidates) > 1 and starved(shares):
            candidates = candidates[:-1]
            shares = fair_shares([len(b) + 1 for _, b in candidates], room)
        out = [head]
        cut: list[str] = []
        for (f, body), share in zip(candidates, shares, strict=True):
            text = _cut(body, max(0, share - 1))
            if len(text) < len(body):
                cut.append(f.rel)
            out.append(text)
        left_out = [f.rel for f, _ in bodies[len(candidates):]]
        if cut:
            notes.append(f"cut: {', '.join(cut[:20])}" + (" …" if len(cut) > 20 else ""))
        if left_out:
            notes.append(f"{len(left_out)} files not shown (budget): {', '.join(left_out[:20])}" + (" …" if len(left_out) > 20 else ""))
        return "\n".join(out), notes

    wanted = len("\n".join(listing)) + sum(len(body) + 1 for _, body in bodies) + 1
    return _Section("files", render, wanted)

