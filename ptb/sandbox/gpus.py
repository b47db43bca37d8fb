"""Which NVIDIA device nodes an agent's sandbox gets: its own GPUs', not the node's.

    nodes = gpu_mounts("2")          # Ray gave the actor GPU 2
    nodes.devices                    # ["/dev/nvidiactl", "/dev/nvidia-uvm", ..., "/dev/nvidia3"]
    nodes.masked                     # ["/proc/driver/nvidia/gpus/0000:3b:00.0", ...] the others' entries
    nodes.visible                    # "0": CUDA_VISIBLE_DEVICES inside, where only these exist

Why: ``CUDA_VISIBLE_DEVICES`` is advice to the CUDA runtime, and the agent writes its own
environment. With every /dev/nvidiaN in its sandbox an agent could train on its neighbours' GPUs
(more compute than its budget, and their runs slowed). The driver enumerates the GPUs whose
device nodes it can open, so a sandbox holding only its GPUs' nodes sees only them — as the
container runtimes do; their entries under /proc/driver/nvidia/gpus are masked too, so NVML
(nvidia-smi) does not list GPUs it cannot open.

The index Ray hands out is the NVML index, which is PCI bus order; a GPU's ``Device Minor``
(the N of /dev/nvidiaN) and UUID are in its /proc/driver/nvidia/gpus/<bus id>/information.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


@dataclass(frozen=True)
class Gpu:
    bus_id: str  # the folder name under /proc/driver/nvidia/gpus, e.g. 0000:3b:00.0
    minor: int
    uuid: str | None


@dataclass(frozen=True)
class GpuMounts:
    devices: tuple[str, ...]  # device nodes to bind into the sandbox
    masked: tuple[str, ...]  # /proc/driver/nvidia/gpus entries of GPUs it must not see
    visible: str  # CUDA_VISIBLE_DEVICES inside the sandbox


class GpuMappingError(ValueError):
    """CUDA_VISIBLE_DEVICES names a GPU this node's driver does not list."""


def node_gpus(proc_root: str = "/proc/driver/nvidia/gpus") -> list[Gpu]:
    """The node's GPUs in NVML order (PCI bus id), from the driver's own listing."""
    gpus = []
    for folder in sorted(glob.glob(os.path.join(proc_root, "*"))):
        facts: dict[str, str] = {}
        try:
            with open(os.path.join(folder, "information")) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    facts[key.strip()] = value.strip()
        except OSError:
            continue
        if facts.get("Device Minor", "").isdigit():
            gpus.append(Gpu(os.path.basename(folder), int(facts["Device Minor"]), facts.get("GPU UUID")))
    return gpus


def gpu_mounts(cuda_visible: str, proc_root: str = "/proc/driver/nvidia/gpus", dev_root: str = "/dev") -> GpuMounts:
    """The mounts for a sandbox whose GPUs are ``cuda_visible`` (indices or UUIDs, as Ray and
    Slurm write them; empty = none)."""
    gpus = node_gpus(proc_root)
    wanted = [part.strip() for part in cuda_visible.split(",") if part.strip()]
    chosen: list[Gpu] = []
    for name in wanted:
        if name.isdigit():
            if int(name) >= len(gpus):
                raise GpuMappingError(f"GPU {name} is not among this node's {len(gpus)} NVIDIA GPUs")
            chosen.append(gpus[int(name)])
        else:
            match = [g for g in gpus if g.uuid and (g.uuid == name or g.uuid.startswith(name))]
            if len(match) != 1:
                raise GpuMappingError(f"CUDA_VISIBLE_DEVICES entry {name!r} matches {len(match)} of this node's GPUs")
            chosen.append(match[0])
    devices: list[str] = []
    if chosen:
        devices += [p for p in (os.path.join(dev_root, n) for n in CONTROL_NODES) if os.path.exists(p)]
        devices += sorted(glob.glob(os.path.join(dev_root, "nvidia-caps", "*")))
        devices += [os.path.join(dev_root, f"nvidia{g.minor}") for g in chosen]
    masked = tuple(os.path.join(proc_root, g.bus_id) for g in gpus if g not in chosen)
    return GpuMounts(tuple(devices), masked, ",".join(str(i) for i in range(len(chosen))))
