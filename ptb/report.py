"""The leaderboard of a sweep (SPEC §6), as Markdown and CSV.

    python -m ptb.report results/<sweep>     # writes results/<sweep>/leaderboard.{md,csv}, prints it
    python -m ptb.report results             # a folder of sweeps: one leaderboard per sweep

Scoring: for each agent (and budget) and seed, each task's score is the average over the base
models of the run scores; the seed's score is the weighted sum over tasks with each task's
weight, renormalised over the tasks present (a footnote says so when the grid is partial). The
agent's score is the mean and sample standard deviation (n−1) of those seed scores; per-task
columns are the mean over seeds of the model averages. Runs without a score (score None) are
listed but left out of every mean, and counted. Scores are shown in percent; the CSV keeps the
raw 0–1 fractions (empty where there is no value).

Baselines: a run that falls back (flagged, no final_model, every evaluation attempt failed)
scores the base model's score, taken from the measured baselines of the results folder
(`<results>/baselines/`, see `ptb.baseline.store`) when present, else from the published reference
table (`ptb.baseline.reference`); the runs table says which. The base models and the official instruct
models get rows of their own beside the agents, computed the same way over the sweep's grid.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.baseline.reference import KINDS
from ptb.baseline.store import BaselineStore
from ptb.io import read_record, write_text_atomic
from ptb.records import Result
from ptb.stages.score import with_base_score


@dataclass(frozen=True)
class AgentRow:
    agent: str
    hours: float
    seeds: int
    mean: float | None  # weighted score (0..1), mean over seeds
    std: float | None  # sample std over seeds; None with fewer than two scored seeds
    per_task: Mapping[str, float | None]  # mean over seeds of the average over models
    runs: int
    unscored: int  # runs with score None (left out of the means)
    flagged: int
    fallbacks: int  # runs scored with the base model's score (fallback_reason set)
    mean_seconds_used: float
    mean_budget_pct: float
    partial: bool  # some seed lacks a task × model cell of the sweep's grid
    mean_input_tokens: float | None = None  # per run; None: no LLM agent (noop, recipe_sft)
    mean_output_tokens: float | None = None
    mean_cost_usd: float | None = None  # per run; None: unknown for some run, or no LLM agent
    cost_unknown: int = 0  # runs with tokens but no known cost (no price configured)


@dataclass(frozen=True)
class BaselineRow:
    """The base (or official instruct) models over the sweep's grid, scored like an agent's seed."""

    kind: str  # base | instruct
    mean: float | None  # weighted score over the tasks with a value
    per_task: Mapping[str, float | None]  # average over the models with a value
    measured: int  # grid cells with a measured score
    reference: int  # grid cells taken from the published reference table
    missing: int  # grid cells with neither

    @property
    def source(self) -> str:
        if self.measured and not self.reference:
            return "measured"
        if self.reference and not self.measured:
            return "reference"
        if not self.measured and not self.reference:
            return "none"
        return f"{self.measured} measured, {self.reference} reference"


@dataclass(frozen=True)
class Leaderboard:
    title: str
    rows: tuple[AgentRow, ...]
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    weights: Mapping[str, float]
    results: tuple[Result, ...]
    footnotes: tuple[str, ...]
    baselines: tuple[BaselineRow, ...] = ()


# ----------------------------------------------------------------------------- loading


def load_results(sweep_dir: str | Path) -> list[Result]:
    """Every ``<sweep_dir>/*/result.json``, sorted by run id."""
    results = []
    for path in sorted(Path(sweep_dir).glob("*/result.json")):
        try:
            results.append(read_record(path, Result))
        except Exception as exc:
            raise ValueError(f"{path} is not a readable result record: {type(exc).__name__}: {exc}") from exc
    return sorted(results, key=lambda r: r.run_id)


# ----------------------------------------------------------------------------- scoring


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def rescore_fallbacks(results: Sequence[Result], store: BaselineStore) -> list[Result]:
    """Runs that fall back get the current best base score: measured if present, else reference
    (the rule is `ptb.stages.score.with_base_score`)."""
    rescored = []
    for r in results:
        if r.fallback_reason is not None:
            base = store.score("base", r.model, r.task)
            r = with_base_score(r, base.score, base.source)
        rescored.append(r)
    return rescored


