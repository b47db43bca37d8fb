"""Stage 5, score: one Result from the outcome, the verdict, the metrics and the base score.

SPEC §6: a run scores its checkpoint's benchmark score, or the base model's score when the
judge flagged it, when there is no final_model, or when every evaluation attempt failed; the
reason is kept in `fallback_reason`. This module owns that rule: the leaderboard re-scores
fallback runs with a newer base score through `with_base_score`, never by a rule of its own.
"""

from __future__ import annotations

import dataclasses

from ptb.records import CollectReport, Metrics, Outcome, Result, RunSpec, Verdict


def fallback_reason(collected: CollectReport, verdict: Verdict, metrics: Metrics) -> str | None:
    """Why the run scores the base model, or None when it scores its own checkpoint."""
    if verdict.flagged:
        return f"flagged by the judge: {verdict.reason or 'see judge.json'}"
    if not collected.has_final_model:
        return f"no final_model: {collected.final_model_reason or 'the agent left none'}"
    if metrics.score is None:
        if verdict.checkpoint_unusable:  # the judge saw why: say that, not only the server's error
            return f"evaluation failed: {verdict.checkpoint_unusable}"
        return f"evaluation failed: {metrics.reason or 'every attempt of the ladder failed'}"
    return None


def score_run(
    spec: RunSpec,
    outcome: Outcome,
    collected: CollectReport,
    verdict: Verdict,
    metrics: Metrics,
    base_score: float | None,
    base_source: str | None = None,
) -> Result:
    reason = fallback_reason(collected, verdict, metrics)
    usage = collected.usage
    return Result(
        run_id=spec.run_id,
        sweep=spec.sweep,
        agent=spec.agent.name,
        model=spec.model.name,
        task=spec.task.name,
        seed=spec.seed,
        hours=spec.budget.hours,
        weight=spec.task.weight,
        status=outcome.status,
        raw_score=metrics.score,
        base_score=base_score,
        score=base_score if reason else metrics.score,
        flagged=verdict.flagged,
        fallback_reason=reason,
        seconds_used=round(outcome.seconds_used, 3),
        budget_seconds=spec.budget.seconds,
        base_source=base_source,
        input_tokens=usage.input_tokens if usage else None,
        cached_input_tokens=usage.cached_input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        cost_usd=usage.cost_usd if usage else None,
        failure=outcome.failure,
        agent_model=spec.agent.model,
        models_used=usage.models_used if usage else (),
        verdict_version=verdict.version,
    )


def with_base_score(result: Result, base_score: float | None, base_source: str | None) -> Result:
    """The result with a newer base score (a measured baseline that came after the run): a
    fallback run takes it as its score; a run scored on its own checkpoint keeps its score."""
    if result.fallback_reason is None or base_score is None:
        return result
    return dataclasses.replace(result, base_score=base_score, score=base_score, base_source=base_source)
