"""Sweepable ptb commands: one handler gets every job's config at once.

    def cache_all(configs: list[DictConfig]) -> list[int]: ...     # one exit code per job

    @hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
    @batch_entry(cache_all)
    def main(cfg: DictConfig) -> None:
        exit_on_failure(cache_all([cfg]))

With ``-m``, ptb's Hydra launcher (hydra_plugins/ptb_launcher) composes every job of the sweep
and calls ``cache_all`` once with all of them, so a command like
``python -m ptb.cache -m model=a,b task=x,y`` works on the whole grid together instead of job
after job. Either way the process exits with the worst of the handler's exit codes. Every ptb
command is one: `ptb.run` (`run_all`), `ptb.baseline`, `ptb.cache`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig

BatchHandler = Callable[[list[DictConfig]], Sequence[int]]


def exit_on_failure(codes: Sequence[int]) -> Sequence[int]:
    """End the process with the worst exit code when a job failed (Hydra itself would exit 0)."""
    worst = max(codes, default=0)
    if worst:
        sys.exit(worst)
    return codes


def batch_entry(handler: BatchHandler) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        # read by the launcher: every job at once, exiting non-zero when one failed
        fn.ptb_batch = lambda configs: exit_on_failure(handler(configs))  # type: ignore[attr-defined]
        return fn

    return mark
