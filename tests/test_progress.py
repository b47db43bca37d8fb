"""Live progress: stage lines, elapsed against budget, monitor samples forwarded to the tracker."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from ptb.progress import RunBoard
from ptb.records import AgentSpec, Budget, LadderStep, ModelSpec, RunSpec, TaskSpec
from ptb.stages import Stage


def spec(tmp_path: Path, run_id: str) -> RunSpec:
    return RunSpec(
        run_id=run_id, sweep="s", agent=AgentSpec(name="a", path="/a"), model=ModelSpec(name="m", template="chatml"),
        task=TaskSpec(name="t", benchmark="T", weight=1.0, eval_dir="/e", ladder=(LadderStep(8, 1),)),
        budget=Budget(hours=1.0), seed=0, prompt_variant="default", sandbox="none",
        run_dir=str(tmp_path / run_id), scratch_dir=str(tmp_path / "scratch" / run_id), cache_dir="/c",
    )


def test_stage_changes_are_printed_and_forwarded(tmp_path: Path) -> None:
    out = io.StringIO()
    seen = []
    board = RunBoard([spec(tmp_path, "r1"), spec(tmp_path, "r2")], out=out, on_stage=lambda *a: seen.append(a))
    board.update("r1", Stage.SOLVE)
    board.update("r2", Stage.DONE, "score 50.0%")
    assert "[ptb] r1: solve" in out.getvalue() and "[ptb] r2: done - score 50.0%" in out.getvalue()
    assert seen == [("r1", Stage.SOLVE, ""), ("r2", Stage.DONE, "score 50.0%")]


def test_render_shows_elapsed_against_budget_once_the_agent_started(tmp_path: Path) -> None:
    s = spec(tmp_path, "r1")
    board = RunBoard([s], out=io.StringIO())
    board.update("r1", Stage.SOLVE)
    assert "waiting for resources" in board.render()
    deadline = Path(s.scratch_dir) / "workspace" / ".ptb" / "deadline"
    deadline.parent.mkdir(parents=True)
    deadline.write_text(str(time.time() + 3600 - 125))  # started 125 s ago, 1 h budget
    line = [row for row in board.render().splitlines() if "r1" in row][0]
    assert "0:02:05 / 1:00:00 (3%)" in line


def test_monitor_samples_are_forwarded_once_and_only_when_complete(tmp_path: Path) -> None:
    s = spec(tmp_path, "r1")
    samples = []
    board = RunBoard([s], out=io.StringIO(), on_sample=lambda rid, sample: samples.append((rid, sample)))
    board.update("r1", Stage.SOLVE)
    Path(s.run_dir).mkdir(parents=True)
    monitor = Path(s.run_dir) / "monitor.jsonl"
    monitor.write_text(json.dumps({"t": 1, "cpu": 5}) + "\n" + '{"t": 2, "cp')
    board._forward_monitor_samples()
    board._forward_monitor_samples()
    assert samples == [("r1", {"t": 1, "cpu": 5})]
    with open(monitor, "a") as f:
        f.write('u": 7}\n')
    board._forward_monitor_samples()
    assert samples[-1] == ("r1", {"t": 2, "cpu": 7}) and len(samples) == 2


def test_stages_are_in_pipeline_order_and_only_done_and_failed_are_terminal() -> None:
    labels = [s.label for s in Stage]
    assert labels == ["queued", "prepare", "solve", "collect", "judge+evaluate", "score", "done", "failed", "skipped"]
    assert [s for s in Stage if s.is_terminal] == [Stage.DONE, Stage.FAILED, Stage.SKIPPED]
    assert not Stage.QUEUED.is_active and Stage.SOLVE.is_active
    assert Stage.from_label("judge+evaluate") is Stage.JUDGE_EVALUATE and str(Stage.SCORE) == "score"
