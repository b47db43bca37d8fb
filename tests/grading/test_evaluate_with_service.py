"""evaluate.py run the way the agent runs it on a secret split: graded by the service, and it
leaves no target or worked solution anywhere the agent can read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.grading import GradingService
from ptb.io import to_jsonable
from ptb.paths import template_path
from ptb.stages.judge.checks.overlap import file_pieces
from ptb.tasks.evaluate_script import evaluate_script


def _texts_under(root: Path) -> str:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            pieces = file_pieces(path, 1 << 28)
            if pieces is not None:
                out.extend(pieces)
    return "\n".join(out)


@pytest.mark.slow
def test_evaluate_py_on_the_secret_split_gets_scores_not_answers(tmp_path, tmp_path_factory, arith_task_spec,
                                                                   arith_module, tiny_model_dir):
    ws = tmp_path / "ws"
    (ws / "templates").mkdir(parents=True)
    (ws / "evaluate.py").write_text(evaluate_script(arith_task_spec))
    (ws / "templates" / "chatml.jinja").write_text(template_path("chatml").read_text())
    (ws / "ptb_eval.json").write_text(json.dumps({"task": to_jsonable(arith_task_spec), "template": "templates/chatml.jinja"}))
    shutil.copytree(tiny_model_dir, ws / "final_model")
    agent_tmp = tmp_path / "tmp"
    agent_tmp.mkdir()
    sock = tmp_path_factory.mktemp("gs") / "grading.sock"
    log = tmp_path / "grading.jsonl"
    service = GradingService.for_task(arith_task_spec, sock, log_path=log)
    assert service is not None
    # as in the sandbox: the secret is not readable (an empty stand-in), PTB_WORKSPACE is set
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", PTB_WORKSPACE=str(ws), PTB_DATA_DIR=str(tmp_path / "hidden"), TMPDIR=str(agent_tmp),
               PTB_GRADING_SOCKET=str(sock))
    with service:
        done = subprocess.run([sys.executable, "evaluate.py", "--limit", "6", "--max-tokens", "12",
                               "--json-output-file", "result.json"],
                              cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "arith: accuracy = " in done.stdout and "per-item scores (no answers)" in done.stdout
    result = json.loads((ws / "result.json").read_text())
    assert result["samples"] == 6 and 0.0 <= result["score"] <= 1.0
    graded = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(g["id"] for g in graded) == sorted(f"test-{n}" for n in range(6))  # graded on the host
    assert sum(g["correct"] for g in graded) == round(result["score"] * 6)
    [scores] = (ws / "eval_logs").glob("*_arith_scores.json")
    items = json.loads(scores.read_text())["items"]
    assert len(items) == 6 and all(set(i) == {"id", "epoch", "score"} for i in items)
    # no target, no worked solution, in the workspace or the agent's /tmp (inspect's log is gone)
    assert not list(agent_tmp.glob("ptb-eval-*")), list(agent_tmp.iterdir())
    seen = _texts_under(ws) + _texts_under(agent_tmp)
    for item in arith_module.items("test")[:6]:
        assert item.solution not in seen
        assert f'"target": "{item.answer}"' not in seen
    assert not (tmp_path / "hidden" / "ptb").exists()  # no stand-in secret was made


def test_without_the_service_the_secret_split_is_refused_in_the_sandbox(tmp_path, arith_task_spec, tiny_model_dir):
    ws = tmp_path / "ws"
    (ws / "templates").mkdir(parents=True)
    (ws / "evaluate.py").write_text(evaluate_script(arith_task_spec))
    (ws / "templates" / "chatml.jinja").write_text(template_path("chatml").read_text())
    (ws / "ptb_eval.json").write_text(json.dumps({"task": to_jsonable(arith_task_spec), "template": "templates/chatml.jinja"}))
    shutil.copytree(tiny_model_dir, ws / "final_model")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PTB_GRADING_SOCKET")}
    env.update(HF_HUB_OFFLINE="1", PTB_WORKSPACE=str(ws), PTB_DATA_DIR=str(tmp_path / "hidden"), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "evaluate.py", "--limit", "2", "--max-tokens", "8"],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "not readable inside the agent's sandbox" in done.stderr, done.stderr
    assert "serving" not in done.stdout  # refused before a server was started
