"""The judge as its own Ray task (no GPU), and what a lost judge worker is.

    judge = RayJudge()
    handle = judge.submit(spec, plan.judge, base_model_path)   # starts at once, beside the evaluation
    verdict = judge.wait(handle)                               # JudgeLost when the worker died
"""

from __future__ import annotations

from typing import Any

from ptb.records import JudgeConfig, RunSpec, Verdict


class JudgeLost(RuntimeError):
    """The judge's worker or node was lost (infrastructure): submit it again."""


def _judge_task(spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> Verdict:
    from ptb.stages.judge.run import judge_run

    return judge_run(spec, judge, base_model_path)


class RayJudge:
    """Runs `judge_run` as a Ray task with a tenth of a CPU, so judging never waits for a GPU."""

    def __init__(self) -> None:
        import ray

        self._task = ray.remote(num_cpus=0.1, num_gpus=0)(_judge_task)

    def submit(self, spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> Any:
        return self._task.remote(spec, judge, base_model_path)

    def wait(self, handle: Any) -> Verdict:
        import ray
        from ray.exceptions import NodeDiedError, WorkerCrashedError

        try:
            return ray.get(handle)
        except (WorkerCrashedError, NodeDiedError) as exc:
            raise JudgeLost(f"the judge's worker was lost: {exc}") from exc
