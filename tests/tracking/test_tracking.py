"""Tracking: offline wandb runs, several at once from several threads, read back from disk."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

import pytest

from ptb.records import AgentSpec, Budget, LadderStep, ModelSpec, Result, RunSpec, TaskSpec
from ptb.tracking import NullTracker, WandbTracker, build_tracking, make_tracker, resolve_wandb_mode, wandb_run_id

WANDB_RAW = {"kind": "wandb", "project": "ptb-test", "entity": None, "mode": "auto"}
WANDB_CFG = build_tracking(WANDB_RAW)


@pytest.fixture
def wandb_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_RUN_ID", "WANDB_RESUME"):
        monkeypatch.delenv(var, raising=False)
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):  # keep wandb out of $HOME
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))


def make_spec(run_id: str, sweep_dir: Path) -> RunSpec:
    return RunSpec(
        run_id=run_id, sweep=sweep_dir.name, agent=AgentSpec(name="noop", path="/x"),
        model=ModelSpec(name="tiny", template="chatml"),
        task=TaskSpec(name="arith", benchmark="Arith", weight=1.0, eval_dir="/x", ladder=(LadderStep(64, 1),)),
        budget=Budget(hours=1.0), seed=0, prompt_variant="default", sandbox="none",
        run_dir=str(sweep_dir / run_id), scratch_dir="/x", cache_dir="/x",
    )


def make_result(run_id: str, score: float) -> Result:
    return Result(run_id=run_id, sweep="s", agent="noop", model="tiny", task="arith", seed=0, hours=1.0,
                  weight=1.0, status="finished", raw_score=score, base_score=0.1, score=score, flagged=False,
                  fallback_reason=None, seconds_used=900.0, budget_seconds=3600.0)


# ----------------------------------------------------------------------------- reading .wandb files


def wandb_records(path: Path):
    """The protobuf records of a .wandb transaction log (leveldb-log framing: 32 KiB blocks of
    [crc32 u32][length u16][type u8] chunks; type 1 full, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            pos += left
            continue
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def read_offline_run(sweep_dir: Path, run_id: str) -> dict:
    (folder,) = (sweep_dir / "wandb").glob(f"offline-run-*-{run_id}")
    out: dict = {"history": [], "summary": {}, "config": {}, "run": None}
    for record in wandb_records(folder / f"run-{run_id}.wandb"):
        kind = record.WhichOneof("record_type")
        items = lambda updates: {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in updates}  # noqa: E731
        if kind == "run":
            out["run"] = record.run
            out["config"].update(items(record.run.config.update))
        elif kind == "history":
            out["history"].append(items(record.history.item))
        elif kind == "summary":
            out["summary"].update(items(record.summary.update))
        elif kind == "config":
            out["config"].update(items(record.config.update))
    return out


# ----------------------------------------------------------------------------- tests


def test_mode_resolution() -> None:
    assert resolve_wandb_mode("auto", {}) == "offline"
    assert resolve_wandb_mode("auto", {"WANDB_API_KEY": "k"}) == "online"
    assert resolve_wandb_mode("auto", {"WANDB_API_KEY": "k", "WANDB_MODE": "offline"}) == "offline"
    assert resolve_wandb_mode("auto", {"WANDB_MODE": "disabled"}) == "disabled"
    assert resolve_wandb_mode("offline", {"WANDB_API_KEY": "k"}) == "offline"
    with pytest.raises(ValueError, match="tracking.mode='cloud' is not accepted; use auto, online, offline"):
        resolve_wandb_mode("cloud", {})
    with pytest.raises(ValueError, match="WANDB_MODE='nope'"):
        resolve_wandb_mode("auto", {"WANDB_MODE": "nope"})


def test_make_tracker_kinds(tmp_path: Path, wandb_env) -> None:
    assert isinstance(make_tracker(build_tracking({"kind": "none"}), tmp_path), NullTracker)
    tracker = make_tracker(WANDB_CFG, tmp_path)
    assert isinstance(tracker, WandbTracker) and tracker.mode == "offline"  # auto, no key
    with pytest.raises(ValueError, match=r"tracking.kind='mlflow' is unknown; accepted: \['none', 'wandb'\]"):
        build_tracking({"kind": "mlflow"})
    with pytest.raises(ValueError, match="tracking.projekt is unknown; accepted: project, entity, mode, tags"):
        build_tracking({**WANDB_RAW, "projekt": "x"})
    with pytest.raises(ValueError, match=r"tracking.mode='cloud' is invalid: expected one of \['auto', 'online'"):
        build_tracking({**WANDB_RAW, "mode": "cloud"})


def test_run_ids_are_valid_and_stable() -> None:
    assert wandb_run_id("noop-tiny-arith-abc123") == "noop-tiny-arith-abc123"
    odd = wandb_run_id("a/b:c")
    assert odd.startswith("a-b-c-") and odd == wandb_run_id("a/b:c") and odd != wandb_run_id("a:b/c")
    assert len(wandb_run_id("x" * 200)) <= 64


def test_two_concurrent_offline_runs_from_two_threads(tmp_path: Path, wandb_env) -> None:
    sweep_dir = tmp_path / "sweep1"
    tracker = make_tracker(WANDB_CFG, sweep_dir)
    both_started = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []

    def drive(run_id: str, cpu: float, score: float) -> None:
        try:
            spec = make_spec(run_id, sweep_dir)
            tracker.start(spec, {"agent": {"name": "noop"}, "seed": 0, "run": run_id})
            both_started.wait()  # both wandb runs are open in this process from here on
            tracker.stage(run_id, "solve", "running", detail="agent started")
            for step in range(3):
                tracker.log(run_id, {"cpu_percent": cpu + step, "gpus": [{"util": 5}], "host": "ignored"})
            tracker.stage(run_id, "score", "done")
            tracker.finish(run_id, make_result(run_id, score), {"score": score, "flagged": False})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=("run-a", 10.0, 0.25)),
               threading.Thread(target=drive, args=("run-b", 50.0, 0.75))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    tracker.close()  # waits until wandb-core has written every record
    assert not errors, errors
    assert not tracker.disabled_runs

    for run_id, cpu, score in (("run-a", 10.0, 0.25), ("run-b", 50.0, 0.75)):
        data = read_offline_run(sweep_dir, run_id)
        assert data["run"].run_id == run_id and data["run"].run_group == "sweep1"
        assert data["run"].display_name == run_id
        assert data["config"]["run"] == run_id and data["config"]["agent"] == {"name": "noop"}
        assert [h["cpu_percent"] for h in data["history"]] == [cpu, cpu + 1, cpu + 2]
        assert all(h["gpus/0/util"] == 5 and "host" not in h for h in data["history"])
        summary = data["summary"]
        assert summary["score"] == score and summary["budget_fraction"] == 0.25
        assert summary["stage"] == "score" and summary["stage/solve"] == "running"
        assert summary["stage/solve/detail"] == "agent started"


def test_wandb_failures_never_raise(tmp_path: Path, wandb_env, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import wandb

    tracker = make_tracker(WANDB_CFG, tmp_path)
    monkeypatch.setattr(wandb, "init", lambda **kw: (_ for _ in ()).throw(RuntimeError("no service")))
    tracker.start(make_spec("r1", tmp_path), {})
    tracker.log("r1", {"x": 1})
    tracker.finish("r1", None, {"error": "x"})
    assert tracker.disabled_runs == {"r1"}
    assert "wandb tracking disabled for run r1: start failed (RuntimeError: no service)" in caplog.text

    class BrokenRun:
        summary: dict = {}
        finished = 0

        def log(self, data):
            raise OSError("disk full")

        def finish(self, exit_code=0):
            BrokenRun.finished += 1

    monkeypatch.setattr(wandb, "init", lambda **kw: BrokenRun())
    tracker.start(make_spec("r2", tmp_path), {})
    tracker.log("r2", {"x": 1})  # raises inside: disables r2 and closes its wandb run
    tracker.log("r2", {"x": 2})
    tracker.finish("r2", make_result("r2", 0.5), {})
    tracker.close()
    assert tracker.disabled_runs == {"r1", "r2"} and BrokenRun.finished == 1
