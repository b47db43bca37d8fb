"""One run, stage by stage (`ptb.stages`), resumable.

    result = run_pipeline(plan, services)

Every stage has one shape: if its record exists in the run folder it is read back, else the
stage runs (infrastructure failures retried ``infra_retries`` times) and its record is written
atomically. So running the same command again continues where a crash or Ctrl-C stopped it:

    prepare   → spec.yaml, prompt.md, harness_hashes.json (+ the live workspace)
    solve     → outcome.json (solve.log, monitor.jsonl)          AgentRun actor, exactly its GPUs
    collect   → collect.json (final_model/, served_model/, workspace/, trace.jsonl)
    judge     → judge.json                                         Ray task, no GPU  } concurrent
    evaluate  → metrics.json (eval/)                               evaluation pool   }
    score     → result.json

The services (solver, evaluation pool, judge, baselines) are passed in, so the pipeline is the
same with Ray (`ptb.sweep`) and with fakes (tests/test_pipeline.py).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ptb.baseline.store import BaselineScore
from ptb.errors import InfraFailure
from ptb.evaluation import EvalInfraError
from ptb.io import read_record, write_record
from ptb.locks import hold_run
from ptb.models import resolve_base_model
from ptb.records import (
    CollectReport,
    JudgeConfig,
    Metrics,
    ModelSpec,
    Outcome,
    Result,
    RunPlan,
    RunSpec,
    TaskSpec,
    Verdict,
)
from ptb.stages import Stage
from ptb.stages.attempts import retire_error, set_aside_attempt
from ptb.stages.collect import collect
from ptb.stages.evaluate import Evaluator, evaluate_run
from ptb.stages.judge.remote import JudgeLost
from ptb.stages.prepare import prepare, solve_request
from ptb.stages.score import score_run
from ptb.stages.solve.agent_run import SolveInfraError, SolveRequest

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["InfraFailure", "JudgeUndecided", "SweepServices", "run_pipeline"]


class JudgeUndecided(RuntimeError):
    """A check could not decide (the harness's side failed): judged again, like a lost worker."""


class Judge(Protocol):
    def submit(self, spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> Any: ...

    def wait(self, handle: Any) -> Verdict: ...


class Baselines(Protocol):
    def base_score(self, model: ModelSpec, task: TaskSpec, base_model_path: str | Path) -> BaselineScore: ...


@dataclass
class SweepServices:
    """What every pipeline of one driver shares."""

    solve: Callable[[SolveRequest], Outcome]  # raises SolveInfraError when the actor is lost
    eval_pool: Evaluator  # raises EvalInfraError when a worker is lost
    judge: Judge  # wait() raises JudgeLost when the worker is lost
    baselines: Baselines
    report_stage: Callable[[str, Stage, str], None]  # (run_id, stage, detail)
    base_model: Callable[[ModelSpec, str], Path] = field(default=resolve_base_model)
    # Called once the run's lock is held, before anything else: the sweep starts the run's
    # tracking there, so a run skipped because another driver holds it never touches its tracking.
    on_start: Callable[[RunPlan], None] = field(default=lambda plan: None)


def retry(what: str, retries: int, errors: tuple[type[BaseException], ...], fn: Callable[[], T]) -> T:
    """``fn()``, called again after each infrastructure error, at most ``retries`` more times."""
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            return fn()
        except errors as exc:
            log.warning("%s failed (attempt %d of %d): %s", what, attempt + 1, retries + 1, exc)
            last = exc
    raise InfraFailure(f"{what} failed {retries + 1} times: {last}") from last


def once(path: Path, record_type: type[T], produce: Callable[[], T]) -> T:
    """The stage's record: read back when the stage ran before, else produced and written."""
    if path.exists():
        return read_record(path, record_type)
    record = produce()
    write_record(path, record)
    return record


def run_pipeline(plan: RunPlan, services: SweepServices) -> Result:
    """The run, stage by stage, holding its lock (`ptb.locks`) throughout: from before the first
    look at its folder (a rerun retires records and sets attempts aside) to its result. Raises
    `ptb.locks.RunLocked`, touching nothing, when another driver holds the run."""
    with hold_run(plan.spec):
        services.on_start(plan)
        return _run_locked(plan, services)


def _run_locked(plan: RunPlan, services: SweepServices) -> Result:
    spec = plan.spec
    run_dir = Path(spec.run_dir)

    def stage(which: Stage, detail: str = "") -> None:
        services.report_stage(spec.run_id, which, detail)

    retire_error(run_dir)  # a previous driver's error.txt is history once the run starts again
    if (run_dir / "result.json").exists():
        stage(Stage.DONE, "finished earlier")
        return read_record(run_dir / "result.json", Result)

    stage(Stage.PREPARE, "base model")
    base_model = services.base_model(spec.model, spec.cache_dir)

    def solve_attempt() -> Outcome:
        # Each attempt starts from a fresh workspace (one a lost actor left behind is kept aside)
        # and fresh logs (a lost attempt's, or a killed driver's, go to attempts/<n>/).
        earlier = set_aside_attempt(run_dir)
        stage(Stage.SOLVE, f"attempt {earlier + 1}" if earlier else "")
        outcome = services.solve(solve_request(prepare(plan, base_model), spec, base_model))
        return dataclasses.replace(outcome, attempt=earlier + 1)

    outcome = once(run_dir / "outcome.json", Outcome, lambda: retry("solve", spec.infra_retries, (SolveInfraError,), solve_attempt))

    def collect_stage() -> CollectReport:
        stage(Stage.COLLECT, outcome.status)
        report = collect(Path(spec.scratch_dir) / "workspace", run_dir, spec.agent.trace_format, agent_dir=spec.agent.path, agent=spec.agent,
                         base_model=base_model)
        if not plan.keep_workspace:
            shutil.rmtree(spec.scratch_dir, ignore_errors=True)  # weights and caches: the snapshot stays
        return report

    collected = once(run_dir / "collect.json", CollectReport, collect_stage)

    stage(Stage.JUDGE_EVALUATE)
    # The judge starts first and runs beside the evaluation.
    first_judge = None if (run_dir / "judge.json").exists() else services.judge.submit(spec, plan.judge, str(base_model))
    def judged() -> Verdict:
        return once(run_dir / "judge.json", Verdict, lambda: _verdict(plan, services.judge, first_judge, str(base_model)))

    try:
        metrics = once(
            run_dir / "metrics.json",
            Metrics,
            lambda: retry("evaluation", spec.infra_retries, (EvalInfraError,), lambda: evaluate_run(spec, collected, services.eval_pool, base_model)),
        )
    except InfraFailure:
        # The judge's verdict does not depend on the evaluation: keep it, so the rerun only
        # evaluates (the judge's own failure is logged; the evaluation's is the one raised).
        try:
            judged()
        except InfraFailure as judge_failure:
            log.warning("%s: the judge failed too: %s", spec.run_id, judge_failure)
        raise
    verdict = judged()

    def score() -> Result:
        stage(Stage.SCORE)
        # A lost evaluation worker during the base model's measurement is infrastructure too.
        base = retry("base score", spec.infra_retries, (EvalInfraError,), lambda: services.baselines.base_score(spec.model, spec.task, base_model))
        return score_run(spec, outcome, collected, verdict, metrics, base.score, base.source)

    result = once(run_dir / "result.json", Result, score)
    stage(Stage.DONE, f"score {_pct(result.score)} (base {_pct(result.base_score)}, {result.base_source or 'none'})")
    return result


def _verdict(plan: RunPlan, judge: Judge, first_handle: Any, base_model: str) -> Verdict:
    """Wait for the judge; a lost worker or an undecided check is infrastructure, so the task is
    submitted again (a verdict with an undecided finding is never recorded)."""
    spec = plan.spec
    handles = iter([first_handle] if first_handle is not None else [])

    def attempt() -> Verdict:
        handle = next(handles, None) or judge.submit(spec, plan.judge, base_model)
        verdict = judge.wait(handle)
        if not verdict.decided:
            raise JudgeUndecided(verdict.reason or "a check could not decide")
        return verdict

    return retry("judge", spec.infra_retries, (JudgeLost, JudgeUndecided), attempt)


def _pct(score: float | None) -> str:
    return "—" if score is None else f"{100 * score:.1f}%"
