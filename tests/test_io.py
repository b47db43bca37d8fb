"""Records survive a JSON round trip; writes are atomic."""

from __future__ import annotations

from pathlib import Path

from ptb.io import read_record, write_record, write_text_atomic
from ptb.records import AgentSpec, Attempt, Budget, Finding, LadderStep, Metrics, ModelSpec, RunSpec, TaskSpec, Verdict


def test_nested_records_round_trip(tmp_path: Path) -> None:
    spec = RunSpec(
        run_id="r", sweep="s", agent=AgentSpec(name="a", path="/a", env={"K": "v"}, env_passthrough=("X",)),
        model=ModelSpec(name="m", template="chatml", forbidden=("org/instruct",)),
        task=TaskSpec(name="t", benchmark="T", weight=0.5, eval_dir="/e", ladder=(LadderStep(16, 4), LadderStep(8, 2))),
        budget=Budget(hours=1, gpus=1, cpus=2), seed=1, prompt_variant="default", sandbox="bwrap",
        run_dir="/r", scratch_dir="/s", cache_dir="/c",
    )
    for record, cls in [
        (spec, RunSpec),
        (Metrics(score=None, metric="accuracy", samples=0, attempts=(Attempt(16, False, 1.5, "boom"),), reason="x"), Metrics),
        (Verdict(flagged=True, findings=(Finding("c", False, True, "d"),), reason="c"), Verdict),
    ]:
        write_record(tmp_path / "r.json", record)
        assert read_record(tmp_path / "r.json", cls) == record
    assert isinstance(read_record(tmp_path / "r.json", Verdict).findings, tuple)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a" / "x.txt", "one")
    write_text_atomic(tmp_path / "a" / "x.txt", "two")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"]
    assert (tmp_path / "a" / "x.txt").read_text() == "two"
