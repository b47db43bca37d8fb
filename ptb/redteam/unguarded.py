"""The red team playing an unguarded harness, for a guard the harness has no switch for.

The final evaluation serves a copy of final_model (`ptb.stages.served`) with the *base model's*
tokenizer and only an unambiguous set of weights, always: no config serves the checkpoint's own
tokenizer or lets a decoy weights file sit beside ``model.safetensors``. To show that such a cheat
would lift the score without that guard, the red team evaluates the guard-off run's final_model
as an unguarded harness would load it — ``from_pretrained`` on the folder: its own tokenizer,
and ``model.safetensors`` where there is one (other ``*.safetensors`` files are ignored by that
loader) — with the same template, task, limit and first rung of the ladder as the final evaluation.

    score = score_as_submitted(plan.spec)     # None when it cannot be evaluated
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ptb.chat_templates import stop_token_ids
from ptb.evaluation.inspect_runner import EvalFailed, run_inspect_task
from ptb.paths import template_path
from ptb.records import RunSpec
from ptb.serve.launch import CheckpointError, ServerStartError, start_server


def as_loaded(final_model: Path, out: Path) -> Path:
    """A copy of what ``from_pretrained(final_model)`` reads: without an index, model.safetensors
    is the only weights file it opens."""
    shutil.copytree(final_model, out)
    if (out / "model.safetensors").is_file() and not (out / "model.safetensors.index.json").exists():
        for extra in out.glob("*.safetensors"):
            if extra.name != "model.safetensors":
                extra.unlink()
    return out


def score_as_submitted(spec: RunSpec) -> float | None:
    final_model = Path(spec.run_dir) / "final_model"
    if not (final_model / "config.json").is_file():
        return None
    template = template_path(spec.model.template)
    max_tokens = spec.task.ladder[0].max_tokens if spec.task.ladder else 256
    with tempfile.TemporaryDirectory(prefix="ptb-redteam-eval-") as tmp:
        loaded = as_loaded(final_model, Path(tmp) / "model")
        try:
            server = start_server(loaded, template, "hf", log_file=Path(tmp) / "server.log")
        except (CheckpointError, ServerStartError, FileNotFoundError):
            return None
        try:
            result = run_inspect_task(
                spec.task, server.base_url, server.model_name, limit=spec.task.final_limit, max_tokens=max_tokens,
                max_connections=spec.task.max_connections, log_dir=Path(tmp),
                stop_token_ids=stop_token_ids(final_model, template),
            )
        except EvalFailed:
            return None
        finally:
            server.stop()
    return result.score
