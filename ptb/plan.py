"""Plan time: from composed Hydra configs to frozen, fully resolved run plans.

    plans, settings = plan_sweep([cfg, ...])   # every job of a sweep, or raise ConfigError
    plan = build_plan(cfg)                       # one job: RunPlan (spec, judge, resolved config)
    settings = build_settings(cfg)               # what one driver shares: eval pool, tracking, Ray

Hydra already rejects unknown group options (`agent=nosuch` lists the known ones). Everything
else is checked here, before anything is scheduled: every node of the config becomes a typed
record (`ptb.records`) through `ptb.options`, so an unknown key, a value of the wrong type, one
out of range, an unknown plug-in name (sandbox, tracker, serve backend, tool parser, model
builder, judge check and its options, trace format), a missing agent folder, template, task
module or prompt is a `ConfigError` naming the value and what is accepted. `dry_run=true`
stops right after this and lists the runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, get_args

from omegaconf import DictConfig, OmegaConf, open_dict

from ptb import registry
from ptb.baseline.reference import BaselineKind
from ptb.egress.policy import HOST_PATTERN, REPO_ID, egress_policy
from ptb.errors import ConfigError
from ptb.options import build_options, check_value, option
from ptb.paths import AGENTS_DIR, EVALS_DIR, PROMPTS_DIR, TEMPLATES_DIR
from ptb.plugins import agent_trace_format, load_task_module, task_function
from ptb.records import (
    ENV_NAME,
    SAFE_NAME,
    SAFE_NAME_HINT,
    AgentSpec,
    Budget,
    ClusterConfig,
    EgressSpec,
    EvalPoolConfig,
    GraderConfig,
    JudgeConfig,
    ModelSpec,
    RunPlan,
    RunSpec,
    SweepSettings,
    TaskSpec,
    TrackingConfig,
)
from ptb.stages.judge.check import build_judge
from ptb.tasks.module import check_task_params
from ptb.tracking import build_tracking

__all__ = [
    "ConfigError",
    "build_agent",
    "build_model",
    "build_plan",
    "build_settings",
    "build_task",
    "check_job",
    "check_shared_settings",
    "plan_sweep",
    "print_plan",
    "resolved_config",
    "run_id_for",
]


# --------------------------------------------------------------------------- the top level


@dataclass(frozen=True)
class TopLevel:
    """The scalar keys of conf/config.yaml (the groups and nodes are built on their own)."""

    seed: int = option(0, ge=0)
    sweep: str = option("default", pattern=SAFE_NAME, hint=SAFE_NAME_HINT)
    results_dir: str = "results"
    cache_dir: str = "~/.cache/ptb"
    toolchain_dir: str = "~/.cache/ptb/toolchain"
    scratch_dir: str | None = None
    prompt_variant: str = option("default", pattern=SAFE_NAME, hint=SAFE_NAME_HINT)
    monitor_interval_s: float = option(5.0, gt=0)
    infra_retries: int = option(2, ge=0)
    progress_interval_s: float = option(10.0, gt=0)
    keep_workspace: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class SandboxConfig:
    kind: str = option("auto", choices=lambda: registry.names("sandbox"))


@dataclass(frozen=True)
class BaselineOptions:
    """``baseline:``: what `python -m ptb.baseline` measures."""

    kinds: tuple[BaselineKind, ...] = get_args(BaselineKind)
    force: bool = False


@dataclass(frozen=True)
class CacheOptions:
    """``cache:``: what `python -m ptb.cache` fetches."""

    dry_run: bool = False  # list what the grid needs and what is cached; download nothing
    instruct: bool = True  # each model's official instruct model (ptb.baseline's instruct row)
    forbidden: bool = True  # each model's forbidden ids (the judge compares weights with them)


# Every node of the composed config and what checks it; a key not listed is an error.
_NODES = ("agent", "model", "task", "budget", "sandbox", "eval", "judge", "tracking", "cluster", "grader", "baseline", "cache", "egress")


def resolved_config(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The job's own config as plain data; Hydra's node (present in a launcher) is left out."""
    if not isinstance(cfg, DictConfig):
        return {str(k): v for k, v in cfg.items() if k != "hydra"}
    job = cfg.copy()
    with open_dict(job):
        job.pop("hydra", None)
    try:
        resolved = OmegaConf.to_container(job, resolve=True, throw_on_missing=True)
    except Exception as exc:  # interpolation or missing-value errors from OmegaConf
        raise ConfigError(f"config does not resolve: {exc}") from exc
    assert isinstance(resolved, dict)
    return {str(k): v for k, v in resolved.items()}


