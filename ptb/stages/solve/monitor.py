"""Periodic system samples of a running agent, one JSON line each, into monitor.jsonl.

    monitor = Monitor(tree, workspace, run_dir / "monitor.jsonl", interval_s=5)
    monitor.start()   # first sample at once, then every interval
    ...
    monitor.stop()    # one last sample, then the thread ends

A line: ``{"t": <epoch s>, "cpu_percent": .., "ram_used_bytes": .., "ram_total_bytes": ..,
"tree_processes": .., "tree_rss_bytes": .., "tree_cpu_percent": .., "workspace_bytes": ..,
"disk_free_bytes": .., "gpus": [{"index", "utilization_percent", "memory_used_mib",
"memory_total_mib"}]}`` (``gpus`` only where nvidia-smi exists).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from ptb.stages.solve.process_tree import ProcessTree

log = logging.getLogger(__name__)

_NVIDIA_QUERY = "index,utilization.gpu,memory.used,memory.total"


def gpu_sample(nvidia_smi: str | None) -> list[dict[str, Any]] | None:
    if nvidia_smi is None:
        return None
    try:
        out = subprocess.run(
            [nvidia_smi, f"--query-gpu={_NVIDIA_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [{"error": str(exc)[:200]}]
    gpus = []
    for line in out.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            continue
        gpus.append(
            {
                "index": _number(fields[0]),
                "utilization_percent": _number(fields[1]),
                "memory_used_mib": _number(fields[2]),
                "memory_total_mib": _number(fields[3]),
            }
        )
    return gpus


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]" on some GPUs
        return None


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes allocated under ``path`` (like ``du``), symlinks not followed."""
    total = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
    return total


class Monitor:
    def __init__(
        self,
        tree: ProcessTree,
        workspace: str | os.PathLike,
        out_path: str | os.PathLike,
        interval_s: float,
    ) -> None:
        self.tree = tree
        self.workspace = Path(workspace)
        self.out_path = Path(out_path)
        self.interval_s = max(0.1, float(interval_s))
        self.nvidia_smi = shutil.which("nvidia-smi")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ptb-monitor", daemon=True)
        self._cpu_by_pid: dict[int, psutil.Process] = {}  # keeps psutil's per-process CPU baseline
        psutil.cpu_percent(None)  # first call only sets the baseline

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def sample(self) -> dict[str, Any]:
        # GPU first: nvidia-smi is a child of this process, and must be gone before the tree
        # is listed or it would count as an orphan of the agent.
        gpus = gpu_sample(self.nvidia_smi)
        members = self.tree.members()
        rss, cpu = 0, 0.0
        for proc in members:
            proc = self._cpu_by_pid.setdefault(proc.pid, proc)
            try:
                rss += proc.memory_info().rss
                cpu += proc.cpu_percent(None)
            except psutil.Error:
                continue
        live = {p.pid for p in members}
        self._cpu_by_pid = {pid: p for pid, p in self._cpu_by_pid.items() if pid in live}
        memory = psutil.virtual_memory()
        try:
            free = shutil.disk_usage(self.workspace).free
        except OSError:
            free = None
        sample: dict[str, Any] = {
            "t": round(time.time(), 3),
            "cpu_percent": psutil.cpu_percent(None),
            "ram_used_bytes": memory.total - memory.available,
            "ram_total_bytes": memory.total,
            "tree_processes": len(members),
            "tree_rss_bytes": rss,
            "tree_cpu_percent": round(cpu, 1),
            "workspace_bytes": folder_bytes(self.workspace),
            "disk_free_bytes": free,
        }
        if gpus is not None:
            sample["gpus"] = gpus
        return sample

    def _run(self) -> None:
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out_path, "a") as out:
            while True:
                try:
                    sample = self.sample()
                    out.write(json.dumps(sample) + "\n")
                    out.flush()
                except Exception:  # a failed sample must never stop the watchdog's run
                    log.exception("monitor sample failed")
                if self._stop.is_set():
                    return
                self._stop.wait(self.interval_s)
