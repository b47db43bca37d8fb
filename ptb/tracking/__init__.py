"""Experiment tracking: ``tracker`` plug-ins the sweep streams stages, samples and results to.

    from ptb.tracking import build_tracking, make_tracker
    tracker = make_tracker(build_tracking({"kind": "wandb", "mode": "auto"}), sweep_dir)

Kinds: ``none`` (`ptb.tracking.base`) and ``wandb`` (`ptb.tracking.wandb_tracker`, imported
lazily with wandb itself).
"""

from ptb.tracking.base import NullTracker, Tracker, build_tracking, make_tracker, tracker
from ptb.tracking.wandb_tracker import WandbOptions, WandbTracker, resolve_wandb_mode, wandb_run_id

__all__ = [
    "NullTracker",
    "Tracker",
    "WandbOptions",
    "WandbTracker",
    "build_tracking",
    "make_tracker",
    "resolve_wandb_mode",
    "tracker",
    "wandb_run_id",
]
