"""`python -m ptb.agents install|status [overrides]`: see `ptb.agents.command`."""

import sys

import hydra
from omegaconf import DictConfig

from ptb.agents.command import agents_command, install_all, status_all
from ptb.batch import batch_entry, exit_on_failure
from ptb.paths import CONF_DIR

USAGE = "usage: python -m ptb.agents install|status [-m] [agent=NAME[,NAME...]] [toolchain_dir=DIR]"


def _action_from_argv() -> str:
    # Hydra owns the rest of argv; the first word is ours.
    if len(sys.argv) < 2 or sys.argv[1] not in ("install", "status"):
        sys.stderr.write(USAGE + "\n")
        sys.exit(2)
    action = sys.argv.pop(1)
    if not any(arg.startswith(("agent=", "+agent=")) for arg in sys.argv[1:]):
        # no agent named: every agent config that has a CLI
        names = sorted(p.stem for p in (CONF_DIR / "agent").glob("*.yaml"))
        sys.argv[1:1] = ["-m", "agent=" + ",".join(names)]
    return action


ACTION = _action_from_argv() if __name__ == "__main__" else "install"


def _handler(configs: list[DictConfig]) -> list[int]:
    return install_all(configs) if ACTION == "install" else status_all(configs)


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
@batch_entry(_handler)
def main(cfg: DictConfig) -> None:
    exit_on_failure(agents_command([cfg], "install" if ACTION == "install" else "status"))


if __name__ == "__main__":
    main()
