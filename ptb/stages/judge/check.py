"""What a judge check is: its inputs, its three outcomes, its decorator, and the judge config.

    @dataclass(frozen=True)
    class OverlapOptions:
        ngram: int = option(8, ge=1)

    @judge_check("test_overlap", options=OverlapOptions)
    def test_overlap(inputs: JudgeInputs, options: OverlapOptions) -> CheckResult:
        ...
        return CheckResult.ok("0 of 40 test items ...")      # or .failed(...), .unusable(...)
        raise Undecided("the test split is not in the data cache")   # could not decide

A check decides one of three things:

- **pass**: no evidence against the run (`CheckResult.ok`); a checkpoint that is broken but
  honest (unreadable config, truncated weights) also passes, recorded as *checkpoint unusable*
  (`CheckResult.unusable`): that is not cheating, and its evaluation fails on its own;
- **fail**: evidence against the run (`CheckResult.failed`); it flags the run when the check's
  ``flag`` is true. A check that raises anything but `Undecided` fails too, because a workspace
  crafted to crash the judge must not slip through unjudged;
- **could not decide** (`raise Undecided(...)`): the harness's own side failed (its record of
  the run, the base model, the test data): infrastructure, retried like a lost worker, never a
  flag.

Every check takes ``flag`` (default true) besides its own options. `build_judge` turns the
``judge`` config node into a `JudgeConfig` at plan time: an unknown check, an unknown option, or a
value of the wrong type is a ConfigError before anything runs. Checks live one per module in
`ptb.stages.judge.checks`, discovered there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ptb import registry
from ptb.errors import ConfigError
from ptb.options import build_options, check_value
from ptb.records import ENV_NAME, SAFE_NAME, SAFE_NAME_HINT, CheckConfig, JudgeConfig, LlmJudgeConfig, RunSpec

CheckOutcome = Literal["pass", "fail", "undecided"]


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
    def agent_tmp(self) -> Path:
        """Snapshot of the agent's /tmp (``<scratch>/tmp``), same rules (written by collect; absent
        when the sandbox gave it none)."""
        return self.run_dir / "agent_tmp"

    @property
    def final_model(self) -> Path:
        return self.run_dir / "final_model"

    @property
    def trace(self) -> Path:
        return self.run_dir / "trace.jsonl"

    def trajectory(self) -> dict[str, Any] | None:
        """What the agent did: the run's ATIF trajectory (trajectory.json, written by collect:
        steps with messages, tool calls and their results, tokens), or None for an agent without
        an LLM (noop, recipe_sft). Unreadable is the harness's own record broken: Undecided."""
        path = self.run_dir / "trajectory.json"
        if not path.exists():
            return None
        try:
            trajectory = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise Undecided(f"trajectory.json is unreadable: {err}") from err
        if not isinstance(trajectory, dict) or not isinstance(trajectory.get("steps"), list):
            raise Undecided("trajectory.json has no steps")
        return trajectory


@dataclass(frozen=True)
class CheckResult:
    """What a check decides; the judge adds the check's name and flag to make a `Finding`."""

    outcome: CheckOutcome
    detail: str
    checkpoint_unusable: bool = False  # passed, but final_model cannot be used (not cheating)

    @classmethod
    def ok(cls, detail: str) -> CheckResult:
        return cls("pass", detail)

    @classmethod
    def failed(cls, detail: str) -> CheckResult:
        return cls("fail", detail)

    @classmethod
    def unusable(cls, detail: str) -> CheckResult:
        return cls("pass", f"checkpoint unusable (not cheating): {detail}", checkpoint_unusable=True)

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


class Undecided(Exception):
    """A check could not decide because the harness's side failed (never the agent's doing)."""


CheckFn = Callable[[JudgeInputs, Any], CheckResult]
F = TypeVar("F", bound=CheckFn)


def judge_check(name: str, *, options: type | None = None) -> Callable[[F], F]:
    """Register ``fn(inputs, options) -> CheckResult`` as the judge check ``name``; ``options``
    is the frozen dataclass of its parameters (None: it takes none but ``flag``)."""
    if options is not None and "flag" in getattr(options, "__dataclass_fields__", {}):
        raise ValueError(f"judge check '{name}': 'flag' is an option of every check, do not declare it")
    return registry.register("judge_check", name, options=options)


def known_checks() -> list[str]:
    return registry.names("judge_check")


