"""Figures of a sweep's leaderboard (matplotlib, Agg): score per agent with ±1 std, per-task bars
per model, and time used against score with each agent's Pareto frontier. Every number comes from
`ptb.report.Leaderboard`; nothing is re-scored here."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ptb.report import Leaderboard  # noqa: E402

# agent names are config text: never parse them as mathtext ("$" would raise); stable SVG ids
RC = {"text.parse_math": False, "svg.hashsalt": "ptb", "svg.fonttype": "path"}


def _label(row_agent: str, hours: float, board: Leaderboard) -> str:
    several = len({r.hours for r in board.rows if r.agent == row_agent}) > 1
    return f"{row_agent} ({hours:g} h)" if several else row_agent


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both less time and more score, by time."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def write_figures(board: Leaderboard, out: Path) -> dict[str, list[Path]]:
    """PNG and SVG of each figure with data into `out`; a figure without data is left out."""
    out.mkdir(parents=True, exist_ok=True)
    scored = [r for r in board.rows if r.mean is not None]
    figures: dict[str, list[Path]] = {}
    if not scored:
        return figures
    with plt.rc_context(RC):  # type: ignore[arg-type]  # plain str keys
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(scored) + 2), 3.6))
        labels = [_label(r.agent, r.hours, board) for r in scored]
        ax.bar(labels, [100 * (r.mean or 0) for r in scored], yerr=[100 * (r.std or 0) for r in scored],
               capsize=4, color="#4c72b0")
        for base, style in zip(board.baselines, ("--", ":"), strict=False):
            if base.mean is not None:
                ax.axhline(100 * base.mean, ls=style, color="gray", label=f"{base.kind} models")
        if board.baselines:
            ax.legend(fontsize=8)
        ax.set_ylabel("weighted score % (±1 std over seeds)")
        ax.set_title("Score per agent")
        figures["score"] = _save(fig, out, "score")

        per_model: dict[tuple[str, float, str, str], list[float]] = defaultdict(list)
        for res in board.results:
            if res.score is not None:
                per_model[(res.agent, res.hours, res.task, res.model)].append(res.score)
        fig, axes = plt.subplots(1, len(board.tasks), figsize=(3.2 * len(board.tasks) + 1, 3.4), squeeze=False)
        width = 0.8 / max(1, len(scored))
        for ax, task in zip(axes[0], board.tasks, strict=True):
            for i, r in enumerate(scored):
                ys = [100 * statistics.fmean(per_model.get((r.agent, r.hours, task, m), [0.0]) or [0.0])
                      for m in board.models]
                ax.bar([j + i * width for j in range(len(board.models))], ys, width,
                       label=_label(r.agent, r.hours, board))
            ax.set_xticks([j + width * (len(scored) - 1) / 2 for j in range(len(board.models))], board.models)
            ax.set_title(task)
            ax.set_ylabel("score % (mean over seeds)")
        axes[0][-1].legend(fontsize=8)
        figures["tasks"] = _save(fig, out, "tasks")

        fig, ax = plt.subplots(figsize=(5, 3.6))
        for agent in sorted({r.agent for r in scored}):
            pts = [(r.mean_seconds_used / 3600, 100 * (r.mean or 0)) for r in scored if r.agent == agent]
            line = ax.scatter(*zip(*pts, strict=True), label=agent)
            front = pareto(pts)
            ax.step(*zip(*front, strict=True), where="post", color=line.get_facecolor()[0], alpha=0.6)
        ax.set_xlabel("time used (h, mean per run)")
        ax.set_ylabel("weighted score %")
        ax.set_title("Time used vs score (Pareto frontier per agent)")
        ax.legend(fontsize=8)
        figures["time_vs_score"] = _save(fig, out, "time_vs_score")
    return figures
