"""Shared fixtures: the tiny base model (built once per session), the arith task, a greedy scorer.

The tiny model is built into ``$PTB_TEST_CACHE`` when that is set (so CI and repeated local
runs build it once), else into a session temp folder.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the Hugging Face Hub

from collections.abc import Callable
from pathlib import Path

import pytest

from ptb.models import resolve_base_model
from ptb.paths import EVALS_DIR, TEMPLATES_DIR
from ptb.plugins import load_task_module
from ptb.records import LadderStep, ModelSpec, TaskSpec

TINY = ModelSpec(name="tiny", template="chatml", builder="tiny")


@pytest.fixture(autouse=True)
def registered_plugins():
    """Plug-ins a test registers (a fake builder, a check that raises) are gone after it, so
    the registry's name lists that other tests assert on stay the real ones."""
    from ptb import plugins, registry

    for kind in registry.KINDS:  # the built-in plug-ins first, so they are part of what is kept
        registry.names(kind)
    before = dict(registry._plugins)
    loaded = dict(plugins._loaded)  # a file loaded in a test registers again when loaded next
    yield
    registry._plugins.clear()
    registry._plugins.update(before)
    plugins._loaded.clear()
    plugins._loaded.update(loaded)


@pytest.fixture(scope="session", autouse=True)
def fixture_data_caches(tmp_path_factory) -> tuple[Path, Path]:
    """Every test reads benchmark data from fixture caches (tests/fixtures/hub, tests/fixtures/urls)
    built once per session: HF_HUB_CACHE and PTB_DATA_DIR point at them, so the tasks' real
    loading code runs offline, in the test process and in Ray workers alike."""
    from fixture_data import build_fixture_caches

    hub_cache, files = build_fixture_caches(tmp_path_factory.mktemp("fixture-data"))
    os.environ["HF_HUB_CACHE"] = str(hub_cache)
    os.environ["PTB_DATA_DIR"] = str(files)
    return hub_cache, files


@pytest.fixture
def empty_data_caches(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """HF_HUB_CACHE and PTB_DATA_DIR pointed at empty folders, for this test only: what a compute
    node sees before `python -m ptb.cache` filled the shared cache (ptb reads both at call time)."""
    hub_cache, files = tmp_path / "empty-hub", tmp_path / "empty-files"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("PTB_DATA_DIR", str(files))
    return hub_cache, files


@pytest.fixture(scope="session")
def ptb_test_cache(tmp_path_factory) -> Path:
    """The harness cache the tests share: <cache>/models/tiny-<version>/ lives here."""
    configured = os.environ.get("PTB_TEST_CACHE")
    return Path(configured).expanduser() if configured else tmp_path_factory.mktemp("ptb-cache")


@pytest.fixture(scope="session")
def tiny_model_dir(ptb_test_cache) -> Path:
    """The tiny base model's folder (config, weights, tokenizer, ptb_model.json)."""
    return resolve_base_model(TINY, ptb_test_cache)


@pytest.fixture(scope="session")
def tiny_model_spec() -> ModelSpec:
    return TINY


@pytest.fixture(scope="session")
def arith_task_spec() -> TaskSpec:
    return TaskSpec(
        name="arith",
        benchmark="Arith (synthetic grade-school arithmetic word problems)",
        weight=1.0,
        eval_dir=str(EVALS_DIR / "arith"),
        ladder=(LadderStep(96, 2), LadderStep(64, 1)),
        default_limit=100,
    )


@pytest.fixture(scope="session")
def arith_module(arith_task_spec):
    """evals/arith/task.py, loaded by path as the harness loads it."""
    return load_task_module(arith_task_spec)


@pytest.fixture(scope="session")
def arith_greedy_accuracy(arith_module) -> Callable[..., float]:
    """accuracy(model_dir, limit=200): greedy HF generation on the arith test split, prompted
    through the harness ChatML template and scored with the task's own answer extraction."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    template = (TEMPLATES_DIR / "chatml.jinja").read_text()

    def accuracy(model_dir: str | Path, limit: int = 200, max_new_tokens: int = 64) -> float:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        tokenizer.padding_side = "left"
        model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
        items = arith_module.items("test")[:limit]
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": arith_module.prompt(item.question)}],
                chat_template=template, add_generation_prompt=True, tokenize=False,
            )
            for item in items
        ]
        correct = 0
        for start in range(0, len(prompts), 50):
            batch = tokenizer(prompts[start : start + 50], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
            replies = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            for reply, item in zip(replies, items[start : start + 50], strict=True):
                correct += arith_module.extract_answer(reply) == item.answer
        return correct / len(items)

    return accuracy
