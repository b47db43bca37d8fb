"""report.html: one self-contained page (figures as base64 PNG, no outside resource) with the
leaderboard, the figures and the runs table. Every string from results is HTML-escaped: agent
names, failure texts and fallback reasons can be agent-controlled."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from urllib.parse import quote

from ptb.io import write_text_atomic
from ptb.report import Leaderboard, _cost, _duration, _pct, _status, _tokens, leaderboard_table
from ptb.report_figures import write_figures

CSS = "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}" \
      "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out) + "</table>"


def render_html(board: Leaderboard, sweep_dir: Path) -> str:
    figures = write_figures(board, sweep_dir / "report")
    head, rows = leaderboard_table(board)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(board.title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{escape(board.title)}</h1>",
             "<h2>Leaderboard</h2>", _table(head, [[escape(c) for c in r] for r in rows])]
    parts += ["<ul>" + "".join(f"<li>{escape(n)}</li>" for n in board.footnotes) + "</ul>"]
    parts.append("<h2>Figures</h2>")
    if not figures:
        parts.append("<p class='nofig'>No scored run yet: no figures.</p>")
    for name, (png, svg) in figures.items():
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<figure><img class='fig' alt='{name}' src='data:image/png;base64,{data}'>"
                     f"<figcaption><a href='report/{png.name}'>PNG</a> · <a href='report/{svg.name}'>SVG</a>"
                     "</figcaption></figure>")
    parts.append("<h2>Runs</h2>")
    run_rows = []
    for r in sorted(board.results, key=lambda r: (r.agent, r.hours, r.task, r.model, r.seed)):
        link = quote(r.run_id)
        run_rows.append([f"<a href='{link}/'>{escape(r.run_id)}</a> (<a href='{link}/result.json'>result</a>)",
                         *(escape(c) for c in (r.agent, r.model, r.task, str(r.seed), _pct(r.score), _pct(r.base_score),
                           _status(r), "flagged" if r.flagged else "clean", _duration(r.seconds_used),
                           "—" if r.input_tokens is None else f"{_tokens(r.input_tokens)} / {_tokens(r.output_tokens)}",
                           "—" if r.input_tokens is None else _cost(r.cost_usd, known=r.cost_usd is not None),
                           r.fallback_reason or ""))])
    parts.append(_table(["run", "agent", "model", "task", "seed", "score %", "base %", "status", "verdict",
                         "time used", "tokens in/out", "cost", "fallback reason"], run_rows))
    return "\n".join(parts) + "</body></html>\n"


def write_html(board: Leaderboard, sweep_dir: Path) -> Path:
    path = sweep_dir / "report.html"
    write_text_atomic(path, render_html(board, sweep_dir))
    return path
