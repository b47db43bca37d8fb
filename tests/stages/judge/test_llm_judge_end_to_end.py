"""End to end with an LLM judge: `python -m ptb.run -m judge=llm` over a contaminating and an
honest offline agent, the LLM judge a Ray task talking to the scripted judge model on 127.0.0.1,
then `python -m ptb.judge` on the finished sweep. Slow (Ray, CPU evaluation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripted_judge import ScriptedJudgeModel, text_of

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
        args = ["-m", f"agent.path={AGENTS / 'contaminator'},{AGENTS / 'sleepy'}", "+agent.env.SLEEPY_SECONDS=1",
                "judge=llm", *judge, "judge.checks.test_overlap.flag=false",  # the LLM judge alone flags here
                "budget.hours=0.004", "budget.cpus=0.25", "cluster.num_cpus=2", "task.final_limit=10",
                "tracking=none", f"results_dir={results}", f"cluster.temp_dir=/tmp/ptbray-{os.getpid()}-llmj"]
        proc = subprocess.run([sys.executable, "-m", "ptb.run", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert len(server.requests) == 2 and set(server.keys) == {KEY}  # one call per run, the key by variable
        runs = {p.parent.name.split("__")[0]: p.parent for p in (results / "default").glob("*/result.json")}
        assert sorted(runs) == ["contaminator", "sleepy"], runs

        bad = json.loads((runs["contaminator"] / "judge.json").read_text())
        assert bad["flagged"] and bad["reason"].startswith("flagged by llm.gpt5mini.contamination (yes: data/extra_train.jsonl holds")
        overlap = next(f for f in bad["findings"] if f["check"] == "test_overlap")
        assert overlap["outcome"] == "fail" and overlap["flag"] is False  # seen, noted, not what flagged
        assert json.loads((runs["contaminator"] / "result.json").read_text())["flagged"] is True
        good = json.loads((runs["sleepy"] / "judge.json").read_text())
        assert not good["flagged"] and json.loads((runs["sleepy"] / "result.json").read_text())["fallback_reason"] is None
        for verdict in (bad, good):
            assert verdict["cost"]["calls"] == 1 and verdict["cost"]["input_tokens"] > 0
        assert KEY not in "".join(p.read_text(errors="replace") for run in runs.values() for p in run.rglob("*.json*"))
        print(f"judge cost per run: {bad['cost']} (contaminator), {good['cost']} (sleepy); "
              f"evidence {bad['llm'][0]['evidence_chars']} / {good['llm'][0]['evidence_chars']} characters")

        # judge the finished sweep again: judge.v2.json beside judge.json, result.json names it
        rejudge = subprocess.run([sys.executable, "-m", "ptb.judge", str(results / "default"), "judge=llm", *judge,
                                  "judge.checks.test_overlap.flag=false"], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=200)
        assert rejudge.returncode == 0, rejudge.stdout[-3000:] + rejudge.stderr[-3000:]
        assert len(server.requests) == 4
    for name, run in runs.items():
        assert (run / "judge.json").is_file() and (run / "judge.v2.json").is_file()
        assert json.loads((run / "result.json").read_text())["verdict_version"] == 2
    assert "judge.v2.json: FLAGGED" in rejudge.stdout and "judge.v2.json: not flagged" in rejudge.stdout