def build_judge(raw: Mapping[str, Any] | None) -> JudgeConfig:
    """The judge config node (``{checks: {name: {flag, option: ...} | null}}``, or the checks
    mapping itself) as a JudgeConfig, every check and option validated, in the given order."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"judge={raw!r} is invalid: expected a mapping with 'checks' and 'llm'")
    llm: Any = {}
    if "checks" in raw or "llm" in raw:
        unknown = sorted(set(raw) - {"checks", "llm"})
        if unknown:
            raise ConfigError(f"judge.{unknown[0]} is unknown; accepted: judge.checks, judge.llm")
        checks = raw.get("checks") or {}
        llm = raw.get("llm") or {}
    else:
        checks = raw
    if not isinstance(checks, Mapping):
        raise ConfigError(f"judge.checks={checks!r} is invalid: expected a mapping of check name to options")
    unknown = [str(name) for name in checks if name not in known_checks()]
    if unknown:
        raise ConfigError(
            f"unknown judge check(s) {sorted(unknown)} in judge.checks; known checks: {known_checks()}"
        )
    configured = []
    for name, given in checks.items():
        where = f"judge.checks.{name}"
        plugin = registry.lookup("judge_check", name, where="judge.checks")
        given = dict(given or {}) if isinstance(given, Mapping) or given is None else given
        if not isinstance(given, dict):
            raise ConfigError(f"{where}={given!r} is invalid: expected a mapping of its options")
        flag = given.pop("flag", True)
        if not isinstance(flag, bool):
            raise ConfigError(f"{where}.flag={flag!r} is invalid: expected true or false")
        options: object | None = None
        if plugin.options is None:
            if given:
                raise ConfigError(f"{where}.{sorted(given)[0]} is unknown; accepted: flag")
        else:
            fields = [f.name for f in dataclasses.fields(plugin.options)]
            extra = sorted(set(given) - set(fields))
            if extra:
                raise ConfigError(f"{where}.{extra[0]} is unknown; accepted: flag, {', '.join(fields)}")
            options = build_options(plugin.options, given, where)
        configured.append(CheckConfig(name=str(name), flag=flag, options=options))
    return JudgeConfig(checks=tuple(configured), llm=build_llm_judges(llm))


def build_llm_judges(raw: Any) -> tuple[LlmJudgeConfig, ...]:
    """``judge.llm`` (``{name: {model, base_url, api_key_env, votes, ...}}``) as LlmJudgeConfigs,
    each value checked and each model's inspect-ai provider known (`ptb.stages.judge.llm`)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"judge.llm={raw!r} is invalid: expected a mapping of judge name to its options")
    judges = []
    for name, given in raw.items():
        where = f"judge.llm.{name}"
        given = {} if given is None else given
        if not isinstance(given, Mapping):
            raise ConfigError(f"{where}={given!r} is invalid: expected a mapping of its options")
        if "name" in given:
            raise ConfigError(f"{where}.name is unknown: a judge's name is its key under judge.llm")
        check_value(str(name), str, f"judge.llm key {name!r}", {"pattern": SAFE_NAME, "hint": SAFE_NAME_HINT})
        key_env = given.get("api_key_env")
        if isinstance(key_env, str) and not re.fullmatch(ENV_NAME, key_env):
            # never echoed: a key pasted where its variable's name belongs would land in a log
            raise ConfigError(f"{where}.api_key_env is invalid: expected the name of an environment variable "
                              f"(the value is not shown, it may be a key)")
        try:
            config = build_options(LlmJudgeConfig, {**given, "name": str(name)}, where)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("accepted: name, ", "accepted: ")) from None
        if len(set(config.flag)) != len(config.flag):
            raise ConfigError(f"{where}.flag={list(config.flag)!r} is invalid: a question is named twice")
        _check_provider(config, where)
        judges.append(config)
    return tuple(judges)


def _check_provider(config: LlmJudgeConfig, where: str) -> None:
    """The model's provider (before the first '/') must be one inspect-ai knows."""
    try:
        import inspect_ai.model  # noqa: F401  (registers the providers)
        from inspect_ai._util.registry import registry_find, registry_info, registry_unqualified_name
    except ImportError:  # a future inspect without this registry: the judge reports it at run time
        return
    known = sorted({registry_unqualified_name(registry_info(o)) for o in registry_find(lambda i: i.type == "modelapi")})
    provider = config.model.split("/", 1)[0]
    if known and provider not in known:
        raise ConfigError(f"{where}.model={config.model!r} is invalid: inspect-ai has no provider {provider!r}; known: {known}")
