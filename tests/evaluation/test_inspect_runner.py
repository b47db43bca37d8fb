"""inspect-ai against the real HF server on the tiny model, end to end."""

from __future__ import annotations

import os

import pytest

from ptb.evaluation import EvalFailed, run_inspect_task
from ptb.paths import EVALS_DIR, template_path
from ptb.records import LadderStep, TaskSpec
from ptb.serve.launch import free_port, start_server

os.environ["HF_HUB_OFFLINE"] = "1"

CHATML = template_path("chatml").read_text()  # the harness's own template
ARITH = TaskSpec(
    name="arith", benchmark="Arith", weight=1.0, eval_dir=str(EVALS_DIR / "arith"),
    ladder=(LadderStep(32, 1),), default_limit=100, max_connections=8,
)


@pytest.mark.slow
def test_arith_runs_against_the_hf_server_and_keeps_its_log(tiny_model_dir, tmp_path):
    from inspect_ai.log import read_eval_log

    template = tmp_path / "chatml.jinja"
    template.write_text(CHATML)
    with start_server(tiny_model_dir, template, "hf", served_model_name="final_model") as server:
        score = run_inspect_task(ARITH, server.base_url, server.model_name, limit=6, max_tokens=16,
                                 max_connections=6, log_dir=tmp_path / "logs")
    assert score.metric == "accuracy" and 0.0 <= score.score <= 1.0 and score.samples == 6
    log = read_eval_log(score.log_file)  # a normal inspect log: `inspect view` opens it
    assert log.status == "success" and log.eval.model == "openai-api/ptb/final_model"
    assert len(log.samples) == 6 and log.samples[0].id == "test-0"
    assert all(s.output.usage.output_tokens <= 16 for s in log.samples)


def test_an_unreachable_server_raises_eval_failed(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(EvalFailed, match="status 'error'"):
        run_inspect_task(ARITH, base_url, "final_model", limit=1, max_tokens=8, max_connections=1,
                         log_dir=tmp_path, max_retries=0, request_timeout_s=5)
    assert list(tmp_path.glob("*.eval")), "the failed run's inspect log is kept"


NAN_TASK = '''
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Score, mean, scorer
from inspect_ai.solver import solver


@solver
def no_model():
    async def solve(state, generate):
        return state  # never calls the model: no server needed
    return solve


@scorer(metrics=[mean()])
def unscorable():
    async def score(state, target):
        return Score(value=float("nan"))
    return score


@task
def nanny(split="test"):
    return Task(dataset=MemoryDataset([Sample(input="a", target="b"), Sample(input="c", target="d")]),
                solver=no_model(), scorer=unscorable())


DATA = ()


def test_texts():
    return []


def write_agent_context(workspace):
    return []
'''


def test_a_nan_headline_metric_is_a_failed_attempt_not_a_score(tmp_path):
    """When no sample could be scored (e.g. an LLM grader failed on all), inspect reports NaN:
    that must fail the attempt (so the ladder retries and the run falls back), never score NaN."""
    from ptb.records import LadderStep, TaskSpec

    (tmp_path / "nanny").mkdir()
    (tmp_path / "nanny" / "task.py").write_text(NAN_TASK)
    task = TaskSpec(name="nanny", benchmark="n", weight=1.0, eval_dir=str(tmp_path / "nanny"), ladder=(LadderStep(8, 1),))
    with pytest.raises(EvalFailed, match="scored no sample: mean is NaN"):
        run_inspect_task(task, "http://127.0.0.1:9/v1", "m", limit=None, max_tokens=8, max_connections=2,
                         log_dir=tmp_path / "logs")
