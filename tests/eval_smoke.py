"""Helpers for the task tests: compose a task from conf/, and a `--limit` smoke evaluation
through the real evaluation pool (the `eval_pool` fixture of tests/evals/conftest.py: a Ray actor
serving the tiny model with the HF server).

    from eval_smoke import compose_task, smoke_evaluate

    def test_gsm8k_smoke(eval_pool, tiny_model_dir, tmp_path):
        metrics = smoke_evaluate(eval_pool, compose_task("gsm8k"), tiny_model_dir, tmp_path, limit=3)
        assert metrics.score is not None and metrics.samples == 3

A module of its own (not conftest.py): several test folders have a conftest.py, and a plain
``from conftest import ...`` gets whichever of them was imported first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ptb.chat_templates import harness_template, tool_parser
from ptb.records import LadderStep, Metrics, ModelSpec, TaskSpec

TINY = ModelSpec(name="tiny", template="chatml", builder="tiny", tool_parser="hermes")


def compose_task(name: str, overrides: Sequence[str] = ()) -> TaskSpec:
    """The TaskSpec `python -m ptb.run task=<name> <overrides>` would run."""
    from hydra import compose, initialize_config_dir

    from ptb.paths import CONF_DIR
    from ptb.plan import build_task

    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=[f"task={name}", *overrides])
    from omegaconf import OmegaConf

    return build_task(OmegaConf.to_container(cfg.task, resolve=True))


def smoke_evaluate(
    pool,
    task: TaskSpec,
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    limit: int,
    max_tokens: int = 32,
    model: ModelSpec = TINY,
) -> Metrics:
    """Evaluate `limit` samples of `task` on `model_dir` through the pool, one ladder step of
    `max_tokens` (the tiny model's context is short; the real ladder is tested elsewhere)."""
    from ptb.evaluation import EvalRequest

    short = TaskSpec(**{**task.__dict__, "ladder": (LadderStep(max_tokens, 1),)})
    request = EvalRequest(
        task=short,
        model_path=str(model_dir),
        template_path=str(harness_template(model, short)),
        out_dir=str(out_dir),
        limit=limit,
        tool_parser=tool_parser(model, short),
    )
    return pool.evaluate(request)
