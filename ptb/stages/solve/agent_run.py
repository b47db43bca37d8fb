"""The solve stage: run an agent's solve.sh in the sandbox under a wall-clock budget.

    outcome = run_solve(SolveRequest(run_dir=..., workspace=..., home=..., agent=agent_spec,
                                     prompt_file=".../.ptb/prompt.md", env=agent_env,
                                     budget=Budget(hours=0.25, grace_seconds=10), sandbox="auto"))
    write_record(run_dir / "outcome.json", outcome)   # the caller writes it

What it does: writes ``<workspace>/.ptb/deadline``; starts ``bash <agent>/solve.sh`` in the
sandbox, with the prompt on stdin (never in argv) in a session of its own; the budget clock
starts right before (``Outcome.started_at``). With ``agent.reprompt``, a CLI that exits 0 with at
least ``agent.reprompt_min_minutes`` left is started again in the same workspace and home with
``PTB_AGENT_RESUME=1`` and "you still have X remaining" on stdin (``ptb/prompts/reprompt.md``):
its solve.sh continues the same session. A networked agent (``agent.network``) gets the internet
only through a per-run egress proxy (`ptb.egress`): the sandbox keeps its own network namespace,
the proxy records every connection into ``<run_dir>/egress.jsonl``. The values of the agent's
secret variables (its vendor key) are masked in every line written. Where the agent's output
names why its CLI gave up (rate limit, quota, context overflow, auth, network), the reason is in
``Outcome.failure``. Every stdout/stderr line goes to
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
import contextlib
import dataclasses
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ptb.agents.failures import classify_failure
from ptb.egress import BRIDGE, DEFAULT_PORT, EgressPolicy, EgressProxy, bridged_argv
from ptb.grading.client import SOCKET_ENV as GRADING_SOCKET_ENV
from ptb.grading.run import run_grading
from ptb.paths import PROMPTS_DIR
from ptb.plugins import load_agent_plugins
from ptb.records import AgentSpec, Budget, Outcome, Status
from ptb.redact import Redactor
from ptb.sandbox import Sandbox, SandboxRequest, make_sandbox
from ptb.sandbox.bwrap import SandboxSetupError
from ptb.stages.solve.monitor import Monitor
from ptb.stages.solve.process_tree import ProcessTree, become_subreaper, own_children, process_name, terminate_tree
from ptb.traces import parse_trace

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
    egress_resolve: Mapping[str, str] = field(default_factory=dict)  # host -> address:port for the proxy
    egress_policy: EgressPolicy | None = None  # ptb.egress.egress_policy(spec); None: everything allowed


def log_time(t: float) -> str:
    """The timestamp of a solve.log line (UTC, milliseconds); `ptb.traces` reads it back."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class SolveLog:
    """Thread-safe, line-timestamped writer of solve.log; the agent's secrets never reach it."""

    def __init__(self, path: Path, redact: Redactor | None = None) -> None:
        self._file = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()
        self._redact = redact or Redactor(None, {})
        self.last_stderr: collections.deque[str] = collections.deque(maxlen=5)

    def write(self, stream: str, line: str) -> None:
        line = self._redact(line)
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
    solve_log = SolveLog(run_dir / "solve.log", Redactor.of_env(req.env, req.agent.secret_vars))
    try:
        with _egress(req) as egress, run_grading(req.run_dir, Path(req.home).parent) as grading:
            if grading is not None:  # a secret test split: evaluate.py has it graded there (ptb.grading)
                req = dataclasses.replace(req, env={**req.env, **grading.env})
            outcome = _supervise(req, sandbox, solve_log, egress)
    finally:
        solve_log.close()
    return _with_failure(outcome, req)


@dataclass(frozen=True)
class _Egress:
    socket_path: Path  # the proxy's Unix socket; its folder is mounted read-only into the sandbox
    proxy: EgressProxy  # sandbox_env(port): the proxy variables, and the CA ones when it opens the Hub's TLS