def _top_level(resolved: Mapping[str, Any]) -> TopLevel:
    scalars = {k: v for k, v in resolved.items() if k not in _NODES}
    accepted = [f.name for f in dataclasses.fields(TopLevel)]
    unknown = sorted(set(scalars) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{unknown[0]} is not a ptb setting; top-level settings: {', '.join(accepted)}; "
            f"config nodes: {', '.join(_NODES)}"
        )
    return build_options(TopLevel, scalars, "")


def _node(resolved: Mapping[str, Any], name: str) -> Any:
    value = resolved.get(name)
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"{name}={value!r} is invalid: expected a config group (a mapping)")
    return value or {}


def _known(dir_: Path, pattern: str) -> list[str]:
    """Names of the files matching pattern, or of their folders when the pattern has one."""
    if "/" in pattern:
        return sorted(p.parent.name for p in dir_.glob(pattern))
    return sorted(p.stem for p in dir_.glob(pattern))


# --------------------------------------------------------------------------- run identity


def build_budget(cfg: Mapping[str, Any]) -> Budget:
    return build_options(Budget, cfg, "budget")


def build_agent(cfg: Mapping[str, Any]) -> AgentSpec:
    # null means "the default" for these three; the record holds the resolved value
    raw = {**cfg, **{key: cfg.get(key) or "" for key in ("path", "scaffold", "trace_format")}}
    agent = build_options(AgentSpec, raw, "agent")
    scaffold = agent.scaffold or agent.name
    path = Path(agent.path).expanduser().resolve() if agent.path else AGENTS_DIR / scaffold
    if not (path / "solve.sh").is_file():
        raise ConfigError(
            f"agent folder {path} has no solve.sh (agent.scaffold={cfg.get('scaffold')!r}, agent.path={cfg.get('path')!r}); "
            f"an agent is a folder with a solve.sh; built-in agent folders: {_known(AGENTS_DIR, '*/solve.sh')}"
        )
    name = agent.name
    # A folder outside agents/ is the user's own agent: it is named after its folder so two
    # different folders never share run ids.
    if agent.path and AGENTS_DIR not in path.parents:
        name = check_value(path.name, str, "agent.path (folder name)", {"pattern": SAFE_NAME, "hint": SAFE_NAME_HINT})
    for var in agent.env:
        check_value(var, str, f"agent.env (the variable {var!r})", {"pattern": ENV_NAME, "hint": "expected the name of an environment variable"})
    if agent.cli is not None and not agent.model:
        raise ConfigError(f"agent '{name}' runs the CLI {agent.cli.package} but agent.model is not set: give the vendor's model id")
    if agent.reasoning_effort and not (agent.cli and agent.cli.reasoning_effort):
        raise ConfigError(
            f"agent.reasoning_effort={agent.reasoning_effort!r} is invalid for agent '{name}': its scaffold "
            f"({scaffold}) takes no reasoning effort; set it to null"
        )
    if agent.cli is not None and not agent.network:
        raise ConfigError(f"agent '{name}' runs {agent.cli.package}, which needs its vendor's API: agent.network must be true")
    # Loading the folder's trace.py registers its parsers; null means the folder's own format.
    trace_format = agent.trace_format or agent_trace_format(path)
    registry.lookup("trace_parser", trace_format, where="agent.trace_format")
    return dataclasses.replace(agent, name=name, scaffold=path.name, path=str(path), trace_format=trace_format)


