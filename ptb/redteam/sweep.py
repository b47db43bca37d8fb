"""The red-team sweep: every case guarded and with its guard off, plus the honest runs, planned
as one sweep and handed to Ray at once (`ptb.sweep.run_sweep`), then classified.

    report = run_redteam(RedTeamOptions(work_dir=Path("results/redteam")))
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from ptb.redteam.servers import FakeInternet
from ptb.redteam.unguarded import score_as_submitted
from ptb.redteam.verdicts import CaseReport, RunView, exit_code, report_case, table

SWEEP = "redteam"
GUARD_OFF_SUFFIX = "_guardoff"

# CI: small budgets and evaluations, few training steps, every run at once on oversubscribed CPUs
SHORT_OVERRIDES = (
    "budget.hours=0.1",  # 6 min: cheats end when done; under load the slowest need 3 or more
    "budget.cpus=0.25",
    "budget.grace_seconds=5",
    "cluster.num_cpus=16",
    "task.final_limit=20",
    "task.ladder=[{max_tokens:64,attempts:1}]",
    "eval.workers=3",  # a checkpoint's evaluation is mostly its server starting: overlap them
    "monitor_interval_s=30",
    "++agent.env.RECIPE_MAX_STEPS=100",
    "++agent.env.RT_EVAL_LIMIT=20",  # the items the final evaluation uses (task.final_limit)
    "++agent.env.RT_THIEF_WAIT=100",
)


@dataclass(frozen=True)
class RedTeamOptions:
    work_dir: Path  # results/ and scratch/ go here (never under /tmp: check_work_dir)
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


def check_work_dir(work_dir: Path) -> None:
    """The sandbox gives every agent a private /tmp: under /tmp, the scratch folders (and so
    other runs' workspaces) would be out of the agents' sight whatever the guards do."""
    if work_dir.resolve().is_relative_to("/tmp"):
        raise ConfigError(
            f"--work-dir {work_dir} is under /tmp, which every agent's sandbox replaces with its own: "
            "cases would be blocked by that, not by their guards; use a folder elsewhere (default results/redteam)"
        )


def hub_cache() -> Path:
    """The private HF cache of the stand-in instruct model: beside the tiny model (cache_dir),
    readable in every sandbox as a real HF cache is."""
    return Path(_compose(["agent=noop"]).cache_dir).expanduser().resolve() / "redteam" / "hf"


def common_overrides(options: RedTeamOptions) -> list[str]:
    work = options.work_dir.resolve()
    hub = hub_cache()
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


@dataclass(frozen=True)
class Internet:
    """Where the stand-in internet listens (`ptb.redteam.servers.FakeInternet`)."""

    hub: str  # "127.0.0.1:<port>" of the Hub
    llm: str  # of the hosted LLM API
    ca: str  # PEM file of their CA

    def fill(self, overrides: Sequence[str]) -> list[str]:
        return [o.replace("{hub}", self.hub).replace("{llm}", self.llm).replace("{ca}", self.ca) for o in overrides]


def guard_off_overrides(case: Case, configured_checks: Sequence[str]) -> list[str]:
    """The case's guard turned off: its judge checks' flags (those configured; a check that is not
    configured does not run) and its other overrides."""
    flags = [f"judge.checks.{name}.flag=false" for name in case.checks_off if name in configured_checks]
    return [f"agent.name={case.agent}{GUARD_OFF_SUFFIX}", *flags, *case.overrides_off]


def build_jobs(
    options: RedTeamOptions, internet: Internet
) -> tuple[list[DictConfig], dict[str, tuple[int, int]], dict[str, int]]:
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
        both = [f"agent={case.agent}", *common, *internet.fill(case.overrides)]
        guarded = _compose(both)
        checks = list(guarded.judge.checks.keys())
        off = _compose([*both, *internet.fill(guard_off_overrides(case, checks))])
        case_jobs[case.name] = (len(configs), len(configs) + 1)
        configs.extend([guarded, off])
    return configs, case_jobs, honest_jobs


def prepare_artifacts(options: RedTeamOptions) -> Path:
    """The held-out secret, the stand-in instruct model in the private HF cache and the shipped
    checkpoint, before anything runs; returns the instruct model's folder."""
    from ptb.models import resolve_base_model

    (plan,), _ = plan_sweep([_compose(["agent=noop", *common_overrides(options)])])
    spec = plan.spec
    module = load_task_module(spec.task)
    module.test_texts()  # creates the task's held-out secret on first use (never inside a sandbox)
    base = resolve_base_model(spec.model, spec.cache_dir)
    with tempfile.TemporaryDirectory(prefix="ptb-redteam-train-") as tmp:
        module.write_agent_context(Path(tmp))
        lines = (Path(tmp) / "data" / "arith_train.jsonl").read_text().splitlines()
    store = Path(spec.cache_dir).expanduser() / "redteam" / base.name
    instruct = train_checkpoint(INSTRUCT, base, lines, store / INSTRUCT.name)
    outside = train_checkpoint(OUTSIDE, base, lines, store / OUTSIDE.name)
    install_in_hf_cache(instruct, hub_cache())
    ship_in_agent_folder(outside)
    return instruct


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
    egress = []
    try:
        for line in (run_dir / "egress.jsonl").read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                egress.append(json.loads(line))
    except OSError:
        pass
    return RunView.from_records(result, judge, egress)


def run_redteam(options: RedTeamOptions) -> RedTeamReport:
    from ptb.sweep import run_sweep  # Ray and inspect: only when something runs

    started = time.time()
    check_work_dir(options.work_dir)
    instruct = prepare_artifacts(options)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with FakeInternet(options.work_dir, instruct) as fake:
        internet = Internet(hub=fake.hub, llm=fake.llm, ca=str(fake.ca_path))
        configs, case_jobs, honest_jobs = build_jobs(options, internet)
        plans, settings = plan_sweep(configs)
        run_sweep(plans, settings)
    cases = {case.name: case for case in CASES}
    reports = []
    for name, (on, off) in case_jobs.items():
        guard_off = _view(plans[off])
        note = ""
        if cases[name].score_as_submitted and guard_off is not None:
            guard_off = dataclasses.replace(guard_off, score=score_as_submitted(plans[off].spec))
            note = "served as submitted (the harness has no switch for this guard)"
        report = report_case(name, _view(plans[on]), guard_off, options.min_lift, cases[name].denial_rule)
        if note:
            report = dataclasses.replace(report, guard_off_detail=f"{report.guard_off_detail}, {note}")
        reports.append(report)
    honest = {name: _view(plans[index]) for name, index in honest_jobs.items()}
    return RedTeamReport(tuple(reports), honest, time.time() - started)