def baseline_rows(
    store: BaselineStore, tasks: Sequence[str], models: Sequence[str], weights: Mapping[str, float]
) -> list[BaselineRow]:
    rows = []
    for kind in KINDS:
        per_task: dict[str, float | None] = {}
        counts = {"measured": 0, "reference": 0, None: 0}
        for task in tasks:
            values = []
            for model in models:
                base = store.score(kind, model, task)
                counts[base.source] += 1
                if base.score is not None:
                    values.append(base.score)
            per_task[task] = _mean(values)
        if not counts["measured"] and not counts["reference"]:
            continue  # nothing known (e.g. the embedded tiny model has no instruct counterpart)
        present = {t: v for t, v in per_task.items() if v is not None}
        total = sum(weights[t] for t in present)
        mean = sum(weights[t] * v for t, v in present.items()) / total if present and total > 0 else None
        rows.append(BaselineRow(kind, mean, per_task, counts["measured"], counts["reference"], counts[None]))
    return rows


def leaderboard(
    results: Sequence[Result], title: str = "Leaderboard", baselines: BaselineStore | None = None
) -> Leaderboard:
    """The leaderboard of `results`; with `baselines` (the results folder's store), fallback
    scores are refreshed from it and base/instruct rows are added."""
    if baselines is not None:
        results = rescore_fallbacks(results, baselines)
    tasks = tuple(sorted({r.task for r in results}))
    models = tuple(sorted({r.model for r in results}))
    weights: dict[str, float] = {}
    footnotes: list[str] = []
    for r in results:
        if r.task in weights and not math.isclose(weights[r.task], r.weight):
            footnotes.append(f"Task {r.task} has results with different weights; {weights[r.task]:g} is used.")
        weights.setdefault(r.task, r.weight)
    grid = {(t, m) for t in tasks for m in models}

    groups: dict[tuple[str, float], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.agent, r.hours)].append(r)

    rows, partial_notes, renormalised = [], [], False
    for (agent, hours), runs in groups.items():
        by_seed: dict[int, list[Result]] = defaultdict(list)
        for r in runs:
            by_seed[r.seed].append(r)
        seed_scores: list[float] = []
        task_averages: dict[str, list[float]] = defaultdict(list)
        partial = False
        for seed, seed_runs in sorted(by_seed.items()):
            averages = {}
            for task in tasks:
                scores = [r.score for r in seed_runs if r.task == task and r.score is not None]
                if scores:
                    averages[task] = statistics.fmean(scores)
                    task_averages[task].append(averages[task])
            scored_cells = {(r.task, r.model) for r in seed_runs if r.score is not None}
            missing = sorted(grid - scored_cells)
            if missing:
                partial = True
                shown = ", ".join(f"{t} × {m}" for t, m in missing[:4]) + (" …" if len(missing) > 4 else "")
                partial_notes.append(f"{_label(agent, hours, groups)} seed {seed}: no score for {shown}")
            total_weight = sum(weights[t] for t in averages)
            if averages and total_weight > 0:
                seed_scores.append(sum(weights[t] * averages[t] for t in averages) / total_weight)
                renormalised |= not math.isclose(total_weight, 1.0, abs_tol=1e-3)  # SPEC weights are rounded
        budget_pcts = [100.0 * r.seconds_used / r.budget_seconds for r in runs if r.budget_seconds > 0]
        rows.append(
            AgentRow(
                agent=agent,
                hours=hours,
                seeds=len(by_seed),
                mean=_mean(seed_scores),
                std=statistics.stdev(seed_scores) if len(seed_scores) >= 2 else None,
                per_task={t: _mean(task_averages[t]) for t in tasks},
                runs=len(runs),
                unscored=sum(r.score is None for r in runs),
                flagged=sum(r.flagged for r in runs),
                fallbacks=sum(r.fallback_reason is not None for r in runs),
                mean_seconds_used=statistics.fmean(r.seconds_used for r in runs),
                mean_budget_pct=_mean(budget_pcts) or 0.0,
                partial=partial,
                **_usage_means(runs),
            )
        )
    rows.sort(key=lambda row: (row.mean is None, -(row.mean or 0.0), row.agent, row.hours))

    if partial_notes:
        footnotes.append(
            "(*) Partial grid: task scores average the models present and task weights are renormalised over "
            "the tasks present — " + "; ".join(partial_notes) + "."
        )
    elif renormalised:
        footnotes.append(
            f"Task weights renormalised over the tasks present ({', '.join(tasks)}); "
            "the published grid has 7 tasks whose weights sum to 1."
        )
    substituted: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for r in results:
        if r.model_substituted and r.agent_model:
            key = (r.agent, r.agent_model, r.models_used)
            substituted[key] = substituted.get(key, 0) + 1
    for (agent, wanted, used), count in sorted(substituted.items()):
        footnotes.append(f"{agent}: its CLI ran {', '.join(used)}, not the configured {wanted} ({count} run(s)).")
    rejudged = sorted({r.verdict_version for r in results if r.verdict_version > 1})
    if rejudged:  # python -m ptb.judge re-scored these from the verdict version it wrote
        count = sum(r.verdict_version > 1 for r in results)
        files = ", ".join(f"judge.v{v}.json" for v in rejudged)
        footnotes.append(f"{count} run(s) are scored with a newer verdict ({files}, written by `python -m ptb.judge`); "
                         f"the others with judge.json. Each run's newest verdict counts.")
    unscored = sum(r.score is None for r in results)
    if unscored:
        footnotes.append(f"{unscored} run(s) have no score (see the runs table); they are left out of every mean.")
    extra = baseline_rows(baselines, tasks, models, weights) if baselines is not None else []
    for row in extra:
        if row.missing:
            footnotes.append(
                f"{row.kind} models: {row.missing} of {len(tasks) * len(models)} task × model cells have no baseline "
                f"(measure them with `python -m ptb.baseline`); the row averages the cells present."
            )
    return Leaderboard(title, tuple(rows), tasks, models, weights, tuple(results), tuple(footnotes), tuple(extra))


