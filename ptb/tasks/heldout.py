"""Held-out material the agent cannot read: one secret per task and installation.

    seed = heldout_seed("arith", "test")        # an int derived from the task's secret
    fingerprint(json.dumps(item) for item in items)  # "sha256:…": names a split, reveals nothing

A task whose test items are generated (arith) must not generate them from anything the agent can
read: the project folder, evals/ included, is visible read-only inside every sandbox. The items
therefore come from a secret kept under `ptb.data.harness_files_root()` (``<PTB_DATA_DIR>/ptb/
heldout/<task>.key``), a folder every agent's sandbox replaces with an empty one. It is created on
first use with 256 random bits and never changes afterwards, so the final evaluation, the judge's
test items, the grading service and the baselines all see the same split. On a cluster that folder
must be shared by the nodes, as the data cache already is (different secrets would be different
test splits); `split_fingerprint` in every metrics.json makes a mix-up visible.

Inside an agent's sandbox (``PTB_WORKSPACE`` is set) the secret is never created: the empty
stand-in folder would otherwise get a fresh secret and a different split, silently.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ptb.data import harness_files_root

SECRET_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class HeldoutUnavailable(RuntimeError):
    """The task's secret cannot be read here (inside an agent's sandbox, or a broken key file)."""


def secret_path(task_name: str) -> Path:
    if not _NAME.match(task_name) or task_name.startswith("."):
        raise ValueError(f"task name {task_name!r} cannot name a secret file")
    return harness_files_root() / "heldout" / f"{task_name}.key"


def _read(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        value = bytes.fromhex(text)
    except ValueError as exc:
        raise HeldoutUnavailable(f"{path} is not a hex secret; delete it to start a new held-out split") from exc
    if len(value) < 16:
        raise HeldoutUnavailable(f"{path} holds only {len(value)} bytes; delete it to start a new held-out split")
    return value


def heldout_secret(task_name: str) -> bytes:
    """The task's secret, created once (atomically: concurrent first uses agree on one)."""
    path = secret_path(task_name)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise HeldoutUnavailable(f"the held-out secret of '{task_name}' cannot be read ({path}): {exc}") from exc
    if os.environ.get("PTB_WORKSPACE"):
        raise HeldoutUnavailable(
            f"the held-out split of '{task_name}' is not readable inside the agent's sandbox; "
            "evaluate with `python evaluate.py`, which has it graded by the harness"
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_bytes(SECRET_BYTES).hex() + "\n")
        try:
            os.link(tmp, path)  # fails when another process made it first: then theirs is the one
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read(path)


def heldout_seed(task_name: str, purpose: str) -> int:
    """A 64-bit seed for ``purpose`` (e.g. "test"), derived from the task's secret."""
    digest = hmac.new(heldout_secret(task_name), purpose.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def fingerprint(parts: Iterable[str]) -> str:
    """A short name for a sequence of texts (length-prefixed, so no two sequences collide by
    concatenation). It names a split in metrics.json; it cannot be turned back into the items."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return "sha256:" + digest.hexdigest()[:16]


def task_split_fingerprint(task: Any) -> str | None:
    """The fingerprint of a task's test split, where its module names one (``split_fingerprint()``:
    a generated, secret split); None for a public, fixed one. Recorded in every metrics.json."""
    from ptb.plugins import load_task_module

    fn = getattr(load_task_module(task), "split_fingerprint", None)
    return str(fn()) if callable(fn) else None
