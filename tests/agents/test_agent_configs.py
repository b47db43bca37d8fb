"""conf/agent: every configuration of SPEC §4, each choosing only a scaffold and a model; every
agent composes with every model and task; the headline sweep lists its runs in a dry run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from ptb.paths import AGENTS_DIR, CONF_DIR
from ptb.plan import build_plan

# SPEC §4: config → (scaffold, vendor model)
SPEC_AGENTS = {
    "opus": ("claude_code", "claude-opus-4-6"),
    "sonnet45": ("claude_code", "claude-sonnet-4-5"),
    "sonnet46": ("claude_code", "claude-sonnet-4-6"),
    "opus45": ("claude_code", "claude-opus-4-5"),
    "gpt52": ("codex", "gpt-5.2"),
    "gpt51codexmax": ("codex", "gpt-5.1-codex-max"),
    "gpt53codex": ("codex", "gpt-5.3-codex"),
    "gpt54": ("codex", "gpt-5.4"),
    "gemini3pro": ("gemini_cli", "gemini-3-pro-preview"),
    "gemini31pro": ("opencode", "opencode/gemini-3.1-pro"),
    "glm5": ("opencode", "zai/glm-5"),
    "kimi25": ("opencode", "opencode/kimi-k2.5"),
}
KEYS = {"claude_code": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini_cli": "GEMINI_API_KEY"}


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(SPEC_AGENTS))
def test_every_spec_agent_is_its_scaffold_and_model(name: str, tmp_path: Path) -> None:
    scaffold, model = SPEC_AGENTS[name]
    agent = build_plan(compose_cfg(f"agent={name}", f"results_dir={tmp_path}")).spec.agent
    assert (agent.name, agent.scaffold, agent.model) == (name, scaffold, model)
    assert agent.path == str(AGENTS_DIR / scaffold)
    assert agent.cli is not None and agent.network
    assert agent.trace_format != "plain", "a scaffold parses its own machine-readable output"
    if scaffold in KEYS:
        assert agent.key_env == KEYS[scaffold]
    assert agent.reasoning_effort is None or scaffold == "codex"
    # the per-model file only chooses the scaffold and the model (a price or key where they differ)
    own = yaml.safe_load((CONF_DIR / "agent" / f"{name}.yaml").read_text())
    assert set(own) <= {"defaults", "name", "model", "price", "key_env"}, own


def test_reasoning_effort_is_a_codex_knob(tmp_path: Path) -> None:
    for level in ("medium", "high", "xhigh"):
        agent = build_plan(compose_cfg("agent=gpt52", f"agent.reasoning_effort={level}", f"results_dir={tmp_path}")).spec.agent
        assert agent.reasoning_effort == level


def test_every_agent_composes_with_every_model_and_task(tmp_path: Path) -> None:
    """Every agent with one model and task, every model × task with one agent, and the real
    agents with every model (what they are allowed to reach depends on both): the full cube
    (over a thousand plans once the red team came) took ten minutes and checked nothing more."""
    agents, models, tasks = options("agent"), options("model"), options("task")
    assert set(SPEC_AGENTS) <= set(agents)
    combos = {(agent, "tiny", "arith") for agent in agents}
    combos |= {("noop", model, task) for model in models for task in tasks}
    combos |= {(agent, model, "gsm8k") for agent in SPEC_AGENTS for model in models}
    for agent, model, task in sorted(combos):
        plan = build_plan(compose_cfg(f"agent={agent}", f"model={model}", f"task={task}", f"results_dir={tmp_path}"))
        assert plan.spec.run_id.startswith(f"{agent}__{model}__{task}__")


def test_the_headline_sweep_lists_both_runs_in_a_dry_run(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_TOOLCHAIN_DIR": str(tmp_path / "toolchain")}
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.run", "-m", "agent=opus,gpt52", "model=qwen3-4b", "task=bfcl", "dry_run=true",
         f"results_dir={tmp_path}/r"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "__qwen3-4b__bfcl__" in line]
    assert [line.split()[0].split("__")[0] for line in lines] == ["opus", "gpt52"]
    assert "claude_code claude-opus-4-6" in lines[0] and "codex gpt-5.2" in lines[1]
    assert "NOT INSTALLED (python -m ptb.agents install agent=opus)" in lines[0]  # an empty toolchain
    assert "2 run(s) validated, nothing started" in proc.stdout
    assert not (tmp_path / "r" / "default" / lines[0].split()[0]).exists()


def test_a_missing_cli_is_an_error_before_anything_is_scheduled(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_TOOLCHAIN_DIR": str(tmp_path / "toolchain")}
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.run", "agent=opus", f"results_dir={tmp_path}/r"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ptb: error: agent CLI not installed: @anthropic-ai/claude-code@" in proc.stderr
    assert "install with: python -m ptb.agents install -m agent=opus" in proc.stderr
    # nothing but Hydra's own record of the invocation: no run directory
    made = [p.relative_to(tmp_path / "r") for p in (tmp_path / "r").glob("*/*")]
    assert [str(p) for p in made if not str(p).endswith(".hydra")] == []
