"""The real agents' CLIs: pinned npm packages in a shared toolchain folder (`ptb.agents.toolchain`),
installed by ``python -m ptb.agents install`` (`ptb.agents.command`)."""

from ptb.agents.toolchain import InstalledCli, ToolchainError, cli_home, find_cli, install_cli, install_hint

__all__ = ["InstalledCli", "ToolchainError", "cli_home", "find_cli", "install_cli", "install_hint"]
