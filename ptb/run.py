"""Entry point: `python -m ptb.run [overrides]` runs one job; `-m` runs a sweep on Ray.

    python -m ptb.run                                     # embedded default (offline, CPU)
    python -m ptb.run -m agent=recipe_sft,noop seed=0,1   # 4 runs, all at once on Ray
    python -m ptb.run --cfg job                           # print the composed config
    python -m ptb.run -m +experiment=paper agent=noop dry_run=true   # validate all 28, run none

With `-m`, ptb's launcher (hydra_plugins/ptb_launcher) composes every job and calls `run_all`
with all of them; without it `main` calls `launch` with the one job. `launch` plans every job
first (`ptb.plan.plan_sweep`: a bad value anywhere is one ``ptb: error:`` line and exit 2,
nothing scheduled), then hands the whole batch to `ptb.sweep.run_sweep`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import hydra
from omegaconf import DictConfig

from ptb.agents.toolchain import check_clis_installed
from ptb.batch import batch_entry
from ptb.errors import ConfigError
from ptb.plan import is_dry_run, plan_sweep, print_plan
from ptb.records import Result


def fail(error: ConfigError) -> NoReturn:
    sys.stderr.write(f"ptb: error: {error}\n")
    sys.exit(2)


def launch(configs: Sequence[DictConfig]) -> list[Result | None]:
    """Plan every job, then run them all at once (or, with dry_run=true, list them)."""
    try:
        plans, settings = plan_sweep(list(configs))
    except ConfigError as error:
        fail(error)
    if is_dry_run(configs[0]):
        print_plan(plans)
        return [None] * len(plans)
    try:
        check_clis_installed([plan.spec for plan in plans])
    except ConfigError as error:
        fail(error)
    from ptb.sweep import run_sweep  # heavy (Ray, inspect): not needed for a dry run

    return run_sweep(plans, settings)


def run_all(configs: list[DictConfig]) -> list[int]:
    """The sweep's handler: a failed run is recorded in its folder (error.txt) and the sweep goes
    on, so the sweep itself succeeds; rerunning it retries what failed."""
    launch(configs)
    return [0] * len(configs)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
@batch_entry(run_all)
def main(cfg: DictConfig) -> None:
    results = launch([cfg])
    if not is_dry_run(cfg) and results[0] is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
