"""run_pipeline with fake services (no Ray): stage order, skipping what is recorded, bounded
infrastructure retries, and the judge submitted again when its worker is lost or a check could
not decide."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from ptb.baseline.store import BaselineScore
from ptb.errors import InfraFailure
from ptb.evaluation import EvalInfraError
from ptb.io import read_record
from ptb.paths import CONF_DIR
from ptb.pipeline import SweepServices, run_pipeline
from ptb.plan import build_plan
from ptb.records import Finding, Metrics, Outcome, Result, RunPlan, Verdict
from ptb.stages import Stage
from ptb.stages.judge.remote import JudgeLost
from ptb.stages.solve import SolveInfraError

CLEAN = Verdict(flagged=False, findings=(Finding("harness_unchanged", "pass", True, "ok"),), reason="not flagged")
UNDECIDED = Verdict(
    flagged=False, findings=(Finding("test_overlap", "undecided", True, "could not decide: no data"),), reason="undecided"
)


def plan_for(tmp_path: Path, *overrides: str) -> RunPlan:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"results_dir={tmp_path}/results", "agent=noop", "tracking=none", *overrides])
    return build_plan(cfg)


@dataclass
class Fakes:
    """Services that do what the real ones do to the run folder, and count their calls. Each
    ``*_failures`` is how many calls fail (as infrastructure) before calls succeed."""

    tmp: Path
    solve_failures: int = 0
    eval_failures: int = 0
    judge_lost: int = 0
    judge_undecided: int = 0
    base_failures: int = 0
    calls: dict[str, int] = field(default_factory=lambda: {"solve": 0, "evaluate": 0, "submit": 0, "wait": 0, "base": 0})
    stages: list[tuple[Stage, str]] = field(default_factory=list)
    workspaces: list[str] = field(default_factory=list)

    def solve(self, request) -> Outcome:
        self.calls["solve"] += 1
        self.workspaces.append(request.workspace)
        (Path(request.run_dir) / "solve.log").write_text(f"attempt {self.calls['solve']}\n")  # as the actor does
        model = Path(request.workspace) / "final_model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        (model / "model.safetensors").write_text("weights")  # a layout ptb.serve.checkpoint accepts
        if self.calls["solve"] <= self.solve_failures:
            raise SolveInfraError("the AgentRun actor was lost")
        return Outcome("finished", 100.0, 160.0, 0)

    def evaluate(self, request) -> Metrics:
        self.calls["evaluate"] += 1
        assert Path(request.model_path).name == "served_model" and Path(request.template_path).name == "chatml.jinja"
        if self.calls["evaluate"] <= self.eval_failures:
            raise EvalInfraError("evaluation worker lost")
        return Metrics(score=0.75, metric="accuracy", samples=4, attempts=())

    def submit(self, spec, judge, base_model_path) -> Any:
        self.calls["submit"] += 1
        assert [c.name for c in judge.checks] == [
            "harness_unchanged", "model_identity", "tokenizer_unchanged", "model_provenance", "test_overlap", "egress_policy",
        ]
        return self.calls["submit"]

    def wait(self, handle) -> Verdict:
        self.calls["wait"] += 1
        if handle <= self.judge_lost:
            raise JudgeLost("the judge's worker was lost")
        if handle <= self.judge_lost + self.judge_undecided:
            return UNDECIDED
        return CLEAN

    def base_score(self, model, task, base_model_path) -> BaselineScore:
        self.calls["base"] += 1
        if self.calls["base"] <= self.base_failures:
            raise EvalInfraError("evaluation worker lost while measuring the base model")
        return BaselineScore(0.1, "measured")

    def services(self) -> SweepServices:
        base = self.tmp / "base_model"
        base.mkdir(exist_ok=True)
        return SweepServices(
            solve=self.solve,
            eval_pool=self,  # type: ignore[arg-type]
            judge=self,
            baselines=self,
            report_stage=lambda run_id, stage, detail: self.stages.append((stage, detail)),
            base_model=lambda model, cache_dir: base,
        )


def test_a_run_goes_through_every_stage_in_order_and_records_each(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path), Fakes(tmp_path)
    result = run_pipeline(plan, fakes.services())
    assert [stage for stage, _ in fakes.stages] == [
        Stage.PREPARE, Stage.SOLVE, Stage.COLLECT, Stage.JUDGE_EVALUATE, Stage.SCORE, Stage.DONE
    ]
    run = Path(plan.spec.run_dir)
    for record in ("spec.yaml", "prompt.md", "harness_hashes.json", "outcome.json", "collect.json", "judge.json", "metrics.json", "result.json"):
        assert (run / record).is_file(), record
    assert (result.score, result.base_score, result.fallback_reason) == (0.75, 0.1, None)
    assert read_record(run / "result.json", Result) == result
    assert fakes.calls == {"solve": 1, "evaluate": 1, "submit": 1, "wait": 1, "base": 1}
    assert not Path(plan.spec.scratch_dir).exists()  # the live workspace is gone, the snapshot stays
    assert (run / "final_model" / "config.json").is_file() and (run / "workspace").is_dir()


def test_recorded_stages_are_not_repeated(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path), Fakes(tmp_path)
    first = run_pipeline(plan, fakes.services())
    fakes.stages.clear()
    assert run_pipeline(plan, fakes.services()) == first
    assert fakes.stages == [(Stage.DONE, "finished earlier")]
    assert fakes.calls == {"solve": 1, "evaluate": 1, "submit": 1, "wait": 1, "base": 1}

    run = Path(plan.spec.run_dir)
    (run / "result.json").unlink()
    (run / "metrics.json").unlink()  # as if the driver died during the evaluation
    fakes.stages.clear()
    again = run_pipeline(plan, fakes.services())
    assert again == first
    assert fakes.calls == {"solve": 1, "evaluate": 2, "submit": 1, "wait": 1, "base": 2}  # only the evaluation ran
    assert Stage.SOLVE not in [s for s, _ in fakes.stages] and Stage.COLLECT not in [s for s, _ in fakes.stages]


def test_infrastructure_failures_are_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=2"), Fakes(tmp_path, solve_failures=1, eval_failures=2)
    result = run_pipeline(plan, fakes.services())
    assert result.score == 0.75 and fakes.calls["solve"] == 2 and fakes.calls["evaluate"] == 3

    plan, fakes = plan_for(tmp_path / "b", "infra_retries=1"), Fakes(tmp_path, eval_failures=5)
    with pytest.raises(InfraFailure, match="evaluation failed 2 times: evaluation worker lost"):
        run_pipeline(plan, fakes.services())
    run = Path(plan.spec.run_dir)
    assert (run / "outcome.json").is_file() and (run / "collect.json").is_file()  # kept for the rerun
    assert not (run / "metrics.json").exists() and not (run / "result.json").exists()
    fakes.eval_failures = 0
    assert run_pipeline(plan, fakes.services()).score == 0.75 and fakes.calls["solve"] == 1


def test_a_lost_solve_actor_leaves_its_workspace_aside_and_the_next_attempt_starts_fresh(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=1", "keep_workspace=true"), Fakes(tmp_path, solve_failures=1)
    run_pipeline(plan, fakes.services())
    scratch = Path(plan.spec.scratch_dir)
    aside = [p for p in scratch.iterdir() if p.name.startswith("interrupted-")]
    assert len(aside) == 1 and (aside[0] / "final_model" / "config.json").is_file()
    assert (scratch / "workspace" / "final_model").is_dir() and fakes.calls["solve"] == 2


def test_the_judge_is_submitted_again_when_lost_or_undecided(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=2"), Fakes(tmp_path, judge_lost=1, judge_undecided=1)
    result = run_pipeline(plan, fakes.services())
    assert fakes.calls["submit"] == 3 and fakes.calls["wait"] == 3
    assert read_record(Path(plan.spec.run_dir) / "judge.json", Verdict) == CLEAN and not result.flagged

    plan, fakes = plan_for(tmp_path / "b", "infra_retries=1"), Fakes(tmp_path, judge_undecided=10)
    with pytest.raises(InfraFailure, match="judge failed 2 times: undecided"):
        run_pipeline(plan, fakes.services())
    run = Path(plan.spec.run_dir)
    assert not (run / "judge.json").exists(), "an undecided verdict is never recorded"
    assert (run / "metrics.json").is_file()  # the evaluation ran beside it and is kept
    assert not (run / "result.json").exists()


def test_a_lost_attempts_logs_are_kept_aside_and_the_outcome_names_its_attempt(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=2"), Fakes(tmp_path, solve_failures=2)
    run_pipeline(plan, fakes.services())
    run = Path(plan.spec.run_dir)
    assert (run / "attempts" / "1" / "solve.log").read_text() == "attempt 1\n"
    assert (run / "attempts" / "2" / "solve.log").read_text() == "attempt 2\n"
    assert (run / "solve.log").read_text() == "attempt 3\n"
    assert read_record(run / "outcome.json", Outcome).attempt == 3
    assert (Stage.SOLVE, "attempt 3") in fakes.stages


def test_a_killed_drivers_solve_log_is_kept_aside_on_the_rerun(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path), Fakes(tmp_path)
    run = Path(plan.spec.run_dir)
    run.mkdir(parents=True)
    (run / "solve.log").write_text("the killed driver's agent\n")  # no outcome.json: solve never finished
    (run / "monitor.jsonl").write_text("{}\n")
    run_pipeline(plan, fakes.services())
    assert (run / "attempts" / "1" / "solve.log").read_text() == "the killed driver's agent\n"
    assert (run / "attempts" / "1" / "monitor.jsonl").is_file() and not (run / "monitor.jsonl").exists()
    assert read_record(run / "outcome.json", Outcome).attempt == 2


def test_a_stale_error_is_retired_when_the_run_starts_again(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=1"), Fakes(tmp_path, eval_failures=1)
    run = Path(plan.spec.run_dir)
    run.mkdir(parents=True)
    (run / "error.txt").write_text("an earlier driver's failure\n")
    run_pipeline(plan, fakes.services())  # the evaluation worker is lost once; the retry recovers
    assert not (run / "error.txt").exists(), "a finished run carries no stale error"
    assert (run / "errors" / "1.txt").read_text() == "an earlier driver's failure\n"
    assert (run / "result.json").is_file()


def test_the_judges_verdict_is_kept_when_the_evaluation_fails_as_infrastructure(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=1"), Fakes(tmp_path, eval_failures=2)
    with pytest.raises(InfraFailure, match="evaluation failed 2 times"):
        run_pipeline(plan, fakes.services())
    run = Path(plan.spec.run_dir)
    assert read_record(run / "judge.json", Verdict) == CLEAN and not (run / "metrics.json").exists()
    assert run_pipeline(plan, fakes.services()).score == 0.75
    assert fakes.calls["submit"] == 1 and fakes.calls["wait"] == 1  # the rerun only evaluated


def test_the_base_score_measurement_is_retried_when_its_worker_is_lost(tmp_path: Path) -> None:
    plan, fakes = plan_for(tmp_path, "infra_retries=1"), Fakes(tmp_path, base_failures=1)
    assert run_pipeline(plan, fakes.services()).base_score == 0.1 and fakes.calls["base"] == 2
    plan, fakes = plan_for(tmp_path / "b", "infra_retries=1"), Fakes(tmp_path, base_failures=5)
    with pytest.raises(InfraFailure, match="base score failed 2 times"):
        run_pipeline(plan, fakes.services())
    assert (Path(plan.spec.run_dir) / "metrics.json").is_file()  # everything before the score is kept
