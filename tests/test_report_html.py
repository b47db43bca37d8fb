"""report.html and its figures on a fixture sweep (2 agents × 2 tasks × 2 models × 2 seeds)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_report import grid, result, write_sweep  # noqa: F401  (grid is a fixture)

from ptb.report import write_report

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def sweep(tmp_path: Path, grid) -> Path:  # noqa: F811
    grid = [r if r.run_id != "A-m1-t1-s0" else result("A", 0, "t1", "m1", None, status="failed", fallback_reason=HOSTILE)
            for r in grid]
    return write_sweep(tmp_path / "sw", grid)


def test_html_numbers_escaping_and_figures(sweep: Path) -> None:
    md, _ = write_report(sweep)
    page = (sweep / "report.html").read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    row = next(line for line in md.read_text().splitlines() if line.startswith("| A"))
    for cell in [c.strip() for c in row.strip("|").split("|")][1:6]:
        assert f"<td>{cell}</td>" in page
    for name in ("score", "tasks", "time_vs_score"):
        assert (sweep / "report" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ET.parse(sweep / "report" / f"{name}.svg")
    assert page.count("data:image/png;base64,") == 3


def test_no_scored_run_says_so(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path / "sw", [result("A", 0, "t1", "m1", None, status="failed")])
    write_report(folder)
    assert "no figures" in (folder / "report.html").read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (scripts/setup.sh installs it as root)")
def test_report_loads_in_headless_chromium(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep)
    page = sweep / "report.html"
    probe = ("<script>window.addEventListener('load',()=>{const ok=[...document.images].every(i=>i.complete&&i.naturalWidth>0);"
             "document.body.setAttribute('data-figs',document.images.length+':'+ok)})</script>")
    probed = sweep / "probe.html"
    probed.write_text(page.read_text().replace("</body>", probe + "</body>"))
    proc = subprocess.run(["chromium", "--headless=new", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0",
                           f"--user-data-dir={tmp_path / 'chrome'}", "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=60)
    assert 'data-figs="3:true"' in proc.stdout, proc.stderr[-2000:]
    assert not re.search(r"CONSOLE.*(Error|Uncaught)", proc.stderr), proc.stderr[-2000:]
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless=new", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'chrome'}",
                    f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()], capture_output=True, timeout=60)
    assert shot.read_bytes()[:4] == b"\x89PNG"
