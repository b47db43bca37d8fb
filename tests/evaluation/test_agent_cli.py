"""The agent-facing evaluate.py, run as the agent runs it: a subprocess in its workspace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.io import to_jsonable
from ptb.paths import EVALS_DIR, template_path
from ptb.records import LadderStep, TaskSpec
from ptb.tasks.evaluate_script import evaluate_script

CHATML = template_path("chatml").read_text()  # the harness's own template
ARITH = TaskSpec(
    name="arith", benchmark="Arith", weight=1.0, eval_dir=str(EVALS_DIR / "arith"),
    ladder=(LadderStep(20, 2), LadderStep(10, 1)), default_limit=5, max_connections=4,
)


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    (ws / "templates").mkdir(parents=True)
    (ws / "evaluate.py").write_text(evaluate_script(ARITH))  # what prepare writes
    (ws / "templates" / "chatml.jinja").write_text(CHATML)
    (ws / "ptb_eval.json").write_text(json.dumps({"task": to_jsonable(ARITH), "template": "templates/chatml.jinja"}))
    return ws


def _run(ws: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as in the sandbox: ptb found by itself
    env["HF_HUB_OFFLINE"] = "1"
    env["COLUMNS"] = "200"  # --help on one line per option
    return subprocess.run([sys.executable, "evaluate.py", *args], cwd=ws, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_shows_the_task_defaults_and_a_missing_model_is_a_clear_error(workspace):
    help_ = _run(workspace, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "--model-path" in help_.stdout and "default: 5" in help_.stdout and "default: 20" in help_.stdout
    missing = _run(workspace)  # no final_model yet
    assert missing.returncode == 2
    assert "final_model does not exist" in missing.stderr


@pytest.mark.slow
def test_evaluates_final_model_and_writes_json(workspace, tiny_model_dir, arith_module):
    shutil.copytree(tiny_model_dir, workspace / "final_model")
    done = _run(workspace, "--json-output-file", "result.json", "--max-tokens", "12", "--backend", "auto")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "arith: accuracy = " in done.stdout
    result = json.loads((workspace / "result.json").read_text())
    assert result["metric"] == "accuracy" and 0.0 <= result["score"] <= 1.0
    assert result["samples"] == 5 and result["limit"] == 5 and result["max_tokens"] == 12
    assert result["backend"] == "hf"  # no CUDA here
    assert Path(result["log_file"]).is_file() and Path(result["log_file"]).parent == workspace / "eval_logs"
    assert (workspace / "eval_logs" / "server.log").is_file()
    # scores, not solutions: inspect's log (targets, worked solutions, replies) is not left here
    assert not list(workspace.rglob("*.eval"))
    items = json.loads(Path(result["log_file"]).read_text())["items"]
    assert len(items) == 5 and all(set(i) == {"id", "epoch", "score"} for i in items)
    texts = "".join(p.read_text(errors="replace") for p in (workspace / "eval_logs").iterdir() if p.is_file())
    assert not any(item.solution in texts for item in arith_module.items("test")[:5])


def test_auto_backend_says_when_a_gpu_has_no_vllm(monkeypatch):
    import torch

    from ptb.evaluation import agent_cli

    notes: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(agent_cli, "vllm_available", lambda: False)
    assert agent_cli.auto_backend(note=notes.append) == "hf"
    assert len(notes) == 1 and "vLLM is not installed" in notes[0] and "pip install vllm" in notes[0]
    monkeypatch.setattr(agent_cli, "vllm_available", lambda: True)
    assert agent_cli.auto_backend(note=notes.append) == "vllm" and len(notes) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert agent_cli.auto_backend(note=notes.append) == "hf" and len(notes) == 1  # CPU: nothing to say


def test_llm_graded_task_asks_for_a_grader_of_the_agents_own_before_serving_anything(tmp_path, monkeypatch, capsys):
    """Inside a sandbox the harness's grader key is absent: evaluate.py says which variable to
    set (or which options to pass) before starting a server; with a reachable OpenAI-compatible
    grader given on the command line it gets past that check."""
    from hydra import compose, initialize_config_dir

    from ptb.evaluation import agent_cli
    from ptb.paths import CONF_DIR
    from ptb.plan import build_task

    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=["task=healthbench"])
    from omegaconf import OmegaConf

    task = build_task(OmegaConf.to_container(cfg.task, resolve=True))
    ws = tmp_path / "ws"
    (ws / "templates").mkdir(parents=True)
    (ws / "templates" / "chatml.jinja").write_text(CHATML)
    (ws / "ptb_eval.json").write_text(json.dumps({"task": to_jsonable(task), "template": "templates/chatml.jinja"}))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    started = []
    monkeypatch.setattr(agent_cli, "start_server", lambda *a, **k: started.append(a) or (_ for _ in ()).throw(SystemExit(9)))

    assert agent_cli.main(ws, []) == 2 and not started
    error = capsys.readouterr().err
    assert "OPENAI_API_KEY" in error and "--grader-base-url" in error and "never available" in error
    help_text = agent_cli.build_parser(task).format_help()
    assert "--grader-model" in help_text and "openai/gpt-5-mini" in help_text and "a key of your own" in help_text

    monkeypatch.setenv("MY_KEY", "k")
    with pytest.raises(SystemExit, match="9"):  # past the grader check: the server would start now
        agent_cli.main(ws, ["--grader-model", "openai-api/mine/judge", "--grader-base-url", "http://127.0.0.1:9/v1",
                            "--grader-api-key-env", "MY_KEY"])
    assert started


def test_tasks_without_a_grader_have_no_grader_options():
    from ptb.evaluation import agent_cli

    assert "--grader-model" not in agent_cli.build_parser(ARITH).format_help()
