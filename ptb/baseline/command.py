"""Measure baselines without any agent: the base model zero-shot and the lab's official
instruct model, through the same evaluation pool (and templates, and ladder) as the runs.

    python -m ptb.baseline model=qwen3-4b task=gsm8k
    python -m ptb.baseline -m model=qwen3-1.7b,qwen3-4b task=gsm8k,bfcl     # all cells at once
    python -m ptb.baseline -m +experiment=paper                             # the whole 4×7 grid
    python -m ptb.baseline model=tiny task=arith baseline.kinds=[base]

Results go to ``<results_dir>/baselines/<kind>/<model>__<task>/`` (metrics.json, inspect logs),
where every run's fallback score and the leaderboard's base and instruct rows find them
(`ptb.baseline.store`). A cell measured before is not measured again unless ``baseline.force=true``
(the old measurement is moved aside, never deleted). Models without an instruct counterpart
(``model.instruct: null``, e.g. tiny) skip the instruct baseline. The whole batch shares one Ray
and one evaluation pool, so a warm server evaluates every task of its checkpoint.
This module is the command; the library is `ptb.baseline.store`.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from ptb.errors import ConfigError
from ptb.plan import build_settings, check_job, check_shared_settings
from ptb.records import Metrics, ModelSpec, TaskSpec
from ptb.tasks.heldout import task_split_fingerprint


@dataclass(frozen=True)
class BaselineJob:
    kind: str  # base | instruct
    model: ModelSpec
    task: TaskSpec
    cache_dir: str
    force: bool

    @property
    def label(self) -> str:
        return f"{self.kind:8s} {self.model.name} × {self.task.name}"


def plan_jobs(configs: list[DictConfig]) -> tuple[list[BaselineJob], list[str]]:
    """Every (kind, model, task) the configs ask for, once each; and notes on skipped ones."""
    jobs: dict[tuple[str, str, str], BaselineJob] = {}
    notes: list[str] = []
    for cfg in configs:
        job = check_job(cfg)
        model, task, options = job.model, job.task, job.baseline
        for kind in options.kinds:
            if kind == "instruct" and not model.instruct:
                note = f"instruct  {model.name}: no instruct model configured (model.instruct is null): skipped"
                if note not in notes:
                    notes.append(note)
                continue
            key = (kind, model.name, task.name)
            jobs.setdefault(key, BaselineJob(kind, model, task, job.top.cache_dir, options.force))
    return list(jobs.values()), notes


def checkpoint_of(job: BaselineJob) -> Path:
    """The folder to evaluate: the base model (built or from the HF cache), or the instruct model."""
    from ptb.models import resolve_base_model, resolve_hub_model

    if job.kind == "base":
        return resolve_base_model(job.model, Path(job.cache_dir).expanduser())
    assert job.model.instruct
    return resolve_hub_model(job.model.instruct)


def measure_all(configs: list[DictConfig], out=None) -> list[int]:
    """Measure every baseline the configs name (all at once); one exit code per config."""
    from ptb.baseline.meter import BaselineMeter
    from ptb.cluster import init_ray, make_eval_pool

    out = out or sys.stdout
    try:
        jobs, notes = plan_jobs(configs)
        settings = check_shared_settings([build_settings(check_job(cfg)) for cfg in configs])
    except ConfigError as error:
        sys.stderr.write(f"ptb: error: {error}\n")
        sys.exit(2)
    for note in notes:
        out.write(f"[ptb.baseline] {note}\n")
    if not jobs:
        out.write("[ptb.baseline] nothing to measure\n")
        return [0] * len(configs)

    started_ray = init_ray(settings.cluster)
    pool = make_eval_pool(settings)
    meter = BaselineMeter(settings.results_dir, pool)
    out.write(f"[ptb.baseline] {len(jobs)} baseline(s) into {meter.store.root}\n")
    out.flush()

    def one(job: BaselineJob) -> tuple[Metrics | None, str, float]:
        started = time.monotonic()
        try:
            if not job.force and (stored := meter.store.read(job.kind, job.model.name, job.task.name)) is not None and (
                stored.split_fingerprint == task_split_fingerprint(job.task)  # else another split: measured again
            ):
                return stored, "stored earlier", 0.0
            # force: set aside in the meter, under the cell's lock (never under another driver measuring it)
            metrics = meter.metrics(job.kind, job.model, job.task, checkpoint_of(job), force=job.force)
            return metrics, "measured", time.monotonic() - started
        except Exception as exc:  # one cell failing never stops the others
            return None, f"{type(exc).__name__}: {exc}", time.monotonic() - started

    try:
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="ptb-baseline") as threads:
            outcomes = list(threads.map(one, jobs))
    finally:
        pool.shutdown()
        if started_ray:
            import ray

            ray.shutdown()

    failed = 0
    out.write("\n")
    for job, (metrics, how, seconds) in zip(jobs, outcomes, strict=True):
        if metrics is not None and metrics.score is not None:
            out.write(f"{job.label}: {100 * metrics.score:.1f}% ({metrics.metric}, {metrics.samples} samples; {how}, {seconds:.0f}s)\n")
        else:
            failed += 1
            why = how if metrics is None else (metrics.reason or "no score")
            out.write(f"{job.label}: FAILED: {why}\n")
    out.write(f"[ptb.baseline] {len(jobs) - failed} of {len(jobs)} measured; results in {meter.store.root}\n")
    out.flush()
    return [1 if failed else 0] * len(configs)
