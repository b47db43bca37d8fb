"""HumanEval's tests against a model's answer, with the answer in a process of its own.

This file is the program `ptb.sandbox.code_exec.run_python` runs in the code sandbox (stdlib
only). Its stdin holds, as one JSON object, what the answer must not see: the problem's trusted
code (``prompt``: imports and helpers; ``test``: ``def check(candidate)``), the ``entry_point``,
the ``solution`` (the prompt with the model's code) and the ``marker`` to print when every test
passed. It then:

1. starts itself again as ``--solution``: that process reads the solution from a pipe, runs it,
   and answers calls of the entry point, its own stdin and stdout pointed at /dev/null;
2. runs the prompt and the tests here and calls ``check`` with a stand-in for the entry point that
   sends each call's arguments to the solution's process and returns what comes back;
3. prints the marker only when ``check`` returned.

Why a second process: an answer that runs in the tests' process can end it with status 0 before
they run (``exit()``, ``sys.exit(0)``, ``os._exit(0)``), print the marker it finds in the
program, read the tests and answer them, or return an object that equals anything. Here it holds
neither the tests nor the marker (no /proc in the sandbox, this process is not dumpable, so it
cannot read them from here), its exit ends only its own process (the call fails), it cannot write
to this process's stdout, and what crosses the pipe is plain data only (None, bool, int, float,
str, bytes, list, tuple, dict, set, frozenset), rebuilt here: no object of the answer's own.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import traceback
from typing import Any

MAX_DEPTH = 100  # nesting of one value: deeper is refused, not a crash


class CandidateError(Exception):
    """The answer raised, exited or sent something that is not plain data during a call."""


def encode(value: Any, depth: int = 0) -> Any:
    """A plain value as tagged JSON (tuples, sets, bytes and non-finite floats survive)."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"int": str(value)}  # any size, never a float on the way
    if isinstance(value, float):
        return {"float": repr(value)} if not math.isfinite(value) else value
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    kinds = ((tuple, "tuple"), (list, "list"), (frozenset, "frozenset"), (set, "set"))
    for cls, tag in kinds:
        if type(value) is cls:
            return {tag: [encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"{type(value).__name__} is not plain data")


def decode(data: Any, depth: int = 0) -> Any:
    """The inverse of `encode`, strict: anything else is refused."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    if data is None or isinstance(data, (bool, str)) or (isinstance(data, (int, float)) and not isinstance(data, bool)):
        return data
    if not (isinstance(data, dict) and len(data) == 1):
        raise TypeError(f"not an encoded value: {str(data)[:80]}")
    ((tag, inner),) = data.items()
    if tag == "int" and isinstance(inner, str):
        return int(inner)
    if tag == "float" and inner in ("inf", "-inf", "nan"):
        return float(inner)
    if tag == "bytes" and isinstance(inner, str):
        return bytes.fromhex(inner)
    if isinstance(inner, list):
        if tag == "dict":
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in inner}
        items = [decode(v, depth + 1) for v in inner]
        builders = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}
        if tag in builders:
            return builders[tag](items)
    raise TypeError(f"unknown encoded value {tag!r}")


def _send(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def serve_solution() -> int:
    """The solution's process: load it, then answer calls until the pipe closes."""
    calls, replies = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # its prints go nowhere; stderr stays: a traceback explains a failure
    sys.stdin, sys.stdout = open(os.devnull), open(os.devnull, "w")
    setup = json.loads(calls.readline())
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        exec(compile(setup["solution"], "<solution>", "exec"), namespace)
        function = namespace[setup["entry_point"]]
    except BaseException as exc:  # SystemExit too: leaving while loading is not a solution
        traceback.print_exc()
        _send(replies, {"error": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
    _send(replies, {"ready": True})
    for line in calls:
        call = json.loads(line)
        try:
            value = function(*decode(call["args"]), **decode(call["kwargs"]))
            reply: dict[str, Any] = {"value": encode(value)}
        except BaseException as exc:  # an exit inside the function is a failed call too
            reply = {"raised": f"{type(exc).__name__}: {exc}"[:500]}
        _send(replies, reply)
    return 0


def _not_dumpable() -> None:
    """No process of the same uid may ptrace this one (and read the tests or the marker)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def run_tests() -> int:
    spec = json.loads(sys.stdin.read())
    _not_dumpable()
    solution = subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), "--solution"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
    )
    assert solution.stdin is not None and solution.stdout is not None
    calls, replies = solution.stdin, solution.stdout
    _send(calls, {"solution": spec["solution"], "entry_point": spec["entry_point"]})
    ready = replies.readline()
    if not ready or "ready" not in json.loads(ready):
        detail = json.loads(ready).get("error", "") if ready else f"it ended with status {solution.wait()}"
        print(f"the answer did not load: {detail}", file=sys.stderr)
        return 1

    def candidate(*args: Any, **kwargs: Any) -> Any:
        try:
            _send(calls, {"args": encode(list(args)), "kwargs": encode(dict(kwargs))})
        except BrokenPipeError:
            raise CandidateError("the answer's process has ended (it exited or crashed)") from None
        line = replies.readline()
        if not line:
            raise CandidateError("the answer's process ended during a call (it exited or crashed)")
        reply = json.loads(line)
        if "raised" in reply:
            raise CandidateError(f"the answer raised {reply['raised']}")
        try:
            return decode(reply["value"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CandidateError(f"the answer sent something that is not plain data: {exc}") from None

    namespace: dict[str, Any] = {"__name__": "__ptb_humaneval_tests__"}
    exec(compile(spec["prompt"], "<prompt>", "exec"), namespace)  # trusted: the helpers the tests use
    exec(compile(spec["test"], "<test>", "exec"), namespace)
    namespace["check"](candidate)
    print(spec["marker"], flush=True)
    solution.kill()  # whatever the answer left running (a thread, a child) is not waited for
    solution.wait()
    return 0


if __name__ == "__main__":
    sys.exit(serve_solution() if sys.argv[1:] == ["--solution"] else run_tests())
