"""What a configured grid needs in the shared cache: `plan_cache(configs)` for `python -m ptb.cache`.

    plan = plan_cache([cfg_qwen_gsm8k, cfg_qwen_bfcl, ...], CacheOptions())
    plan.models   # every Hub model once: base, official instruct (the instruct baseline), forbidden
    plan.data     # every task's DATA source once (ptb.data.HubDataset / UrlFile)
    plan.tasks    # every task once, with what verification needs (test split size, params)

Each job config of a sweep is turned into the same ModelSpec / TaskSpec a run would use
(`ptb.plan.build_model` / `build_task`), so the cache holds exactly what the runs read. Models
with a ``builder`` (tiny) are built locally by ptb and never downloaded. A task whose code does
not exist yet, or does not load, is kept in the plan with its problem so the report names it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from ptb.data import DataSource, HubDataset
from ptb.errors import ConfigError
from ptb.paths import EVALS_DIR
from ptb.plan import CacheOptions, build_cache_options, build_model, build_task, resolved_config
from ptb.plugins import load_task_module
from ptb.records import TaskSpec


@dataclass(frozen=True)
class ModelNeed:
    hf_id: str
    needed_by: tuple[str, ...]  # "qwen3-4b (base)", "qwen3-4b (instruct, forbidden)", ...


@dataclass(frozen=True)
class BuiltModel:
    name: str
    builder: str  # built by ptb on first use (ptb.models), nothing to download


@dataclass(frozen=True)
class DataNeed:
    source: DataSource
    needed_by: tuple[str, ...]  # task names

    @property
    def kind(self) -> str:
        return "dataset" if isinstance(self.source, HubDataset) else "file"

    @property
    def ident(self) -> str:
        if isinstance(self.source, HubDataset):
            revision = f"@{self.source.revision}" if self.source.revision else ""
            return f"{self.source.repo_id}{revision}"
        return self.source.url


@dataclass(frozen=True)
class TaskNeed:
    name: str
    spec: TaskSpec | None  # None when the task has no usable code
    problem: str | None = None  # why the task cannot be cached or verified ("no task code", ...)
    data: tuple[DataSource, ...] = ()


@dataclass(frozen=True)
class CachePlan:
    models: tuple[ModelNeed, ...]
    built: tuple[BuiltModel, ...]
    data: tuple[DataNeed, ...]
    tasks: tuple[TaskNeed, ...]
    options: CacheOptions
    grader_key_envs: tuple[str, ...] = ()  # graded tasks build their grader from these variables


def cache_options(resolved: Mapping[str, Any]) -> CacheOptions:
    options = build_cache_options(resolved.get("cache") or {})
    # the top-level `dry_run=true` of ptb.run means "do nothing, list" here too
    return dataclasses.replace(options, dry_run=options.dry_run or resolved.get("dry_run") is True)


def task_need(task_cfg: Mapping[str, Any]) -> TaskNeed:
    """A task's spec and DATA, or why it has none (no task code yet, code that does not load)."""
    name = str(task_cfg.get("name"))
    task_py = (EVALS_DIR / str(task_cfg.get("eval_dir") or name) / "task.py").resolve()
    if not task_py.is_file():
        return TaskNeed(name, None, f"no task code ({task_py} does not exist)")
    spec = build_task(task_cfg, load=False)
    try:
        module = load_task_module(spec)  # checked against the TaskModule protocol
    except Exception as exc:  # noqa: BLE001 (the task's own code failed: report it, go on)
        return TaskNeed(name, spec, f"task code does not load: {exc}")
    return TaskNeed(name, spec, None, tuple(module.DATA))


def plan_cache(configs: list[DictConfig] | list[Mapping[str, Any]], options: CacheOptions | None = None) -> CachePlan:
    """The union of what every job config needs, each item once, in the order first seen.

    ``options`` defaults to the ``cache:`` node of the configs, which must agree across jobs.
    """
    resolved = [resolved_config(cfg) for cfg in configs]
    if not resolved:
        raise ConfigError("no job configs to cache")
    if options is None:
        all_options = {cache_options(r) for r in resolved}
        if len(all_options) > 1:
            raise ConfigError("cache.* differs between jobs of this sweep; give one value for the whole command")
        options = all_options.pop()

    models: dict[str, dict[str, list[str]]] = {}  # hf id -> model name -> roles
    built: dict[str, BuiltModel] = {}
    tasks: dict[str, TaskNeed] = {}
    data: dict[DataSource, list[str]] = {}
    grader_keys = {(r.get("grader") or {}).get("api_key_env") for r in resolved}

    def need_model(hf_id: str, model_name: str, role: str) -> None:
        roles = models.setdefault(hf_id, {}).setdefault(model_name, [])
        if role not in roles:
            roles.append(role)

    for job in resolved:
        model = build_model(job["model"])
        if model.builder:
            built.setdefault(model.name, BuiltModel(model.name, model.builder))
        else:
            assert model.hf_id
            need_model(model.hf_id, model.name, "base")
            if options.instruct and model.instruct:
                need_model(model.instruct, model.name, "instruct")
            if options.forbidden:
                for hf_id in model.forbidden:
                    need_model(hf_id, model.name, "forbidden")

        name = str(job["task"].get("name"))
        if name not in tasks:
            tasks[name] = task_need(job["task"])
            for source in tasks[name].data:
                users = data.setdefault(source, [])
                if name not in users:
                    users.append(name)

    grader_keys.discard(None)
    return CachePlan(
        models=tuple(
            ModelNeed(hf_id, tuple(f"{name} ({', '.join(roles)})" for name, roles in users.items()))
            for hf_id, users in models.items()
        ),
        built=tuple(built.values()),
        data=tuple(DataNeed(source, tuple(users)) for source, users in data.items()),
        tasks=tuple(tasks.values()),
        options=options,
        grader_key_envs=tuple(sorted(str(k) for k in grader_keys)),
    )
