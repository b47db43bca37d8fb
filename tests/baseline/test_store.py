"""Baselines: the store layout, measured-else-reference fallback scores, the leaderboard's base
and instruct rows, and the reference table against SPEC's published weighted averages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptb.baseline.reference import PUBLISHED_WEIGHTED, REFERENCE, TASKS, reference_score
from ptb.baseline.store import BaselineStore
from ptb.io import write_record
from ptb.records import Metrics, Result
from ptb.report import leaderboard, render_csv, render_markdown, write_report

SPEC_WEIGHTS = {
    "aime2025": 0.2265, "arenahard_writing": 0.0904, "bfcl": 0.0746, "gpqa": 0.2246,
    "gsm8k": 0.0936, "healthbench": 0.1841, "humaneval": 0.1061,
}  # fmt: skip


def measured(store: BaselineStore, kind: str, model: str, task: str, score: float | None) -> None:
    write_record(
        store.folder(kind, model, task) / "metrics.json",
        Metrics(score=score, metric="accuracy", samples=10, attempts=(), reason=None if score is not None else "failed"),
    )


def result(model: str, task: str, score: float, *, fallback: str | None = None, base: float = 0.5) -> Result:
    return Result(
        run_id=f"a__{model}__{task}__1h__s0", sweep="sw", agent="a", model=model, task=task, seed=0, hours=1.0,
        weight=SPEC_WEIGHTS[task], status="finished", raw_score=score, base_score=base,
        score=base if fallback else score, flagged=bool(fallback), fallback_reason=fallback,
        seconds_used=60.0, budget_seconds=3600.0, base_source="measured",
    )


def test_reference_table_reproduces_the_published_weighted_averages():
    """The table and SPEC's weights give SPEC's weighted column (to its 0.1 rounding)."""
    for kind, models in REFERENCE.items():
        for model, row in models.items():
            weighted = sum(SPEC_WEIGHTS[t] * row[t] for t in TASKS) * 100
            assert weighted == pytest.approx(PUBLISHED_WEIGHTED[kind][model], abs=0.1), (kind, model)


def test_every_conf_task_weight_matches_spec_and_sums_to_one():
    import yaml

    from ptb.paths import CONF_DIR

    weights = {t: yaml.safe_load((CONF_DIR / "task" / f"{t}.yaml").read_text())["weight"] for t in TASKS}
    assert weights == SPEC_WEIGHTS
    assert sum(weights.values()) == pytest.approx(1.0, abs=2e-4)  # SPEC rounds each to 4 places


def test_reference_lookup_and_unknown_kind():
    assert reference_score("base", "qwen3-4b", "gsm8k") == pytest.approx(0.418)
    assert reference_score("instruct", "gemma3-4b", "bfcl") == pytest.approx(0.67)
    assert reference_score("base", "tiny", "arith") is None
    with pytest.raises(ValueError, match="accepted: \\['base', 'instruct'\\]"):
        reference_score("chat", "qwen3-4b", "gsm8k")


def test_store_prefers_measured_then_reference_then_none(tmp_path):
    store = BaselineStore(tmp_path)
    assert store.folder("base", "qwen3-4b", "gsm8k") == tmp_path / "baselines" / "base" / "qwen3-4b__gsm8k"
    ref = store.score("base", "qwen3-4b", "gsm8k")
    assert (ref.score, ref.source) == (pytest.approx(0.418), "reference")
    measured(store, "base", "qwen3-4b", "gsm8k", 0.40)
    assert (store.score("base", "qwen3-4b", "gsm8k").source, store.score("base", "qwen3-4b", "gsm8k").score) == ("measured", 0.40)
    measured(store, "base", "qwen3-4b", "bfcl", None)  # a failed measurement does not count
    assert store.score("base", "qwen3-4b", "bfcl").source == "reference"
    none = store.score("base", "tiny", "arith")
    assert (none.score, none.source) == (None, None)


def test_leaderboard_refreshes_fallback_scores_and_adds_base_and_instruct_rows(tmp_path):
    store = BaselineStore(tmp_path)
    measured(store, "base", "qwen3-4b", "gsm8k", 0.40)
    results = [
        result("qwen3-4b", "gsm8k", 0.7, fallback="flagged by the judge: test_overlap", base=0.0),
        result("qwen3-4b", "bfcl", 0.9),
        result("gemma3-4b", "gsm8k", 0.2, fallback="no final_model: none", base=0.0),
        result("gemma3-4b", "bfcl", 0.5),
    ]
    board = leaderboard(results, baselines=store)
    by_cell = {(r.model, r.task): r for r in board.results}
    flagged = by_cell[("qwen3-4b", "gsm8k")]
    assert (flagged.score, flagged.base_source) == (0.40, "measured")  # measured wins
    missing = by_cell[("gemma3-4b", "gsm8k")]
    assert missing.score == pytest.approx(0.061) and missing.base_source == "reference"  # SPEC's 6.1 %
    assert by_cell[("gemma3-4b", "bfcl")].score == 0.5  # not a fallback: untouched

    rows = {row.kind: row for row in board.baselines}
    base, instruct = rows["base"], rows["instruct"]
    assert (base.measured, base.reference, base.missing) == (1, 3, 0)
    assert base.source == "1 measured, 3 reference"
    # per task: average over the two models; gsm8k base = (0.40 measured + 0.061 reference) / 2
    assert base.per_task["gsm8k"] == pytest.approx((0.40 + 0.061) / 2)
    assert base.per_task["bfcl"] == pytest.approx((0.0 + 0.06) / 2)
    w_bfcl, w_gsm = SPEC_WEIGHTS["bfcl"], SPEC_WEIGHTS["gsm8k"]
    expected = (w_gsm * (0.938 + 0.835) / 2 + w_bfcl * (0.95 + 0.67) / 2) / (w_gsm + w_bfcl)
    assert instruct.source == "reference" and instruct.mean == pytest.approx(expected)

    md = render_markdown(board)
    assert "| _base models (1 measured, 3 reference)_ |" in md and "| _instruct models (reference)_ |" in md
    assert "| reference |" in md  # the runs table says where the fallback came from
    csv_text = render_csv(board)
    assert "\ninstruct,,," in csv_text and csv_text.rstrip().endswith(",reference")


def test_write_report_reads_the_baselines_beside_the_sweep(tmp_path):
    sweep = tmp_path / "sw"
    r = result("qwen3-1.7b", "gsm8k", 0.3, fallback="evaluation failed: all attempts", base=0.0)
    write_record(sweep / r.run_id / "result.json", r)
    measured(BaselineStore(tmp_path), "base", "qwen3-1.7b", "gsm8k", 0.111)
    md_path, _ = write_report(sweep)
    text = md_path.read_text()
    assert "_base models (measured)_" in text and "_instruct models (reference)_" in text
    assert "| a__qwen3-1.7b__gsm8k__1h__s0 | a | qwen3-1.7b | gsm8k | 0 | 1 | 11.1 |" in text


def test_embedded_grid_has_no_reference_rows(tmp_path: Path):
    """tiny × arith is not in the published table: no baseline rows unless measured."""
    r = Result(
        run_id="x", sweep="sw", agent="a", model="tiny", task="arith", seed=0, hours=1.0, weight=1.0,
        status="finished", raw_score=0.5, base_score=0.0, score=0.5, flagged=False, fallback_reason=None,
        seconds_used=1.0, budget_seconds=3600.0,
    )
    store = BaselineStore(tmp_path)
    assert leaderboard([r], baselines=store).baselines == ()
    measured(store, "base", "tiny", "arith", 0.0)
    (row,) = leaderboard([r], baselines=store).baselines
    assert (row.kind, row.source, row.mean) == ("base", "measured", 0.0)
