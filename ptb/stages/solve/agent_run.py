"""The solve stage: run an agent's solve.sh in the sandbox under a wall-clock budget.

    outcome = run_solve(SolveRequest(run_dir=..., workspace=..., home=..., agent=agent_spec,
                                     prompt_file=".../.ptb/prompt.md", env=agent_env,
                                     budget=Budget(hours=0.25, grace_seconds=10), sandbox="auto"))
    write_record(run_dir / "outcome.json", outcome)   # the caller writes it

What it does: writes ``<workspace>/.ptb/deadline``; starts ``bash <agent>/solve.sh`` in the
sandbox, with the prompt on stdin (never in argv) in a session of its own; the budget clock
starts right before (``Outcome.started_at``). Every stdout/stderr line goes to
``<run_dir>/solve.log`` as ``<UTC ISO time> <stream> <line>`` (stream: stdout, stderr, or ptb
for the harness's own notes); system samples go to ``<run_dir>/monitor.jsonl``. At the deadline
the whole process tree gets SIGTERM, and SIGKILL ``budget.grace_seconds`` later → "timeout".
Exit code 0 → "finished"; any other exit, or a failure to start → "crashed". Processes the
agent leaves behind when it exits are ended the same way (they never outlive the stage).

The supervising process becomes a child subreaper (see `process_tree`), so run it in a
process that starts no other children meanwhile: the `AgentRun` Ray actor does exactly that.
"""

from __future__ import annotations

import collections
import logging
import math
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ptb.records import AgentSpec, Budget, Outcome, Status
from ptb.sandbox import Sandbox, SandboxRequest, make_sandbox
from ptb.stages.solve.monitor import Monitor
from ptb.stages.solve.process_tree import ProcessTree, become_subreaper, own_children, process_name, terminate_tree

log = logging.getLogger(__name__)

class SolveInfraError(RuntimeError):
    """The solve failed for reasons of the infrastructure, not the agent: retry it."""


@dataclass(frozen=True)
class SolveRequest:
    run_dir: str
    workspace: str
    home: str
    agent: AgentSpec
    prompt_file: str
    env: Mapping[str, str]  # the agent's complete environment, except PTB_DEADLINE (added here)
    budget: Budget
    sandbox: str = "auto"  # auto | bwrap | none
    readonly: tuple[str, ...] = ()  # extra paths the agent must see read-only (base model, agent dir)
    monitor_interval_s: float = 5.0
    hidden: tuple[str, ...] = field(default=())  # host folders the agent must not see (other runs)