def build_model(cfg: Mapping[str, Any]) -> ModelSpec:
    model = build_options(ModelSpec, cfg, "model")
    if bool(model.hf_id) == bool(model.builder):
        raise ConfigError(
            f"model '{model.name}' needs exactly one of model.hf_id (a Hugging Face id) or model.builder "
            f"(one of {registry.names('model_builder')}); got hf_id={model.hf_id!r}, builder={model.builder!r}"
        )
    for key in ("template", "tool_template"):
        family = getattr(model, key)
        if family and not (TEMPLATES_DIR / f"{family}.jinja").is_file():
            raise ConfigError(
                f"model.{key}={family!r} has no evals/templates/{family}.jinja; known: {_known(TEMPLATES_DIR, '*.jinja')}"
            )
    return model


def build_task(cfg: Mapping[str, Any], *, load: bool = True) -> TaskSpec:
    """The task node as a TaskSpec; with ``load`` (always, but for `ptb.cache`, which reports a
    task whose code is missing instead of failing) its task.py is loaded and checked too."""
    task = build_options(TaskSpec, cfg, "task")
    eval_dir = EVALS_DIR / (task.eval_dir or task.name)
    if load and not (eval_dir / "task.py").is_file():
        raise ConfigError(
            f"task '{task.name}' has no {eval_dir}/task.py; tasks with code: {_known(EVALS_DIR, '*/task.py')}"
        )
    if not task.ladder:
        raise ConfigError(f"task.ladder of '{task.name}' is empty: give at least one {{max_tokens, attempts}} step")
    if "split" in task.params:
        raise ConfigError(f"task.params of '{task.name}' must not set 'split': the harness chooses the split")
    task = dataclasses.replace(task, eval_dir=str(eval_dir), benchmark=task.benchmark or task.name)
    if not load:
        return task
    load_task_module(task)  # the TaskModule protocol, once, here
    check_task_params(task_function(task), task.params, task.name)
    return task


def run_id_for(agent: str, model: str, task: str, hours: float, seed: int, prompt_variant: str) -> str:
    """Stable, readable id: the same (agent, model, task, budget, seed, variant) → same folder."""
    run_id = f"{agent}__{model}__{task}__{hours:g}h__s{seed}"
    return run_id if prompt_variant == "default" else f"{run_id}__{prompt_variant}"


def sweep_dir_of(results_dir: str, sweep: str) -> Path:
    return Path(results_dir).expanduser().resolve() / sweep


# --------------------------------------------------------------------------- shared settings


def build_eval_pool(cfg: Mapping[str, Any]) -> EvalPoolConfig:
    return build_options(EvalPoolConfig, cfg, "eval")


def build_cluster(cfg: Mapping[str, Any]) -> ClusterConfig:
    return build_options(ClusterConfig, cfg, "cluster")


def build_egress(cfg: Mapping[str, Any]) -> EgressSpec:
    egress = build_options(EgressSpec, cfg, "egress")
    for host, target in egress.resolve.items():
        check_value(host, str, "egress.resolve (a host name)", {"pattern": r"[A-Za-z0-9.-]+", "hint": "expected a host name"})
        check_value(target, str, f"egress.resolve.{host}", {"pattern": r"[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}", "hint": "expected address:port"})
    for key in ("deny_hosts", "allow_hosts"):
        for i, pattern in enumerate(getattr(egress, key)):
            check_value(pattern, str, f"egress.{key}[{i}]", {"pattern": HOST_PATTERN, "hint": "expected a host name ('*' matches any characters)"})
    for i, repo_id in enumerate(egress.deny_models):
        check_value(repo_id, str, f"egress.deny_models[{i}]", {"pattern": REPO_ID, "hint": "expected a Hugging Face repo id such as 'Qwen/Qwen3-4B'"})
    return egress


def build_grader(cfg: Mapping[str, Any]) -> GraderConfig:
    return build_options(GraderConfig, cfg, "grader")


