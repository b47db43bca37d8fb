"""Only the run's own GPUs reach its sandbox (device nodes, driver listing, CUDA numbering),
checked on a stand-in of the driver's /proc listing and /dev (no GPU on the CI box)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptb.sandbox import SandboxRequest
from ptb.sandbox import bwrap as bwrap_backend
from ptb.sandbox.gpus import GpuMappingError, gpu_mounts, node_gpus

# Four GPUs whose minor numbers are not in bus order, as happens on real nodes.
NODE = [("0000:1a:00.0", 2, "GPU-aaaa"), ("0000:3b:00.0", 0, "GPU-bbbb"), ("0000:88:00.0", 3, "GPU-cccc"), ("0000:b1:00.0", 1, "GPU-dddd")]


@pytest.fixture
def node(tmp_path: Path) -> tuple[str, str]:
    proc, dev = tmp_path / "proc", tmp_path / "dev"
    for bus, minor, uuid in NODE:
        (proc / bus).mkdir(parents=True)
        (proc / bus / "information").write_text(
            f"Model:           NVIDIA H100\nIRQ:             12\nGPU UUID:        {uuid}\nDevice Minor:    {minor}\n"
        )
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-caps/nvidia-cap1", "nvidia0", "nvidia1", "nvidia2", "nvidia3"):
        (dev / name).write_text("")
    return str(proc), str(dev)


def test_the_node_gpus_are_in_bus_order_with_their_minor_numbers(node):
    proc, _ = node
    assert [(g.bus_id, g.minor) for g in node_gpus(proc)] == [(b, m) for b, m, _ in NODE]


def test_a_run_with_two_gpus_gets_their_nodes_only_and_sees_them_as_0_and_1(node):
    proc, dev = node
    mounts = gpu_mounts("1,2", proc, dev)  # NVML indices 1 and 2: minors 0 and 3
    per_gpu = [d for d in mounts.devices if Path(d).name[len("nvidia"):].isdigit()]
    assert per_gpu == [f"{dev}/nvidia0", f"{dev}/nvidia3"]
    assert f"{dev}/nvidiactl" in mounts.devices and f"{dev}/nvidia-caps/nvidia-cap1" in mounts.devices
    assert mounts.masked == (f"{proc}/0000:1a:00.0", f"{proc}/0000:b1:00.0")
    assert mounts.visible == "0,1"


def test_uuids_work_like_indices_and_unknown_gpus_are_an_error(node):
    proc, dev = node
    assert gpu_mounts("GPU-dddd", proc, dev).devices[-1] == f"{dev}/nvidia1"
    with pytest.raises(GpuMappingError, match="GPU 7 is not among this node's 4"):
        gpu_mounts("7", proc, dev)
    with pytest.raises(GpuMappingError, match="matches 0"):
        gpu_mounts("GPU-ffff", proc, dev)


def test_a_run_without_gpus_gets_no_device_node_and_every_listing_masked(node):
    proc, dev = node
    mounts = gpu_mounts("", proc, dev)
    assert mounts.devices == () and len(mounts.masked) == 4 and mounts.visible == ""


def test_the_bwrap_command_binds_only_the_runs_gpus(node, monkeypatch, tmp_path):
    proc, dev = node
    monkeypatch.setattr(bwrap_backend, "node_gpus", lambda: node_gpus(proc))
    monkeypatch.setattr(bwrap_backend, "gpu_mounts", lambda visible: gpu_mounts(visible, proc, dev))
    monkeypatch.setattr(bwrap_backend, "bwrap_probe", lambda: (True, "ok"))
    sandbox = bwrap_backend.BwrapSandbox()
    ws = tmp_path / "ws"
    ws.mkdir()
    request = SandboxRequest(argv=("true",), cwd=str(ws), writable=(str(ws),), env={"CUDA_VISIBLE_DEVICES": "3"}, gpus="3")
    argv, env = sandbox.command(request)
    bound = [argv[i + 1] for i, a in enumerate(argv) if a == "--dev-bind-try"]
    assert f"{dev}/nvidia1" in bound and not any(b.endswith(("nvidia0", "nvidia2", "nvidia3")) for b in bound)
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    with pytest.raises(bwrap_backend.SandboxSetupError, match="GPU 9"):
        sandbox.command(SandboxRequest(argv=("true",), cwd=str(ws), writable=(str(ws),), gpus="9"))
