"""The evaluation pool: Ray actors that serve checkpoints and run the final evaluation.

    pool = EvalPool(backend="hf", workers=1, gpus_per_worker=0, cpus_per_worker=0.5)
    metrics = pool.evaluate(EvalRequest(task, "run/final_model", "evals/templates/chatml.jinja",
                                        out_dir="run/eval", limit=task.final_limit))
    pool.shutdown()

`evaluate` blocks and may be called from many driver threads at once. It takes an idle
`EvalWorker` actor, preferring one whose warm server already serves the same checkpoint (same
resolved path, same file sizes and mtimes, same template), otherwise any idle one, and creates a
new actor only when every existing one is busy and the pool is below `workers`: actors are made
on first use so they do not take resources from agent actors at the start of a sweep. A worker
keeps its server across requests and replaces it when another checkpoint comes; it runs the
retry ladder and writes the inspect logs into the request's `out_dir`. A lost actor surfaces as
`EvalInfraError` (the caller retries); a checkpoint that cannot be evaluated is a `Metrics`
without score.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb import registry
from ptb.chat_templates import harness_template, stop_token_ids, tool_parser
from ptb.evaluation.errors import EvalInfraError
from ptb.evaluation.inspect_runner import TaskScore, run_inspect_task
from ptb.evaluation.ladder import evaluate_with_ladder
from ptb.paths import PROJECT_ROOT
from ptb.records import Metrics, ModelSpec, TaskSpec
from ptb.serve.launch import ServerHandle, start_server
from ptb.tasks.heldout import task_split_fingerprint

# Variables every worker must see even on a cluster whose raylets were started elsewhere.
PASSED_ENV = (
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN",
    "PTB_DATA_DIR",
)

ServingKey = tuple[str, ...]


@dataclass(frozen=True)
class EvalRequest:
    task: TaskSpec
    model_path: str  # the checkpoint (a HF save_pretrained folder)
    template_path: str  # the harness chat template of the run's configured model
    out_dir: str  # inspect logs, server.json (and server.log when it starts a server) go here
    limit: int | None = None  # samples to evaluate (None = all)
    tool_parser: str | None = None  # tasks with tools: how the server reads tool calls (hermes, pythonic)

    @classmethod
    def final(cls, model: ModelSpec, task: TaskSpec, model_path: str | os.PathLike, out_dir: str | os.PathLike) -> EvalRequest:
        """The final evaluation of a checkpoint of the configured ``model`` on ``task``: the
        harness template and tool-call format of that model (never the checkpoint's own), on the
        task's final limit. Runs and baselines are evaluated alike."""
        return cls(
            task=task,
            model_path=str(model_path),
            template_path=str(harness_template(model, task)),
            out_dir=str(out_dir),
            limit=task.final_limit,
            tool_parser=tool_parser(model, task),
        )


def serving_key(model_path: str | os.PathLike, template_path: str | os.PathLike, tool_parser: str | None = None) -> ServingKey:
    """What a warm server must match to be reused: the checkpoint's resolved path and the size
    and mtime of each of its files (a retrained checkpoint in the same folder is a new one), the
    template's path and content, and the tool-call parser."""
    model = Path(model_path).resolve()
    files = sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else []
    stamp = hashlib.sha256()
    for p in files:
        st = p.stat()
        stamp.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    template = Path(template_path).resolve()
    template_hash = hashlib.sha256(template.read_bytes()).hexdigest() if template.is_file() else "missing"
    return (str(model), stamp.hexdigest(), str(template), template_hash, tool_parser or "")


class EvalWorker:
    """One evaluation slot: keeps one server warm and evaluates requests on it.

    A plain class (usable without Ray in tests); the pool runs it as a Ray actor.
    """

    def __init__(self, backend: str, served_model_name: str = "final_model", server_args: tuple[str, ...] = ()):
        self.backend = backend
        self.served_model_name = served_model_name
        self.server_args = tuple(server_args)
        self.server: ServerHandle | None = None
        self.key: ServingKey | None = None
        self.servers_started = 0
        self.evaluations = 0
        self.last_server_start_s: float | None = None

    def _ensure_server(self, req: EvalRequest, key: ServingKey) -> tuple[ServerHandle, bool]:
        """The warm server when it serves this key and is alive, else a fresh one."""
        if self.server is not None and self.key == key and self.server.alive():
            return self.server, True
        self.stop_server()
        started = time.monotonic()
        self.server = start_server(
            req.model_path, req.template_path, self.backend,
            served_model_name=self.served_model_name,
            log_file=Path(req.out_dir) / "server.log",
            extra_args=self.server_args,
            exit_with_parent=True,  # a lost actor leaves no server behind
            tool_parser=req.tool_parser,
        )
        self.key = key
        self.servers_started += 1
        self.last_server_start_s = time.monotonic() - started
        return self.server, False

    def evaluate(self, req: EvalRequest, key: ServingKey) -> Metrics:
        out_dir = Path(req.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stops = stop_token_ids(req.model_path, req.template_path)

        def run_once(max_tokens: int) -> TaskScore:
            server, reused = self._ensure_server(req, key)
            (out_dir / "server.json").write_text(json.dumps({
                "backend": self.backend, "base_url": server.base_url, "model_path": server.model_path,
                "log_file": server.log_file, "reused": reused, "pid": server.pid,
            }, indent=2) + "\n")
            return run_inspect_task(
                req.task, server.base_url, server.model_name,
                limit=req.limit, max_tokens=max_tokens,
                max_connections=req.task.max_connections, log_dir=out_dir, stop_token_ids=stops,
            )

        self.evaluations += 1
        metrics = evaluate_with_ladder(run_once, req.task.ladder)
        return dataclasses.replace(metrics, log_dir=str(out_dir), split_fingerprint=task_split_fingerprint(req.task))

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "servers_started": self.servers_started,
            "evaluations": self.evaluations,
            "last_server_start_s": self.last_server_start_s,
            "serving": self.key[0] if self.key else None,
        }

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self.key = None, None


@dataclass
class _Slot:
    actor: Any  # ray.actor.ActorHandle of an EvalWorker
    key: ServingKey | None = None  # the checkpoint its server serves (or last tried to)
    busy: bool = False


class EvalPool:
    def __init__(
        self,
        backend: str = "hf",
        workers: int = 1,
        gpus_per_worker: float = 0,
        cpus_per_worker: float = 0.5,
        served_model_name: str = "final_model",
        server_args: tuple[str, ...] = (),
        passed_env: tuple[str, ...] = (),
    ):
        registry.lookup("serve_backend", backend, where="eval.backend")
        if workers < 1:
            raise ValueError(f"eval workers={workers!r} is invalid: expected at least 1")
        self.backend = backend
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.served_model_name = served_model_name
        self.server_args = tuple(server_args)
        # host variables the workers need besides PASSED_ENV: the LLM grader's key variable
        self.passed_env = tuple(dict.fromkeys([*PASSED_ENV, *passed_env]))
        self._slots: list[_Slot] = []
        self._waiting: collections.Counter[ServingKey] = collections.Counter()  # keys of blocked callers
        self._cond = threading.Condition()
        self._closed = False

    # ------------------------------------------------------------------ scheduling

    def _new_actor(self) -> Any:
        import ray

        env = {k: os.environ[k] for k in self.passed_env if k in os.environ}
        path = [str(PROJECT_ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))  # ptb importable even if not installed
        actor_cls = ray.remote(EvalWorker)
        return actor_cls.options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=0,
            runtime_env={"env_vars": env},
        ).remote(self.backend, self.served_model_name, self.server_args)

    def _take_slot(self, key: ServingKey) -> _Slot | None:
        """An idle worker for `key` (called with the lock held), or None when the caller must wait."""
        idle = [s for s in self._slots if not s.busy]
        slot = next((s for s in idle if s.key == key), None)
        if slot is None:
            # leave warm servers to the blocked callers that want their checkpoint
            claimed = {s.key for s in idle if self._waiting[s.key] > 0}  # type: ignore[index]
            free = [s for s in idle if s.key not in claimed]
            if free:
                slot = next((s for s in free if s.key is None), free[0])
            elif len(self._slots) < self.workers:
                slot = _Slot(actor=self._new_actor())
                self._slots.append(slot)
        if slot is not None:
            slot.busy, slot.key = True, key  # it serves this key from now on
        return slot

    def evaluate(self, req: EvalRequest) -> Metrics:
        """Evaluate one checkpoint (blocking; thread-safe). Raises EvalInfraError when the
        worker actor is lost, so the caller can retry."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        key = serving_key(req.model_path, req.template_path, req.tool_parser)
        with self._cond:
            while True:
                if self._closed:
                    raise EvalInfraError("the evaluation pool was shut down")
                slot = self._take_slot(key)
                if slot is not None:
                    break
                self._waiting[key] += 1
                try:
                    self._cond.wait()
                finally:
                    self._waiting[key] -= 1
        lost = False
        try:
            return ray.get(slot.actor.evaluate.remote(req, key))
        except (RayActorError, ActorUnavailableError) as exc:
            lost = True
            raise EvalInfraError(f"evaluation worker lost while evaluating {req.model_path}: {exc}") from exc
        finally:
            with self._cond:
                slot.busy = False
                if lost and slot in self._slots:
                    self._slots.remove(slot)  # a fresh actor replaces it on demand
                self._cond.notify_all()

    # ------------------------------------------------------------------ introspection and cleanup

    def stats(self) -> list[dict[str, Any]]:
        """Each live worker's counters (servers started, evaluations, what it serves)."""
        import ray

        with self._cond:
            actors = [s.actor for s in self._slots]
        return ray.get([a.stats.remote() for a in actors])

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop every server and kill every worker actor. A worker still evaluating gets
        `timeout` seconds to finish before it is killed (its hf server exits with it)."""
        import ray

        with self._cond:
            self._closed = True
            self._cond.notify_all()
            slots, self._slots = list(self._slots), []
        for slot in slots:
            try:
                ray.get(slot.actor.stop_server.remote(), timeout=timeout)
            except Exception:  # a dead or stuck actor: killing it below is all that is left
                pass
            ray.kill(slot.actor)

    def __enter__(self) -> EvalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
