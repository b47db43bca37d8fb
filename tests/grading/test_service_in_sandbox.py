"""The run's grading service as the solve stage starts it: reachable from inside the bwrap sandbox
(the socket given to the agent like the egress proxy's), while the secret itself is not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from ptb.data import harness_files_root
from ptb.io import to_jsonable
from ptb.records import AgentSpec, Budget, ModelSpec, RunSpec
from ptb.sandbox import bwrap_works
from ptb.stages.solve import SolveRequest, run_solve

AGENT = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "grading_agent"


@pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")
def test_the_sandboxed_agent_reaches_the_service_but_not_the_secret(tmp_path, arith_task_spec, arith_module):
    workspace, home, run_dir = tmp_path / "workspace", tmp_path / "home", tmp_path / "run"
    for folder in (workspace / ".ptb", home, run_dir):
        folder.mkdir(parents=True)
    spec = RunSpec(
        run_id="r1", sweep="s", agent=AgentSpec(name="grading_agent", path=str(AGENT)),
        model=ModelSpec(name="tiny", template="chatml", builder="tiny"), task=arith_task_spec,
        budget=Budget(hours=0.05), seed=0, prompt_variant="default", sandbox="bwrap",
        run_dir=str(run_dir), scratch_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"),
    )
    (run_dir / "spec.yaml").write_text(yaml.safe_dump({"spec": to_jsonable(spec)}))  # as prepare writes it
    arith_module.items("test")  # the secret exists on the host
    prompt = workspace / ".ptb" / "prompt.md"
    prompt.write_text("grade")
    import os

    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "PTB_WORKSPACE": str(workspace),
           "PTB_DATA_DIR": os.environ["PTB_DATA_DIR"], "PTB_AGENT_DIR": str(AGENT), "HF_HUB_OFFLINE": "1"}
    request = SolveRequest(
        run_dir=str(run_dir), workspace=str(workspace), home=str(home), agent=spec.agent, prompt_file=str(prompt),
        env=env, budget=Budget(hours=60 / 3600, grace_seconds=1), sandbox="bwrap", readonly=(str(AGENT),),
        hidden=(str(harness_files_root()),),
    )
    outcome = run_solve(request)
    log = (run_dir / "solve.log").read_text()
    assert outcome.status == "finished", log
    line = next(raw for raw in log.splitlines() if " stdout {" in raw)
    seen = json.loads(line.split(" stdout ", 1)[1])
    assert seen["items"] == 200 and set(seen["first"]) == {"id", "input"}
    assert seen["reply"]["graded"] == 2 and all(set(r) <= {"id", "correct", "limited"} for r in seen["reply"]["results"])
    assert seen["secret_visible"] is False and not seen["secret_dir"]  # hidden: an empty folder or none
    graded = [json.loads(x) for x in (run_dir / "grading.jsonl").read_text().splitlines()]
    assert [g["id"] for g in graded] == ["test-0", "test-1"]
    assert not (tmp_path / "grading" / "grading.sock").exists()  # stopped with the solve


def test_a_service_that_cannot_start_is_infrastructure(tmp_path):
    from ptb.grading.run import run_grading
    from ptb.stages.solve import SolveInfraError

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spec.yaml").write_text("spec: {}\n")  # the harness's own record broken
    with pytest.raises(SolveInfraError, match="grading service"):
        with run_grading(tmp_path / "run", tmp_path):
            pass
    (tmp_path / "run" / "spec.yaml").unlink()  # no record at all: nothing to grade
    with run_grading(tmp_path / "run", tmp_path) as grading:
        assert grading is None
