"""`python -m ptb.baseline`: see `ptb.baseline.command`."""

import hydra
from omegaconf import DictConfig

from ptb.baseline.command import measure_all
from ptb.batch import batch_entry, exit_on_failure


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
@batch_entry(measure_all)
def main(cfg: DictConfig) -> None:
    exit_on_failure(measure_all([cfg]))


if __name__ == "__main__":
    main()
