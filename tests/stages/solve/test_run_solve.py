"""The solve stage with real agents, real processes and (where it works) real bwrap."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from ptb.sandbox import bwrap_works
from ptb.stages.solve import run_solve, terminate_tree

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")
BACKENDS = [pytest.param("bwrap", marks=needs_bwrap), "none"]


def _processes_with_token(token: str) -> list[psutil.Process]:
    """Host processes whose environment carries the token (every process an agent starts does)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PTB_TEST_TOKEN") == token:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _namespace_pid(proc: psutil.Process) -> int:
    """The pid the process has in its own PID namespace (= the host pid outside a sandbox)."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return proc.pid


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_finished_agent_gets_prompt_on_stdin_and_is_logged(make_request):
    token, prompt = uuid.uuid4().hex, f"post-train it {uuid.uuid4().hex}"
    request = make_request("echo_sleep", seconds=60, prompt=prompt, env={"ECHO_SLEEP": "1.5", "PTB_TEST_TOKEN": token})
    before = time.time()
    # bwraps of earlier tests that this (subreaper) process adopted are not this run's
    bwraps_before = {c.pid for c in psutil.Process().children() if c.name() == "bwrap"}
    scans_with_agent, prompt_in_argv = 0, []
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_solve, request)
        while not future.done():
            scans_with_agent += bool(_processes_with_token(token))
            for proc in psutil.process_iter(["cmdline"]):
                if prompt in " ".join(proc.info["cmdline"] or ()):
                    prompt_in_argv.append(proc.info["cmdline"])
            time.sleep(0.1)
        outcome = future.result()

    assert outcome.status == "finished" and outcome.exit_code == 0 and outcome.reason is None
    assert before <= outcome.started_at <= before + 1
    assert 1.5 <= outcome.seconds_used < 5
    ws, run = Path(request.workspace), Path(request.run_dir)
    assert (ws / "prompt_seen.txt").read_text() == prompt
    assert scans_with_agent >= 3 and prompt_in_argv == []
    assert [c for c in psutil.Process().children() if c.name() == "bwrap" and c.pid not in bwraps_before] == []  # reaped
    deadline = (ws / ".ptb" / "deadline").read_text().strip()
    assert abs(int(deadline) - (outcome.started_at + 60)) <= 1
    assert f"PTB_DEADLINE={deadline}" in (ws / "env_seen.txt").read_text().splitlines()

    lines = (run / "solve.log").read_text().splitlines()
    pattern = re.compile(r"^(\S+) (stdout|stderr|ptb) (.*)$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert ("stdout", "hello from stdout") in [(m[2], m[3]) for m in parsed]
    assert ("stderr", "hello from stderr") in [(m[2], m[3]) for m in parsed]
    times = [datetime.fromisoformat(m[1]).timestamp() for m in parsed]
    assert before - 1 <= min(times) and max(times) <= outcome.ended_at + 1

    samples = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert len(samples) >= 3
    assert all(outcome.started_at - 1 <= s["t"] <= outcome.ended_at + 2 for s in samples)
    assert max(s["tree_processes"] for s in samples) >= 2  # launcher/bash + sleep
    assert all(s["ram_total_bytes"] > 0 and s["workspace_bytes"] > 0 for s in samples)


def test_nonzero_exit_is_crashed(make_request):
    request = make_request("echo_sleep", seconds=60, sandbox="none", env={"ECHO_EXIT": "3"})
    outcome = run_solve(request)
    assert outcome.status == "crashed" and outcome.exit_code == 3
    assert "code 3" in outcome.reason and "hello from stderr" in outcome.reason
    assert "NO SANDBOX" in (Path(request.run_dir) / "solve.log").read_text()


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_timeout_leaves_no_process_alive(make_request, sandbox):
    """An agent that ignores SIGTERM and leaves a setsid daemon and a double-forked orphan."""
    token, budget, grace = uuid.uuid4().hex, 3.0, 1.0
    request = make_request("stubborn", seconds=budget, grace=grace, sandbox=sandbox, env={"PTB_TEST_TOKEN": token})
    pid_files = [Path(request.workspace) / "pids" / name for name in ("background", "setsid", "daemon")]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_solve, request)
        assert _wait_for(lambda: all(f.exists() and f.read_text().strip() for f in pid_files), budget - 0.5)
        time.sleep(0.2)
        agent_processes = _processes_with_token(token)
        written = {int(f.read_text()) for f in pid_files}
        assert written <= {_namespace_pid(p) for p in agent_processes}  # the scan sees them all
        outcome = future.result(timeout=60)

    assert outcome.status == "timeout"
    assert [p.pid for p in agent_processes if p.is_running()] == []  # not even as zombies
    assert _processes_with_token(token) == []
    # Everything ignored SIGTERM: the tree lived to the end of the grace period, not longer.
    assert budget + grace - 0.1 <= outcome.seconds_used <= budget + grace + 1.5
    assert "deadline reached" in (Path(request.run_dir) / "solve.log").read_text()


@needs_bwrap
def test_sigterm_grace_lets_the_trainer_save_in_bwrap(make_request):
    """solve.sh dies of SIGTERM at once; its trainer still gets its grace to save (the keeper)."""
    request = make_request("graceful", seconds=1.5, grace=5, sandbox="bwrap")
    outcome = run_solve(request)
    assert outcome.status == "timeout"
    assert (Path(request.workspace) / "saved.txt").read_text().strip() == "saved"
    assert outcome.seconds_used < 1.5 + 3  # returned once the tree was gone, not at grace end


def test_terminate_tree_of_a_pid():
    proc = subprocess.Popen(["sh", "-c", "sleep 100 & sleep 100; :"], start_new_session=True)
    assert _wait_for(lambda: len(psutil.Process(proc.pid).children()) == 2, 5)
    children = psutil.Process(proc.pid).children()
    end = terminate_tree(proc.pid, grace_seconds=5)
    assert set(end.terminated) == {proc.pid, *(c.pid for c in children)} and end.killed == ()
    assert end.exit_codes[proc.pid] == -15
    proc.returncode = end.exit_codes[proc.pid]
    assert not any(c.is_running() for c in children)
