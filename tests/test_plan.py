"""ptb.plan: every config composes, and bad values fail before scheduling with a message that names
the value and what is accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.paths import AGENTS_DIR, CONF_DIR
from ptb.plan import ConfigError, build_plan, build_settings, check_shared_settings, run_id_for

GROUPS = ["agent", "model", "task", "sandbox", "eval", "judge", "tracking", "cluster"]


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group: str, tmp_path: Path) -> None:
    options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    assert options, f"conf/{group} is empty"
    for option in options:
        cfg = compose_cfg(f"{group}={option}", f"results_dir={tmp_path}")
        plan = build_plan(cfg)
        build_settings(cfg)
        assert plan.spec.run_dir.startswith(str(tmp_path))


def test_default_plan_is_the_embedded_default(tmp_path: Path) -> None:
    plan = build_plan(compose_cfg(f"results_dir={tmp_path}", "sweep=s1"))
    spec = plan.spec
    assert (spec.agent.name, spec.model.name, spec.task.name) == ("recipe_sft", "tiny", "arith")
    assert spec.budget.gpus == 0
    assert spec.agent.path == str(AGENTS_DIR / "recipe_sft")
    assert spec.run_dir == str(tmp_path / "s1" / spec.run_id)
    assert spec.run_id == run_id_for("recipe_sft", "tiny", "arith", spec.budget.hours, 0, "default")


def test_run_ids_are_stable_and_distinct() -> None:
    a = run_id_for("noop", "tiny", "arith", 0.25, 0, "default")
    assert a == run_id_for("noop", "tiny", "arith", 0.25, 0, "default")
    others = {
        run_id_for("recipe_sft", "tiny", "arith", 0.25, 0, "default"),
        run_id_for("noop", "tiny", "arith", 0.5, 0, "default"),
        run_id_for("noop", "tiny", "arith", 0.25, 1, "default"),
        run_id_for("noop", "tiny", "arith", 0.25, 0, "reprompt"),
    }
    assert a not in others and len(others) == 4


@pytest.mark.parametrize(
    "override, needle",
    [
        ("budget.hours=-1", "budget.hours=-1 is invalid: expected a number > 0"),
        ("budget.hours=0", "budget.hours=0 is invalid"),
        ("budget.gpus=1.5", "budget.gpus=1.5 is invalid: expected a whole number >= 0"),
        ("budget.cpus=0", "budget.cpus=0 is invalid"),
        ("seed=-3", "seed=-3 is invalid"),
        ("sandbox.kind=docker", "sandbox.kind='docker' is unknown; accepted: ['auto', 'bwrap', 'none']"),
        ("model.template=nosuch", "model.template='nosuch' has no evals/templates/nosuch.jinja; known: ['chatml'"),
        ("task.eval_dir=nosuch", "tasks with code: ['aime2025', 'arenahard_writing', 'arith', 'bfcl', 'gpqa'"),
        ("model.tool_parser=json", "model.tool_parser='json' is unknown; accepted: ['hermes', 'pythonic'] (or null)"),
        ("model.tool_template=nosuch", "model.tool_template='nosuch' has no evals/templates/nosuch.jinja"),
        ("+task.params.split=train", "task.params of 'arith' must not set 'split'"),
        ("task.samples=0", "task.samples=0 is invalid: expected a whole number >= 1"),
        ("task.ladder=[]", "task.ladder of 'arith' is empty"),
        ("prompt_variant=nosuch", "prompt_variant='nosuch' has no ptb/prompts/nosuch.md; known: ['default'"),
        ("sweep=a/b", "sweep='a/b' is invalid"),
        ("agent.path=/nonexistent/folder", "has no solve.sh"),
    ],
)
def test_bad_values_name_the_value_and_the_accepted_ones(override: str, needle: str, tmp_path: Path) -> None:
    cfg = compose_cfg(override, f"results_dir={tmp_path}")
    with pytest.raises(ConfigError) as info:
        build_plan(cfg)
    assert needle in str(info.value)


def test_user_agent_folder_is_named_after_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my_agent"
    folder.mkdir()
    (folder / "solve.sh").write_text("#!/bin/bash\ntrue\n")
    plan = build_plan(compose_cfg(f"agent.path={folder}", f"results_dir={tmp_path}"))
    assert plan.spec.agent.name == "my_agent"
    assert plan.spec.agent.path == str(folder)
    assert plan.spec.run_id.startswith("my_agent__")


def test_sweep_jobs_must_share_pool_tracking_and_cluster(tmp_path: Path) -> None:
    a = build_settings(compose_cfg(f"results_dir={tmp_path}"))
    b = build_settings(compose_cfg(f"results_dir={tmp_path}", "tracking=none"))
    assert check_shared_settings([a, a]) == a
    with pytest.raises(ConfigError, match="'tracking' differs between jobs"):
        check_shared_settings([a, b])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ptb.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_rejects_bad_values_before_scheduling(tmp_path: Path) -> None:
    """Nothing is created for any job when one job of a sweep is bad, and no Ray starts."""
    proc = _cli("-m", "agent=noop", "budget.hours=1,-1", f"results_dir={tmp_path}/r", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "ptb: error: budget.hours=-1 is invalid: expected a number > 0" in proc.stderr
    sweep = tmp_path / "r" / "default"
    runs = [p for p in sweep.glob("*") if p.name != ".hydra"] if sweep.exists() else []
    assert runs == []


def test_cli_unknown_group_option_lists_the_known_ones(tmp_path: Path) -> None:
    proc = _cli("agent=nosuch", f"results_dir={tmp_path}/r", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Could not find 'agent/nosuch'" in proc.stderr
    assert "noop" in proc.stderr and "recipe_sft" in proc.stderr
    proc = _cli("model=tinyy", f"results_dir={tmp_path}/r", cwd=tmp_path)
    assert "Could not find 'model/tinyy'" in proc.stderr and "tiny" in proc.stderr


def test_cli_cfg_job_prints_the_config(tmp_path: Path) -> None:
    proc = _cli("--cfg", "job", "agent=noop", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: noop" in proc.stdout and "budget:" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_paper_experiment_is_the_published_28_cell_grid(tmp_path: Path) -> None:
    """`+experiment=paper` sweeps 4 models x 7 tasks at 10 h on one GPU; a dry run validates
    every job (each task and model config, template and task code) and starts nothing."""
    proc = _cli("-m", "+experiment=paper", "agent=noop", "dry_run=true", f"results_dir={tmp_path}/r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("noop__")]
    assert len(lines) == 28 and "[ptb] dry run: 28 run(s) validated, nothing started" in proc.stdout
    models = ("qwen3-1.7b", "qwen3-4b", "smollm3-3b", "gemma3-4b")
    tasks = ("aime2025", "arenahard_writing", "bfcl", "gpqa", "gsm8k", "healthbench", "humaneval")
    ids = {line.split()[0] for line in lines}
    assert ids == {f"noop__{m}__{t}__10h__s0" for m in models for t in tasks}
    assert all("[10 h, 1 GPU, 8 CPU;" in line and f"{tmp_path}/r/paper/" in line for line in lines)
    assert not any(p.name != ".hydra" for p in (tmp_path / "r" / "paper").glob("*")), "a dry run creates no run"
