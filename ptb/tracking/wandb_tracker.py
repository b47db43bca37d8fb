"""The ``wandb`` tracker: one Weights & Biases run per agent run, grouped by sweep.

    tracker = make_tracker(build_tracking({"kind": "wandb", "project": "ptb", "mode": "auto"}), sweep_dir)
    tracker.start(spec, config)                         # when the run's pipeline starts
    tracker.stage(spec.run_id, "solve", "running", detail="...")
    tracker.log(spec.run_id, {"cpu_percent": 93.0})     # monitor samples (history)
    tracker.finish(spec.run_id, result, summary)        # final figures → run.summary
    tracker.close()                                     # finishes what is open, flushes to disk

The sweep calls these from one driver thread per run, concurrently, so every run lives in this
one process at the same time. wandb supports that with ``reinit="create_new"`` (wandb ≥ 0.19.10):
each ``wandb.init`` returns its own `Run` object and leaves the others (and the global
``wandb.run``) alone; we only ever talk to those objects. ``wandb.init`` itself is serialised by
a lock; each run's calls by its own lock.

The run id is ptb's run id, and ``resume="allow"``: a resumed sweep continues the same wandb
run. Runs go under ``<sweep_dir>/wandb/``. Mode ``auto`` means: ``WANDB_MODE`` when the user set
it, else ``online`` with ``WANDB_API_KEY`` and ``offline`` without (offline never touches the
network; ``wandb sync <sweep_dir>/wandb/offline-run-*`` uploads later).

Tracking must never kill a sweep: any wandb error is logged as a warning and disables tracking
for that run only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from ptb.io import to_jsonable
from ptb.records import Result, RunSpec
from ptb.tracking.base import Tracker, tracker

log = logging.getLogger(__name__)

WANDB_MODES = ("online", "offline", "disabled")


@dataclass(frozen=True)
class WandbOptions:
    """conf/tracking/wandb.yaml (besides ``kind``)."""

    project: str = "ptb"
    entity: str | None = None
    mode: Literal["auto", "online", "offline", "disabled"] = "auto"  # auto: online with WANDB_API_KEY
    tags: tuple[str, ...] = ()


def resolve_wandb_mode(mode: str | None, env: Mapping[str, str] | None = None) -> str:
    """``auto``: the user's WANDB_MODE if set, else online with WANDB_API_KEY, else offline."""
    env = os.environ if env is None else env
    mode = mode or "auto"
    if mode == "auto":
        user_mode = env.get("WANDB_MODE", "").strip()
        if user_mode:
            if user_mode == "dryrun":  # wandb's old name for offline
                return "offline"
            if user_mode not in WANDB_MODES:
                raise ValueError(f"WANDB_MODE={user_mode!r} is not a wandb mode; accepted: {', '.join(WANDB_MODES)}")
            return user_mode
        return "online" if env.get("WANDB_API_KEY") else "offline"
    if mode not in WANDB_MODES:
        raise ValueError(f"tracking.mode={mode!r} is not accepted; use auto, {', '.join(WANDB_MODES)}")
    return mode


