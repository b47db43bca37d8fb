"""The solve stage: an agent in its sandbox, under its budget, watched to the last process.

    from ptb.stages.solve import SolveRequest, run_solve, solve_on_ray
    outcome = solve_on_ray(request)   # in a Ray actor holding request.budget's CPUs and GPUs
    outcome = run_solve(request)      # in this process
"""

from ptb.stages.solve.actor import AgentRun, solve_on_ray
from ptb.stages.solve.agent_run import SolveInfraError, SolveLog, SolveRequest, log_time, run_solve
from ptb.stages.solve.monitor import Monitor
from ptb.stages.solve.process_tree import (
    ProcessTree,
    Termination,
    become_subreaper,
    is_subreaper,
    process_name,
    terminate_tree,
)

__all__ = [
    "AgentRun",
    "Monitor",
    "ProcessTree",
    "SolveInfraError",
    "SolveLog",
    "SolveRequest",
    "Termination",
    "become_subreaper",
    "is_subreaper",
    "process_name",
    "log_time",
    "run_solve",
    "solve_on_ray",
    "terminate_tree",
]
