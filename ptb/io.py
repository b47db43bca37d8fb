"""Atomic file writes and (de)serialisation of the records in `ptb.records`.

A crash must never leave a half-written stage output behind, because "the output exists"
is how a resumed run decides to skip a stage: every write goes to a temp file beside the
target and is renamed over it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import os
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _file_mode() -> int:
    """What open() would give a new file under this process's umask. mkstemp makes its temp
    files 0600, which the rename would carry over: records and models on a shared results
    folder or cache must stay readable by whoever the umask lets read them (the agent, another
    user, reads the base model)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, collections.abc.Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a (nested) frozen dataclass from what `to_jsonable` wrote."""
    return _convert(cls, data)


def _convert(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            return _convert(arg, data)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _convert(hints[f.name], data[f.name])
        return tp(**kwargs)  # type: ignore[operator]  # tp is a dataclass type here
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v) for v in data)
    if origin in (list,):
        (inner,) = typing.get_args(tp) or (Any,)
        return [_convert(inner, v) for v in data]
    if origin in (dict, collections.abc.Mapping) or tp in (dict,):
        return dict(data)
    if tp is float and isinstance(data, int):
        return float(data)
    return data


def write_record(path: str | os.PathLike, record: Any) -> None:
    write_json_atomic(path, record)


def read_record(path: str | os.PathLike, cls: type[T]) -> T:
    return from_jsonable(cls, read_json(path))


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
