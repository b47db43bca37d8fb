"""A `SolveRequest` factory for the test agents in tests/fixtures/agents/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ptb.records import AgentSpec, Budget
from ptb.stages.solve import SolveRequest

FIXTURE_AGENTS = Path(__file__).resolve().parents[2] / "fixtures" / "agents"


@pytest.fixture
def make_request(tmp_path):
    def make(agent: str, seconds: float, grace: float = 1.0, sandbox: str = "auto", prompt: str = "solve it",
             env: dict[str, str] | None = None, root: Path | None = None) -> SolveRequest:
        root = root or tmp_path
        workspace, home, run_dir = root / "workspace", root / "home", root / "run"
        for folder in (workspace / ".ptb", home, run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        prompt_file = workspace / ".ptb" / "prompt.md"
        prompt_file.write_text(prompt)
        agent_dir = FIXTURE_AGENTS / agent
        full_env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "PTB_WORKSPACE": str(workspace),
            "PTB_PROMPT_FILE": str(prompt_file),
            "PTB_AGENT_DIR": str(agent_dir),
            **(env or {}),
        }
        return SolveRequest(
            run_dir=str(run_dir),
            workspace=str(workspace),
            home=str(home),
            agent=AgentSpec(name=agent, path=str(agent_dir)),
            prompt_file=str(prompt_file),
            env=full_env,
            budget=Budget(hours=seconds / 3600, grace_seconds=grace),
            sandbox=sandbox,
            readonly=(str(agent_dir),),
            monitor_interval_s=0.3,
        )

    return make