def _usage_means(runs: list[Result]) -> dict[str, Any]:
    """Tokens and cost per run. A mean cost over runs where some cost is unknown would read as a
    cheaper agent: it is unknown then, with the count of such runs."""
    llm = [r for r in runs if r.input_tokens is not None]
    if not llm:
        return {}
    unknown = sum(r.cost_usd is None for r in llm)
    return {
        "mean_input_tokens": statistics.fmean(r.input_tokens or 0 for r in llm),
        "mean_output_tokens": statistics.fmean(r.output_tokens or 0 for r in llm),
        "mean_cost_usd": None if unknown else statistics.fmean(r.cost_usd or 0.0 for r in llm),
        "cost_unknown": unknown,
    }


def _tokens(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def _status(result: Result) -> str:
    """The agent's status, with why its CLI gave up where it said so: an agent whose key ran dry
    must not read like one that stopped on its own."""
    return f"{result.status} ({result.failure})" if result.failure else result.status


def _cost(value: float | None, known: bool = True) -> str:
    if not known:
        return "unknown"
    return "—" if value is None else f"${value:.2f}"


def _label(agent: str, hours: float, groups: Mapping[tuple[str, float], object]) -> str:
    several_budgets = len({h for a, h in groups if a == agent}) > 1
    return f"{agent} ({hours:g} h)" if several_budgets else agent


# ----------------------------------------------------------------------------- rendering


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.1f}"


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"


