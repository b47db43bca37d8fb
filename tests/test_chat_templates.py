"""The final evaluation's template comes from the run's configured model (and whether the task
has tools), never from the checkpoint: a submitted config.json cannot choose its template."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir

from ptb.chat_templates import harness_template, model_templates, tool_parser
from ptb.evaluation import EvalRequest, EvalWorker, serving_key
from ptb.paths import CONF_DIR, TEMPLATES_DIR
from ptb.plan import build_plan


def spec(tmp_path: Path, model: str, task: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"results_dir={tmp_path}", f"model={model}", f"task={task}"])
    return build_plan(cfg).spec


def test_each_model_and_task_gets_its_familys_template_and_tool_format(tmp_path):
    expected = {
        ("qwen3-1.7b", "gsm8k"): ("qwen3", None), ("qwen3-4b", "bfcl"): ("qwen3", "hermes"),
        ("smollm3-3b", "bfcl"): ("smollm3", "hermes"), ("smollm3-3b", "humaneval"): ("smollm3", None),
        ("gemma3-4b", "gpqa"): ("gemma3", None), ("gemma3-4b", "bfcl"): ("gemma3_tools", "pythonic"),
        ("tiny", "arith"): ("chatml", None), ("tiny", "bfcl"): ("chatml", "hermes"),
    }  # fmt: skip
    for (model, task), (family, parser) in expected.items():
        s = spec(tmp_path, model, task)
        assert harness_template(s.model, s.task) == TEMPLATES_DIR / f"{family}.jinja", (model, task)
        assert tool_parser(s.model, s.task) == parser, (model, task)
    gemma = spec(tmp_path, "gemma3-4b", "gsm8k").model
    assert [p.name for p in model_templates(gemma)] == ["gemma3.jinja", "gemma3_tools.jinja"]


def test_a_gemma_checkpoint_without_processor_files_gets_a_clear_evaluation_error(tmp_path):
    """Evaluated like a run's final_model: no score, and the reason names the missing file and
    how to add it; the ladder stops at once (no max-tokens value fixes a missing file)."""
    s = spec(tmp_path, "gemma3-4b", "gsm8k")
    ckpt = tmp_path / "final_model"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"]}))
    (ckpt / "model.safetensors").write_bytes(b"x")
    (ckpt / "tokenizer.json").write_text("{}")
    template = harness_template(s.model, s.task)
    request = EvalRequest(s.task, str(ckpt), str(template), str(tmp_path / "eval"), limit=2)
    metrics = EvalWorker("hf").evaluate(request, serving_key(ckpt, template))
    assert metrics.score is None and len(metrics.attempts) == 1
    assert "preprocessor_config.json" in metrics.reason and "AutoProcessor" in metrics.reason
