"""The collect stage: take what the agent left in its workspace into the run folder.

    report = collect(scratch / "workspace", run_dir, trace_format="plain", agent_dir=spec.agent.path)

Writes, all atomically (temp name, then rename), in ``run_dir``:

- ``final_model/``: a copy of ``<workspace>/final_model`` with symlinks followed, so a model
  saved as links to a checkpoint elsewhere in the workspace survives the workspace's deletion.
  A link (the folder itself, or anything in it) whose target leaves the workspace refuses the
  whole model, with the reason: that is how an agent would submit a model it did not train
  (say, an instruct model from the host's cache).
- ``workspace/``: a snapshot of the workspace for the judge, without weights (*.safetensors,
  *.bin, *.pt, ...), files over ``max_file_bytes``, virtualenvs, caches of compiled code,
  symlinks, or final_model/ (copied above); text data files stay so the judge can read them.
- with ``base_model`` given, ``served_model/`` and ``served_model.json``: the copy of
  final_model that the final evaluation serves and the judge reads (`ptb.stages.served`).
- ``trace.jsonl`` from ``solve.log`` (see `ptb.traces`; the agent folder's own ``trace.py`` is
  loaded first, so its format is known in any process); with ``agent`` given, ``trajectory.json``
  (ATIF, see `ptb.trajectory`) and the agent's tokens and cost; and ``collect.json``
  (`ptb.records.CollectReport`).

Idempotent: once collect.json exists, collect returns it and touches nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ptb.agents.toolchain import InstalledCli
from ptb.io import read_record, write_json_atomic, write_record
from ptb.plugins import load_agent_plugins
from ptb.records import AgentSpec, CollectReport, Outcome, SkippedFile
from ptb.stages.served import SERVED_RECORD, ensure_served_model
from ptb.traces import get_trace_parser, parse_trace, write_events
from ptb.trajectory import agent_usage, build_trajectory

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
MAX_SNAPSHOT_FILE_BYTES = 20 * 1024 * 1024
MAX_SNAPSHOT_TOTAL_BYTES = 1024 * 1024 * 1024
SKIPPED_DIR_NAMES = ("__pycache__", "node_modules")


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
) -> CollectReport:
    workspace, run_dir = Path(workspace), Path(run_dir)
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
        snap_files, snap_bytes, skipped = _snapshot(workspace, run_dir / "workspace", max_file_bytes, max_total_bytes)
    else:
        files = model_bytes = snap_files = snap_bytes = 0
        has_model, reason, skipped = False, f"the workspace {workspace} does not exist", []

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


def _snapshot(
    workspace: Path, dest: Path, max_file_bytes: int, max_total_bytes: int
) -> tuple[int, int, list[SkippedFile]]:
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files, total, skipped = 0, 0, []
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(workspace)
        if rel_dir == Path("."):  # collected on its own, with its links followed
            for name in ("final_model",):
                if name in dirnames:
                    dirnames.remove(name)
                if name in filenames:
                    filenames.remove(name)
        for name in list(dirnames):
            path = here / name
            reason = None
            if path.is_symlink():
                reason = "symbolic link"
            elif name in SKIPPED_DIR_NAMES:
                reason = "cache folder"
            elif (path / "pyvenv.cfg").exists():
                reason = "virtualenv"
            if reason:
                dirnames.remove(name)
                skipped.append(SkippedFile(str(rel_dir / name) + "/", 0, reason))
        dirnames.sort()
        (tmp / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            path = here / name
            rel = str(rel_dir / name)
            try:
                size = path.lstat().st_size
            except OSError:
                continue
            if path.is_symlink():
                reason = "symbolic link"
            elif not path.is_file():
                reason = "not a regular file"
            elif name.lower().endswith(WEIGHT_SUFFIXES):
                reason = "weights"
            elif size > max_file_bytes:
                reason = f"larger than {max_file_bytes} bytes"
            elif total + size > max_total_bytes:
                reason = f"snapshot already at its {max_total_bytes}-byte limit"
            else:
                shutil.copy2(path, tmp / rel, follow_symlinks=False)
                files, total = files + 1, total + size
                continue
            skipped.append(SkippedFile(rel, size, reason))
    _replace_dir(tmp, dest)
    return files, total, skipped
