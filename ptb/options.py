"""Config mappings → frozen, typed option records, with errors that name the key.

    @dataclass(frozen=True)
    class OverlapOptions:
        ngram: int = option(8, ge=1)
        item_coverage: float = option(0.8, gt=0, le=1)
        exclude_globs: tuple[str, ...] = ()

    build_options(OverlapOptions, {"ngram": 5}, "judge.checks.test_overlap")   # OverlapOptions(ngram=5, ...)
    build_options(OverlapOptions, {"ngrams": 5}, "judge.checks.test_overlap")
    # ConfigError: judge.checks.test_overlap.ngrams is unknown; accepted: ngram, item_coverage, exclude_globs

Every value is checked against its field's annotation: ``bool``, ``int`` (a whole number, not a
bool), ``float`` (ints accepted), ``str``, ``tuple[str, ...]`` (from a list), ``Literal[...]`` and
``X | None``; `option` adds bounds (``ge``, ``gt``, ``le``), a regular expression (``pattern``)
and a list of accepted values (``choices``, a callable so registries answer at call time).
The messages match the rest of ptb: ``<key>=<value> is invalid: expected ...``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from ptb.errors import ConfigError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    pattern: str | None = None,
    choices: Callable[[], Sequence[str]] | None = None,
    hint: str | None = None,
) -> Any:
    """A dataclass field with validation metadata (see the module docstring)."""
    metadata = {"ge": ge, "gt": gt, "le": le, "pattern": pattern, "choices": choices, "hint": hint}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable option defaults are not allowed; use a tuple")
    return dataclasses.field(default=default, metadata=metadata)


def accepted_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_options(cls: type[T], raw: Any, where: str) -> T:
    """``raw`` (a mapping, or None for all defaults) as a ``cls`` instance, every value checked."""
    if raw is None:
        raw = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}={raw!r} is invalid: expected a mapping with {', '.join(fields) or 'no keys'}")
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        accepted = ", ".join(fields) if fields else "(none: it takes no options)"
        raise ConfigError(f"{where}.{unknown[0]} is unknown; accepted: {accepted}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in raw:
            values[name] = check_value(raw[name], hints[name], key, f.metadata)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{key} is missing: give a value")
    return cls(**values)


_SINGULAR = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
_PLURAL = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "strings"}


def _describe(tp: Any, plural: bool = False) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        parts = [_describe(a, plural) for a in args if a is not type(None)]
        text = ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]
        return text + (" (or null)" if type(None) in args else "")
    if origin is Literal:
        return ("values from " if plural else "one of ") + str(list(typing.get_args(tp)))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0], plural=True)}"
    if dataclasses.is_dataclass(tp):
        return "mappings" if plural else "a mapping"
    return (_PLURAL if plural else _SINGULAR).get(tp, str(tp))


def _null(meta: Mapping[str, Any]) -> str:
    return " (or null)" if meta.get("nullable") else ""


def check_value(value: Any, tp: Any, key: str, metadata: Mapping[str, Any] | None = None) -> Any:
    """``value`` converted to ``tp`` (lists to tuples, ints to floats), or a ConfigError."""
    meta = dict(metadata or {})
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return check_value(value, inner[0], key, {**meta, "nullable": type(None) in args})
        for candidate in inner:
            try:
                return check_value(value, candidate, key, meta)
            except ConfigError:
                continue
        raise ConfigError(f"{key}={value!r} is invalid: expected {_describe(tp)}")
    if origin is Literal:
        allowed = list(typing.get_args(tp))
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is invalid: expected one of {allowed}{_null(meta)}")
        return value
    if dataclasses.is_dataclass(tp):
        return build_options(tp, value, key)  # type: ignore[arg-type]
    if origin in (dict, Mapping, collections.abc.Mapping):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{key}={value!r} is invalid: expected a mapping with string keys")
        value_type: Any = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        if value_type is str:  # YAML turns `N: 1` into a number: variables and arguments are text
            bad = [k for k, v in value.items() if not isinstance(v, (str, int, float, bool))]
            if bad:
                raise ConfigError(f"{key}.{bad[0]}={value[bad[0]]!r} is invalid: expected a string")
            return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}
        return {k: check_value(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} is invalid: expected {_describe(tp)}{_null(meta)}")
        inner = typing.get_args(tp)[0]
        return tuple(check_value(v, inner, f"{key}[{i}]", meta) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} is invalid: expected true or false{_null(meta)}")
        return value
    if tp is int or tp is float:
        whole = tp is int
        ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
        kind = "a whole number" if whole else "a number"
        bound = _bound(meta)
        if ok and not _within(value, meta):
            ok = False
        if not ok:
            raise ConfigError(f"{key}={value!r} is invalid: expected {kind}{bound}{_null(meta)}")
        return value if whole else float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} is invalid: expected a string{_null(meta)}")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            hint = meta.get("hint") or f"matching {pattern}"
            raise ConfigError(f"{key}={value!r} is invalid: {hint}")
        choices = meta.get("choices")
        if choices is not None:
            allowed = list(choices())
            if value not in allowed:
                null = " (or null)" if meta.get("nullable") else ""
                raise ConfigError(f"{key}={value!r} is unknown; accepted: {allowed}{null}")
        return value
    if tp is Any or tp is object:
        return value
    raise TypeError(f"option {key}: unsupported annotation {tp!r}")


def _within(value: float, meta: Mapping[str, Any]) -> bool:
    if meta.get("ge") is not None and value < meta["ge"]:
        return False
    if meta.get("gt") is not None and value <= meta["gt"]:
        return False
    return not (meta.get("le") is not None and value > meta["le"])


def _bound(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']:g}")
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']:g}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']:g}")
    return (" " + " and ".join(parts)) if parts else ""
