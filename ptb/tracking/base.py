"""What the sweep reports to, as ``tracker`` plug-ins: the interface, ``none``, and choosing one.

    config = build_tracking({"kind": "wandb", "project": "ptb", "mode": "auto"})   # plan time
    tracker = make_tracker(config, sweep_dir)
    tracker.start(spec, config_dict); tracker.stage(run_id, "solve", "running"); tracker.log(run_id, {...})
    tracker.finish(run_id, result, summary); tracker.close()

A tracker kind registers a class with ``from_options(options, root_dir)`` and declares its
options dataclass, so `build_tracking` checks every key of ``conf/tracking/*.yaml`` before
anything is scheduled. A kind whose library cannot be imported here becomes `NullTracker` with
a warning: tracking never kills a sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ptb import registry
from ptb.errors import ConfigError
from ptb.options import build_options
from ptb.records import Result, RunSpec, TrackingConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


def tracker(name: str, *, options: type | None = None, lazy: bool = False) -> Callable[[T], T]:
    """Register a Tracker class (or, with ``lazy``, a function importing and returning it)."""
    return registry.register("tracker", name, options=options, lazy=lazy)


class Tracker:
    """What the sweep calls; this base class tracks nothing."""

    @classmethod
    def from_options(cls, options: Any, root_dir: Path) -> Tracker:
        return cls()

    def start(self, spec: RunSpec, config: dict) -> None:
        pass

    def stage(self, run_id: str, stage: str, state: str, **fields: Any) -> None:
        pass

    def log(self, run_id: str, metrics: Mapping[str, Any]) -> None:
        pass

    def finish(self, run_id: str, result: Result | None, summary: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


@tracker("none")
class NullTracker(Tracker):
    """``tracking=none``: nothing is tracked."""


def build_tracking(raw: Mapping[str, Any]) -> TrackingConfig:
    """The ``tracking`` node as a TrackingConfig: its kind known, its options those of the kind."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"tracking={raw!r} is invalid: expected a mapping with a 'kind'")
    kind = raw.get("kind", "none")
    plugin = registry.lookup("tracker", str(kind), where="tracking.kind")
    rest = {k: v for k, v in raw.items() if k != "kind"}
    if plugin.options is None:
        if rest:
            raise ConfigError(f"tracking.{sorted(rest)[0]} is unknown; tracking kind '{kind}' takes no options")
        return TrackingConfig(kind=str(kind), options=None)
    return TrackingConfig(kind=str(kind), options=build_options(plugin.options, rest, "tracking"))


def make_tracker(config: TrackingConfig, sweep_dir: Path) -> Tracker:
    plugin = registry.lookup("tracker", config.kind, where="tracking.kind")
    try:
        cls = plugin.load()
    except Exception as exc:  # its library is missing or broken here
        log.warning("%s tracking disabled: cannot load it (%s: %s)", config.kind, type(exc).__name__, exc)
        return NullTracker()
    return cls.from_options(config.options, Path(sweep_dir))