def wandb_run_id(run_id: str) -> str:
    """ptb's run id as a valid, stable wandb id (no / \\ # ? % : and at most 64 characters)."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "-", run_id)
    if len(clean) > 64 or clean != run_id:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
        clean = f"{clean[:55]}-{digest}"
    return clean


def flatten_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float | int | bool]:
    """Numeric leaves of a nested sample as 'a/b/0/c' keys (what charts can plot)."""
    flat: dict[str, float | int | bool] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_numbers(value, f"{name}/"))
        elif isinstance(value, (list, tuple)):
            flat.update(flatten_numbers({str(i): v for i, v in enumerate(value)}, f"{name}/"))
        elif isinstance(value, (bool, int, float)):
            flat[name] = value
    return flat


@dataclass
class _TrackedRun:
    run: Any  # wandb Run
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: bool = False  # set under `lock`: a late monitor sample must not touch a finished run


class WandbTracker(Tracker):
    @classmethod
    def from_options(cls, options: WandbOptions, root_dir: Path) -> WandbTracker:
        return cls(
            project=options.project,
            entity=options.entity,
            mode=resolve_wandb_mode(options.mode),
            root_dir=Path(root_dir),
            tags=options.tags,
        )

    def __init__(self, project: str, entity: str | None, mode: str, root_dir: Path, tags: tuple[str, ...] = ()) -> None:
        self.project, self.entity, self.mode, self.root_dir, self.tags = project, entity, mode, root_dir, tags
        self._init_lock = threading.Lock()  # wandb.init is not meant to be entered concurrently
        self._registry_lock = threading.Lock()
        self._runs: dict[str, _TrackedRun] = {}
        self._disabled: set[str] = set()
        self._started_any = False

    # ------------------------------------------------------------------ lifecycle

    def start(self, spec: RunSpec, config: dict) -> None:
        import wandb

        with self._registry_lock:
            if spec.run_id in self._runs:
                return
        try:
            self.root_dir.mkdir(parents=True, exist_ok=True)
            settings = wandb.Settings(
                console="off",  # runs share this process's stdout: capturing it would mix them
                silent=True,  # the sweep's own progress board owns the terminal
                x_disable_stats=True,  # the driver's CPU is no run's; monitor samples come via log()
                x_save_requirements=False,
            )
            with self._init_lock:
                run = wandb.init(
                    project=self.project,
                    entity=self.entity,
                    group=spec.sweep,
                    job_type=spec.agent.name,
                    name=spec.run_id,
                    id=wandb_run_id(spec.run_id),
                    resume="allow",
                    reinit="create_new",
                    config=to_jsonable(config),
                    tags=[spec.agent.name, spec.model.name, spec.task.name, *self.tags],
                    dir=str(self.root_dir),
                    mode=cast(Literal["online", "offline", "disabled"], self.mode),
                    settings=settings,
                )
        except Exception as exc:
            self._fail(spec.run_id, "start", exc, None)
            return
        with self._registry_lock:
            self._runs[spec.run_id] = _TrackedRun(run)
            self._started_any = True
            self._disabled.discard(spec.run_id)

    def stage(self, run_id: str, stage: str, state: str, **fields: Any) -> None:
        updates: dict[str, Any] = {"stage": stage, f"stage/{stage}": state}
        for key, value in fields.items():
            updates[f"stage/{stage}/{key}"] = value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
        self._with_run(run_id, "stage", lambda run: run.summary.update(updates))

    def log(self, run_id: str, metrics: Mapping[str, Any]) -> None:
        numbers = flatten_numbers(metrics)
        if numbers:
            self._with_run(run_id, "log", lambda run: run.log(numbers))

    def finish(self, run_id: str, result: Result | None, summary: Mapping[str, Any]) -> None:
        with self._registry_lock:
            tracked = self._runs.pop(run_id, None)
        if tracked is None:
            return
        final = dict(to_jsonable(summary))
        if result is not None and result.budget_seconds > 0:
            final["budget_fraction"] = result.seconds_used / result.budget_seconds
        try:
            with tracked.lock:
                tracked.run.summary.update(final)
                tracked.run.finish(exit_code=0 if result is not None else 1)
                tracked.finished = True
        except Exception as exc:
            self._fail(run_id, "finish", exc, tracked)

    def close(self) -> None:
        with self._registry_lock:
            open_runs = list(self._runs.items())
            self._runs.clear()
        for run_id, tracked in open_runs:  # runs that never finished (interrupted sweep)
            try:
                with tracked.lock:
                    tracked.run.finish(exit_code=1)
                    tracked.finished = True
            except Exception as exc:
                self._fail(run_id, "close", exc, None)
        if self._started_any:
            # run.finish() can return before wandb-core has flushed the run's files when other
            # runs are live in the same process; teardown waits for everything to be written
            # (and uploaded, online), so the sweep folder is complete when the sweep returns.
            try:
                import wandb

                wandb.teardown()
            except Exception as exc:
                log.warning("wandb teardown failed (%s: %s); some wandb files may be incomplete", type(exc).__name__, exc)

    # ------------------------------------------------------------------ helpers

    def _with_run(self, run_id: str, what: str, action) -> None:
        with self._registry_lock:
            tracked = self._runs.get(run_id)
        if tracked is None:
            return  # not started, finished, or disabled after an error
        try:
            with tracked.lock:
                if tracked.finished:
                    return
                action(tracked.run)
        except Exception as exc:
            self._fail(run_id, what, exc, tracked)

    def _fail(self, run_id: str, what: str, exc: Exception, tracked: _TrackedRun | None) -> None:
        log.warning(
            "wandb tracking disabled for run %s: %s failed (%s: %s); the run itself goes on",
            run_id, what, type(exc).__name__, exc,
        )
        with self._registry_lock:
            self._runs.pop(run_id, None)
            self._disabled.add(run_id)
        if tracked is not None and not tracked.finished:
            tracked.finished = True
            try:
                tracked.run.finish(exit_code=1)
            except Exception:
                pass  # already broken; nothing more to save

    @property
    def disabled_runs(self) -> set[str]:
        with self._registry_lock:
            return set(self._disabled)


@tracker("wandb", options=WandbOptions, lazy=True)
def wandb_tracker() -> type[WandbTracker]:
    import wandb  # noqa: F401  (slow import, only when tracking with it; a failure disables tracking)

    return WandbTracker
