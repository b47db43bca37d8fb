"""The leaderboard: weighted means and sample std computed by hand on synthetic results."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from ptb.io import write_record
from ptb.records import Result
from ptb.report import leaderboard, load_results, main, render_markdown, write_report
from ptb.sweep import summary_line

WEIGHTS = {"t1": 0.3, "t2": 0.7}
# (agent, seed, task, model) -> score: 2 agents × 2 seeds × 2 tasks × 2 models
SCORES = {
    ("A", 0, "t1", "m1"): 0.2, ("A", 0, "t1", "m2"): 0.4, ("A", 0, "t2", "m1"): 0.5, ("A", 0, "t2", "m2"): 0.7,
    ("A", 1, "t1", "m1"): 0.4, ("A", 1, "t1", "m2"): 0.6, ("A", 1, "t2", "m1"): 0.1, ("A", 1, "t2", "m2"): 0.3,
    ("B", 0, "t1", "m1"): 0.0, ("B", 0, "t1", "m2"): 0.2, ("B", 0, "t2", "m1"): 0.1, ("B", 0, "t2", "m2"): 0.1,
    ("B", 1, "t1", "m1"): 0.2, ("B", 1, "t1", "m2"): 0.2, ("B", 1, "t2", "m1"): 0.3, ("B", 1, "t2", "m2"): 0.3,
}


def result(agent: str, seed: int, task: str, model: str, score: float | None, **kw) -> Result:
    fields = dict(
        run_id=f"{agent}-{model}-{task}-s{seed}", sweep="sw", agent=agent, model=model, task=task, seed=seed,
        hours=1.0, weight=WEIGHTS[task], status="finished", raw_score=score, base_score=0.05, score=score,
        flagged=False, fallback_reason=None, seconds_used=1800.0 if agent == "A" else 3600.0, budget_seconds=3600.0,
    )
    fields.update(kw)
    return Result(**fields)


def write_sweep(folder: Path, results: list[Result]) -> Path:
    for r in results:
        write_record(folder / r.run_id / "result.json", r)
    return folder


@pytest.fixture
def grid() -> list[Result]:
    results = [result(*key, score) for key, score in SCORES.items()]
    # one flagged run in B (its score is already the base score: a fallback)
    results = [
        result("B", 0, "t1", "m1", 0.0, flagged=True, raw_score=0.9, fallback_reason="flagged by the judge")
        if (r.agent, r.seed, r.task, r.model) == ("B", 0, "t1", "m1") else r
        for r in results
    ]
    return results


def test_weighted_means_and_std_by_hand(grid: list[Result]) -> None:
    board = leaderboard(grid)
    a, b = board.rows  # sorted by mean score, best first
    # A seed 0: t1 avg (0.2+0.4)/2 = 0.3, t2 avg 0.6 → 0.3·0.3 + 0.7·0.6 = 0.51
    # A seed 1: t1 avg 0.5, t2 avg 0.2 → 0.15 + 0.14 = 0.29
    assert a.agent == "A" and a.seeds == 2
    assert a.mean == pytest.approx(0.40)
    assert a.std == pytest.approx(statistics.stdev([0.51, 0.29])) and a.std == pytest.approx(0.22 / math.sqrt(2))
    assert a.per_task == pytest.approx({"t1": 0.4, "t2": 0.4})
    # B seed 0: t1 0.1, t2 0.1 → 0.1;  B seed 1: t1 0.2, t2 0.3 → 0.06 + 0.21 = 0.27
    assert b.agent == "B"
    assert b.mean == pytest.approx(0.185) and b.std == pytest.approx(0.17 / math.sqrt(2))
    assert b.per_task == pytest.approx({"t1": 0.15, "t2": 0.2})
    assert (a.runs, a.flagged, a.fallbacks, a.unscored) == (8, 0, 0, 0)
    assert (b.runs, b.flagged, b.fallbacks, b.unscored) == (8, 1, 1, 0)
    assert a.mean_budget_pct == pytest.approx(50.0) and b.mean_seconds_used == pytest.approx(3600.0)
    assert not a.partial and not b.partial and board.footnotes == ()


def test_partial_grid_unscored_runs_and_one_seed(grid: list[Result]) -> None:
    results = [r for r in grid if not (r.agent == "A" and r.seed == 1)]  # A: one seed left
    results = [r for r in results if not (r.agent == "A" and r.task == "t2" and r.model == "m2")]  # A: cell missing
    results = [  # B seed 1, t2 × m2: evaluation gave no score → left out of the means, counted
        result("B", 1, "t2", "m2", None, fallback_reason="every evaluation attempt failed")
        if (r.agent, r.seed, r.task, r.model) == ("B", 1, "t2", "m2") else r
        for r in results
    ]
    results.append(result("C", 0, "t1", "m1", 0.9))  # C ran t1 only: weights renormalised to t1 alone
    board = leaderboard(results)
    rows = {row.agent: row for row in board.rows}
    # A seed 0: t1 avg 0.3, t2 avg 0.5 (m1 only) → 0.09 + 0.35 = 0.44; one seed → no std
    assert rows["A"].mean == pytest.approx(0.44) and rows["A"].std is None and rows["A"].partial
    # B seed 1: t2 avg = 0.3 (m1 only); unchanged figures, one unscored run
    assert rows["B"].mean == pytest.approx(0.185) and rows["B"].unscored == 1 and rows["B"].fallbacks == 2
    assert rows["C"].mean == pytest.approx(0.9) and rows["C"].per_task["t2"] is None
    assert [row.agent for row in board.rows] == ["C", "A", "B"]
    (partial, unscored) = board.footnotes
    assert partial.startswith("(*) Partial grid") and "A seed 0: no score for t2 × m2" in partial
    assert "C seed 0: no score for t1 × m2, t2 × m1, t2 × m2" in partial
    assert unscored.startswith("1 run(s) have no score")
    md = render_markdown(board)
    assert "| A (*) | 1 | 44.0 | — | 1 |" in md and "| C (*) | 1 | 90.0 | — | 1 | 90.0 | — |" in md
    assert "| B-m2-t2-s1 | B | m2 | t2 | 1 | 1 | — | — | 5.0 | — | no | finished | 1:00 | — | — | every evaluation attempt failed |" in md


def test_budgets_of_one_agent_are_separate_rows(grid: list[Result]) -> None:
    longer = [result(r.agent, r.seed, r.task, r.model, 1.0, hours=2.0, run_id=r.run_id + "-2h") for r in grid if r.agent == "A"]
    board = leaderboard(grid + longer)
    assert [(row.agent, row.hours, round(row.mean, 6)) for row in board.rows] == [("A", 2.0, 1.0), ("A", 1.0, 0.4), ("B", 1.0, 0.185)]


def test_write_report_and_cli(tmp_path: Path, grid: list[Result], capsys) -> None:
    sweep = write_sweep(tmp_path / "results" / "sw", grid)
    assert len(load_results(sweep)) == 16
    markdown, table = write_report(sweep)
    assert markdown == sweep / "leaderboard.md" and table == sweep / "leaderboard.csv"
    text = markdown.read_text()
    assert text.startswith("# Leaderboard — sw\n")
    assert "| A | 1 | 40.0 | 15.6 | 2 | 40.0 | 40.0 | 0:30 | 50% | — / — | — | 8 | 0 | 0 | 0 |" in text
    rows = list(csv.DictReader(table.open()))
    assert [r["agent"] for r in rows] == ["A", "B"]
    assert float(rows[0]["score_mean"]) == pytest.approx(0.40) and float(rows[1]["t1"]) == pytest.approx(0.15)
    assert float(rows[0]["score_std"]) == pytest.approx(statistics.stdev([0.51, 0.29]))

    # a results folder holding several sweeps: one leaderboard per sweep
    write_sweep(tmp_path / "results" / "other", [result("Z", 0, "t1", "m1", 0.5)])
    assert main([str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "# Leaderboard — other" in out and "# Leaderboard — sw" in out
    assert f"wrote {tmp_path / 'results' / 'other' / 'leaderboard.md'}" in out
    assert (tmp_path / "results" / "other" / "leaderboard.csv").is_file()


def test_cli_without_results_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty" / "run1").mkdir(parents=True)
    assert main([str(tmp_path / "empty")]) == 2
    assert "no result.json found in" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no result.json in"):
        write_report(tmp_path / "empty")


def test_cli_as_module(tmp_path: Path, grid: list[Result]) -> None:
    import subprocess
    import sys

    sweep = write_sweep(tmp_path / "sw", grid)
    proc = subprocess.run([sys.executable, "-m", "ptb.report", str(sweep)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| B | 1 | 18.5 | 12.0 |" in proc.stdout and str(sweep / "leaderboard.csv") in proc.stdout


def test_tokens_and_cost_per_run_and_unknown_cost_is_never_zero() -> None:
    priced = [
        result("P", 0, "t1", "m1", 0.5, input_tokens=1_000_000, cached_input_tokens=0, output_tokens=20_000, cost_usd=3.0),
        result("P", 0, "t2", "m1", 0.5, input_tokens=3_000_000, cached_input_tokens=0, output_tokens=40_000, cost_usd=5.0),
    ]
    unpriced = [
        result("U", 0, "t1", "m1", 0.5, input_tokens=500, cached_input_tokens=0, output_tokens=50, cost_usd=None),
        result("U", 0, "t2", "m1", 0.5, input_tokens=1500, cached_input_tokens=0, output_tokens=150, cost_usd=2.0),
    ]
    offline = [result("O", 0, "t1", "m1", 0.5), result("O", 0, "t2", "m1", 0.5)]
    board = leaderboard([*priced, *unpriced, *offline])
    rows = {row.agent: row for row in board.rows}
    assert rows["P"].mean_input_tokens == 2_000_000 and rows["P"].mean_output_tokens == 30_000
    assert rows["P"].mean_cost_usd == pytest.approx(4.0) and rows["P"].cost_unknown == 0
    assert rows["U"].mean_cost_usd is None and rows["U"].cost_unknown == 1  # not a cheaper agent: unknown
    assert rows["O"].mean_input_tokens is None and rows["O"].mean_cost_usd is None
    md = render_markdown(board)
    assert "| 2.00M / 30.0k | $4.00 |" in md
    assert "| 1.0k / 100 | unknown |" in md
    assert "| — / — | — |" in md  # offline agents: no LLM, no tokens
    assert "| U-m1-t1-s0 | U | m1 | t1 | 0 | 1 | 50.0 | 50.0 | 5.0 | — | no | finished | 1:00 | 500 / 50 | unknown |" in md


def test_the_run_table_and_summary_say_why_an_agents_cli_gave_up() -> None:
    dry = result("Q", 0, "t1", "m1", 0.1, input_tokens=10, cached_input_tokens=0, output_tokens=1, cost_usd=0.01,
                 failure="quota")
    fine = result("Q", 1, "t1", "m1", 0.2, input_tokens=10, cached_input_tokens=0, output_tokens=1, cost_usd=0.01)
    md = render_markdown(leaderboard([dry, fine]))
    assert "| no | finished (quota) |" in md and "| no | finished | " in md
    assert "the agent's CLI gave up: quota" in summary_line(dry)
    assert "gave up" not in summary_line(fine)


def test_the_leaderboard_says_when_a_cli_ran_another_model_than_configured() -> None:
    swapped = [result("G", seed, "t1", "m1", 0.3, agent_model="gemini-3-pro-preview",
                      models_used=("gemini-3.1-pro-preview",)) for seed in (0, 1)]
    honest = result("C", 0, "t1", "m1", 0.3, agent_model="claude-opus-4-6", models_used=("claude-opus-4-6",))
    board = leaderboard([*swapped, honest])
    notes = [n for n in board.footnotes if "not the configured" in n]
    assert notes == ["G: its CLI ran gemini-3.1-pro-preview, not the configured gemini-3-pro-preview (2 run(s))."]
    assert notes[0] in render_markdown(board)
