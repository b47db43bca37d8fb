"""One registry for every kind of ptb plug-in, each plug-in registered by one decorator.

    from ptb.registry import register, lookup, names

    @register("tool_parser", "hermes")                 # usually through the kind's own decorator,
    def hermes(text: str) -> ParsedReply: ...          # e.g. @tool_parser("hermes")

    @register("tracker", "wandb", options=WandbOptions, lazy=True)
    def wandb_tracker():                               # a heavy optional dependency: the
        from ptb.tracking.wandb import WandbTracker    # registered function imports it only
        return WandbTracker                            # when the plug-in is used

    names("tool_parser")                               # ['hermes', 'pythonic']
    lookup("tool_parser", "json")                      # ConfigError naming the known ones
    load("tracker", "wandb")                           # the object (a lazy one imported now)

Every kind names the module whose import registers its built-in plug-ins (`KINDS[kind].home`);
the registry imports it on first use of the kind, so no list of names is kept anywhere else and
a lookup never depends on what happened to be imported before. Plug-ins outside ptb (an agent
folder's ``trace.py``) register with the same decorators when `ptb.plugins` loads them.

A plug-in may declare ``options``: the frozen dataclass its config options are validated
against at plan time (`ptb.options.build_options`), so a misspelt option fails before anything
is scheduled.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ptb.errors import ConfigError

PluginKind = Literal[
    "sandbox",  # how an agent is isolated: sandbox.kind
    "tracker",  # where metrics stream: tracking.kind
    "serve_backend",  # the inference server of the evaluation: eval.backend
    "tool_parser",  # how a reply's text becomes tool calls: model.tool_parser
    "model_builder",  # base models ptb builds itself: model.builder
    "judge_check",  # the judge's checks: judge.checks.<name>
    "trace_parser",  # an agent scaffold's output format: agent.trace_format
]


@dataclass(frozen=True)
class KindInfo:
    kind: PluginKind
    config_key: str  # where a user names a plug-in of this kind (for error messages)
    home: str  # the module whose import registers the built-in plug-ins of this kind


KINDS: dict[PluginKind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("sandbox", "sandbox.kind", "ptb.sandbox"),
        KindInfo("tracker", "tracking.kind", "ptb.tracking"),
        KindInfo("serve_backend", "eval.backend", "ptb.serve.backends"),
        KindInfo("tool_parser", "model.tool_parser", "ptb.serve.tool_calls"),
        KindInfo("model_builder", "model.builder", "ptb.models"),
        KindInfo("judge_check", "judge.checks", "ptb.stages.judge.checks"),
        KindInfo("trace_parser", "agent.trace_format", "ptb.traces"),
    )
}


@dataclass(frozen=True)
class Plugin:
    """One registered plug-in."""

    kind: PluginKind
    name: str
    target: Any  # what was decorated: a class, a function, or (lazy) a function returning it
    options: type | None  # frozen dataclass of its config options; None = it takes none
    module: str  # the module that registered it (an agent folder's trace.py has its own)
    lazy: bool  # target is a zero-argument function that imports and returns the real object

    def load(self) -> Any:
        return self.target() if self.lazy else self.target


T = TypeVar("T")
_plugins: dict[tuple[str, str], Plugin] = {}
_homes_imported: set[str] = set()
_lock = threading.RLock()


def _info(kind: str) -> KindInfo:
    try:
        return KINDS[kind]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown plug-in kind {kind!r}; kinds: {sorted(KINDS)}") from None


def register(kind: PluginKind, name: str, *, options: type | None = None, lazy: bool = False) -> Callable[[T], T]:
    """Register the decorated object as the ``kind`` plug-in ``name``."""
    _info(kind)

    def decorate(target: T) -> T:
        module = str(getattr(target, "__module__", "?"))
        plugin = Plugin(kind, name, target, options, module, lazy)
        with _lock:
            existing = _plugins.get((kind, name))
            if existing is not None and existing.module != module:
                raise ConfigError(
                    f"{kind} plug-in '{name}' is registered twice: by {existing.module} and by {module}; "
                    f"rename one of them"
                )
            _plugins[(kind, name)] = plugin
        return target

    return decorate


def _import_home(kind: str) -> None:
    """Import the kind's home module once; importlib serialises concurrent imports of one
    module, so a thread never sees the kind half-registered."""
    home = _info(kind).home
    if home in _homes_imported:
        return
    importlib.import_module(home)
    _homes_imported.add(home)


def names(kind: PluginKind) -> list[str]:
    """Every registered name of ``kind`` (the built-in ones and any loaded since), sorted."""
    _import_home(kind)
    with _lock:
        return sorted(name for k, name in _plugins if k == kind)


def lookup(kind: PluginKind, name: str, *, where: str | None = None, nullable: bool = False) -> Plugin:
    """The plug-in, or a ConfigError ``<where>=<name> is unknown; accepted: [...]``."""
    _import_home(kind)
    with _lock:
        plugin = _plugins.get((kind, str(name)))
    if plugin is None:
        key = where or _info(kind).config_key
        raise ConfigError(f"{key}={name!r} is unknown; accepted: {names(kind)}" + (" (or null)" if nullable else ""))
    return plugin


def load(kind: PluginKind, name: str, *, where: str | None = None) -> Any:
    """The registered object itself (a lazy plug-in's import happens here)."""
    return lookup(kind, name, where=where).load()


def registered_by(kind: PluginKind, module: str) -> list[str]:
    """The names of ``kind`` that ``module`` registered (e.g. what an agent's trace.py offers)."""
    with _lock:
        return sorted(p.name for p in _plugins.values() if p.kind == kind and p.module == module)
