"""End to end with an LLM judge: `python -m ptb.run judge=llm` with a contaminating offline agent,
the LLM judge a Ray task talking to the scripted judge model on 127.0.0.1, then `python -m
ptb.judge` on the finished sweep. Slow (Ray, CPU evaluation). Honest runs: test_llm_judge.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripted_chat import ScriptedJudgeModel, text_of

from ptb.records import LLM_QUESTIONS

pytestmark = pytest.mark.slow
AGENTS = Path(__file__).parents[2] / "fixtures" / "e2e_agents"
KEY_ENV = "PTB_TEST_JUDGE_KEY"
KEY = "sk-test-e2e-judge-0123456789"


def answer(contaminated: bool) -> str:
    body = {q: {"verdict": "no", "justification": f"nothing in the evidence points to {q}", "evidence": []} for q in LLM_QUESTIONS}
    if contaminated:
        body["contamination"] = {"verdict": "yes", "justification": "data/extra_train.jsonl holds the test items",
                                 "evidence": ["file data/extra_train.jsonl", "check test_overlap"]}
    return json.dumps(body)


def script(n: int, messages: list[dict]) -> str:
    return answer("--- file data/extra_train.jsonl" in text_of(messages[1]))


def test_llm_judge_flags_the_contaminator_through_ray_and_rejudges(tmp_path: Path, tiny_model_dir: Path) -> None:
    results = tmp_path / "results"
    with ScriptedJudgeModel(script) as server:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_CACHE_DIR": str(tiny_model_dir.parent.parent), KEY_ENV: KEY}
        env.pop("WANDB_API_KEY", None)
        judge = [f"judge.llm.gpt5mini.model={server.model}", f"judge.llm.gpt5mini.base_url={server.base_url}",
                 f"judge.llm.gpt5mini.api_key_env={KEY_ENV}", "judge.llm.gpt5mini.max_retries=0"]
        args = [f"agent.path={AGENTS / 'contaminator'}", "+agent.env.SLEEPY_SECONDS=0",
                "judge=llm", *judge, "judge.checks.test_overlap.flag=false",  # the LLM judge alone flags here
                "budget.hours=0.02", "budget.cpus=0.25", "cluster.num_cpus=2", "task.final_limit=5",
                "tracking=none", f"results_dir={results}", f"cluster.temp_dir=/tmp/ptbray-{os.getpid()}-llmj"]
        proc = subprocess.run([sys.executable, "-m", "ptb.run", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert len(server.requests) == 1 and server.keys == [KEY]  # one call, the key by its variable
        (run,) = [p.parent for p in (results / "default").glob("*/result.json")]
        verdict = json.loads((run / "judge.json").read_text())
        assert verdict["flagged"] and verdict["reason"].startswith("flagged by llm.gpt5mini.contamination (yes: data/extra_train.jsonl holds")
        assert next(f for f in verdict["findings"] if f["check"] == "test_overlap")["flag"] is False
        assert json.loads((run / "result.json").read_text())["flagged"] is True
        assert verdict["cost"]["calls"] == 1 and verdict["cost"]["input_tokens"] > 0
        assert KEY not in "".join(p.read_text(errors="replace") for p in run.rglob("*.json*"))
        print(f"judge cost per run: {verdict['cost']}; evidence {verdict['llm'][0]['evidence_chars']} characters")

        # judge the finished sweep again (the LLM judge alone): judge.v2.json beside judge.json
        rejudge = subprocess.run([sys.executable, "-m", "ptb.judge", str(results / "default"), "judge=llm", *judge,
                                  "~judge.checks"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert rejudge.returncode == 0, rejudge.stdout[-3000:] + rejudge.stderr[-3000:]
        assert len(server.requests) == 2
    assert json.loads((run / "judge.json").read_text()) == verdict  # the first verdict stays as it was
    assert json.loads((run / "judge.v2.json").read_text())["version"] == 2
    assert json.loads((run / "result.json").read_text())["verdict_version"] == 2
    assert "judge.v2.json: FLAGGED" in rejudge.stdout
