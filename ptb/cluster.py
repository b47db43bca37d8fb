"""Where a driver's work runs: starting or joining Ray, and the evaluation pool on it.

    started = init_ray(settings.cluster)     # a local Ray, or join cluster.address
    pool = make_eval_pool(settings)          # evaluation actors, created on first use
    ...
    pool.shutdown(); ray.shutdown() if started

Used by every command that evaluates: `ptb.sweep` (agent runs) and `ptb.baseline.command`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptb.evaluation import EvalPool
from ptb.records import ClusterConfig, SweepSettings


def init_ray(cluster: ClusterConfig) -> bool:
    """Start or join Ray as the cluster config says; returns whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if cluster.address:
        kwargs["address"] = cluster.address
    else:
        if cluster.num_cpus is not None:
            kwargs["num_cpus"] = cluster.num_cpus
        if cluster.num_gpus is not None:
            kwargs["num_gpus"] = cluster.num_gpus
        if cluster.temp_dir:
            kwargs["_temp_dir"] = str(Path(cluster.temp_dir).expanduser().resolve())
    ray.init(**kwargs)
    return True


def make_eval_pool(settings: SweepSettings) -> EvalPool:
    """The driver's evaluation pool, as the `eval` config says; workers get the grader's key."""
    return EvalPool(
        backend=settings.eval.backend,
        workers=settings.eval.workers,
        gpus_per_worker=settings.eval.gpus_per_worker,
        cpus_per_worker=settings.eval.cpus_per_worker,
        passed_env=(settings.grader_key_env,) if settings.grader_key_env else (),
    )