def log_time(t: float) -> str:
    """The timestamp of a solve.log line (UTC, milliseconds); `ptb.traces` reads it back."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class SolveLog:
    """Thread-safe, line-timestamped writer of solve.log."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.last_stderr: collections.deque[str] = collections.deque(maxlen=5)

    def write(self, stream: str, line: str) -> None:
        with self._lock:
            if self._file.closed:  # a pump that outlived the stage (an escaped process's pipe)
                return
            self._file.write(f"{log_time(time.time())} {stream} {line}\n")
            self._file.flush()
        if stream == "stderr" and line.strip():
            self.last_stderr.append(line.strip())

    def note(self, line: str) -> None:
        self.write("ptb", line)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _pump(pipe: IO[bytes], stream: str, solve_log: SolveLog) -> None:
    # Bounded reads: a progress bar redrawn with \r and no newline must not grow without end.
    with pipe:
        for raw in iter(lambda: pipe.readline(65536), b""):
            solve_log.write(stream, raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def run_solve(req: SolveRequest) -> Outcome:
    run_dir = Path(req.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        sandbox = make_sandbox(req.sandbox)
    except RuntimeError as exc:  # e.g. bwrap asked for but broken on this node
        raise SolveInfraError(str(exc)) from exc

    become_subreaper()
    solve_log = SolveLog(run_dir / "solve.log")
    try:
        return _supervise(req, sandbox, solve_log)
    finally:
        solve_log.close()


def _supervise(req: SolveRequest, sandbox: Sandbox, solve_log: SolveLog) -> Outcome:
    budget = req.budget
    solve_sh = Path(req.agent.path) / "solve.sh"
    if sandbox.warning:
        solve_log.note(f"WARNING {sandbox.warning}")

    started_at = time.time()
    deadline = started_at + budget.seconds
    # Agents do integer arithmetic on it in shell; rounding down never promises extra time.
    deadline_text = str(math.floor(deadline))
    env = {**req.env, "PTB_DEADLINE": deadline_text}
    ptb_dir = Path(req.workspace) / ".ptb"
    ptb_dir.mkdir(parents=True, exist_ok=True)
    (ptb_dir / "deadline").write_text(deadline_text + "\n")
    request = SandboxRequest(
        argv=("bash", str(solve_sh)),
        cwd=req.workspace,
        writable=(req.workspace, req.home),
        readonly=tuple(req.readonly),
        env=env,
        network=req.agent.network,
        hidden=tuple(req.hidden),
    )
    argv, popen_env = sandbox.command(request)
    solve_log.note(
        f"start agent={req.agent.name} sandbox={sandbox.kind} budget={budget.seconds:.0f}s "
        f"grace={budget.grace_seconds:g}s deadline={log_time(deadline)} network={req.agent.network}"
    )

    children_before = own_children()
    try:
        with open(req.prompt_file, "rb") as prompt:
            proc = subprocess.Popen(
                argv, env=popen_env, cwd=req.workspace, stdin=prompt,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
            )
    except OSError as exc:
        ended_at = time.time()
        why = f"the agent could not be started: {exc}"
        solve_log.note(why)
        outcome = Outcome("crashed", started_at, ended_at, None, why)
        return outcome

    tree = ProcessTree(proc.pid, adopt_orphans_after=children_before, launcher_names=sandbox.launcher_names)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", solve_log), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", solve_log), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    monitor = Monitor(tree, req.workspace, Path(req.run_dir) / "monitor.jsonl", req.monitor_interval_s)
    # Truncate samples of an earlier attempt: this file describes this attempt only.
    monitor.out_path.write_text("")
    monitor.start()

    try:
        exit_code: int | None = proc.wait(timeout=max(0.0, deadline - time.time()))
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    ended_at = time.time()

    monitor.stop()  # before signalling: no helper process of ours may be running then
    if timed_out:
        solve_log.note(f"deadline reached: SIGTERM to the agent's process tree, SIGKILL in {budget.grace_seconds:g}s")
        end = terminate_tree(tree, budget.grace_seconds)
        ended_at = time.time()
        exit_code = end.exit_codes.get(proc.pid)
        if exit_code is None:
            exit_code = proc.poll()
        else:
            proc.returncode = exit_code  # terminate_tree reaped it; tell Popen so
        solve_log.note(
            f"terminated {len(end.terminated)} processes, SIGKILLed {len(end.killed)}"
            + (f"; STILL ALIVE: {list(end.survivors)}" if end.survivors else "")
        )
        if end.survivors:
            log.error("agent processes %s of %s survived SIGKILL", list(end.survivors), req.run_dir)
        status: Status
        reason: str | None
        status, reason = "timeout", (
            f"budget of {budget.seconds:.0f}s reached; SIGTERM to {len(end.terminated)} processes, "
            f"{len(end.killed)} still alive after {budget.grace_seconds:g}s got SIGKILL"
        )
    else:
        leftovers = [p for p in tree.members() if process_name(p) not in sandbox.launcher_names]
        if leftovers:  # daemons of an agent that is done: they must not outlive the stage
            solve_log.note(f"the agent exited leaving {len(leftovers)} processes running: ending them")
        # Always: it also reaps the orphans we adopted (bwrap's own init exits after the launcher).
        terminate_tree(tree, budget.grace_seconds)
        if exit_code == 0:
            status, reason = "finished", None
        else:
            last = solve_log.last_stderr[-1] if solve_log.last_stderr else "(no stderr)"
            status, reason = "crashed", f"the agent exited with code {exit_code}; last stderr line: {last[:300]}"

    for pump in pumps:
        pump.join(timeout=10)
    outcome = Outcome(status, started_at, ended_at, exit_code, reason)
    solve_log.note(f"end status={status} exit_code={exit_code} seconds={outcome.seconds_used:.1f}")
    return outcome
