"""End to end through the real CLI: Hydra → launcher → Ray actors → sandbox → evaluation pool
→ judge task → scores → leaderboard. Slow (each starts Ray and evaluates on CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent / "fixtures" / "e2e_agents"


def ptb_env(cache_root: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_CACHE_DIR": str(cache_root), "PYTHONUNBUFFERED": "1"}
    env.pop("WANDB_API_KEY", None)
    env.pop("WANDB_MODE", None)
    return env


@pytest.fixture
def cache_root(tiny_model_dir: Path) -> Path:
    """The tiny model built once for the session: <cache>/models/<tiny-version>/."""
    return tiny_model_dir.parent.parent


def run_ptb(args: list[str], cwd: Path, cache_root: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ptb.run", *args],
        cwd=cwd,
        env=ptb_env(cache_root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ray_args(tmp: Path) -> list[str]:
    # Ray's socket paths must stay short: its session folder goes under /tmp, one per test
    return [f"cluster.temp_dir=/tmp/ptbray-{os.getpid()}-{tmp.name[-8:]}"]


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def run_dirs(sweep: Path) -> list[Path]:
    return sorted(p.parent for p in sweep.glob("*/spec.yaml"))


def test_default_run_trains_evaluates_judges_and_scores(tmp_path: Path, cache_root: Path) -> None:
    results = tmp_path / "results"
    started = time.time()
    proc = run_ptb([f"results_dir={results}", *ray_args(tmp_path)], tmp_path, cache_root)
    wall = time.time() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = run_dirs(results / "default")
    assert run.name == "recipe_sft__tiny__arith__0.25h__s0"

    outcome = read(run / "outcome.json")
    assert outcome["status"] == "finished" and outcome["exit_code"] == 0
    assert outcome["started_at"] <= outcome["ended_at"]
    result = read(run / "result.json")
    for key in ("agent", "model", "task", "seed", "raw_score", "score", "flagged", "fallback_reason", "seconds_used"):
        assert key in result
    assert result["flagged"] is False and result["fallback_reason"] is None
    assert result["score"] == result["raw_score"]
    # the honest recipe lifts the tiny model far above its base score
    assert result["score"] >= result["base_score"] + 0.3, result
    verdict = read(run / "judge.json")
    assert verdict["flagged"] is False
    findings = {f["check"]: f for f in verdict["findings"]}
    for check in ("model_identity", "tokenizer_unchanged", "model_provenance"):
        assert findings[check]["outcome"] == "pass" and not findings[check]["checkpoint_unusable"], findings[check]
    # what was evaluated is the served copy: final_model's weights, the base model's tokenizer
    assert read(run / "served_model.json")["usable"] is True
    assert read(run / "eval" / "server.json")["model_path"] == str(run / "served_model")
    assert (run / "served_model" / "model.safetensors").stat().st_ino == (run / "final_model" / "model.safetensors").stat().st_ino
    assert read(run / "metrics.json")["samples"] > 0
    assert list((run / "eval").rglob("*.eval")), "the inspect log is kept"
    assert (run / "final_model" / "config.json").is_file()
    assert (run / "solve.log").read_text().strip()
    assert (run / "monitor.jsonl").read_text().strip()
    assert (run / "trace.jsonl").is_file() and (run / "prompt.md").is_file()
    # the live workspace (with its weights) is gone; the snapshot stayed
    assert not (results / "default" / ".scratch" / run.name).exists()
    assert (run / "workspace" / "evaluate.py").is_file()
    # wandb ran offline inside the results folder
    assert list((results / "default" / "wandb").glob("offline-run-*"))
    # the summary names the score, the base score, the verdict, the time used and the folder
    out = proc.stdout
    assert "score" in out and "base" in out and "judge clean" in out and "time used" in out
    assert str(results / "default") in out
    print(f"default run wall time: {wall:.0f}s; score {result['score']:.3f} vs base {result['base_score']:.3f}")


def test_sweep_runs_concurrently_judges_times_out_and_resumes(tmp_path: Path, cache_root: Path) -> None:
    results = tmp_path / "results"
    agents = ",".join(str(FIXTURES / name) for name in ("sleepy", "contaminator", "overstayer"))
    args = [
        "-m",
        f"agent.path={agents}",
        "seed=0,1",
        "+agent.env.SLEEPY_SECONDS=8",  # longer than six actors take to start on 2 loaded cores
        "budget.hours=0.004",  # 14.4 s
        "budget.grace_seconds=2",
        "budget.cpus=0.25",
        "cluster.num_cpus=2",
        "task.final_limit=20",
        "tracking=none",
        f"results_dir={results}",
        "sweep=fixtures",
        *ray_args(tmp_path),
    ]
    proc = run_ptb(args, tmp_path, cache_root)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    sweep = results / "fixtures"
    runs = {p.name: p for p in run_dirs(sweep)}
    assert len(runs) == 6, sorted(runs)

    # all six were running at the same time: Ray got them together, not one after another
    outcomes = {name: read(p / "outcome.json") for name, p in runs.items()}
    assert max(o["started_at"] for o in outcomes.values()) < min(o["ended_at"] for o in outcomes.values())

    for name, run in runs.items():
        result = read(run / "result.json")
        if name.startswith("sleepy"):
            assert result["status"] == "finished" and not result["flagged"]
            assert result["fallback_reason"] is None
        elif name.startswith("contaminator"):
            assert result["flagged"] is True
            assert result["fallback_reason"].startswith("flagged by the judge")
            assert result["score"] == result["base_score"]
        else:
            assert result["status"] == "timeout"
            assert result["fallback_reason"].startswith("no final_model")
            assert 14 <= result["seconds_used"] <= 14.4 + 2 + 5
    # the overstayer's background child and setsid daemon died with it
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[-1:] == ["100007"]]
    assert leftovers == []

    # leaderboard printed and written, and ptb.report prints it again
    assert "| agent" in proc.stdout
    assert (sweep / "leaderboard.md").is_file() and (sweep / "leaderboard.csv").is_file()
    report = subprocess.run(
        [sys.executable, "-m", "ptb.report", str(sweep)], capture_output=True, text=True, env=ptb_env(cache_root)
    )
    assert report.returncode == 0, report.stderr
    assert (sweep / "leaderboard.md").read_text().strip() in report.stdout

    # the same command again repeats nothing
    stamps = {name: (p / "outcome.json").stat().st_mtime for name, p in runs.items()}
    again = run_ptb(args, tmp_path, cache_root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished earlier") == 6
    assert stamps == {name: (p / "outcome.json").stat().st_mtime for name, p in runs.items()}


def test_gpu_runs_wait_for_free_gpus(tmp_path: Path, cache_root: Path) -> None:
    """3 runs of 1 GPU each on 2 logical GPUs: never more than 2 at once, all finish."""
    results = tmp_path / "results"
    proc = run_ptb(
        [
            "-m",
            "seed=0,1,2",
            f"agent.path={FIXTURES / 'sleepy'}",
            "+agent.env.SLEEPY_SECONDS=6",
            "budget.gpus=1",
            "budget.cpus=0.25",
            "cluster.num_gpus=2",
            "cluster.num_cpus=2",
            "task.final_limit=10",
            "tracking=none",
            f"results_dir={results}",
            *ray_args(tmp_path),
        ],
        tmp_path,
        cache_root,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = [read(run / "outcome.json") for run in run_dirs(results / "default")]
    assert len(outcomes) == 3 and all(o["status"] == "finished" for o in outcomes)
    events = sorted([(o["started_at"], 1) for o in outcomes] + [(o["ended_at"], -1) for o in outcomes])
    running, peak = 0, 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    # each agent saw exactly its one GPU
    for run in run_dirs(results / "default"):
        log = (run / "solve.log").read_text()
        assert "sleepy: gpus=0" in log or "sleepy: gpus=1" in log, log


def test_killed_sweep_continues_where_it_stopped(tmp_path: Path, cache_root: Path) -> None:
    results = tmp_path / "results"
    args = [
        "-m",
        "seed=0,1",
        f"agent.path={FIXTURES / 'sleepy'}",
        "+agent.env.SLEEPY_SECONDS=1",
        "budget.cpus=0.25",
        "task.final_limit=10",
        "tracking=none",
        f"results_dir={results}",
        *ray_args(tmp_path),
    ]
    driver = subprocess.Popen(
        [sys.executable, "-m", "ptb.run", *args],
        cwd=tmp_path,
        env=ptb_env(cache_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sweep = results / "default"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and not list(sweep.glob("*/outcome.json")):
            time.sleep(0.2)
        assert list(sweep.glob("*/outcome.json")), "no run got through solve"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and everything it started
        driver.wait()
    solved_before = {p.parent.name: p.stat().st_mtime for p in sweep.glob("*/outcome.json")}

    proc = run_ptb(args, tmp_path, cache_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for run in run_dirs(sweep):
        assert (run / "result.json").exists()
    for name, mtime in solved_before.items():
        assert (sweep / name / "outcome.json").stat().st_mtime == mtime, f"{name} was solved again"
