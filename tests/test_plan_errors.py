"""Every wrong value, in every group and option, fails at plan time: one ``ptb: error:`` line
that names it, exit 2, and nothing scheduled (no Ray, no run folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ptb import run as ptb_run
from ptb.paths import CONF_DIR

# The groups' options whose keys differ from the default's (tracking=none has no keys, and so on).
COMPOSITIONS = [
    (),
    ("task=healthbench",),  # task.params
    ("model=gemma3-4b", "task=bfcl"),  # tool_template, forbidden
    ("eval=vllm", "sandbox=bwrap", "tracking=none"),
    ("agent=gpt52",),  # a real agent: cli, price
]
NOT_CHECKED = {"hydra"}  # Hydra's own node (its settings are Hydra's to check)


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


def leaves(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """(override key, key as ptb names it, value) of every leaf, list items included."""
    found: list[tuple[str, str, Any]] = []
    if isinstance(node, dict):
        if path and not node:
            return [(path, path.replace(".[", "["), node)]
        for key, value in node.items():
            found += leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        found.append((path, path, node))  # the list itself, then each item's keys
        for i, value in enumerate(node):
            for override, named, leaf in leaves(value, f"{path}.{i}"):
                found.append((override, named.replace(f"{path}.{i}", f"{path}[{i}]"), leaf))
    else:
        found.append((path, path, node))
    return found


def wrong_value(value: Any) -> str | None:
    """An override value of the wrong type for a leaf holding ``value`` (None: cannot tell)."""
    if isinstance(value, bool):
        return "sometimes"
    if isinstance(value, (int, float)):
        return "lots"
    if isinstance(value, str):
        return "[1,2]"
    if isinstance(value, list):
        return "7"
    if isinstance(value, dict):
        return "7"
    return "[[1]]"  # null: no scalar, list of strings or mapping is a nested list


def wrong_value_cases() -> list:
    cases, seen = [], set()
    for composition in COMPOSITIONS:
        resolved = OmegaConf.to_container(compose_cfg(*composition), resolve=False)
        for override, named, value in leaves(resolved):
            if override.split(".")[0] in NOT_CHECKED or override in seen:
                continue
            seen.add(override)
            cases.append(pytest.param(composition, f"{override}={wrong_value(value)}", f"{named}=", id=override))
    return cases


# Right types, wrong values: unknown names, unknown keys, bounds, missing files.
SEMANTIC = [
    ("budget.hours=-1", "budget.hours=-1 is invalid: expected a number > 0"),
    ("budget.gpus=-1", "budget.gpus=-1 is invalid: expected a whole number >= 0"),
    ("budget.grace_seconds=-5", "budget.grace_seconds=-5 is invalid"),
    ("seed=-3", "seed=-3 is invalid"),
    ("infra_retries=-1", "infra_retries=-1 is invalid: expected a whole number >= 0"),
    ("monitor_interval_s=0", "monitor_interval_s=0 is invalid: expected a number > 0"),
    ("progress_interval_s=0", "progress_interval_s=0 is invalid"),
    ("sweep=a/b", "sweep='a/b' is invalid: use letters, digits"),
    ("prompt_variant=nosuch", "prompt_variant='nosuch' has no ptb/prompts/nosuch.md"),
    ("+budgte.hours=1", "budgte is not a ptb setting"),
    ("+colour=red", "colour is not a ptb setting"),
    ("agent.name=a/b", "agent.name='a/b' is invalid"),
    ("agent.path=/nonexistent/folder", "has no solve.sh"),
    # the accepted list also names the formats of agent folders loaded so far ('claude_stream_json', ...)
    ("agent.trace_format=claude_stream_jsn", "agent.trace_format='claude_stream_jsn' is unknown; accepted: ["),
    ("agent.env_passthrough=[NOT-A-VAR]", "agent.env_passthrough[0]='NOT-A-VAR' is invalid: expected the name of an environment variable"),
    ("+agent.env.BAD-NAME=1", "agent.env (the variable 'BAD-NAME')="),
    ("+agent.envs={}", "agent.envs is unknown; accepted: name, scaffold, path, model, cli, key_env, base_url, reasoning_effort, reprompt"),
    ("agent.scaffold=nosuch", "agents/nosuch has no solve.sh"),
    ("agent.reasoning_effort=high", "agent.reasoning_effort='high' is invalid for agent 'recipe_sft'"),
    ("agent.reprompt_min_minutes=0", "agent.reprompt_min_minutes=0 is invalid: expected a number > 0"),
    ("agent.key_env=MY-KEY", "agent.key_env='MY-KEY' is invalid: expected the name of an environment variable"),
    ("agent.base_url=gateway:8000", "agent.base_url='gateway:8000' is invalid: expected an http(s) URL"),
    ("+agent.price.input=-1", "agent.price.input=-1 is invalid: expected a number >= 0"),
    ("agent=opus agent.model=null", "runs the CLI @anthropic-ai/claude-code but agent.model is not set"),
    ("agent=opus agent.network=false", "agent.network must be true"),
    ("agent=opus agent.reasoning_effort=high", "its scaffold (claude_code) takes no reasoning effort"),
    ("agent=gpt52 agent.reasoning_effort=low", "agent.reasoning_effort='low' is invalid: expected one of ['medium', 'high', 'xhigh']"),
    ("agent=gpt52 agent.cli.version=latest", "agent.cli.version='latest' is invalid: expected an exact version"),
    ("agent=gpt52 agent.cli.package=Not_A_Package", "agent.cli.package='Not_A_Package' is invalid: expected an npm package name"),
    ("agent=gpt52 +agent.cli.registry=x", "agent.cli.registry is unknown; accepted: package, version, bin"),
    ("agent=gpt52 +agent.price.dollars=1", "agent.price.dollars is unknown; accepted: input, output, cached_input"),
    ("++egress.resolve={api.example.com:nowhere}", "egress.resolve.api.example.com='nowhere' is invalid: expected address:port"),
    ("+egress.proxy=x", "egress.proxy is unknown; accepted: resolve"),
    ("model.builder=huge", "model.builder='huge' is unknown; accepted: ['tiny'"),
    ("model.hf_id=org/x", "needs exactly one of model.hf_id"),
    ("model.template=nosuch", "model.template='nosuch' has no evals/templates/nosuch.jinja"),
    ("model.tool_template=nosuch", "model.tool_template='nosuch' has no evals/templates/nosuch.jinja"),
    ("model.tool_parser=json", "model.tool_parser='json' is unknown; accepted: ['hermes', 'pythonic'] (or null)"),
    ("+model.templat=chatml", "model.templat is unknown"),
    ("task.weight=0", "task.weight=0 is invalid: expected a number > 0"),
    ("task.samples=0", "task.samples=0 is invalid: expected a whole number >= 1"),
    ("task.default_limit=0", "task.default_limit=0 is invalid"),
    ("task.max_connections=0", "task.max_connections=0 is invalid"),
    ("task.ladder=[]", "task.ladder of 'arith' is empty"),
    ("task.ladder.0.attempts=0", "task.ladder[0].attempts=0 is invalid: expected a whole number >= 1"),
    ("+task.ladder.0.tokens=5", "task.ladder[0].tokens is unknown; accepted: max_tokens, attempts"),
    ("task.eval_dir=nosuch", "tasks with code: ['aime2025'"),
    ("+task.params.split=train", "task.params of 'arith' must not set 'split'"),
    ("+task.params.level=3", "task.params.level is unknown: the @task function arith() accepts"),
    ("sandbox.kind=docker", "sandbox.kind='docker' is unknown; accepted: ['auto', 'bwrap', 'none']"),
    ("+sandbox.image=x", "sandbox.image is unknown; accepted: kind"),
    ("eval.backend=tgi", "eval.backend='tgi' is unknown; accepted: ['hf', 'vllm']"),
    ("eval.workers=0", "eval.workers=0 is invalid: expected a whole number >= 1"),
    ("eval.gpus_per_worker=-1", "eval.gpus_per_worker=-1 is invalid"),
    ("eval.cpus_per_worker=0", "eval.cpus_per_worker=0 is invalid"),
    ("+eval.worker=2", "eval.worker is unknown; accepted: backend, workers"),
    ("+judge.checks.llm_judge={}", "unknown judge check(s) ['llm_judge'] in judge.checks; known checks: ['egress_policy', 'harness_unchanged'"),
    ("+judge.checks.test_overlap.ngrams=8", "judge.checks.test_overlap.ngrams is unknown; accepted: flag, ngram, item_coverage"),
    ("judge.checks.test_overlap.item_coverage=2", "judge.checks.test_overlap.item_coverage=2 is invalid: expected a number > 0 and <= 1"),
    ("+judge.checks.model_identity.min_median_cosine=5", "judge.checks.model_identity.min_median_cosine=5 is invalid"),
    ("+judge.checks.harness_unchanged.strict=true", "judge.checks.harness_unchanged.strict is unknown; accepted: flag"),
    ("+judge.votes=3", "judge.votes is unknown; accepted: judge.checks"),
    ("tracking.kind=mlflow", "tracking.kind='mlflow' is unknown; accepted: ['none', 'wandb']"),
    ("tracking.mode=cloud", "tracking.mode='cloud' is invalid: expected one of ['auto', 'online', 'offline', 'disabled']"),
    ("+tracking.projekt=x", "tracking.projekt is unknown; accepted: project, entity, mode, tags"),
    ("cluster.num_cpus=0", "cluster.num_cpus=0 is invalid: expected a whole number >= 1"),
    ("cluster.num_gpus=-1", "cluster.num_gpus=-1 is invalid"),
    ("+cluster.adress=auto", "cluster.adress is unknown; accepted: address, num_cpus, num_gpus, temp_dir"),
    ("grader.model=gpt-5-mini", "grader.model='gpt-5-mini' is invalid: expected an inspect-ai model name"),
    ("grader.base_url=judge-host:8000", "grader.base_url='judge-host:8000' is invalid: expected an http(s) URL"),
    ("grader.api_key_env=MY-KEY", "grader.api_key_env='MY-KEY' is invalid: expected the name of an environment variable"),
    ("baseline.kinds=[chat]", "baseline.kinds[0]='chat' is invalid: expected one of ['base', 'instruct']"),
    ("+cache.instruc=false", "cache.instruc is unknown; accepted: dry_run, instruct, forbidden"),
]


@pytest.fixture
def nothing_scheduled(monkeypatch):
    """Starting Ray or the sweep would fail the test: a bad value must be caught before."""
    import ray

    import ptb.sweep

    def refuse(*args, **kwargs):
        raise AssertionError("something was scheduled for a config that has a wrong value")

    monkeypatch.setattr(ptb.sweep, "run_sweep", refuse)
    monkeypatch.setattr(ray, "init", refuse)


def error_line(cfg, capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        ptb_run.launch([cfg])
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ptb: error: ")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("composition", "override", "needle"), wrong_value_cases())
def test_a_value_of_the_wrong_type_anywhere_is_named(composition, override, needle, tmp_path, capsys, nothing_scheduled):
    results = [] if override.startswith("results_dir=") else [f"results_dir={tmp_path}/r"]
    cfg = compose_cfg(*composition, *results, override)
    line = error_line(cfg, capsys)
    assert needle in line, line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("override", "needle"), SEMANTIC, ids=[o for o, _ in SEMANTIC])
def test_a_wrong_value_anywhere_is_named_with_what_is_accepted(override, needle, tmp_path, capsys, nothing_scheduled):
    cfg = compose_cfg(*override.split(" "), f"results_dir={tmp_path}/r")
    line = error_line(cfg, capsys)
    assert needle in line, line
    assert not (tmp_path / "r").exists()


def test_every_leaf_of_every_node_is_covered() -> None:
    """The wrong-type cases reach every node of the config (a new node gets cases for free)."""
    nodes = {case.values[1].split(".")[0].split("=")[0] for case in wrong_value_cases()}
    assert nodes >= {"agent", "model", "task", "budget", "sandbox", "eval", "judge", "tracking", "cluster",
                     "grader", "baseline", "cache", "egress", "seed", "sweep", "results_dir", "dry_run", "keep_workspace"}


@pytest.mark.parametrize(
    "override, needle",
    [
        ("+judge.checks.llm_judge={}", "unknown judge check(s) ['llm_judge']"),
        ("+judge.checks.test_overlap.ngrams=8", "judge.checks.test_overlap.ngrams is unknown"),
        ("agent.trace_format=claude_stream_jsn", "agent.trace_format='claude_stream_jsn' is unknown"),
    ],
)
def test_the_cli_dry_run_catches_judge_and_trace_errors_of_any_job(override, needle, tmp_path: Path) -> None:
    """Through the real CLI, in a two-job sweep with dry_run=true: exit 2, no job listed, nothing made."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.run", "-m", "agent=noop", "seed=0,1", override, "dry_run=true", f"results_dir={tmp_path}/r"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"ptb: error: {needle}" in proc.stderr
    assert "dry run" not in proc.stdout
    assert not [p for p in (tmp_path / "r" / "default").glob("*") if p.name != ".hydra"]