@contextlib.contextmanager
def _egress(req: SolveRequest) -> Iterator[_Egress | None]:
    """The run's egress proxy, for a networked agent; it outlives every session of the solve."""
    if not req.agent.network:
        yield None
        return
    # Beside the agent's home, outside the workspace: a short path (sun_path holds 108 bytes).
    socket_dir = Path(req.home).parent / "egress"
    socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket_path = socket_dir / "proxy.sock"
    try:
        proxy = EgressProxy(socket_path, Path(req.run_dir) / "egress.jsonl", resolve=dict(req.egress_resolve),
                            policy=req.egress_policy)
        proxy.start()
    except OSError as exc:
        raise SolveInfraError(f"the egress proxy could not start at {socket_path}: {exc}") from exc
    try:
        yield _Egress(socket_path, proxy)
    finally:
        proxy.stop()


def _with_failure(outcome: Outcome, req: SolveRequest) -> Outcome:
    """The failure the agent's own error output names, if any (see `ptb.agents.failures`)."""
    if req.agent.cli is None:
        return outcome  # offline agents have no API to fail
    try:
        load_agent_plugins(req.agent.path)
        events = parse_trace(Path(req.run_dir) / "solve.log", req.agent.trace_format)
    except Exception as exc:  # a broken parser must not lose the outcome
        log.warning("could not classify the failure of %s: %s", req.run_dir, exc)
        return outcome
    found = classify_failure(e.text for e in events if e.kind == "error")
    if found is None:
        return outcome
    return dataclasses.replace(outcome, failure=found[0], failure_detail=found[1])


