"""Install the agent CLIs a sweep needs: `python -m ptb.agents install` (sweepable like a run).

    python -m ptb.agents install                       # every agent config's CLI (conf/agent/)
    python -m ptb.agents install agent=opus            # Claude Code at its pinned version
    python -m ptb.agents install -m agent=opus,gpt52   # several; each package@version once
    python -m ptb.agents status -m agent=opus,gpt52    # what is installed, install nothing
    PTB_TOOLCHAIN_DIR=/shared/ptb-toolchain python -m ptb.agents install

Each CLI goes into ``toolchain_dir`` (default ``~/.cache/ptb/toolchain``; see
`ptb.agents.toolchain`), which every node of a cluster can share like the HF cache. Offline
agents (noop, recipe_sft) need no CLI and are listed as such. Exit code 0 only when every
requested CLI is installed.
"""

from __future__ import annotations

import sys
from typing import Literal, TextIO

from omegaconf import DictConfig

from ptb.agents.toolchain import InstalledCli, ToolchainError, find_cli, install_cli
from ptb.errors import ConfigError
from ptb.plan import check_job
from ptb.records import AgentCli

Action = Literal["install", "status"]


def agents_command(configs: list[DictConfig], action: Action = "install", out: TextIO | None = None) -> list[int]:
    out = out or sys.stdout
    try:
        jobs = [check_job(cfg) for cfg in configs]
    except ConfigError as error:
        sys.stderr.write(f"ptb: error: {error}\n")
        return [2] * len(configs)
    wanted: dict[tuple[str, str], tuple[AgentCli, str, list[str]]] = {}
    for job in jobs:
        cli = job.agent.cli
        if cli is None:
            out.write(f"{job.agent.name}: offline agent, needs no CLI\n")
            continue
        entry = wanted.setdefault((cli.package, cli.version), (cli, job.top.toolchain_dir, []))
        if job.agent.name not in entry[2]:
            entry[2].append(job.agent.name)
    failed = False
    for cli, toolchain_dir, agents in wanted.values():
        label = f"{cli.package}@{cli.version} ({', '.join(agents)})"
        try:
            found: InstalledCli | None
            if action == "install":
                found = find_cli(toolchain_dir, cli)
                if found is None:
                    out.write(f"installing {label} ...\n")
                    out.flush()
                    found = install_cli(toolchain_dir, cli)
            else:
                found = find_cli(toolchain_dir, cli)
        except ToolchainError as error:
            out.write(f"FAILED {label}: {error}\n")
            failed = True
            continue
        if found is None:
            out.write(f"not installed {label} -> python -m ptb.agents install agent={agents[0]}\n")
            failed = True
        else:
            out.write(f"ok {label}: {found.executable}\n")
    return [1 if failed else 0] * len(configs)


def install_all(configs: list[DictConfig]) -> list[int]:
    return agents_command(configs, "install")


def status_all(configs: list[DictConfig]) -> list[int]:
    return agents_command(configs, "status")
