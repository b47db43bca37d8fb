"""The collect stage: final_model taken out safely, a weight-free snapshot, the trace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ptb.io import read_record, write_record
from ptb.records import AgentCli, AgentSpec, Outcome
from ptb.stages.collect import CollectReport, collect
from ptb.stages.solve import log_time
from ptb.traces import TraceEvent, parse_trace, trace_formats, trace_parser


def _workspace(root: Path) -> Path:
    ws = root / "workspace"
    step = ws / "checkpoints" / "step2"
    step.mkdir(parents=True)
    (step / "config.json").write_text('{"model_type": "tiny"}')
    (step / "model.safetensors").write_bytes(b"\0" * 64)
    (ws / "tokenizer.json").write_text('{"vocab": {}}')
    (ws / "data").mkdir()
    (ws / "data" / "train.jsonl").write_text('{"q": "1+1", "a": "2"}\n')
    (ws / "data" / "huge.jsonl").write_text("x" * 5000)
    (ws / "train.py").write_text("print('training')\n")
    (ws / ".ptb").mkdir()
    (ws / ".ptb" / "deadline").write_text("123\n")
    venv = ws / ".venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return ws


def _solve_log(run: Path) -> None:
    run.mkdir(parents=True, exist_ok=True)
    lines = [(100.0, "ptb", "start"), (101.5, "stdout", "step 1 loss 2.0"), (102.0, "stderr", "warning: x")]
    (run / "solve.log").write_text("".join(f"{log_time(t)} {s} {text}\n" for t, s, text in lines))


def test_symlinked_final_model_is_copied_as_files(tmp_path):
    ws, run = _workspace(tmp_path), tmp_path / "run"
    (ws / "final_model").symlink_to("checkpoints/step2")  # the folder itself is a link
    (ws / "checkpoints" / "step2" / "tokenizer.json").symlink_to(ws / "tokenizer.json")  # and a file in it
    _solve_log(run)

    report = collect(ws, run, "plain", max_file_bytes=1000, max_data_file_bytes=2000)

    model = run / "final_model"
    assert report.has_final_model and report.final_model_reason is None
    assert not model.is_symlink() and not (model / "tokenizer.json").is_symlink()
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert (model / "tokenizer.json").read_text() == '{"vocab": {}}'
    assert report.final_model_files == 3

    snap = run / "workspace"
    assert (snap / "data" / "train.jsonl").read_text() == '{"q": "1+1", "a": "2"}\n'
    assert (snap / "train.py").exists() and (snap / ".ptb" / "deadline").exists()
    assert not (snap / "final_model").exists() and not (snap / ".venv").exists()
    assert not (snap / "checkpoints" / "step2" / "model.safetensors").exists()
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["checkpoints/step2/model.safetensors"] == "weights"
    assert "larger than" in reasons["data/huge.jsonl"]
    assert reasons[".venv/"] == "virtualenv: only its data files kept"
    assert reasons["checkpoints/step2/tokenizer.json"] == "symbolic link"

    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    assert [(e["t"], e["kind"], e["text"]) for e in events] == [
        (100.0, "harness", "start"), (101.5, "output", "step 1 loss 2.0"), (102.0, "error", "warning: x")
    ]
    assert read_record(run / "collect.json", CollectReport) == report

    # Idempotent: a second collect (even once the workspace is gone) changes nothing.
    shutil.rmtree(ws)
    assert collect(ws, run, "plain") == report
    assert (model / "config.json").exists()


def test_hiding_places_are_snapshotted_and_the_agents_tmp_too(tmp_path):
    """Data the agent keeps where the snapshot used to look away: in a folder named like a cache
    or holding a pyvenv.cfg, under a weights name, in a big file, or only in its /tmp."""
    ws, run = _workspace(tmp_path), tmp_path / "run"
    (ws / "__pycache__").mkdir()
    (ws / "__pycache__" / "items.jsonl").write_text('{"q": "hidden"}\n')
    (ws / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00\x01compiled")
    site = ws / ".venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "pkg.py").write_text("x = 1\n")  # a package's code: left out
    (site / "notes").write_text("hidden in a venv\n")
    (ws / "weights.bin").write_text('{"q": "text under a weights name"}\n')
    (ws / "real.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64)
    (ws / "padded.txt").write_text("pad " * 600)  # over max_file_bytes, under the data cap
    tmp = tmp_path / "tmp"  # <scratch>/tmp: the sandbox's /tmp
    (tmp / "work").mkdir(parents=True)
    (tmp / "work" / "gen.jsonl").write_text('{"q": "only in tmp"}\n')
    (tmp / "model.safetensors").write_bytes(b"\x00" * 64)
    (tmp / "final_model").mkdir()
    (tmp / "final_model" / "config.json").write_text("{}")
    _solve_log(run)

    report = collect(ws, run, "plain", max_file_bytes=1000, max_data_file_bytes=4000)

    snap = run / "workspace"
    assert (snap / "__pycache__" / "items.jsonl").read_text() == '{"q": "hidden"}\n'
    assert not (snap / "__pycache__" / "mod.cpython-311.pyc").exists()
    assert (snap / ".venv" / "lib" / "site-packages" / "notes").exists()
    assert not (snap / ".venv" / "lib" / "site-packages" / "pkg.py").exists()
    assert (snap / "weights.bin").exists() and not (snap / "real.safetensors").exists()
    assert (snap / "padded.txt").exists()  # text: up to the data cap, over the cap of other files
    agent_tmp = run / "agent_tmp"
    assert (agent_tmp / "work" / "gen.jsonl").read_text() == '{"q": "only in tmp"}\n'
    assert (agent_tmp / "final_model" / "config.json").exists()  # /tmp has no final_model of its own
    assert not (agent_tmp / "model.safetensors").exists()
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["/tmp/model.safetensors"] == "weights" and reasons["real.safetensors"] == "weights"
    assert reasons["data/huge.jsonl"] == "larger than 4000 bytes"
    assert report.agent_tmp_files == 2 and report.agent_tmp_bytes > 0


def test_no_tmp_folder_is_skipped_silently(tmp_path):
    ws, run = _workspace(tmp_path), tmp_path / "run"
    _solve_log(run)
    report = collect(ws, run, "plain")
    assert not (run / "agent_tmp").exists() and report.agent_tmp_files == 0
    assert not any(s.path.startswith("/tmp/") for s in report.skipped)


@pytest.mark.parametrize("where", ["folder", "file"])
def test_final_model_link_leaving_the_workspace_is_refused(tmp_path, where):
    ws, run = _workspace(tmp_path), tmp_path / "run"
    elsewhere = tmp_path / "host_cache" / "instruct-model"
    elsewhere.mkdir(parents=True)
    (elsewhere / "model.safetensors").write_bytes(b"\1" * 64)
    if where == "folder":
        (ws / "final_model").symlink_to(elsewhere)
    else:
        (ws / "final_model").mkdir()
        (ws / "final_model" / "config.json").write_text("{}")
        (ws / "final_model" / "model.safetensors").symlink_to(elsewhere / "model.safetensors")

    report = collect(ws, run, "plain")

    assert not report.has_final_model
    assert "outside the workspace" in report.final_model_reason or "leaving the workspace" in report.final_model_reason
    assert str(elsewhere) in report.final_model_reason
    assert not (run / "final_model").exists()
    assert report.trace_events == 0 and (run / "trace.jsonl").read_text() == ""  # no solve.log


def test_missing_final_model_and_unknown_trace_format(tmp_path):
    ws, run = _workspace(tmp_path), tmp_path / "run"
    with pytest.raises(ValueError, match=r"agent.trace_format='claude' is unknown; accepted: \[.*'plain'"):
        collect(ws, run, "claude")
    assert not (run / "collect.json").exists()
    report = collect(ws, run, "plain")
    assert not report.has_final_model and "no final_model" in report.final_model_reason


def test_a_trace_format_is_one_decorated_function(tmp_path):
    @trace_parser("test_upper")
    def _upper(lines):
        for line in lines:
            yield TraceEvent(line.t, "message", line.text.upper())

    _solve_log(tmp_path)
    assert "test_upper" in trace_formats()
    events = parse_trace(tmp_path / "solve.log", "test_upper")
    assert [(e.kind, e.text) for e in events] == [("harness", "start"), ("message", "STEP 1 LOSS 2.0"), ("message", "WARNING: X")]


def test_the_trajectory_counts_the_sessions_the_solve_stage_ran(tmp_path):
    ws, run = _workspace(tmp_path), tmp_path / "run"
    _solve_log(run)
    write_record(run / "outcome.json", Outcome("finished", 1.0, 2.0, 0, None, sessions=2))
    agent = AgentSpec(name="kimi", model="m", cli=AgentCli(package="some-cli", version="1", bin="some"))
    collect(ws, run, "plain", agent=agent)
    assert json.loads((run / "trajectory.json").read_text())["extra"]["ptb"]["sessions"] == 2
