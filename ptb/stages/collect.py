"""The collect stage: take what the agent left in its workspace into the run folder.

    report = collect(scratch / "workspace", run_dir, trace_format="plain", agent_dir=spec.agent.path)

Writes, all atomically (temp name, then rename), in ``run_dir``:

- ``final_model/``: a copy of ``<workspace>/final_model`` with symlinks followed, so a model
  saved as links to a checkpoint elsewhere in the workspace survives the workspace's deletion.
  A link (the folder itself, or anything in it) whose target leaves the workspace refuses the
  whole model, with the reason: that is how an agent would submit a model it did not train
  (say, an instruct model from the host's cache).
- ``workspace/``: a snapshot of the workspace for the judge, without weights (*.safetensors,
  *.bin, *.pt, ... unless the file is really text or compressed data), files over
  ``max_file_bytes`` (data files: ``max_data_file_bytes``), code and binaries of virtualenvs and
  caches of compiled code (their data files are kept: a folder named ``__pycache__`` or holding a
  ``pyvenv.cfg`` must not be a hiding place), symlinks, or final_model/ (copied above); text data
  files stay so the judge can read them.
- ``agent_tmp/``: the same snapshot of the agent's /tmp, which the sandbox binds to
  ``<scratch>/tmp`` (``workspace.parent / "tmp"``): data kept only there is seen by the judge too.
  Skipped silently when that folder does not exist (no sandbox, or an older one).
- with ``base_model`` given, ``served_model/`` and ``served_model.json``: the copy of
  final_model that the final evaluation serves and the judge reads (`ptb.stages.served`).
- ``trace.jsonl`` from ``solve.log`` (see `ptb.traces`; the agent folder's own ``trace.py`` is
  loaded first, so its format is known in any process); with ``agent`` given, ``trajectory.json``
  (ATIF, see `ptb.trajectory`) and the agent's tokens and cost; and ``collect.json``
  (`ptb.records.CollectReport`).

Idempotent: once collect.json exists, collect returns it and touches nothing.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ptb.agents.toolchain import InstalledCli
from ptb.io import read_record, write_json_atomic, write_record
from ptb.plugins import load_agent_plugins
from ptb.records import AgentSpec, CollectReport, Outcome, SkippedFile
from ptb.stages.served import SERVED_RECORD, ensure_served_model
from ptb.traces import get_trace_parser, parse_trace, write_events
from ptb.trajectory import agent_usage, build_trajectory

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
# What a training set is stored as; such files are kept even inside venvs and caches, and up to
# the larger data cap (a few test items inside a big file of padding must still be seen).
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".arrow", ".eval", ".gz", ".zip", ".md")
MAX_SNAPSHOT_FILE_BYTES = 20 * 1024 * 1024
MAX_DATA_FILE_BYTES = 256 * 1024 * 1024
MAX_SNAPSHOT_TOTAL_BYTES = 1024 * 1024 * 1024
SKIPPED_DIR_NAMES = ("__pycache__", "node_modules")
AGENT_TMP = "agent_tmp"  # <run_dir>/agent_tmp/: the snapshot of the agent's /tmp
_DATA_MAGIC = (b"\x1f\x8b", b"PAR1", b"ARROW1", b"\xff\xff\xff\xff")  # gzip, parquet, arrow file, arrow stream


class _Refused(Exception):
    """final_model cannot be taken; the message says why."""


def collect(
    workspace: str | os.PathLike,
    run_dir: str | os.PathLike,
    trace_format: str,
    *,
    agent_dir: str | Path | None = None,
    agent: AgentSpec | None = None,
    max_file_bytes: int = MAX_SNAPSHOT_FILE_BYTES,
    max_total_bytes: int = MAX_SNAPSHOT_TOTAL_BYTES,
    base_model: str | Path | None = None,
    max_data_file_bytes: int = MAX_DATA_FILE_BYTES,
    agent_tmp: str | os.PathLike | None = None,
) -> CollectReport:
    workspace, run_dir = Path(workspace), Path(run_dir)
    tmp_dir = Path(agent_tmp) if agent_tmp is not None else workspace.parent / "tmp"  # the sandbox's /tmp
    caps = _Caps(max_file_bytes, max_data_file_bytes, max_total_bytes)
    report_path = run_dir / "collect.json"
    if report_path.exists():
        return read_record(report_path, CollectReport)
    if agent_dir:
        load_agent_plugins(agent_dir)  # registers the scaffold's own trace format
    get_trace_parser(trace_format)  # an unknown format fails before anything is copied
    run_dir.mkdir(parents=True, exist_ok=True)

    if workspace.is_dir():
        try:
            files, model_bytes = _copy_final_model(workspace, run_dir / "final_model")
            has_model, reason = True, None
        except _Refused as refused:
            files, model_bytes, has_model, reason = 0, 0, False, str(refused)
            shutil.rmtree(run_dir / "final_model", ignore_errors=True)  # of an interrupted earlier collect
        snap_files, snap_bytes, skipped = _snapshot(workspace, run_dir / "workspace", caps, skip_final_model=True)
    else:
        files = model_bytes = snap_files = snap_bytes = 0
        has_model, reason, skipped = False, f"the workspace {workspace} does not exist", []
    tmp_files = tmp_bytes = 0
    if tmp_dir.is_dir() and not tmp_dir.is_symlink():
        left = _Caps(max_file_bytes, max_data_file_bytes, max(0, max_total_bytes - snap_bytes))
        tmp_files, tmp_bytes, tmp_skipped = _snapshot(tmp_dir, run_dir / AGENT_TMP, left, skip_final_model=False)
        skipped += [SkippedFile(f"/tmp/{s.path}", s.bytes, s.reason) for s in tmp_skipped]

    events = parse_trace(run_dir / "solve.log", trace_format)
    write_events(run_dir / "trace.jsonl", events)
    usage = None
    if agent is not None:
        trajectory = build_trajectory(events, agent=agent, cli_version=_cli_version(run_dir), session_id=run_dir.name,
                                      sessions=_sessions(run_dir))
        write_json_atomic(run_dir / "trajectory.json", trajectory)
        usage = agent_usage(trajectory, agent)
    report = CollectReport(
        has_final_model=has_model,
        final_model_reason=reason,
        final_model_files=files,
        final_model_bytes=model_bytes,
        snapshot_files=snap_files,
        snapshot_bytes=snap_bytes,
        skipped=tuple(skipped),
        trace_format=trace_format,
        trace_events=len(events),
        usage=usage,
        agent_tmp_files=tmp_files,
        agent_tmp_bytes=tmp_bytes,
    )
    if has_model and base_model is not None:  # what the evaluation serves and the judge reads
        (run_dir / SERVED_RECORD).unlink(missing_ok=True)  # of an interrupted earlier collect
        ensure_served_model(run_dir, base_model)
    write_record(report_path, report)
    return report


def _sessions(run_dir: Path) -> int | None:
    """How many CLI sessions the solve stage ran (1 + the reprompts): ptb's own count, since a
    CLI that states no session totals (OpenCode) cannot be counted from its output."""
    path = run_dir / "outcome.json"
    return read_record(path, Outcome).sessions if path.is_file() else None


def _cli_version(run_dir: Path) -> str | None:
    path = run_dir / "agent_cli.json"  # written by prepare: the CLI version the run really used
    return read_record(path, InstalledCli).version if path.is_file() else None


# --------------------------------------------------------------------------- final_model


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _copy_final_model(workspace: Path, dest: Path) -> tuple[int, int]:
    root = os.path.realpath(workspace)
    source = workspace / "final_model"
    if not os.path.lexists(source):
        raise _Refused("no final_model/ in the workspace")
    real = os.path.realpath(source)
    if not _inside(real, root):
        raise _Refused(f"final_model is a link to {real}, outside the workspace: refused")
    if not os.path.isdir(real):
        raise _Refused("final_model is not a folder (or is a broken link)")

    plan: list[tuple[str, str]] = []  # (path inside final_model, real source file)
    outside: list[str] = []
    _plan_copy(real, "", root, plan, outside, visiting={real})
    if outside:
        shown = "; ".join(outside[:5]) + (f"; and {len(outside) - 5} more" if len(outside) > 5 else "")
        raise _Refused(f"final_model has links leaving the workspace, refused: {shown}")
    if not plan:
        raise _Refused("final_model is empty")

    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    total = 0
    for relative, real_file in plan:
        target = tmp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real_file, target)
        total += target.stat().st_size
    _replace_dir(tmp, dest)
    return len(plan), total


def _plan_copy(
    real_dir: str, relative: str, root: str, plan: list, outside: list, visiting: set[str]
) -> None:
    with os.scandir(real_dir) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            rel = os.path.join(relative, entry.name)
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _inside(target, root):
                    outside.append(f"{rel} -> {target}")
                    continue
            else:
                target = entry.path
            if os.path.isdir(target):
                if target in visiting:  # a link back up the tree: copying it would never end
                    continue
                _plan_copy(target, rel, root, plan, outside, visiting | {target})
            elif os.path.isfile(target):
                plan.append((rel, target))
            elif not os.path.exists(target):
                outside.append(f"{rel} -> {target} (broken link)")
            # fifos, sockets, devices: not model files, left out


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Swap a finished temp folder in (a crash leaves either the old or the new one)."""
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists() or dest.is_symlink():
        os.rename(dest, old)
    os.rename(tmp, dest)
    if old.is_symlink() or old.is_file():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class _Caps:
    file: int  # any file
    data_file: int  # a data file (DATA_SUFFIXES, or data under a weights name)
    total: int


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _is_data(path: Path, name: str) -> bool:
    """A data file: by its name, or (a file renamed to hide it) by its first bytes."""
    if name.lower().endswith(DATA_SUFFIXES):
        return True
    head = _head(path)
    return head.startswith(_DATA_MAGIC) or head.startswith(b"PK\x03\x04") or (bool(head) and _is_text(head))