def build_baseline_options(cfg: Mapping[str, Any]) -> BaselineOptions:
    return build_options(BaselineOptions, cfg, "baseline")


def build_cache_options(cfg: Mapping[str, Any]) -> CacheOptions:
    return build_options(CacheOptions, cfg, "cache")


@dataclass(frozen=True)
class JobConfig:
    """Every node of one job's config, validated: what every ptb command plans from."""

    top: TopLevel
    agent: AgentSpec
    model: ModelSpec
    task: TaskSpec
    budget: Budget
    sandbox: SandboxConfig
    eval: EvalPoolConfig
    judge: JudgeConfig
    tracking: TrackingConfig
    cluster: ClusterConfig
    grader: GraderConfig
    baseline: BaselineOptions
    cache: CacheOptions
    egress: EgressSpec
    resolved: Mapping[str, Any]  # the resolved config itself (recorded, never interpreted)


def check_job(cfg: DictConfig | Mapping[str, Any]) -> JobConfig:
    """Every node of one composed job config checked (the first error raised as ConfigError)."""
    resolved = resolved_config(cfg)
    top = _top_level(resolved)
    if not (PROMPTS_DIR / f"{top.prompt_variant}.md").is_file():
        raise ConfigError(
            f"prompt_variant={top.prompt_variant!r} has no ptb/prompts/{top.prompt_variant}.md; "
            f"known: {_known(PROMPTS_DIR, '*.md')}"
        )
    return JobConfig(
        top=top,
        agent=build_agent(_node(resolved, "agent")),
        model=build_model(_node(resolved, "model")),
        task=build_task(_node(resolved, "task")),
        budget=build_budget(_node(resolved, "budget")),
        sandbox=build_options(SandboxConfig, _node(resolved, "sandbox"), "sandbox"),
        eval=build_eval_pool(_node(resolved, "eval")),
        judge=build_judge(_node(resolved, "judge")),
        tracking=build_tracking(_node(resolved, "tracking")),
        cluster=build_cluster(_node(resolved, "cluster")),
        grader=build_grader(_node(resolved, "grader")),
        baseline=build_baseline_options(_node(resolved, "baseline")),
        cache=build_cache_options(_node(resolved, "cache")),
        egress=build_egress(_node(resolved, "egress")),
        resolved=resolved,
    )


def build_plan(cfg: DictConfig | Mapping[str, Any]) -> RunPlan:
    """Validate one composed job config and turn it into a RunPlan."""
    from ptb.stages.judge.checks.model_provenance import warn_agent_folder

    c = check_job(cfg)
    warn_agent_folder(c.agent, c.judge)  # weight files the agent could submit: warned, or refused
    sweep_dir = sweep_dir_of(c.top.results_dir, c.top.sweep)
    run_id = run_id_for(c.agent.name, c.model.name, c.task.name, c.budget.hours, c.top.seed, c.top.prompt_variant)
    scratch_root = Path(c.top.scratch_dir).expanduser().resolve() / c.top.sweep if c.top.scratch_dir else sweep_dir / ".scratch"
    spec = RunSpec(
        run_id=run_id,
        sweep=c.top.sweep,
        agent=c.agent,
        model=c.model,
        task=c.task,
        budget=c.budget,
        seed=c.top.seed,
        prompt_variant=c.top.prompt_variant,
        sandbox=c.sandbox.kind,
        run_dir=str(sweep_dir / run_id),
        scratch_dir=str(scratch_root / run_id),
        cache_dir=str(Path(c.top.cache_dir).expanduser().resolve()),
        toolchain_dir=str(Path(c.top.toolchain_dir).expanduser().resolve()),
        egress=c.egress,
        monitor_interval_s=c.top.monitor_interval_s,
        infra_retries=c.top.infra_retries,
    )
    egress_policy(spec)  # the egress policy's own checks (they need the agent and the model)
    return RunPlan(spec=spec, judge=c.judge, config_json=json.dumps(c.resolved), keep_workspace=c.top.keep_workspace)


