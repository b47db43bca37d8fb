"""AgentRun actors on a local Ray cluster with logical GPUs: exactly their GPUs, lost actors retried."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import ray

from ptb.stages.solve import SolveInfraError, solve_on_ray


@pytest.fixture(scope="module")
def ray_two_gpus():
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_gpu_actors_never_oversubscribe(ray_two_gpus, make_request, tmp_path):
    requests = [
        make_request("echo_sleep", seconds=120, env={"ECHO_SLEEP": "2.5"}, root=tmp_path / f"run{i}")
        for i in range(3)
    ]
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda r: solve_on_ray(r, num_cpus=1, num_gpus=1), requests))

    assert [o.status for o in outcomes] == ["finished"] * 3
    intervals = [(o.started_at, o.ended_at) for o in outcomes]
    overlap = max(sum(s <= t < e for s, e in intervals) for t, _ in intervals)
    assert overlap == 2  # two GPUs: two at once, never three, and never one after another
    devices = [(Path(r.workspace) / "cuda_visible_devices.txt").read_text().strip() for r in requests]
    assert set(devices) <= {"0", "1"}
    for i, (s1, e1) in enumerate(intervals):  # runs that overlap hold different GPUs
        for j, (s2, e2) in enumerate(intervals[i + 1 :], i + 1):
            if s1 < e2 and s2 < e1:
                assert devices[i] != devices[j]


def test_lost_actor_is_an_infrastructure_error(ray_two_gpus, make_request):
    request = make_request("echo_sleep", seconds=120, sandbox="none", env={"ECHO_SLEEP": "3"})
    parent_pid = Path(request.workspace) / "parent_pid.txt"  # bash's parent: the actor process
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(solve_on_ray, request, 1, 0)
        end = time.monotonic() + 60
        while not (parent_pid.exists() and parent_pid.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.05)
        os.kill(int(parent_pid.read_text()), signal.SIGKILL)
        with pytest.raises(SolveInfraError, match="lost"):
            future.result(timeout=60)
    # an actor without GPUs hides the node's GPUs from its agent
    assert (Path(request.workspace) / "cuda_visible_devices.txt").read_text().strip() == ""
