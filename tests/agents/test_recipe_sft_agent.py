"""agents/recipe_sft: the fixed SFT recipe lifts the tiny model far above its base score."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from ptb.paths import AGENTS_DIR

TRAIN_PY = AGENTS_DIR / "recipe_sft" / "train.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("recipe_sft_train", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_train(ws, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TRAIN_PY), *args], cwd=ws.root, env=env or ws.env,
        capture_output=True, text=True, timeout=300,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_recipe_prompts_exactly_as_the_task_does(recipe, arith_module):
    assert recipe.INSTRUCTION == arith_module.INSTRUCTION


def test_template_comes_from_ptb_eval_json(recipe, tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "chatml.jinja").write_text("default")
    (tmp_path / "templates" / "other.jinja").write_text("other")
    assert recipe.template_file(tmp_path) == tmp_path / "templates" / "chatml.jinja"  # no ptb_eval.json
    (tmp_path / "ptb_eval.json").write_text(json.dumps({"template": "templates/other.jinja"}))
    assert recipe.template_file(tmp_path) == tmp_path / "templates" / "other.jinja"
    (tmp_path / "ptb_eval.json").write_text(json.dumps({"template": "other"}))  # a family name
    assert recipe.template_file(tmp_path) == tmp_path / "templates" / "other.jinja"
    (tmp_path / "ptb_eval.json").write_text(json.dumps({"template": "templates/missing.jinja"}))
    with pytest.raises(SystemExit, match="missing.jinja not found"):
        recipe.template_file(tmp_path)


def test_loss_is_only_on_the_reply_and_its_end_marker(recipe, tiny_model_dir, agent_workspace):
    from transformers import AutoTokenizer

    ws = agent_workspace()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = (ws.root / "templates" / "chatml.jinja").read_text()
    [(ids, labels)] = recipe.load_examples(
        _first_line_only(ws.root / "data" / "arith_train.jsonl", ws.root / "one.jsonl"), tokenizer, template, 256
    )
    trained = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    assert tokenizer.decode(trained) == json.loads((ws.root / "one.jsonl").read_text())["solution"] + "<|im_end|>"
    prompt = tokenizer.decode(ids[: len(ids) - len(trained)])
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert recipe.INSTRUCTION in prompt


def _first_line_only(source: Path, target: Path) -> Path:
    target.write_text(source.read_text().splitlines()[0] + "\n")
    return target


def test_same_seed_same_weights_and_progress_is_logged(agent_workspace, tiny_model_dir):
    ws = agent_workspace()
    hashes = []
    for out in ("run_a", "run_b"):
        result = run_train(ws, "--base-model", str(tiny_model_dir), "--out", out, "--max-steps", "3")
        assert result.returncode == 0, result.stderr
        assert re.search(r"^step 3/3 loss \d+\.\d+", result.stdout, re.MULTILINE)
        hashes.append(sha256(ws.root / out / "model.safetensors"))
        assert not (ws.root / f"{out}.tmp").exists()
    assert hashes[0] == hashes[1]
    assert hashes[0] != sha256(tiny_model_dir / "model.safetensors")  # and it did train


def test_stops_before_the_deadline_and_still_saves(agent_workspace, tiny_model_dir):
    ws = agent_workspace()
    env = {**ws.env, "PTB_DEADLINE": str(int(time.time()) + 5)}  # inside the save margin already
    result = run_train(ws, "--base-model", str(tiny_model_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert "deadline near, stopping at step 0/" in result.stdout
    assert (ws.root / "final_model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_recipe_lifts_greedy_accuracy_far_above_the_base_model(agent_workspace, tiny_model_dir, arith_greedy_accuracy):
    ws = agent_workspace(hours=1.0)
    started = time.time()
    result = ws.solve("recipe_sft", timeout=900)
    seconds = time.time() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^step \d+/\d+ loss", result.stdout, re.MULTILINE)
    final = ws.root / "final_model"
    assert final.is_dir() and not final.is_symlink()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (final / name).is_file(), name
    AutoModelForCausalLM.from_pretrained(final)  # loads in the starting environment

    base = arith_greedy_accuracy(tiny_model_dir)
    tuned = arith_greedy_accuracy(final)
    print(f"recipe_sft: {seconds:.0f}s, greedy accuracy on arith test: base {base:.3f} -> tuned {tuned:.3f}")
    assert base < 0.2
    assert tuned > 0.6


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"OMP_NUM_THREADS": "2", "PTB_CPUS": "4"}, 2), ({"PTB_CPUS": "0.5"}, 1), ({"PTB_CPUS": "3"}, 3), ({}, 1),
     ({"OMP_NUM_THREADS": "junk", "PTB_CPUS": "2"}, 2)],
)
def test_thread_count_follows_the_budget(recipe, monkeypatch, env, expected):
    for name in ("OMP_NUM_THREADS", "PTB_CPUS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert recipe.thread_count() == expected
