"""ptb's Hydra launcher: the whole sweep goes to one Ray driver at once.

Hydra's basic launcher runs jobs one after another; this one composes the config of every job
in the batch and hands them all, at once, to the command's handler: every ptb command
(`ptb.run`, `ptb.baseline`, `ptb.cache`) marks its ``@hydra.main`` function with
`ptb.batch.batch_entry(handler)`. For `ptb.run` the handler plans every job (a bad value fails
the sweep before anything is scheduled) and gives the whole batch to one Ray driver
(`ptb.sweep.run_sweep`). Selected in conf/config.yaml by `override hydra/launcher: ptb_ray`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict


class PtbRayLauncher(Launcher):
    def __init__(self, **_: object) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.batch_handler = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.batch_handler = getattr(task_function, "ptb_batch", None)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        configs = []
        for idx, overrides in enumerate(job_overrides):
            cfg = loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.num = initial_job_idx + idx
            configs.append(cfg)
        if self.batch_handler is None:
            raise RuntimeError(
                "the ptb_ray launcher runs ptb commands, whose @hydra.main function is marked with "
                "ptb.batch.batch_entry(handler); this one is not"
            )
        values = self.batch_handler(configs)
        return [self._completed(o, c, v) for o, c, v in zip(job_overrides, configs, values, strict=True)]

    @staticmethod
    def _completed(overrides: Sequence[str], cfg: DictConfig, value: object) -> JobReturn:
        ret = JobReturn(overrides=list(overrides), cfg=cfg, hydra_cfg=cfg.hydra, task_name="ptb")
        ret.status = JobStatus.COMPLETED
        ret.return_value = value
        return ret
