"""ptb.registry: one registry for every plug-in kind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ptb import registry
from ptb.errors import ConfigError


def test_every_kind_finds_its_built_in_plug_ins_by_importing_its_home_only() -> None:
    """In a fresh process nothing but ptb.registry is imported: each kind's home module (the
    judge's checks package discovers its modules) registers the built-in plug-ins."""
    code = (
        "from ptb import registry\n"
        "for kind in registry.KINDS: print(kind, ','.join(registry.names(kind)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    found = dict(line.split(" ", 1) for line in out.splitlines())
    assert found == {
        "sandbox": "auto,bwrap,none",
        "tracker": "none,wandb",
        "serve_backend": "hf,vllm",
        "tool_parser": "hermes,pythonic",
        "model_builder": "tiny",
        "judge_check": "egress_policy,harness_unchanged,model_identity,model_provenance,test_overlap,tokenizer_unchanged",
        "trace_parser": "plain",
    }


def test_an_unknown_name_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"sandbox.kind='docker' is unknown; accepted: \['auto', 'bwrap', 'none'\]"):
        registry.lookup("sandbox", "docker")
    with pytest.raises(ConfigError, match=r"eval.backend='tgi' is unknown"):
        registry.load("serve_backend", "tgi", where="eval.backend")
    with pytest.raises(ValueError, match="unknown plug-in kind 'widget'"):
        registry.names("widget")  # type: ignore[arg-type]


def test_a_lazy_plug_in_is_imported_only_when_loaded() -> None:
    loaded: list[str] = []

    @registry.register("tracker", "lazy_for_tests", lazy=True)
    def _factory():
        loaded.append("imported")
        return "the tracker class"

    assert "lazy_for_tests" in registry.names("tracker") and loaded == []
    assert registry.lookup("tracker", "lazy_for_tests").lazy and loaded == []
    assert registry.load("tracker", "lazy_for_tests") == "the tracker class" and loaded == ["imported"]


def test_wandb_is_not_imported_to_plan_with_it() -> None:
    code = (
        "import sys\n"
        "from ptb.tracking import build_tracking\n"
        "build_tracking({'kind': 'wandb', 'mode': 'offline'})\n"
        "print('wandb' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "False"


def test_the_same_name_from_another_module_is_refused() -> None:
    def first(text):
        return text

    def second(text):
        return text

    second.__module__ = "somebody_elses_plugins"
    registry.register("tool_parser", "twice_for_tests")(first)
    registry.register("tool_parser", "twice_for_tests")(first)  # the same module again: fine (reloads)
    with pytest.raises(ConfigError, match="tool_parser plug-in 'twice_for_tests' is registered twice"):
        registry.register("tool_parser", "twice_for_tests")(second)
    assert registry.load("tool_parser", "twice_for_tests") is first
    assert "twice_for_tests" in registry.registered_by("tool_parser", first.__module__)
