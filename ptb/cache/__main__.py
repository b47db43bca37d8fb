"""`python -m ptb.cache`: see `ptb.cache.command`."""

import hydra
from omegaconf import DictConfig

from ptb.batch import batch_entry, exit_on_failure
from ptb.cache.command import cache_all


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
@batch_entry(cache_all)
def main(cfg: DictConfig) -> None:
    exit_on_failure(cache_all([cfg]))


if __name__ == "__main__":
    main()
