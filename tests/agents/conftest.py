"""Running an agent folder's solve.sh the way the solve stage does: cwd = a prepared workspace,
the prompt on stdin, and only the documented PTB_* environment (no sandbox needed here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ptb.io import to_jsonable
from ptb.paths import AGENTS_DIR, TEMPLATES_DIR


@dataclass(frozen=True)
class AgentWorkspace:
    root: Path
    env: dict[str, str]

    def solve(self, agent: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**self.env, "PTB_AGENT_DIR": str(AGENTS_DIR / agent)}
        return subprocess.run(
            ["bash", str(AGENTS_DIR / agent / "solve.sh")],
            cwd=self.root, env=env, input="Post-train the model.\n",
            capture_output=True, text=True, timeout=timeout,
        )


@pytest.fixture
def agent_workspace(tmp_path, tiny_model_dir, arith_module, arith_task_spec):
    """make(hours=..., base_model=...) -> AgentWorkspace holding what prepare puts there."""

    def make(hours: float = 1.0, base_model: Path | None = None) -> AgentWorkspace:
        root, home = tmp_path / "workspace", tmp_path / "home"
        (root / ".ptb").mkdir(parents=True)
        (root / "templates").mkdir()
        home.mkdir()
        (root / "templates" / "chatml.jinja").write_text((TEMPLATES_DIR / "chatml.jinja").read_text())
        (root / "ptb_eval.json").write_text(
            json.dumps({"task": to_jsonable(arith_task_spec), "template": "templates/chatml.jinja"})
        )
        arith_module.write_agent_context(root)
        deadline = time.time() + hours * 3600
        (root / ".ptb" / "prompt.md").write_text("Post-train the model.\n")
        (root / ".ptb" / "deadline").write_text(f"{deadline:.0f}\n")
        env = {
            "PTB_WORKSPACE": str(root),
            "PTB_PROMPT_FILE": str(root / ".ptb" / "prompt.md"),
            "PTB_BASE_MODEL": str(base_model or tiny_model_dir),
            "PTB_TASK": "arith",
            "PTB_MODEL": "tiny",
            "PTB_HOURS": str(hours),
            "PTB_DEADLINE": f"{deadline:.0f}",
            "PTB_CPUS": "1",
            "OMP_NUM_THREADS": "1",
            "HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HF_HUB_OFFLINE": "1",
        }
        return AgentWorkspace(root, env)

    return make


# one agent config per scaffold: the four real CLIs
REAL_AGENTS = ("opus", "gpt52", "gemini3pro", "kimi25")


@pytest.fixture(scope="session")
def agent_toolchain(ptb_test_cache: Path) -> Path:
    """The four pinned CLIs, installed once per test cache the way a user installs them."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the agent CLIs are npm packages")
    toolchain = ptb_test_cache / "agent-toolchain"
    proc = subprocess.run(
        [sys.executable, "-m", "ptb.agents", "install", "-m", "agent=" + ",".join(REAL_AGENTS)],
        env={**os.environ, "PTB_TOOLCHAIN_DIR": str(toolchain)}, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return toolchain