def reprompt_text(seconds_left: float, budget: Budget) -> str:
    minutes = int(seconds_left // 60)
    remaining = f"{minutes // 60} h {minutes % 60:02d} min"
    return (PROMPTS_DIR / "reprompt.md").read_text().format(remaining=remaining, hours=f"{budget.hours:g}")


@dataclass(frozen=True)
class _Session:
    status: Status  # timeout when the deadline ended it
    exit_code: int | None
    reason: str | None


def _supervise(req: SolveRequest, sandbox: Sandbox, solve_log: SolveLog, egress: _Egress | None) -> Outcome:
    budget = req.budget
    if sandbox.warning:
        solve_log.note(f"WARNING {sandbox.warning}")

    started_at = time.time()
    deadline = started_at + budget.seconds
    # Agents do integer arithmetic on it in shell; rounding down never promises extra time.
    deadline_text = str(math.floor(deadline))
    ptb_dir = Path(req.workspace) / ".ptb"
    ptb_dir.mkdir(parents=True, exist_ok=True)
    (ptb_dir / "deadline").write_text(deadline_text + "\n")
    solve_log.note(
        f"start agent={req.agent.name} sandbox={sandbox.kind} budget={budget.seconds:.0f}s "
        f"grace={budget.grace_seconds:g}s deadline={log_time(deadline)} network={req.agent.network}"
        + (" (egress proxy)" if egress else "")
    )
    monitor_path = Path(req.run_dir) / "monitor.jsonl"
    # Truncate samples of an earlier attempt: this file describes this attempt only.
    monitor_path.write_text("")

    sessions = 0
    prompt_file = Path(req.prompt_file)
    while True:
        sessions += 1
        resume = sessions > 1
        env = {**req.env, "PTB_DEADLINE": deadline_text, **({"PTB_AGENT_RESUME": "1"} if resume else {})}
        session = _run_session(req, sandbox, solve_log, egress, env, prompt_file, deadline)
        left = deadline - time.time()
        if not (
            req.agent.reprompt and session.status == "finished" and left >= req.agent.reprompt_min_minutes * 60
        ):
            break
        prompt_file = ptb_dir / f"reprompt-{sessions}.md"
        prompt_file.write_text(reprompt_text(left, budget))
        solve_log.note(f"reprompt: session {sessions} ended with {left / 60:.0f} min left; continuing the session")

    ended_at = time.time()
    outcome = Outcome(session.status, started_at, ended_at, session.exit_code, session.reason, sessions=sessions)
    solve_log.note(f"end status={session.status} exit_code={session.exit_code} seconds={outcome.seconds_used:.1f} sessions={sessions}")
    return outcome


def _free_host_port() -> int:
    """A free port of the host's loopback, for a sandbox that shares the host's network (none):
    concurrent runs on one node must not all take DEFAULT_PORT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_session(
    req: SolveRequest,
    sandbox: Sandbox,
    solve_log: SolveLog,
    egress: _Egress | None,
    env: Mapping[str, str],
    prompt_file: Path,
    deadline: float,
) -> _Session:
    """One start of solve.sh, until it exits or the deadline; nothing it started outlives it."""
    budget = req.budget
    argv: tuple[str, ...] = ("bash", str(Path(req.agent.path) / "solve.sh"))
    readonly = tuple(req.readonly)
    sockets: tuple[str, ...] = ()
    if egress is not None:
        # The bridge listens inside the sandbox's own namespace, then runs the agent; the proxy
        # variables point the agent's clients at it. There is no other way out (--unshare-net).
        python = os.path.realpath(sys.executable)
        port = DEFAULT_PORT if sandbox.isolates_network else _free_host_port()
        argv = tuple(bridged_argv(python, str(BRIDGE), str(egress.socket_path), port, argv))
        readonly += (str(BRIDGE),)
        sockets += (str(egress.socket_path),)
        env = {**env, **egress.proxy.sandbox_env(port)}
    if env.get(GRADING_SOCKET_ENV) == str(Path(req.home).parent / "grading" / "grading.sock"):
        sockets += (env[GRADING_SOCKET_ENV],)  # the run's grading service, connectable like the proxy
    # The agent's /tmp is a folder of the run (not a tmpfs that dies with the sandbox): what the
    # agent kept only there is snapshotted by collect and read by the judge.
    agent_tmp = Path(req.workspace).parent / "tmp"
    agent_tmp.mkdir(exist_ok=True)
    request = SandboxRequest(
        argv=argv,
        cwd=req.workspace,
        writable=(req.workspace, req.home),
        readonly=readonly,
        env=env,
        network=False,  # a networked agent reaches the internet through the egress proxy only
        hidden=tuple(req.hidden),
        tmp=str(agent_tmp),
        sockets=sockets,
        gpus=env.get("CUDA_VISIBLE_DEVICES"),  # the actor's, from Ray: the sandbox gets only these
    )
    try:
        popen_argv, popen_env = sandbox.command(request)
    except SandboxSetupError as exc:  # the host's doing, not the agent's: no result, not a score
        solve_log.note(str(exc))
        raise SolveInfraError(str(exc)) from exc

    children_before = own_children()
    try:
        with open(prompt_file, "rb") as prompt:
            proc = subprocess.Popen(
                popen_argv, env=popen_env, cwd=req.workspace, stdin=prompt,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
            )
    except OSError as exc:
        why = f"the agent could not be started: {exc}"
        solve_log.note(why)
        return _Session("crashed", None, why)

    tree = ProcessTree(proc.pid, adopt_orphans_after=children_before, launcher_names=sandbox.launcher_names)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", solve_log), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", solve_log), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    monitor = Monitor(tree, req.workspace, Path(req.run_dir) / "monitor.jsonl", req.monitor_interval_s)
    monitor.start()

    try:
        exit_code: int | None = proc.wait(timeout=max(0.0, deadline - time.time()))
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True

    monitor.stop()  # before signalling: no helper process of ours may be running then
    status: Status
    reason: str | None
    if timed_out:
        solve_log.note(f"deadline reached: SIGTERM to the agent's process tree, SIGKILL in {budget.grace_seconds:g}s")
        end = terminate_tree(tree, budget.grace_seconds)
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
    return _Session(status, exit_code, reason)
