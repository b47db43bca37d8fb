"""Stage 5: the final score falls back to the base score, with the reason, exactly when SPEC says."""

from __future__ import annotations

import pytest

from ptb.records import (
    AgentSpec,
    Budget,
    CollectReport,
    Finding,
    LadderStep,
    Metrics,
    ModelSpec,
    Outcome,
    RunSpec,
    TaskSpec,
    Verdict,
)
from ptb.stages.score import score_run, with_base_score

SPEC = RunSpec(
    run_id="r", sweep="s", agent=AgentSpec(name="a", path="/a"), model=ModelSpec(name="tiny", template="chatml"),
    task=TaskSpec(name="arith", benchmark="A", weight=1.0, eval_dir="/e", ladder=(LadderStep(8, 1),)),
    budget=Budget(hours=1.0), seed=3, prompt_variant="default", sandbox="none", run_dir="/r", scratch_dir="/s", cache_dir="/c",
)
OUTCOME = Outcome(status="finished", started_at=100.0, ended_at=160.5, exit_code=0)
CLEAN = Verdict(flagged=False, findings=(Finding("x", "pass", True, "ok"),))
FLAGGED = Verdict(flagged=True, findings=(Finding("test_overlap", "fail", True, "12 items"),), reason="test_overlap: 12 items")
UNUSABLE = Verdict(flagged=False, findings=(Finding("model_identity", "pass", True, "checkpoint unusable (not cheating): no config", True),),
                   checkpoint_unusable="checkpoint unusable (not cheating): no config")


def collected(has_model: bool, reason: str | None = None) -> CollectReport:
    return CollectReport(has_model, reason, 1, 1, 0, 0, (), "plain", 0)

GOOD = Metrics(score=0.8, metric="accuracy", samples=10, attempts=())
FAILED = Metrics(score=None, metric="accuracy", samples=0, attempts=(), reason="all 3 attempts failed")


def test_clean_run_scores_its_checkpoint() -> None:
    r = score_run(SPEC, OUTCOME, collected(True), CLEAN, GOOD, 0.1)
    assert (r.score, r.raw_score, r.base_score, r.fallback_reason, r.flagged) == (0.8, 0.8, 0.1, None, False)
    assert r.seconds_used == 60.5 and r.budget_seconds == 3600 and r.seed == 3


@pytest.mark.parametrize(
    "has_model, verdict, metrics, reason_start",
    [
        (True, FLAGGED, GOOD, "flagged by the judge: test_overlap"),
        (False, CLEAN, FAILED, "no final_model: left none"),
        (True, CLEAN, FAILED, "evaluation failed: all 3 attempts failed"),
        (True, UNUSABLE, FAILED, "evaluation failed: checkpoint unusable (not cheating): no config"),
    ],
)
def test_fallbacks_use_the_base_score_and_say_why(has_model, verdict, metrics, reason_start) -> None:
    r = score_run(SPEC, OUTCOME, collected(has_model, "left none"), verdict, metrics, 0.1)
    assert r.score == 0.1
    assert r.fallback_reason.startswith(reason_start)
    assert r.raw_score == metrics.score


def test_an_unusable_checkpoint_that_still_evaluates_keeps_its_score() -> None:
    r = score_run(SPEC, OUTCOME, collected(True), UNUSABLE, GOOD, 0.1)
    assert r.score == 0.8 and r.fallback_reason is None and not r.flagged


def test_a_newer_base_score_reaches_fallback_runs_only() -> None:
    fallback = score_run(SPEC, OUTCOME, collected(True), FLAGGED, GOOD, 0.1, "reference")
    rescored = with_base_score(fallback, 0.2, "measured")
    assert (rescored.score, rescored.base_score, rescored.base_source) == (0.2, 0.2, "measured")
    clean = score_run(SPEC, OUTCOME, collected(True), CLEAN, GOOD, 0.1)
    assert with_base_score(clean, 0.2, "measured") == clean
    assert with_base_score(fallback, None, None) == fallback