# Inside a venv or a cache: the code of installed packages is left out (thousands of files);
# data and any other text file is kept.
CODE_SUFFIXES = (".py", ".pyi", ".pyc", ".pyx", ".pxd", ".so", ".h", ".c", ".cpp", ".js", ".mjs", ".cjs", ".ts",
                 ".map", ".css", ".html", ".pth", ".cfg", ".typed", ".toml", ".dll", ".a")


def _kept_in_venv(path: Path, name: str) -> bool:
    if name.lower().endswith(DATA_SUFFIXES):
        return True
    head = _head(path)
    if head.startswith(_DATA_MAGIC) or head.startswith(b"PK\x03\x04"):
        return True
    return not name.lower().endswith(CODE_SUFFIXES) and bool(head) and _is_text(head)


def _weights_in_name_only(path: Path, size: int, caps: _Caps) -> bool:
    """A *.bin / *.pt that is really text or compressed data (a hiding place, not weights). A zip
    (torch's format) counts only when small: a real checkpoint is much bigger than a data file."""
    head = _head(path)
    if head.startswith(_DATA_MAGIC) or (bool(head) and _is_text(head)):
        return True
    return head.startswith(b"PK\x03\x04") and size <= caps.file


def _snapshot(
    root: Path, dest: Path, caps: _Caps, *, skip_final_model: bool
) -> tuple[int, int, list[SkippedFile]]:
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files, total, skipped = 0, 0, []
    data_only: set[Path] = set()  # venvs and caches: only their data files are kept
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root)
        if rel_dir == Path(".") and skip_final_model:  # collected on its own, with its links followed
            for name in ("final_model",):
                if name in dirnames:
                    dirnames.remove(name)
                if name in filenames:
                    filenames.remove(name)
        inherited = any(here == d or d in here.parents for d in data_only)
        for name in list(dirnames):
            path = here / name
            reason = None
            if path.is_symlink():
                dirnames.remove(name)
                skipped.append(SkippedFile(str(rel_dir / name) + "/", 0, "symbolic link"))
                continue
            if name in SKIPPED_DIR_NAMES:
                reason = "cache folder"
            elif (path / "pyvenv.cfg").exists():
                reason = "virtualenv"
            if reason and not inherited:
                data_only.add(path)
                skipped.append(SkippedFile(str(rel_dir / name) + "/", 0, f"{reason}: only its data files kept"))
        dirnames.sort()
        (tmp / rel_dir).mkdir(parents=True, exist_ok=True)
        keep_data_only = any(here == d or d in here.parents for d in data_only)
        for name in sorted(filenames):
            path = here / name
            rel = str(rel_dir / name)
            try:
                size = path.lstat().st_size
            except OSError:
                continue
            reason = None
            if path.is_symlink():
                reason = "symbolic link"
            elif not path.is_file():
                reason = "not a regular file"
            else:
                weights = name.lower().endswith(WEIGHT_SUFFIXES)
                data = (not weights and _is_data(path, name)) or (weights and _weights_in_name_only(path, size, caps))
                cap = caps.data_file if data else caps.file
                if keep_data_only and not (data and (weights or _kept_in_venv(path, name))):
                    continue  # a venv's code and a cache's compiled files: not listed one by one
                if weights and not data:
                    reason = "weights"
                elif size > cap:
                    reason = f"larger than {cap} bytes"
                elif total + size > caps.total:
                    reason = f"snapshot already at its {caps.total}-byte limit"
            if reason is None:
                try:
                    shutil.copy2(path, tmp / rel, follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile, or unreadable: nothing to judge
                files, total = files + 1, total + size
                continue
            skipped.append(SkippedFile(rel, size, reason))
    # folders of a venv or cache that held no data file: not kept as empty trees
    for folder in sorted(data_only, key=lambda p: -len(p.parts)):
        _prune_empty(tmp / folder.relative_to(root))
    _replace_dir(tmp, dest)
    return files, total, skipped


def _prune_empty(folder: Path) -> None:
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
