"""Cross-process locks (ptb.locks): taken, held, released; the holder named; a SIGKILLed holder's
lock taken over; a half-written holder file read without a crash; and run_pipeline holding its
run's lock, so a second pipeline of the same run touches nothing."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_pipeline import Fakes, plan_for

from ptb.locks import FileLock, Holder, RunLocked, hold_cell, hold_run, read_holder, run_lock_path
from ptb.pipeline import run_pipeline
from ptb.stages import Stage

HOLD_THEN_SLEEP = """
import sys, time
from pathlib import Path
from ptb.locks import FileLock
lock = FileLock(Path(sys.argv[1]), "other-sweep")
assert lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_lock_is_exclusive_until_released_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "r.lock"
    first, second = FileLock(path, "default"), FileLock(path, "default")
    assert first.acquire()
    assert not second.acquire()  # another open file: excluded like another process
    holder = read_holder(path)
    assert holder is not None and (holder.pid, holder.host, holder.sweep) == (os.getpid(), socket.gethostname(), "default")
    first.release()
    assert path.read_bytes() == b""  # released cleanly: nothing left that reads as a dead holder
    assert second.acquire()
    second.release()


def test_run_locked_names_the_holder(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    with hold_run(plan.spec):
        with pytest.raises(RunLocked) as locked:
            with hold_run(plan.spec):
                pytest.fail("a held run was taken twice")
    message = str(locked.value)
    assert re.search(
        rf"run {plan.spec.run_id} is held by pid {os.getpid()} on host {re.escape(socket.gethostname())} since \d\d:\d\d:\d\d UTC \(sweep 'default'\)",
        message,
    ), message
    assert locked.value.path == run_lock_path(plan.spec)
    with hold_run(plan.spec):  # released at the end of the block
        pass


def test_a_sigkilled_holders_lock_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cell.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THEN_SLEEP, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert not FileLock(path).acquire()
        facts = read_holder(path)
        assert facts is not None and facts.pid == holder.pid and facts.sweep == "other-sweep"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    lock = FileLock(path, "mine")
    with caplog.at_level(logging.WARNING, logger="ptb.locks"):
        assert lock.acquire()  # the kernel dropped the dead holder's lock
    assert f"taking over the lock of a holder that is gone: pid {holder.pid}" in caplog.text
    mine = read_holder(path)
    assert mine is not None and (mine.pid, mine.sweep) == (os.getpid(), "mine")
    lock.release()


@pytest.mark.parametrize("content", [b"", b'{"host": "h", "pi', b"\xff\xfe garbage", b'["a list"]', b'{"host": "h", "pid": "x", "since": 1}'])
def test_a_half_written_holder_file_never_crashes_a_reader(tmp_path: Path, content: bytes) -> None:
    plan = plan_for(tmp_path)
    held = FileLock(run_lock_path(plan.spec))
    assert held.acquire()
    run_lock_path(plan.spec).write_bytes(content)  # as if its holder were between ftruncate and write
    assert read_holder(run_lock_path(plan.spec)) is None
    with pytest.raises(RunLocked, match="held by another process"):
        with hold_run(plan.spec):
            pass
    held.release()


def test_holder_facts_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    me = Holder("node-3", 123, 45.0, "default", "python -m ptb.run")
    path.write_text(json.dumps(me.__dict__))
    assert read_holder(path) == me
    assert me.describe() == "pid 123 on host node-3 since 00:00:45 UTC (sweep 'default')"


def test_a_cell_lock_waits_for_its_holder_and_says_whom(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cell.lock"
    first = FileLock(path, "sweep-a")
    assert first.acquire()
    entered = threading.Event()

    def second() -> None:
        with hold_cell(path, "baseline base tiny__arith", "sweep-b"):
            entered.set()

    with caplog.at_level(logging.WARNING, logger="ptb.locks"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.5)  # waits while the first holds it
        first.release()
        assert entered.wait(10)
        thread.join(10)
    assert f"baseline base tiny__arith: waiting for pid {os.getpid()}" in caplog.text and "(sweep 'sweep-a')" in caplog.text


def test_a_second_pipeline_of_a_live_run_touches_nothing(tmp_path: Path) -> None:
    """The failure the lock prevents: a second driver of the same run (the same sweep started
    twice) retired the first's records, moved its live workspace aside and ran the agent again."""
    plan = plan_for(tmp_path)
    run, workspace = Path(plan.spec.run_dir), Path(plan.spec.scratch_dir) / "workspace"
    in_solve, finish = threading.Event(), threading.Event()
    first = Fakes(tmp_path)
    real_solve = first.solve

    def slow_solve(request):
        in_solve.set()
        assert finish.wait(30)
        return real_solve(request)

    first.solve = slow_solve  # type: ignore[method-assign]
    results: list = []
    driver = threading.Thread(target=lambda: results.append(run_pipeline(plan, first.services())))
    driver.start()
    try:
        assert in_solve.wait(30)
        (run / "error.txt").write_text("the first driver's own record\n")  # anything of the first's
        second = Fakes(tmp_path)
        started: list = []
        services = second.services()
        services.on_start = started.append
        with pytest.raises(RunLocked, match=f"held by pid {os.getpid()}"):
            run_pipeline(plan, services)
        assert second.calls == {"solve": 0, "evaluate": 0, "submit": 0, "wait": 0, "base": 0}
        assert second.stages == [] and started == []  # no board stage, no tracking of another's run
        assert workspace.is_dir() and not list(workspace.parent.glob("interrupted-*"))  # not moved aside
        assert (run / "error.txt").is_file() and not (run / "errors").exists()  # not retired
        (run / "error.txt").unlink()
    finally:
        finish.set()
        driver.join(60)
    assert results and results[0].status == "finished"
    assert [s for s, _ in first.stages][-1] is Stage.DONE
