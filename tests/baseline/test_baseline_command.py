"""`python -m ptb.baseline`: planning the cells, and real measurements through the pool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.baseline.command import plan_jobs
from ptb.paths import CONF_DIR, PROJECT_ROOT
from ptb.plan import ConfigError


def configs(*override_sets: list[str]):
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        return [compose("config", overrides=list(o)) for o in override_sets]


def test_plan_deduplicates_cells_and_skips_models_without_an_instruct_model():
    cfgs = configs(["model=tiny", "task=arith"], ["model=tiny", "task=arith", "seed=1"])
    jobs, notes = plan_jobs(cfgs)
    assert [(j.kind, j.model.name, j.task.name) for j in jobs] == [("base", "tiny", "arith")]
    assert notes == ["instruct  tiny: no instruct model configured (model.instruct is null): skipped"]


def test_plan_rejects_unknown_kinds():
    (cfg,) = configs(["model=tiny", "task=arith", "baseline.kinds=[base,chat]"])
    with pytest.raises(ConfigError, match=r"baseline.kinds\[1\]='chat' is invalid: expected one of \['base', 'instruct'\]"):
        plan_jobs([cfg])


def _fake_hub_model(hub_cache: Path, repo_id: str, source: Path) -> None:
    """`source` as a model repo snapshot in the HF cache layout (what snapshot_download finds)."""
    owner, name = repo_id.split("/")
    repo = hub_cache / f"models--{owner}--{name}"
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    shutil.copytree(source, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


@pytest.mark.slow
def test_baseline_command_measures_base_and_instruct_once_each(tmp_path, tiny_model_dir, ptb_test_cache):
    """A 1-model × 1-task sweep (run twice over seeds: one cell each), the instruct model coming
    from an offline HF cache; a second invocation reuses the stored measurements."""
    ray_dir = tempfile.mkdtemp(prefix="ptbray", dir="/tmp")  # Ray's socket paths must stay short
    hub = tmp_path / "hub"
    _fake_hub_model(hub, "ptb-test/tiny-instruct", tiny_model_dir)
    env = {
        **os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "PTB_CACHE_DIR": str(ptb_test_cache),
        "OMP_NUM_THREADS": "1",
    }
    args = [
        sys.executable, "-m", "ptb.baseline", "-m", "model=tiny", "task=arith", "seed=0,1",
        "model.instruct=ptb-test/tiny-instruct", "task.final_limit=12", f"results_dir={tmp_path / 'results'}",
        "tracking=none", "cluster.num_cpus=2", f"cluster.temp_dir={ray_dir}",
        "task.ladder=[{max_tokens: 48, attempts: 1}]",
    ]
    done = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    root = tmp_path / "results" / "baselines"
    for kind in ("base", "instruct"):
        metrics = json.loads((root / kind / "tiny__arith" / "metrics.json").read_text())
        assert metrics["score"] is not None and metrics["samples"] == 12, metrics
        assert list((root / kind / "tiny__arith" / "eval").glob("*.eval")), "inspect logs are kept"
    assert "2 of 2 measured" in done.stdout, done.stdout

    again = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("stored earlier") == 2, again.stdout + again.stderr
    shutil.rmtree(ray_dir, ignore_errors=True)


def test_baseline_command_fails_clearly_when_the_instruct_model_is_not_cached(tmp_path, ptb_test_cache):
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1",
           "PTB_CACHE_DIR": str(ptb_test_cache)}
    ray_dir = tempfile.mkdtemp(prefix="ptbray", dir="/tmp")
    args = [
        sys.executable, "-m", "ptb.baseline", "model=tiny", "task=arith", "baseline.kinds=[instruct]",
        "model.instruct=ptb-test/not-downloaded", f"results_dir={tmp_path / 'results'}", "tracking=none",
        "cluster.num_cpus=1", f"cluster.temp_dir={ray_dir}",
    ]
    done = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    shutil.rmtree(ray_dir, ignore_errors=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "instruct tiny × arith: FAILED" in done.stdout.replace("  ", " ")
    assert "python -m ptb.cache" in done.stdout  # the fix is named