def build_settings(cfg: DictConfig | Mapping[str, Any] | JobConfig) -> SweepSettings:
    c = cfg if isinstance(cfg, JobConfig) else check_job(cfg)
    return SweepSettings(
        eval=c.eval,
        tracking=c.tracking,
        cluster=c.cluster,
        results_dir=str(Path(c.top.results_dir).expanduser().resolve()),
        progress_interval_s=c.top.progress_interval_s,
        grader_key_env=c.grader.api_key_env,
    )


def check_shared_settings(all_settings: list[SweepSettings]) -> SweepSettings:
    """Every job of one sweep shares one Ray, one eval pool and one tracker."""
    first = all_settings[0]
    for other in all_settings[1:]:
        for key in ("eval", "tracking", "cluster", "grader_key_env"):
            if getattr(other, key) != getattr(first, key):
                raise ConfigError(
                    f"'{key}' differs between jobs of this sweep; one driver runs one {key} config: "
                    f"sweep over it in separate commands"
                )
    return first


def plan_sweep(configs: list[DictConfig] | list[Mapping[str, Any]]) -> tuple[list[RunPlan], SweepSettings]:
    """Every job of a sweep validated and planned, or the first ConfigError; no two jobs may
    map to the same run folder."""
    if not configs:
        raise ConfigError("no jobs to run")
    plans = [build_plan(cfg) for cfg in configs]
    settings = check_shared_settings([build_settings(cfg) for cfg in configs])
    ids = [p.spec.run_id for p in plans]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(
            f"several jobs map to the same run id {duplicates}: a run id is made of agent, "
            f"model, task, budget.hours, seed and prompt_variant; vary one of those"
        )
    return plans, settings


def is_dry_run(cfg: DictConfig | Mapping[str, Any]) -> bool:
    return bool(cfg.get("dry_run"))


def _agent_line(spec: RunSpec) -> str:
    from ptb.agents.toolchain import find_cli, install_hint

    agent = spec.agent
    if agent.cli is None:
        return f"{agent.scaffold} (offline), trace {agent.trace_format}"
    found = find_cli(spec.toolchain_dir, agent.cli)
    state = f"{agent.cli.bin} {found.version}" if found else f"{agent.cli.package}@{agent.cli.version} NOT INSTALLED ({install_hint(agent.name)})"
    via = f" via {agent.base_url}" if agent.base_url else ""
    return f"{agent.scaffold} {agent.model}{via} [{state}], trace {agent.trace_format}"


def _judge_line(judge: JudgeConfig) -> str:
    """The checks, and each LLM judge with its model, votes and whether its key variable is set
    here (its name only, never its value)."""
    import os

    parts = [c.name for c in judge.checks]
    for j in judge.llm:
        key = "no key" if j.api_key_env is None else f"${j.api_key_env}{'' if os.environ.get(j.api_key_env) else ' NOT SET'}"
        via = f" via {j.base_url}" if j.base_url else ""
        parts.append(f"llm.{j.name} ({j.model}{via}, {j.votes} vote{'s' if j.votes > 1 else ''}, {key})")
    return ", ".join(parts) or "none"


def print_plan(plans: list[RunPlan], out: TextIO | None = None) -> None:
    """`dry_run=true`: what a command would run, one line per run, and nothing else."""
    out = out or sys.stdout
    for plan in plans:
        s = plan.spec
        out.write(
            f"{s.run_id}  [{s.budget.hours:g} h, {s.budget.gpus} GPU, {s.budget.cpus:g} CPU; "
            f"model {s.model.hf_id or s.model.builder}; task {s.task.name} (w {s.task.weight:g}); "
            f"agent {_agent_line(s)}; judge {_judge_line(plan.judge)}]"
            f"  -> {s.run_dir}\n"
        )
    out.write(f"[ptb] dry run: {len(plans)} run(s) validated, nothing started\n")
