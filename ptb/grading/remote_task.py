"""The inspect task the agent's evaluate.py runs on a held-out split it cannot read.

    task = remote_task(GradingClient(socket_path))   # prompts from the service, no targets
    run_inspect_task(spec, base_url, model, ..., inspect_task=task)

The samples have the service's ids and prompts and an empty target; the scorer sends each
model output to the service and records correct or not. A limited item (graded on too many
different outputs this run) counts as incorrect, with ``limited`` in the score's metadata.
"""

from __future__ import annotations

from typing import Any

import anyio
from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState, generate

from ptb.grading.client import GradingClient


def remote_task(client: GradingClient) -> Task:
    task_name = client.task()
    samples = [Sample(id=item["id"], input=item["input"], target="") for item in client.items()]

    @scorer(metrics=[accuracy(), stderr()])
    def graded_by_service() -> Any:
        async def score(state: TaskState, target: Target) -> Score:
            output = state.output.completion or ""
            reply = await anyio.to_thread.run_sync(client.grade, [(str(state.sample_id), output)])
            result = reply["results"][0]
            if result.get("limited"):
                return Score(value=INCORRECT, metadata={"limited": True})
            return Score(value=CORRECT if result["correct"] else INCORRECT)

        return score

    return Task(
        dataset=MemoryDataset(samples, name=f"{task_name}-test"),
        solver=generate(),
        scorer=graded_by_service(),
        name=task_name,
    )
