"""Loading plug-in code that lives in folders, not in the ptb package: tasks and agent scaffolds.

    module = load_task_module(task_spec)        # evals/<task>/task.py, checked against TaskModule
    fn = task_function(task_spec)               # its inspect-ai @task function
    fmt = agent_trace_format(agent_dir)         # agents/<name>/trace.py's parser, else "plain"

Both kinds of folder are loaded by file path (evals/ and agents/ are not installed packages),
always from the harness's own copy, never one an agent could have edited, and once per process:
the driver loads them at plan time, before any agent runs, and reuses that module afterwards, so
a file changed while agents run is never executed by the driver.
A task folder's ``task.py`` must satisfy `ptb.tasks.TaskModule`; a missing or wrong attribute is a
`ConfigError` at plan time. An agent folder may hold a ``trace.py`` whose ``@trace_parser``
functions parse that scaffold's output; the parser it registers is the folder's default
``trace_format``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ptb import registry
from ptb.errors import ConfigError
from ptb.records import TaskSpec
from ptb.tasks.module import TaskModule, check_task_module

AGENT_TRACE_FILE = "trace.py"
DEFAULT_TRACE_FORMAT = "plain"

_loaded: dict[str, ModuleType] = {}
_lock = threading.RLock()


def _module_name(prefix: str, path: Path) -> str:
    # Unique per folder (two agent folders may share a name), stable within a process, and a
    # valid identifier: inspect-ai and pickling look tasks up by module name.
    folder = re.sub(r"\W", "_", path.parent.name)
    return f"{prefix}_{folder}_{abs(hash(str(path))) % 10**8}"


def load_module(path: Path, prefix: str) -> ModuleType:
    """The module in the file ``path``, executed once per process (later calls return it)."""
    path = path.resolve()
    key = str(path)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        name = _module_name(prefix, path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _loaded[key] = module
        return module


# --------------------------------------------------------------------------- tasks


def task_file(task: TaskSpec) -> Path:
    return Path(task.eval_dir) / "task.py"


def load_task_module(task: TaskSpec) -> TaskModule:
    """evals/<task>/task.py, loaded by path and checked against the TaskModule protocol."""
    path = task_file(task)
    if not path.is_file():
        raise ConfigError(f"task '{task.name}' has no {path}")
    try:
        module = load_module(path, "ptb_eval_task")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path} does not load: {type(exc).__name__}: {exc}") from exc
    check_task_module(module, task.name, path)
    return module


def task_function(task: TaskSpec) -> Callable[..., Any]:
    """The task's inspect-ai ``@task`` function (named after the task)."""
    return getattr(load_task_module(task), task.name)


# --------------------------------------------------------------------------- agents


def load_agent_plugins(agent_dir: str | Path) -> ModuleType | None:
    """The agent folder's trace.py (its parsers registered), or None when it has none."""
    path = Path(agent_dir) / AGENT_TRACE_FILE
    if not path.is_file():
        return None
    try:
        return load_module(path, "ptb_agent_trace")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path} does not load: {type(exc).__name__}: {exc}") from exc


def agent_trace_formats(agent_dir: str | Path) -> list[str]:
    """The trace formats an agent folder's trace.py registers (empty without one)."""
    module = load_agent_plugins(agent_dir)
    return registry.registered_by("trace_parser", module.__name__) if module else []


def agent_trace_format(agent_dir: str | Path) -> str:
    """The folder's own trace format, else ``plain``."""
    own = agent_trace_formats(agent_dir)
    if len(own) > 1:
        raise ConfigError(
            f"{Path(agent_dir) / AGENT_TRACE_FILE} registers several trace formats {own}: "
            f"choose one with agent.trace_format"
        )
    return own[0] if own else DEFAULT_TRACE_FORMAT
