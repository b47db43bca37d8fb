"""The solve stage as a Ray actor holding exactly the agent's GPUs and CPUs.

    outcome = solve_on_ray(request)     # the resources of request.budget: its CPUs and GPUs

`solve_on_ray` creates an `AgentRun` actor with exactly those resources, runs the solve in it, and
kills the actor as soon as the solve returns, so its GPUs are free at once. A lost actor (node
down, worker killed) raises `SolveInfraError`: the caller retries it.
"""

from __future__ import annotations

import dataclasses

import ray
import ray.exceptions

from ptb.records import Outcome
from ptb.stages.solve.agent_run import SolveInfraError, SolveRequest, run_solve
from ptb.stages.solve.process_tree import become_subreaper


@ray.remote(max_restarts=0)
class AgentRun:
    def __init__(self) -> None:
        # Orphans of the agent (double-forked daemons) are re-parented to this process, where
        # the watchdog finds them, instead of to init.
        self.subreaper = become_subreaper()

    def solve(self, request: SolveRequest) -> Outcome:
        env = {**request.env, "CUDA_VISIBLE_DEVICES": self.visible_gpus()}
        return run_solve(dataclasses.replace(request, env=env))

    @staticmethod
    def visible_gpus() -> str:
        """The GPUs Ray gave this actor, as CUDA_VISIBLE_DEVICES: the agent sees exactly these.

        Ray sets the variable only for actors that hold GPUs; an actor with none must hide the
        node's GPUs from its agent too, hence the empty value then.
        """
        ids = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
        return ",".join(str(i) for i in ids)


def solve_on_ray(request: SolveRequest, num_cpus: float | None = None, num_gpus: float | None = None) -> Outcome:
    """Solve in an `AgentRun` actor holding the budget's CPUs and GPUs (or the ones given)."""
    cpus = request.budget.cpus if num_cpus is None else num_cpus
    gpus = request.budget.gpus if num_gpus is None else num_gpus
    actor = AgentRun.options(num_cpus=cpus, num_gpus=gpus).remote()  # type: ignore[attr-defined]
    try:
        return ray.get(actor.solve.remote(request))
    except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
        raise SolveInfraError(f"the AgentRun actor of {request.run_dir} was lost: {exc}") from exc
    finally:
        ray.kill(actor)
