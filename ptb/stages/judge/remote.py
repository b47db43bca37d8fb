"""The judge as Ray tasks (no GPU), and what a lost judge worker is.

    judge = RayJudge()
    handle = judge.submit(spec, plan.judge, base_model_path)   # starts at once, beside the evaluation
    verdict = judge.wait(handle)                               # JudgeLost when a worker died

One task runs the deterministic checks; each LLM judge (``judge.llm``) is a task of its own that
Ray starts when the checks' findings exist (it is handed their object reference), so LLM judges
run beside each other and beside the evaluation. An LLM judge's task gets its key variable
through the task's runtime environment (as the evaluation pool's workers get the grader's),
so a joined cluster's workers have it too; no other variable is passed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ptb.records import Finding, JudgeConfig, LlmJudgeConfig, LlmJudgement, RunSpec, Verdict


class JudgeLost(RuntimeError):
    """The judge's worker or node was lost (infrastructure): submit it again."""


def _checks_task(spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> tuple[Finding, ...]:
    from ptb.stages.judge.run import run_checks

    return run_checks(spec, judge, base_model_path)


def _llm_task(spec: RunSpec, config: LlmJudgeConfig, findings: tuple[Finding, ...]) -> LlmJudgement:
    from ptb.stages.judge.run import judge_with_llm

    return judge_with_llm(spec, config, findings)


@dataclass(frozen=True)
class JudgeHandle:
    checks: Any  # ObjectRef of the checks' findings
    llm: tuple[Any, ...]  # ObjectRefs of the LLM judgements, in judge.llm order


class RayJudge:
    """Runs the checks and the LLM judges as Ray tasks with a tenth of a CPU each, so judging
    never waits for a GPU."""

    def __init__(self) -> None:
        import ray

        self._checks = ray.remote(num_cpus=0.1, num_gpus=0)(_checks_task)
        self._llm = ray.remote(num_cpus=0.1, num_gpus=0)(_llm_task)

    def submit(self, spec: RunSpec, judge: JudgeConfig, base_model_path: str) -> JudgeHandle:
        checks = self._checks.remote(spec, judge, base_model_path)
        llm = []
        for config in judge.llm:
            key_env = config.api_key_env
            env = {key_env: os.environ[key_env]} if key_env and key_env in os.environ else {}
            task = self._llm.options(runtime_env={"env_vars": env}) if env else self._llm
            llm.append(task.remote(spec, config, checks))
        return JudgeHandle(checks, tuple(llm))

    def wait(self, handle: JudgeHandle) -> Verdict:
        import ray
        from ray.exceptions import NodeDiedError, WorkerCrashedError

        from ptb.stages.judge.run import combine

        try:
            findings = ray.get(handle.checks)
            judgements = ray.get(list(handle.llm))
        except (WorkerCrashedError, NodeDiedError) as exc:
            raise JudgeLost(f"the judge's worker was lost: {exc}") from exc
        return combine(findings, judgements)
