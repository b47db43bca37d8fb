"""Run every job of a sweep at once on one Ray driver, with live progress and a leaderboard.

All runs are handed to Ray together (one driver thread per run pipeline); Ray's resource
accounting decides what runs when — a 1-GPU agent waits for a free GPU, never for the run
before it. One run failing never stops the others: its error is written to its folder and
the sweep goes on; rerunning the same command retries it and skips everything finished.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import ray

from ptb.baseline.meter import BaselineMeter
from ptb.cluster import init_ray, make_eval_pool
from ptb.io import to_jsonable, write_text_atomic
from ptb.locks import RunLocked
from ptb.pipeline import SweepServices, run_pipeline
from ptb.progress import RunBoard
from ptb.records import Result, RunPlan, SweepSettings
from ptb.report import load_results, write_report
from ptb.stages import Stage
from ptb.stages.judge.remote import RayJudge
from ptb.stages.solve import solve_on_ray
from ptb.tracking import make_tracker

log = logging.getLogger(__name__)


def _pct(score: float | None) -> str:
    return "—" if score is None else f"{100 * score:.1f}%"


def summary_line(result: Result) -> str:
    verdict = "flagged" if result.flagged else "clean"
    used = f"{result.seconds_used / 60:.1f} min of {result.budget_seconds / 60:.0f} min"
    line = (
        f"{result.run_id}: score {_pct(result.score)} (raw {_pct(result.raw_score)}, "
        f"base {_pct(result.base_score)}), judge {verdict}, agent {result.status}, time used {used}"
    )
    if result.failure:
        line += f"\n    the agent's CLI gave up: {result.failure}"
    if result.model_substituted:
        line += f"\n    the agent's CLI ran {', '.join(result.models_used)}, not the configured {result.agent_model}"
    if result.fallback_reason:
        line += f"\n    base score used: {result.fallback_reason}"
    return line


def run_sweep(plans: list[RunPlan], settings: SweepSettings, out=None) -> list[Result | None]:
    out = out or sys.stdout
    started_ray = init_ray(settings.cluster)
    sweep_dirs = sorted({str(Path(p.spec.run_dir).parent) for p in plans})
    tracker = make_tracker(settings.tracking, Path(sweep_dirs[0]))
    eval_pool = make_eval_pool(settings)
    board = RunBoard(
        [p.spec for p in plans],
        out=out,
        interval_s=settings.progress_interval_s,
        on_stage=lambda run_id, stage, detail: tracker.stage(run_id, stage.label, "running", detail=detail),
        on_sample=tracker.log,
    )
    services = SweepServices(
        solve=solve_on_ray,
        eval_pool=eval_pool,
        judge=RayJudge(),
        baselines=BaselineMeter(settings.results_dir, eval_pool),
        report_stage=board.update,
        on_start=lambda plan: tracker.start(plan.spec, plan.config()),  # once the run's lock is held
    )
    out.write(f"[ptb] {len(plans)} run(s) handed to Ray at once; results in {', '.join(sweep_dirs)}\n")
    out.flush()

    def one(plan: RunPlan) -> Result | None:
        spec = plan.spec
        try:
            result = run_pipeline(plan, services)
            tracker.finish(spec.run_id, result, to_jsonable(result))
            return result
        except RunLocked as locked:
            # Another driver is running it: its folder (no error.txt here) and its tracking are its own.
            board.update(spec.run_id, Stage.SKIPPED, str(locked))
            return None
        except Exception as exc:  # one run failing never stops the sweep
            text = "".join(traceback.format_exception(exc))
            Path(spec.run_dir).mkdir(parents=True, exist_ok=True)
            write_text_atomic(Path(spec.run_dir) / "error.txt", text)
            board.update(spec.run_id, Stage.FAILED, f"{type(exc).__name__}: {exc} (see error.txt)")
            tracker.finish(spec.run_id, None, {"error": str(exc)})
            return None

    board.start()
    pool = ThreadPoolExecutor(max_workers=len(plans), thread_name_prefix="ptb-run")
    futures = [pool.submit(one, plan) for plan in plans]
    try:
        while True:
            done, pending = wait(futures, timeout=0.5)
            if not pending:
                break
    except KeyboardInterrupt:
        board.stop()
        out.write("\n[ptb] interrupted: finished stages are kept; run the same command again to continue.\n")
        out.flush()
        tracker.close()
        ray.shutdown()  # kills every actor, and with it every agent's sandbox
        os._exit(130)  # pipeline threads are blocked in ray.get; nothing left to wait for
    board.stop()
    pool.shutdown()
    results = [f.result() for f in futures]
    eval_pool.shutdown()
    tracker.close()
    if started_ray:
        ray.shutdown()

    out.write("\n")
    for result in results:
        if result is not None:
            out.write(summary_line(result) + "\n")
    for plan, result in zip(plans, results, strict=True):
        if result is None:
            out.write(f"{plan.spec.run_id}: FAILED, see {plan.spec.run_dir}/error.txt\n")
    for sweep_dir in sweep_dirs:
        if not load_results(Path(sweep_dir)):
            out.write(f"\nno finished run in {sweep_dir} yet: no leaderboard\n")
            continue
        md_path, csv_path = write_report(Path(sweep_dir))
        out.write(f"\n{md_path.read_text()}\n(leaderboard: {md_path}, {csv_path})\n")
    out.write(f"[ptb] results: {', '.join(sweep_dirs)}\n")
    out.flush()
    return results
