"""The agent CLIs ptb installs from npm, each at its pinned version, into a shared toolchain folder.

    cli = AgentCli(package="@anthropic-ai/claude-code", version="2.1.197", bin="claude")
    installed = install_cli(toolchain_dir, cli)      # npm install, once; later calls find it
    installed.executable                             # <toolchain>/npm/anthropic-ai-claude-code@2.1.197/node_modules/.bin/claude
    find_cli(toolchain_dir, cli)                     # InstalledCli, or None when not installed

Layout: one folder per package and version (``<toolchain>/npm/<slug>@<version>/``), so runs that
pin different versions share one toolchain, and a cluster can keep it on a shared filesystem
next to the HF cache (``toolchain_dir`` / ``PTB_TOOLCHAIN_DIR``). Each is installed with
``npm install --prefix`` from the npm registry npm is configured with (the only host contacted),
into a temporary folder renamed into place when complete: a crashed or concurrent install never
leaves a half-installed CLI where a run would find it. The version actually installed is read
back from the package's own package.json: that is what a run records (``agent_cli.json``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ptb.errors import ConfigError
from ptb.records import AgentCli, RunSpec


class ToolchainError(RuntimeError):
    """An agent CLI could not be installed or is not usable."""


@dataclass(frozen=True)
class InstalledCli:
    """An installed agent CLI (agent_cli.json in the run folder)."""

    package: str
    version: str  # from the installed package.json, not the request
    bin: str
    home: str  # the install folder (mounted read-only into the sandbox)
    executable: str


def toolchain_root(toolchain_dir: str | os.PathLike[str]) -> Path:
    return Path(toolchain_dir).expanduser().resolve()


def cli_home(toolchain_dir: str | os.PathLike[str], cli: AgentCli) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", cli.package.lstrip("@"))
    return toolchain_root(toolchain_dir) / "npm" / f"{slug}@{cli.version}"


def find_cli(toolchain_dir: str | os.PathLike[str], cli: AgentCli) -> InstalledCli | None:
    home = cli_home(toolchain_dir, cli)
    executable = home / "node_modules" / ".bin" / cli.bin
    manifest = home / "node_modules" / cli.package / "package.json"
    if not (executable.exists() and manifest.is_file()):
        return None
    try:
        version = str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError) as exc:
        raise ToolchainError(f"{manifest} is unreadable ({exc}); remove {home} and install again") from exc
    return InstalledCli(cli.package, version, cli.bin, str(home), str(executable))


def install_hint(agent: str) -> str:
    return f"python -m ptb.agents install agent={agent}"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm is not installed; the agent CLIs are npm packages (install Node.js 20 or newer)")
    return npm


def install_cli(toolchain_dir: str | os.PathLike[str], cli: AgentCli, timeout_s: float = 1800) -> InstalledCli:
    """Install ``cli`` unless it is installed already; returns where it is."""
    found = find_cli(toolchain_dir, cli)
    if found is not None:
        return found
    home = cli_home(toolchain_dir, cli)
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
    env = {
        **os.environ,
        # no prompts, no update check, no audit or funding lookups: only the registry is asked
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_yes": "true",
    }
    argv = [_npm(), "install", "--prefix", str(staging), "--no-save", "--omit=dev", f"{cli.package}@{cli.version}"]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ToolchainError(f"npm install {cli.package}@{cli.version} took over {timeout_s:.0f}s") from exc
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ToolchainError(f"npm install {cli.package}@{cli.version} failed (exit {done.returncode}):\n{tail}")
    # mkdtemp made it 0700: the agents run as another user (uid 65534 under a root harness)
    staging.chmod(0o755)
    try:
        staging.rename(home)
    except OSError:
        # another process installed it meanwhile: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    found = find_cli(toolchain_dir, cli)
    if found is None:
        raise ToolchainError(
            f"npm installed {cli.package}@{cli.version} but it has no executable '{cli.bin}' "
            f"(node_modules/.bin/{cli.bin}); check agent.cli.bin"
        )
    if found.version != cli.version:
        raise ToolchainError(f"npm installed {cli.package} {found.version}, not the pinned {cli.version}")
    elapsed = time.monotonic() - started
    (home / "ptb-install.json").write_text(json.dumps({"installed_at": time.time(), "seconds": round(elapsed, 1)}) + "\n")
    return found


def check_clis_installed(specs: Sequence[RunSpec]) -> None:
    """Before anything is scheduled: every run's agent CLI is installed (a ConfigError names the
    command that installs the missing ones)."""
    missing: dict[str, tuple[str, str]] = {}
    for spec in specs:
        cli = spec.agent.cli
        if cli is not None and find_cli(spec.toolchain_dir, cli) is None:
            missing.setdefault(f"{cli.package}@{cli.version}", (spec.agent.name, spec.toolchain_dir))
    if missing:
        agents = ",".join(dict.fromkeys(name for name, _ in missing.values()))
        where = ", ".join(dict.fromkeys(d for _, d in missing.values()))
        raise ConfigError(
            f"agent CLI not installed: {', '.join(missing)} (toolchain_dir={where}); "
            f"install with: python -m ptb.agents install -m agent={agents}"
        )
