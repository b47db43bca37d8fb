"""Stage 1: the workspace, prompt, environment and harness hashes of a run."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from ptb.io import sha256_file
from ptb.paths import CONF_DIR
from ptb.plan import build_plan
from ptb.stages.prepare import prepare


def make_plan(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"results_dir={tmp_path}/results", *overrides])
    return build_plan(cfg)


def test_workspace_holds_the_harness_files_and_their_hashes(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    prepared = prepare(plan, base)
    ws = prepared.workspace
    for rel in ("evaluate.py", "templates/chatml.jinja", "timer.sh", "ptb_eval.json", "data/arith_train.jsonl"):
        assert (ws / rel).is_file(), rel
    run_dir = Path(plan.spec.run_dir)
    hashes = json.loads((run_dir / "harness_hashes.json").read_text())
    assert hashes["evaluate.py"] == sha256_file(ws / "evaluate.py")
    assert set(hashes) >= {"evaluate.py", "templates/chatml.jinja", "timer.sh", "ptb_eval.json", "data/arith_train.jsonl"}
    # verdicts and metrics live in the run folder, which is not inside the workspace
    assert run_dir not in ws.parents and ws not in run_dir.parents
    assert (run_dir / "spec.yaml").is_file()
    eval_cfg = json.loads((ws / "ptb_eval.json").read_text())
    assert eval_cfg["task"]["name"] == "arith" and eval_cfg["template"] == "templates/chatml.jinja"


def test_prompt_names_model_benchmark_budget_and_rules(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, "budget.hours=2")
    prepared = prepare(plan, tmp_path)
    prompt = prepared.prompt_file.read_text()
    assert prompt == (Path(plan.spec.run_dir) / "prompt.md").read_text()
    assert "Arith" in prompt and "final_model" in prompt and "at most 2 hours" in prompt
    assert "timer.sh" in prompt and "--limit" in prompt and "no internet" in prompt
    assert prompt.count("\n7. ") == 1


def test_environment_is_minimal_and_passes_only_what_the_agent_allows(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_VENDOR_KEY", "k-123")
    monkeypatch.setenv("OPENAI_API_KEY", "grader-secret")
    plan = make_plan(tmp_path, "agent.env_passthrough=[MY_VENDOR_KEY]", "+agent.env.EXTRA=1")
    env = prepare(plan, tmp_path).env
    assert env["MY_VENDOR_KEY"] == "k-123" and env["EXTRA"] == "1"
    assert "OPENAI_API_KEY" not in env  # a grader's key never reaches an agent
    assert env["PTB_BASE_MODEL"] == str(tmp_path) and env["PTB_TASK"] == "arith"
    assert env["HOME"] != os.environ.get("HOME")


def test_a_login_shell_in_the_private_home_keeps_the_sandboxs_path(tmp_path: Path) -> None:
    # /etc/profile resets PATH for login shells (Codex's `bash -lc` did: "python: command not found")
    prepared = prepare(make_plan(tmp_path), tmp_path)
    env = prepared.env
    proc = subprocess.run(["bash", "-lc", 'echo "$PATH"; command -v python'], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    path, python = proc.stdout.splitlines()[:2]
    assert path == env["PATH"] and Path(python).parent == Path(env["PATH"].split(":")[0])
    assert subprocess.run(["sh", "-lc", 'echo "$PATH"'], env=env, capture_output=True, text=True,
                          timeout=30).stdout.strip() == env["PATH"]


def test_an_interrupted_workspace_is_kept_aside(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    first = prepare(plan, tmp_path)
    (first.workspace / "work.txt").write_text("half done")
    second = prepare(plan, tmp_path)
    assert not (second.workspace / "work.txt").exists()
    kept = list(Path(plan.spec.scratch_dir).glob("interrupted-*/work.txt"))
    assert [p.read_text() for p in kept] == ["half done"]


def test_timer_prints_remaining_time_and_time_up(tmp_path: Path) -> None:
    ws = prepare(make_plan(tmp_path), tmp_path).workspace
    (ws / ".ptb" / "deadline").write_text(str(time.time() + 3 * 3600 + 125))
    out = subprocess.run(["bash", "timer.sh"], cwd=ws, capture_output=True, text=True).stdout
    assert out.strip() == "3:02 remaining"
    (ws / ".ptb" / "deadline").write_text(str(time.time() - 5))
    out = subprocess.run(["bash", "timer.sh"], cwd=ws, capture_output=True, text=True).stdout
    assert out.strip() == "Time is up."


def test_prompt_states_the_tasks_disallowed_and_allowed_data(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, "model=qwen3-4b", "task=gsm8k")
    prompt = prepare(plan, tmp_path / "base").prompt_file.read_text()
    assert "`Qwen/Qwen3-4B-Base`" in prompt and "**GSM8K**" in prompt
    assert "This includes: openai/gsm8k test split." in prompt
    assert "Allowed despite coming from the benchmark: openai/gsm8k train split." in prompt


def test_gemma_on_bfcl_gets_its_tool_template_chosen_by_the_configured_model(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, "model=gemma3-4b", "task=bfcl")
    ws = prepare(plan, tmp_path / "base").workspace
    assert (ws / "templates" / "gemma3.jinja").is_file() and (ws / "templates" / "gemma3_tools.jinja").is_file()
    eval_cfg = json.loads((ws / "ptb_eval.json").read_text())
    assert eval_cfg["template"] == "templates/gemma3_tools.jinja" and eval_cfg["tool_parser"] == "pythonic"
    hashes = json.loads((Path(plan.spec.run_dir) / "harness_hashes.json").read_text())
    assert {"templates/gemma3.jinja", "templates/gemma3_tools.jinja"} <= set(hashes)


def test_the_graders_key_never_reaches_an_agent_on_an_llm_graded_task(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-grader-secret-123")
    monkeypatch.setenv("MY_GRADER_KEY", "sk-other-secret-456")
    for task in ("healthbench", "arenahard_writing"):
        plan = make_plan(tmp_path / task, f"task={task}", "grader.api_key_env=MY_GRADER_KEY")
        assert plan.spec.task.params["grader_api_key_env"] == "MY_GRADER_KEY"  # the name, never the value
        prepared = prepare(plan, tmp_path / "base")
        assert not {"OPENAI_API_KEY", "MY_GRADER_KEY"} & set(prepared.env)
        prompt = prepared.prompt_file.read_text()
        assert "graded by an LLM (openai/gpt-5-mini" in prompt and "--grader-model" in prompt
        for path in [*prepared.workspace.rglob("*"), *Path(plan.spec.run_dir).rglob("*")]:
            if path.is_file():
                text = path.read_text(errors="replace")
                assert "sk-grader-secret-123" not in text and "sk-other-secret-456" not in text, path


def test_agents_never_see_the_results_folder_or_the_harness_grading_files(tmp_path: Path, monkeypatch) -> None:
    from ptb.data import harness_files_root
    from ptb.stages.prepare import hidden_from_agents

    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path / "files"))
    plan = make_plan(tmp_path, "task=arenahard_writing")
    hidden = hidden_from_agents(plan.spec)
    assert hidden == (str(tmp_path / "results"), str(tmp_path / "files" / "ptb"))
    assert str(harness_files_root()) in hidden
    from ptb.plugins import load_task_module

    answers = load_task_module(plan.spec.task).baseline_answers_path()  # the instruct model's answers
    assert Path(hidden[1]) in answers.parents


def test_a_scratch_folder_outside_the_results_is_hidden_whole(tmp_path: Path) -> None:
    """Workspaces outside the results folder (``scratch_dir``): no run may see another's live
    checkpoint, of this sweep or any other kept there."""
    from ptb.stages.prepare import hidden_from_agents

    plan = make_plan(tmp_path, f"scratch_dir={tmp_path / 'scratch'}")
    hidden = hidden_from_agents(plan.spec)
    assert str(tmp_path / "scratch") in hidden
    assert Path(plan.spec.scratch_dir).parent.parent == tmp_path / "scratch"
    # a scratch_dir that holds what the agent needs (here /) is not hidden whole; its sweep folder is
    broad = make_plan(tmp_path, "scratch_dir=/")
    hidden = hidden_from_agents(broad.spec)
    assert "/" not in hidden and str(Path(broad.spec.scratch_dir).parent) in hidden


def test_caches_the_agents_config_points_at_are_mounted_for_it(tmp_path: Path) -> None:
    """An agent config's HF_HUB_CACHE (the red team's private Hub cache) may sit where the sandbox
    replaces the folder (/tmp) or the agent's uid cannot pass: it goes in read-only, like the
    harness's own caches."""
    from ptb.stages.prepare import shared_caches

    cache = tmp_path / "hub"
    cache.mkdir()
    plan = make_plan(tmp_path, f"++agent.env.HF_HUB_CACHE={cache}", f"++agent.env.PTB_DATA_DIR={tmp_path / 'absent'}")
    assert str(cache) in shared_caches(plan.spec)
    assert str(tmp_path / "absent") not in shared_caches(plan.spec)  # only folders that exist
