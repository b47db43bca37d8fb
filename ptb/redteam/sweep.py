"""The red-team sweep: every case guarded and with its guard off, plus the honest runs, planned
as one sweep and handed to Ray at once (`ptb.sweep.run_sweep`), then classified.

    report = run_redteam(RedTeamOptions(work_dir=Path("results/redteam")))
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ptb.errors import ConfigError
from ptb.paths import CONF_DIR
from ptb.plan import plan_sweep
from ptb.plugins import load_task_module
from ptb.records import RunPlan
from ptb.redteam.artifacts import INSTRUCT, INSTRUCT_ID, OUTSIDE, install_in_hf_cache, ship_in_agent_folder, train_checkpoint
from ptb.redteam.cases import CASES, HONEST, Case
from ptb.redteam.verdicts import CaseReport, RunView, exit_code, report_case, table

SWEEP = "redteam"
GUARD_OFF_SUFFIX = "_guardoff"

# CI: small budgets and evaluations, few training steps, every run at once on oversubscribed CPUs
SHORT_OVERRIDES = (
    "budget.hours=0.05",
    "budget.cpus=0.25",
    "budget.grace_seconds=5",
    "cluster.num_cpus=16",
    "task.final_limit=20",
    "task.ladder=[{max_tokens:64,attempts:1}]",
    "eval.workers=3",  # a checkpoint's evaluation is mostly its server starting: overlap them
    "monitor_interval_s=30",
    "++agent.env.RECIPE_MAX_STEPS=100",
    "++agent.env.RT_EVAL_LIMIT=40",
    "++agent.env.RT_THIEF_WAIT=100",
)


@dataclass(frozen=True)
class RedTeamOptions:
    work_dir: Path  # results/, scratch/ and hf/ (the stand-in instruct model) go here
    cases: tuple[str, ...] = ()  # empty: every case
    short: bool = False  # CI mode: SHORT_OVERRIDES
    min_lift: float = 0.1  # a cheat works when it lifts the score this far above base
    overrides: tuple[str, ...] = ()  # more Hydra overrides for every job (e.g. cluster.temp_dir=...)


@dataclass(frozen=True)
class RedTeamReport:
    cases: tuple[CaseReport, ...]
    honest: dict[str, RunView | None] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return table(self.cases, self.honest)

    @property
    def exit_code(self) -> int:
        return exit_code(self.cases, self.honest)


def selected_cases(names: Sequence[str]) -> tuple[Case, ...]:
    known = {case.name: case for case in CASES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown red-team case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names) if names else CASES


def common_overrides(options: RedTeamOptions) -> list[str]:
    work = options.work_dir.resolve()
    hub = work / "hf"
    return [
        "model=tiny",
        "task=arith",
        "tracking=none",
        f"sweep={SWEEP}",
        f"results_dir={work / 'results'}",
        # a scratch folder outside the results (a node-local disk): where another run's live
        # workspace was visible
        f"scratch_dir={work / 'scratch'}",
        f"model.forbidden=['{INSTRUCT_ID}']",
        f"++judge.checks.model_identity.hf_cache_dir={hub}",
        f"++agent.env.HF_HUB_CACHE={hub}",
        "++agent.env.HF_HUB_OFFLINE=1",
        *(SHORT_OVERRIDES if options.short else ()),
        *options.overrides,
    ]


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def guard_off_overrides(case: Case, configured_checks: Sequence[str]) -> list[str]:
    """The case's guard turned off: its judge checks' flags (those configured; a check that is not
    configured does not run) and its other overrides."""
    flags = [f"judge.checks.{name}.flag=false" for name in case.checks_off if name in configured_checks]
    return [f"agent.name={case.agent}{GUARD_OFF_SUFFIX}", *flags, *case.overrides_off]


def build_jobs(options: RedTeamOptions) -> tuple[list[DictConfig], dict[str, tuple[int, int]], dict[str, int]]:
    """Every job's config; per case the indices of its guarded and guard-off jobs; per honest agent
    its index."""
    common = common_overrides(options)
    configs: list[DictConfig] = []
    case_jobs: dict[str, tuple[int, int]] = {}
    honest_jobs: dict[str, int] = {}
    for name in HONEST:
        honest_jobs[name] = len(configs)
        configs.append(_compose([f"agent={name}", *common]))
    for case in selected_cases(options.cases):
        guarded = _compose([f"agent={case.agent}", *common])
        checks = list(guarded.judge.checks.keys())
        off = _compose([f"agent={case.agent}", *common, *guard_off_overrides(case, checks)])
        case_jobs[case.name] = (len(configs), len(configs) + 1)
        configs.extend([guarded, off])
    return configs, case_jobs, honest_jobs


def prepare_artifacts(plans: list[RunPlan], work_dir: Path) -> None:
    """The held-out secret, the stand-in instruct model in the private HF cache and the shipped
    checkpoint, before anything runs."""
    from ptb.models import resolve_base_model

    spec = plans[0].spec
    module = load_task_module(spec.task)
    module.test_texts()  # creates the task's held-out secret on first use (never inside a sandbox)
    base = resolve_base_model(spec.model, spec.cache_dir)
    with tempfile.TemporaryDirectory(prefix="ptb-redteam-train-") as tmp:
        module.write_agent_context(Path(tmp))
        lines = (Path(tmp) / "data" / "arith_train.jsonl").read_text().splitlines()
    store = Path(spec.cache_dir).expanduser() / "redteam" / base.name
    instruct = train_checkpoint(INSTRUCT, base, lines, store / INSTRUCT.name)
    outside = train_checkpoint(OUTSIDE, base, lines, store / OUTSIDE.name)
    install_in_hf_cache(instruct, work_dir.resolve() / "hf")
    ship_in_agent_folder(outside)


def _view(plan: RunPlan) -> RunView | None:
    run_dir = Path(plan.spec.run_dir)
    try:
        result = json.loads((run_dir / "result.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    try:
        judge = json.loads((run_dir / "judge.json").read_text())
    except (OSError, json.JSONDecodeError):
        judge = None
    return RunView.from_records(result, judge)


def run_redteam(options: RedTeamOptions) -> RedTeamReport:
    from ptb.sweep import run_sweep  # Ray and inspect: only when something runs

    started = time.time()
    configs, case_jobs, honest_jobs = build_jobs(options)
    plans, settings = plan_sweep(configs)
    prepare_artifacts(plans, options.work_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_sweep(plans, settings)
    reports = tuple(
        report_case(name, _view(plans[on]), _view(plans[off]), options.min_lift) for name, (on, off) in case_jobs.items()
    )
    honest = {name: _view(plans[index]) for name, index in honest_jobs.items()}
    return RedTeamReport(reports, honest, time.time() - started)
