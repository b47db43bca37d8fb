"""ptb.agents.toolchain and `python -m ptb.agents`: a real npm install from the registry (a small
package with an executable stands in for an agent CLI), found again without a second install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptb.agents.toolchain import ToolchainError, cli_home, find_cli, install_cli
from ptb.records import AgentCli

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
SEMVER = AgentCli(package="semver", version="7.6.3", bin="semver")


@needs_npm
def test_install_is_atomic_versioned_and_found_again(tmp_path: Path) -> None:
    assert find_cli(tmp_path, SEMVER) is None
    installed = install_cli(tmp_path, SEMVER)
    assert installed.version == "7.6.3"
    assert Path(installed.home) == cli_home(tmp_path, SEMVER) == tmp_path / "npm" / "semver@7.6.3"
    done = subprocess.run([installed.executable, "1.2.3", "-r", ">=1"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1.2.3"
    assert [p.name for p in (tmp_path / "npm").iterdir()] == ["semver@7.6.3"]  # no staging folder left
    mtime = Path(installed.home).stat().st_mtime
    assert install_cli(tmp_path, SEMVER) == installed and Path(installed.home).stat().st_mtime == mtime


@needs_npm
def test_a_version_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"npm install semver@999\.0\.0 failed"):
        install_cli(tmp_path, AgentCli(package="semver", version="999.0.0", bin="semver"))
    assert not any((tmp_path / "npm").iterdir())


@needs_npm
def test_the_command_reports_offline_agents_and_missing_clis(tmp_path: Path) -> None:
    env = {**os.environ, "PTB_TOOLCHAIN_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "ptb.agents", "status", "-m", "agent=noop,opus"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert "noop: offline agent, needs no CLI" in done.stdout
    assert "not installed @anthropic-ai/claude-code@" in done.stdout and "python -m ptb.agents install agent=opus" in done.stdout
    usage = subprocess.run([sys.executable, "-m", "ptb.agents"], capture_output=True, text=True, env=env, timeout=60)
    assert usage.returncode == 2 and "usage: python -m ptb.agents install|status" in usage.stderr
