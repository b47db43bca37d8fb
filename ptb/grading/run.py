"""The grading service of one run, as the solve stage starts it (`ptb.stages.solve.agent_run`).

    with run_grading(req.run_dir, Path(req.home).parent) as grading:   # None: public test data
        ...                                   # every session of the solve:
        sockets += (str(grading.socket_path),)          # given to the sandbox like the egress socket
        env = {**env, **grading.env}                     # PTB_GRADING_SOCKET for evaluate.py

One service per run, for all its sessions (the per-item limit on distinct outputs holds over the
whole run). Its socket is ``<scratch>/grading/grading.sock``: beside the agent's home, outside the
workspace, a short path; its log ``<run_dir>/grading.jsonl``, out of the agent's reach.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ptb.grading.client import SOCKET_ENV
from ptb.grading.service import GradingService


@dataclass(frozen=True)
class GradingSocket:
    socket_path: Path

    @property
    def env(self) -> dict[str, str]:
        return {SOCKET_ENV: str(self.socket_path)}


@contextlib.contextmanager
def run_grading(run_dir: str | os.PathLike[str], scratch: str | os.PathLike[str]) -> Iterator[GradingSocket | None]:
    """Start the run's grading service when its task's test split is secret; stop it after.
    Without the run's spec.yaml (a solve run by itself, as tests do) there is no task to grade:
    None, and evaluate.py on a secret split fails inside the sandbox, never shows answers."""
    socket_path = Path(scratch) / "grading" / "grading.sock"
    if not (Path(run_dir) / "spec.yaml").is_file():
        yield None
        return
    try:
        service = GradingService.for_run(run_dir, socket_path)
        if service is not None:
            service.start()
    except Exception as exc:  # the secret or the task module unreadable on this node, a socket error
        # the harness's side, not the agent's: retried like a lost worker (imported here: the
        # solve stage imports this module)
        from ptb.stages.solve.agent_run import SolveInfraError

        raise SolveInfraError(f"the grading service of {run_dir} could not start: {type(exc).__name__}: {exc}") from exc
    if service is None:
        yield None
        return
    try:
        yield GradingSocket(socket_path)
    finally:
        service.stop()
