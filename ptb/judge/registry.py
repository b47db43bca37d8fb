"""The registry of judge checks and the inputs every check reads.

A check is a plain function registered by decorator with its parameters and their defaults::

    @register_check("harness_unchanged")
    def harness_unchanged(inputs: JudgeInputs, params: Mapping[str, Any]) -> CheckResult: ...

    @register_check("test_overlap", ngram=8, item_coverage=0.8)
    def test_overlap(inputs, params): ...

Every check also takes ``flag`` (default true): whether its failure flags the run. The judge
config (conf/judge/*.yaml, ``checks:``) names the checks to run, in order, with their
parameters; `resolve_checks` rejects unknown check names and unknown parameters up front, so a
typo fails the sweep before any run starts rather than silently skipping a check. New checks
(LLM judges later) plug in by registering themselves in a module that `ptb.judge` imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ptb.records import RunSpec


@dataclass(frozen=True)
class JudgeInputs:
    """What the checks read: the run folder written by the harness (never the live workspace)."""

    spec: RunSpec
    run_dir: Path
    base_model: Path  # the base model folder the agent was given
    harness_hashes: Mapping[str, str] | None  # {path relative to the workspace: sha256}
    harness_hashes_error: str | None = None  # why harness_hashes is None

    @property
    def workspace(self) -> Path:
        """Snapshot of the agent's workspace, without weights (written by collect)."""
        return self.run_dir / "workspace"

    @property
    def final_model(self) -> Path:
        return self.run_dir / "final_model"

    @property
    def trace(self) -> Path:
        return self.run_dir / "trace.jsonl"


@dataclass(frozen=True)
class CheckResult:
    """What a check decides; the judge adds the check's name and flag to make a `Finding`."""

    passed: bool
    detail: str


CheckFn = Callable[[JudgeInputs, Mapping[str, Any]], CheckResult]


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    fn: CheckFn
    defaults: Mapping[str, Any] = field(default_factory=dict)  # parameters besides `flag`


@dataclass(frozen=True)
class ConfiguredCheck:
    """A registered check with the parameters one judge config gave it."""

    check: RegisteredCheck
    flag: bool
    params: Mapping[str, Any]


_CHECKS: dict[str, RegisteredCheck] = {}


def register_check(name: str, **defaults: Any) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check ``name``; keyword arguments are its parameters' defaults."""

    def decorate(fn: CheckFn) -> CheckFn:
        if name in _CHECKS and _CHECKS[name].fn is not fn:
            raise ValueError(f"judge check '{name}' is already registered by {_CHECKS[name].fn.__module__}")
        if "flag" in defaults:
            raise ValueError(f"judge check '{name}': 'flag' is a parameter of every check, do not declare it")
        _CHECKS[name] = RegisteredCheck(name=name, fn=fn, defaults=dict(defaults))
        return fn

    return decorate


def known_checks() -> list[str]:
    return sorted(_CHECKS)


def resolve_checks(checks_cfg: Mapping[str, Any]) -> list[ConfiguredCheck]:
    """Turn ``{check name: {flag: ..., param: ...} | None}`` into configured checks, in order.

    Accepts the whole judge config too (``{checks: {...}, ...}``), as composed by Hydra.
    """
    if "checks" in checks_cfg and isinstance(checks_cfg["checks"], Mapping):
        checks_cfg = checks_cfg["checks"]
    configured = []
    unknown = [name for name in checks_cfg if name not in _CHECKS]
    if unknown:
        raise ValueError(
            f"unknown judge check(s) {sorted(map(str, unknown))} in the judge config; "
            f"known checks: {known_checks()}"
        )
    for name, raw in checks_cfg.items():
        check = _CHECKS[name]
        given = dict(raw or {})
        flag = given.pop("flag", True)
        if not isinstance(flag, bool):
            raise ValueError(f"judge check '{name}': flag must be true or false, got {flag!r}")
        extra = sorted(set(given) - set(check.defaults))
        if extra:
            raise ValueError(
                f"judge check '{name}' has no parameter(s) {extra}; "
                f"it accepts: flag, {', '.join(sorted(check.defaults)) or '(nothing else)'}"
            )
        configured.append(ConfiguredCheck(check=check, flag=flag, params={**check.defaults, **given}))
    return configured