def leaderboard_table(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """The leaderboard's header and cells, shared by the Markdown and the HTML report."""
    rows: list[list[str]] = []
    task_heads = [f"{t} (w {board.weights[t]:.3g})" for t in board.tasks]
    head = ["agent", "budget (h)", "score %", "± std", "seeds", *task_heads,
            "time used", "% budget", "tokens in/out", "cost/run", "runs", "flagged", "fallbacks", "unscored"]
    for row in board.rows:
        cells = [
            row.agent + (" (*)" if row.partial else ""),
            f"{row.hours:g}",
            _pct(row.mean),
            _pct(row.std),
            str(row.seeds),
            *(_pct(row.per_task[t]) for t in board.tasks),
            _duration(row.mean_seconds_used),
            f"{row.mean_budget_pct:.0f}%",
            f"{_tokens(row.mean_input_tokens)} / {_tokens(row.mean_output_tokens)}",
            _cost(row.mean_cost_usd, known=row.cost_unknown == 0),
            str(row.runs),
            str(row.flagged),
            str(row.fallbacks),
            str(row.unscored),
        ]
        rows.append(cells)
    for base in board.baselines:
        cells = [f"_{base.kind} models ({base.source})_", "—", _pct(base.mean), "—", "—",
                 *(_pct(base.per_task[t]) for t in board.tasks), "—", "—", "—", "—", "—", "—", "—", "—"]
        rows.append(cells)
    return head, rows


def render_markdown(board: Leaderboard) -> str:
    lines = [f"# {board.title}", ""]
    if not board.rows:
        return "\n".join(lines + ["No results.", ""])
    head, rows = leaderboard_table(board)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    lines += [
        "",
        f"Scores in percent. Per agent and seed: each task's score is averaged over the models "
        f"({', '.join(board.models)}), then weighted over tasks; score and ± std are the mean and sample "
        "standard deviation over seeds (— with one seed). Task columns: mean over seeds of the model average. "
        "Time used, % budget, tokens and cost: mean over runs (cost unknown when a run's CLI states none and "
        "no price is configured). A flagged run, a run without final_model and a run whose "
        "evaluation failed score the base model (fallbacks).",
    ]
    if board.footnotes:
        lines.append("")
        lines += [f"- {note}" for note in board.footnotes]
    lines += ["", "## Runs", ""]
    run_head = ["run", "agent", "model", "task", "seed", "budget (h)", "score %", "raw %", "base %",
                "base from", "flagged", "status", "time used", "tokens in/out", "cost", "fallback reason"]
    lines += ["| " + " | ".join(run_head) + " |", "|" + "---|" * len(run_head)]
    for r in sorted(board.results, key=lambda r: (r.agent, r.hours, r.task, r.model, r.seed)):
        cells = [r.run_id, r.agent, r.model, r.task, str(r.seed), f"{r.hours:g}", _pct(r.score), _pct(r.raw_score),
                 _pct(r.base_score), r.base_source or "—", "yes" if r.flagged else "no", _status(r),
                 _duration(r.seconds_used),
                 "—" if r.input_tokens is None else f"{_tokens(r.input_tokens)} / {_tokens(r.output_tokens)}",
                 "—" if r.input_tokens is None else _cost(r.cost_usd, known=r.cost_usd is not None),
                 (r.fallback_reason or "").replace("|", "/").replace("\n", " ")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_csv(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["agent", "hours", "seeds", "score_mean", "score_std", *board.tasks, "mean_seconds_used",
                     "mean_budget_pct", "mean_input_tokens", "mean_output_tokens", "mean_cost_usd", "cost_unknown_runs", "runs", "flagged", "fallbacks", "unscored", "partial", "source"])
    blank = lambda v: "" if v is None else repr(v)  # noqa: E731  (full precision, empty for None)
    for row in board.rows:
        writer.writerow([row.agent, row.hours, row.seeds, blank(row.mean), blank(row.std),
                         *(blank(row.per_task[t]) for t in board.tasks), row.mean_seconds_used,
                         row.mean_budget_pct, blank(row.mean_input_tokens), blank(row.mean_output_tokens),
                         blank(row.mean_cost_usd), row.cost_unknown, row.runs, row.flagged, row.fallbacks, row.unscored, row.partial,
                         "agent"])
    for base in board.baselines:
        writer.writerow([base.kind, "", "", blank(base.mean), "", *(blank(base.per_task[t]) for t in board.tasks),
                         "", "", "", "", "", "", "", "", "", "", "", base.source])
    return buffer.getvalue()


def write_report(sweep_dir: str | Path, html: bool = True) -> tuple[Path, Path]:
    sweep_dir = Path(sweep_dir)
    results = load_results(sweep_dir)
    if not results:
        raise FileNotFoundError(f"no result.json in {sweep_dir}/*/ — is this a sweep folder (results/<sweep>)?")
    store = BaselineStore(sweep_dir.parent)  # the results folder holding this sweep
    board = leaderboard(results, title=f"Leaderboard — {sweep_dir.name}", baselines=store)
    markdown, table = sweep_dir / "leaderboard.md", sweep_dir / "leaderboard.csv"
    write_text_atomic(markdown, render_markdown(board))
    write_text_atomic(table, render_csv(board))
    if html:
        from ptb.report_html import write_html  # matplotlib loads only when the page is written

        try:
            write_html(board, sweep_dir)
        except Exception as exc:  # the page is an extra: the leaderboard files are written already
            print(f"ptb.report: could not write {sweep_dir / 'report.html'}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return markdown, table


# ----------------------------------------------------------------------------- CLI


def sweep_dirs(folder: Path) -> list[Path]:
    """The folder itself when it is a sweep, else every sweep folder directly inside it."""
    if any(folder.glob("*/result.json")):
        return [folder]
    return [d for d in sorted(folder.iterdir()) if d.is_dir() and any(d.glob("*/result.json"))] if folder.is_dir() else []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ptb.report",
        description="Leaderboard of a sweep folder (results/<sweep>), or of every sweep in a results folder.",
    )
    parser.add_argument("folder", type=Path, help="a sweep folder, or a results folder holding sweep folders")
    args = parser.parse_args(argv)
    folder: Path = args.folder
    sweeps = sweep_dirs(folder)
    if not sweeps:
        print(
            f"ptb.report: no result.json found in {folder}/*/ nor in {folder}/*/*/ — pass a sweep folder "
            "(results/<sweep>) or a results folder; runs write result.json when they finish.",
            file=sys.stderr,
        )
        return 2
    for sweep in sweeps:
        markdown, table = write_report(sweep)
        sys.stdout.write(markdown.read_text())
        print(f"\n[ptb.report] wrote {markdown}, {table} and {sweep / 'report.html'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
