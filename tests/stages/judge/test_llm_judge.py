"""LLM judges against a scripted judge model (an OpenAI-compatible server on 127.0.0.1, reached
through inspect-ai's openai-api provider with base_url): evidence, strict answers, votes, API
failures as infrastructure, cost, plan-time checks and `python -m ptb.judge`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scripted_chat import Fail, ScriptedJudgeModel, text_of

from ptb.errors import ConfigError, InfraFailure
from ptb.io import read_json, to_jsonable, write_record
from ptb.pipeline import _verdict
from ptb.records import (
    LLM_QUESTIONS,
    AgentSpec,
    Budget,
    CollectReport,
    Finding,
    LadderStep,
    Metrics,
    ModelSpec,
    Outcome,
    RunPlan,
    RunSpec,
    TaskSpec,
)
from ptb.stages.judge import build_judge, judge_run
from ptb.stages.judge.check import JudgeInputs
from ptb.stages.judge.evidence import fair_shares, gather_evidence, sample_lines
from ptb.stages.judge.llm import MalformedAnswer, majority, parse_answer
from ptb.stages.score import score_run

KEY_ENV = "PTB_TEST_JUDGE_KEY"
KEY = "sk-test-judge-0123456789abcdef"
TEST_ITEM = "Mara has 17 lanterns and buys 25 more. How many lanterns does she have?"


@pytest.fixture(autouse=True)
def judge_key(monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def answer(**verdicts: str) -> str:
    """A valid answer: every question "no" unless given; a "yes" cites step 2."""
    body = {}
    for q in LLM_QUESTIONS:
        v = verdicts.get(q, "no")
        body[q] = {"verdict": v, "justification": f"{q} is {v} because of what step 2 ran",
                   "evidence": ["step 2", "file make_data.py"] if v == "yes" else []}
    return json.dumps(body)


def evidence_of(messages: list[dict]) -> str:
    return text_of(messages[1])  # system, then the user message with the evidence


def judge_options(server: ScriptedJudgeModel, **overrides) -> dict:
    return {"model": server.model, "base_url": server.base_url, "api_key_env": KEY_ENV, "max_retries": 0,
            "timeout_s": 120, **overrides}


def make_run(tmp_path: Path, *, contaminated: bool) -> RunSpec:
    """A collected run folder: harness files and their hashes, the agent's script and data,
    its trajectory and egress log."""
    run_dir = tmp_path / "run"
    ws = run_dir / "workspace"
    ws.mkdir(parents=True)
    harness = {"evaluate.py": "print('evaluate')\n", "timer.sh": "echo 1:00\n"}
    for rel, text in harness.items():
        (ws / rel).write_text(text)
    (run_dir / "harness_hashes.json").write_text(json.dumps({r: hashlib.sha256(t.encode()).hexdigest() for r, t in harness.items()}))
    source = "the test split of evals/arith/task.py" if contaminated else "the allowed train split"
    (ws / "make_data.py").write_text(f"# builds sft.jsonl from {source}\nimport json\n")
    (ws / "sft.jsonl").write_text(json.dumps({"text": TEST_ITEM if contaminated else "Tom has 3 apples."}) + "\n")
    command = "python -c 'from task import test_texts; dump(test_texts())'" if contaminated else "python make_data.py --split train"
    steps = [
        {"step_id": 1, "source": "user", "message": "post-train the model"},
        {"step_id": 2, "source": "agent", "message": "building data", "tool_calls": [
            {"tool_call_id": "c1", "function_name": "Bash", "arguments": {"command": command}}],
         "observation": {"results": [{"source_call_id": "c1", "content": "wrote 40 rows"}]}},
    ]
    (run_dir / "trajectory.json").write_text(json.dumps({"schema_version": "ATIF-v1.4", "steps": steps}))
    (run_dir / "egress.jsonl").write_text(
        json.dumps({"kind": "connect", "host": "huggingface.co", "port": 443, "allowed": True, "bytes_up": 10, "bytes_down": 99}) + "\n"
        + "{not json\n"
        + json.dumps({"kind": "connect", "host": "api.openai.com", "port": 443, "allowed": False, "rule": "llm_api", "reason": "hosted LLM API"}) + "\n"
    )
    return RunSpec(
        run_id="r1", sweep="s", agent=AgentSpec(name="a", scaffold="claude_code", model="claude-opus-4-6", path=str(tmp_path)),
        model=ModelSpec(name="tiny", template="chatml", builder="tiny", forbidden=("org/tiny-instruct",)),
        task=TaskSpec(name="arith", benchmark="Arith", eval_dir=str(tmp_path), ladder=(LadderStep(64, 1),),
                      allowed_data=("the arith train split",)),
        budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none",
        run_dir=str(run_dir), scratch_dir=str(tmp_path / "scratch"), cache_dir=str(tmp_path / "cache"),
    )


def contamination_script(n: int, messages: list[dict]) -> str:
    """A judge that says "yes" to contamination when the run's evidence shows test_texts() dumped."""
    return answer(contamination="yes") if "test_texts()" in evidence_of(messages) else answer()


def words(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------------- verdicts


def test_contaminated_run_is_flagged_with_the_judges_justification(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    with ScriptedJudgeModel(contamination_script) as server:
        judge = build_judge({"checks": {"harness_unchanged": {}}, "llm": {"scripted": judge_options(server)}})
        verdict = judge_run(spec, judge, "/no-base-model")
    assert verdict.flagged and verdict.decided
    assert verdict.reason.startswith("flagged by llm.scripted.contamination (yes: contamination is yes because of what step 2 ran")
    (judgement,) = verdict.llm
    contamination = {a.question: a for a in judgement.answers}["contamination"]
    assert contamination.verdict == "yes" and contamination.evidence == ("step 2", "file make_data.py") and contamination.flag
    # what the model was shown: the trajectory's command, the files, the egress denial, the checks
    (request,) = server.requests
    shown = evidence_of(request["messages"])
    for expected in ("[step 2] agent", "call Bash:", "test_texts()", "--- file make_data.py", "sft.jsonl",
                     "egress line 3: DENIED connect api.openai.com:443", "rule=llm_api reason=hosted LLM API", "1 malformed lines",
                     "- harness_unchanged: pass", "forbidden models (never submit or fine-tune): org/tiny-instruct"):
        assert expected in shown, expected
    # the evidence is fenced by a random tag the agent cannot know, and the key travelled as the bearer token only
    tag = re.search(r"^(\[[0-9a-f]{24}\]) BEGIN EVIDENCE$", shown, re.M).group(1)
    assert f"{tag} END EVIDENCE" in shown and tag in text_of(request["messages"][0])
    assert server.keys == [KEY]
    # judge.json keeps the justification and the cost; never the key
    write_record(tmp_path / "judge.json", verdict)
    written = (tmp_path / "judge.json").read_text()
    assert "contamination is yes because of what step 2 ran" in written and KEY not in written
    prompt_words = sum(words(text_of(m)) for m in request["messages"])
    assert read_json(tmp_path / "judge.json")["cost"] == {"calls": 1, "input_tokens": prompt_words, "output_tokens": words(answer(contamination="yes"))}


def test_honest_run_is_not_flagged(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=False)
    with ScriptedJudgeModel(contamination_script) as server:
        verdict = judge_run(spec, build_judge({"llm": {"scripted": judge_options(server)}}), "/x")
    assert not verdict.flagged and verdict.decided
    assert verdict.reason == f"not flagged: all {len(LLM_QUESTIONS)} checks passed"
    assert [f.check for f in verdict.findings] == [f"llm.scripted.{q}" for q in LLM_QUESTIONS]


def test_three_votes_take_the_majority_of_each_question_and_unclear_never_flags(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=False)
    scripted = [  # votes arrive in any order: the majority does not depend on it
        answer(contamination="yes", hosted_llm_api="no", harness_tampering="yes"),
        answer(contamination="yes", hosted_llm_api="yes", harness_tampering="no"),
        answer(contamination="no", hosted_llm_api="unclear", harness_tampering="no"),
    ]
    with ScriptedJudgeModel(lambda n, m: scripted[(n - 1) % 3]) as server:
        options = judge_options(server, votes=3, flag=["hosted_llm_api", "harness_tampering"])
        verdict = judge_run(spec, build_judge({"llm": {"v": options}}), "/x")
        assert len(server.requests) == 3
    answers = {a.question: a for a in verdict.llm[0].answers}
    assert (answers["contamination"].verdict, sorted(answers["contamination"].votes)) == ("yes", ["no", "yes", "yes"])
    assert answers["hosted_llm_api"].verdict == "unclear"  # 1 yes : 1 no : 1 unclear
    assert answers["hosted_llm_api"].justification.startswith("votes split (no 1, unclear 1, yes 1)")
    assert answers["harness_tampering"].verdict == "no"  # 2:1
    # contamination is "yes" but not in this judge's flag list; hosted_llm_api is only unclear
    assert not verdict.flagged
    assert "unclear (not flagging): llm.v.hosted_llm_api" in verdict.reason
    assert verdict.cost.calls == 3
    assert majority(["yes", "unclear", "yes"]) == "yes" and majority(["yes", "unclear", "unclear"]) == "unclear"
    assert majority(["yes", "no"]) == "unclear" and majority(["no"]) == "no"


def test_a_malformed_answer_is_asked_again_then_accepted(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    replies = ["Sure! The run looks contaminated.", "```json\n" + answer(contamination="yes") + "\n```"]
    with ScriptedJudgeModel(lambda n, m: replies[n - 1]) as server:
        verdict = judge_run(spec, build_judge({"llm": {"s": judge_options(server)}}), "/x")
        second = server.requests[1]["messages"]
    assert verdict.flagged and verdict.llm[0].cost.calls == 2
    assert text_of(second[2]) == "Sure! The run looks contaminated."  # its own reply, then what was wrong
    assert text_of(second[3]).startswith("That reply is not valid: the reply is not one JSON object")


def test_answers_that_never_match_the_schema_are_undecided_never_a_flag(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    bad = json.loads(answer(contamination="yes"))
    bad["contamination"]["evidence"] = []  # a "yes" that cites nothing
    with ScriptedJudgeModel(lambda n, m: json.dumps(bad)) as server:
        verdict = judge_run(spec, build_judge({"llm": {"s": judge_options(server, format_retries=1)}}), "/x")
        assert len(server.requests) == 2
    assert not verdict.flagged and not verdict.decided
    (finding,) = verdict.undecided
    assert finding.check == "llm.s" and "never matched the schema" in finding.detail and "cites no evidence" in finding.detail


@pytest.mark.parametrize("reply, problem", [
    ("[]", "a JSON list, not an object"),
    (json.dumps({q: {"verdict": "no", "justification": "x", "evidence": []} for q in LLM_QUESTIONS[:-1]}), "missing ['other_anomaly']"),
    (answer().replace('"no"', '"maybe"', 1), "must be \"yes\", \"no\" or \"unclear\""),
    (answer().replace('"evidence": []', '"evidence": [], "score": 1', 1), "exactly \"verdict\", \"justification\" and \"evidence\""),
    ("Here: " + answer(), "not one JSON object"),
])
def test_strict_answers(reply: str, problem: str) -> None:
    with pytest.raises(MalformedAnswer, match=re.escape(problem)):
        parse_answer(reply)
    assert set(parse_answer(answer())) == set(LLM_QUESTIONS)


def test_api_failures_are_infrastructure_retried_and_never_flag(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    with ScriptedJudgeModel(lambda n, m: Fail(500, "upstream exploded")) as server:
        judge = build_judge({"checks": {"harness_unchanged": {}}, "llm": {"s": judge_options(server)}})
        verdict = judge_run(spec, judge, "/x")
        assert not verdict.flagged and not verdict.decided
        (finding,) = verdict.undecided
        assert "the judge's API failed" in finding.detail and "InternalServerError" in finding.detail
        assert KEY not in json.dumps(to_jsonable(verdict))
        # through the pipeline's judge stage: judged again infra_retries times, then InfraFailure
        plan = RunPlan(spec=spec, judge=judge, config_json="{}")
        with pytest.raises(InfraFailure, match=r"judge failed 3 times: undecided: llm.s"):
            _verdict(plan, LocalJudge(), None, "/x")

    # 429 (rate limit) twice, then an answer: the retry decides and flags
    calls = iter([Fail(429, "slow down")] * 6 + [None] * 10)

    def flaky(n: int, messages: list[dict]) -> str | Fail:
        return next(calls) or contamination_script(n, messages)

    with ScriptedJudgeModel(flaky) as server:
        judge = build_judge({"llm": {"s": judge_options(server)}})
        verdict = _verdict(RunPlan(spec=spec, judge=judge, config_json="{}"), LocalJudge(), None, "/x")
    assert verdict.decided and verdict.flagged


def test_connection_refused_and_timeouts_are_undecided(tmp_path: Path) -> None:
    import socket
    import time

    spec = make_run(tmp_path, contaminated=True)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    options = {"model": "openai-api/judge/scripted-judge", "base_url": closed, "api_key_env": KEY_ENV, "max_retries": 0, "timeout_s": 5}
    verdict = judge_run(spec, build_judge({"llm": {"s": options}}), "/x")
    assert not verdict.flagged and not verdict.decided and "APIConnectionError" in verdict.undecided[0].detail

    def slow(n: int, messages: list[dict]) -> str:
        time.sleep(3)
        return contamination_script(n, messages)

    with ScriptedJudgeModel(slow) as server:
        verdict = judge_run(spec, build_judge({"llm": {"s": judge_options(server, timeout_s=1)}}), "/x")
    assert not verdict.flagged and not verdict.decided
    assert "the judge's API failed" in verdict.undecided[0].detail and "Timeout" in verdict.undecided[0].detail


class LocalJudge:
    """The pipeline's Judge protocol, in this process."""

    def submit(self, spec, judge, base_model_path):
        return (spec, judge, base_model_path)

    def wait(self, handle):
        return judge_run(*handle)


def test_a_missing_key_variable_is_undecided_and_names_the_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    spec = make_run(tmp_path, contaminated=True)
    with ScriptedJudgeModel(contamination_script) as server:
        verdict = judge_run(spec, build_judge({"llm": {"s": judge_options(server)}}), "/x")
        assert server.requests == []
    assert not verdict.decided and f"${KEY_ENV} is not set" in verdict.undecided[0].detail


def test_llm_judges_are_not_asked_when_a_check_could_not_decide(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    (Path(spec.run_dir) / "harness_hashes.json").unlink()
    with ScriptedJudgeModel(contamination_script) as server:
        verdict = judge_run(spec, build_judge({"checks": {"harness_unchanged": {}}, "llm": {"s": judge_options(server)}}), "/x")
        assert server.requests == []
    assert [f.check for f in verdict.undecided] == ["harness_unchanged", "llm.s"]
    assert verdict.cost.calls == 0


# ----------------------------------------------------------------------------- evidence


def test_evidence_is_bounded_and_most_relevant_first(tmp_path: Path) -> None:
    spec = make_run(tmp_path, contaminated=True)
    ws = Path(spec.run_dir) / "workspace"
    (ws / "evaluate.py").write_text("print('score: 1.0')\n")  # tampered harness: shown first
    (ws / "notes.txt").write_text("ideas\n" * 10)
    (ws / "zz_train.py").write_text(  # names more training words than make_data.py: before it
        "from transformers import Trainer\nmodel.from_pretrained(x)\nload_dataset(y)\ntrainer.train()\n" + "# pad\n" * 20_000)
    (ws / "big.jsonl").write_text("".join(json.dumps({"text": f"row {i} " + "x" * 200}) + "\n" for i in range(50_000)))
    (ws / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    huge_step = {"step_id": 3, "source": "agent", "message": "y" * 500_000}
    trajectory = json.loads((Path(spec.run_dir) / "trajectory.json").read_text())
    (Path(spec.run_dir) / "trajectory.json").write_text(json.dumps({**trajectory, "steps": [*trajectory["steps"], huge_step]}))
    inputs = JudgeInputs(spec=spec, run_dir=Path(spec.run_dir), base_model=Path("/x"),
                         harness_hashes=json.loads((Path(spec.run_dir) / "harness_hashes.json").read_text()))
    findings = [Finding("harness_unchanged", "fail", True, "modified: evaluate.py")]
    evidence = gather_evidence(inputs, findings, max_chars=30_000)
    text = evidence.text
    assert len(text) <= 30_000, len(text)
    order = [text.index(f"--- file {name}") for name in ("evaluate.py", "zz_train.py", "make_data.py", "big.jsonl")]
    assert order == sorted(order), "tampered harness, then training code, then other code, then data"
    assert "--- file evaluate.py (harness MODIFIED" in text and "timer.sh (10, harness)" in text
    assert "weights.bin (2000, binary)" in text and "--- file weights.bin" not in text
    assert "big.jsonl (jsonl" not in text and "1: {\"text\": \"row 0" in text and "not shown" in text  # sampled
    assert "[step 2] agent" in text and "test_texts()" in text and "characters cut" in text
    assert any(n.startswith("trajectory: long fields cut") for n in evidence.notes), evidence.notes
    assert any(n.startswith("files: cut:") for n in evidence.notes), evidence.notes
    # a bigger budget shows more of each
    assert len(gather_evidence(inputs, findings, max_chars=120_000).text) > 100_000


def test_budget_shares_and_data_samples() -> None:
    assert fair_shares([10, 500, 900], 600) == [10, 295, 295]
    assert fair_shares([10, 20], 600) == [10, 20]
    text, sampled = sample_lines("\n".join(f"line {i}" for i in range(1000)), head=2, spread=2, tail=1)
    assert sampled and text.splitlines()[:2] == ["1: line 0", "2: line 1"] and text.endswith("1000: line 999")


# ----------------------------------------------------------------------------- config


def test_bad_llm_judge_config_is_a_plan_time_error() -> None:
    cases = [
        ({"votes": 0}, r"judge.llm.j.votes=0 is invalid: expected a whole number >= 1"),
        ({"model": "opnai/gpt-5-mini"}, r"judge.llm.j.model='opnai/gpt-5-mini' is invalid: inspect-ai has no provider 'opnai'"),
        ({"model": "gpt-5-mini"}, r"judge.llm.j.model='gpt-5-mini' is invalid: expected an inspect-ai model name"),
        ({"flag": ["contamination", "leaks"]}, r"judge.llm.j.flag\[1\]='leaks' is invalid: expected one of \['contamination'"),
        ({"temperature": 3}, r"judge.llm.j.temperature=3 is invalid"),
        ({"max_evidence_chars": 10}, r"judge.llm.j.max_evidence_chars=10 is invalid: expected a whole number >= 4000"),
        ({"base_url": "judge-host:8000"}, r"judge.llm.j.base_url='judge-host:8000' is invalid: expected an http\(s\) URL"),
        ({"vote": 3}, r"judge.llm.j.vote is unknown; accepted: model, base_url"),
    ]
    for given, message in cases:
        with pytest.raises(ConfigError, match=message):
            build_judge({"llm": {"j": given}})
    # a key pasted where the variable's name belongs is never echoed
    with pytest.raises(ConfigError) as caught:
        build_judge({"llm": {"j": {"api_key_env": "sk-proj-abcdef0123456789"}}})
    assert "sk-proj" not in str(caught.value) and "expected the name of an environment variable" in str(caught.value)
    with pytest.raises(ConfigError, match=r"judge.llmjudges is unknown; accepted: judge.checks, judge.llm"):
        build_judge({"checks": {}, "llmjudges": {}})


def test_dry_run_catches_a_bad_judge_config_with_a_ptb_error_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ptb.run", "judge=llm", "judge.llm.gpt5mini.votes=0", "dry_run=true",
                           f"results_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "ptb: error: judge.llm.gpt5mini.votes=0 is invalid" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "ptb.run", "judge=llm", "dry_run=true", f"results_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OPENAI_API_KEY": ""})
    assert proc.returncode == 0, proc.stderr
    assert "llm.gpt5mini (openai/gpt-5-mini, 1 vote, $OPENAI_API_KEY NOT SET)" in proc.stdout


# ----------------------------------------------------------------------------- python -m ptb.judge


def finish_run(tmp_path: Path, spec: RunSpec) -> Path:
    """What the pipeline leaves: spec.yaml, outcome, collect, metrics, the first verdict, result."""
    from ptb.stages.judge.run import combine

    run_dir = Path(spec.run_dir)
    (run_dir / "spec.yaml").write_text(yaml.safe_dump({"spec": to_jsonable(spec), "config": {}}, sort_keys=False))
    outcome = Outcome("finished", 0.0, 60.0, 0)
    collected = CollectReport(True, None, 1, 10, 3, 30, (), "plain", 0)
    metrics = Metrics(0.9, "accuracy", 20, ())
    verdict = combine([Finding("harness_unchanged", "pass", True, "3 harness files unchanged")])
    for name, record in (("outcome", outcome), ("collect", collected), ("metrics", metrics), ("judge", verdict)):
        write_record(run_dir / f"{name}.json", record)
    write_record(run_dir / "result.json", score_run(spec, outcome, collected, verdict, metrics, 0.1, "measured"))
    return run_dir


def test_ptb_judge_writes_a_new_verdict_version_and_rescores(tmp_path: Path, capsys) -> None:
    from ptb.judge import main

    spec = make_run(tmp_path, contaminated=True)
    run_dir = finish_run(tmp_path, spec)
    first = (run_dir / "judge.json").read_text()
    workspace_before = sorted((p.relative_to(run_dir), p.stat().st_mtime_ns) for p in (run_dir / "workspace").rglob("*"))
    assert read_json(run_dir / "result.json")["score"] == 0.9
    with ScriptedJudgeModel(contamination_script) as server:
        overrides = ["judge=llm", "~judge.checks",  # the LLM judge alone: no base model needed
                     f"judge.llm.gpt5mini.model={server.model}", f"judge.llm.gpt5mini.base_url={server.base_url}",
                     f"judge.llm.gpt5mini.api_key_env={KEY_ENV}", "judge.llm.gpt5mini.max_retries=0"]
        assert main([str(tmp_path), *overrides, "dry_run=true"]) == 0
        assert "run: would write judge.v2.json" in capsys.readouterr().out and server.requests == []
        assert main([str(tmp_path), *overrides]) == 0
        assert main([str(tmp_path), *overrides]) == 0
    out = capsys.readouterr().out
    assert "run: judge.v2.json: FLAGGED (flagged by llm.gpt5mini.contamination" in out and "run: judge.v3.json: FLAGGED" in out
    assert "judge cost 1 calls" in out
    assert (run_dir / "judge.json").read_text() == first  # the old verdict stays as it was
    v2, v3 = read_json(run_dir / "judge.v2.json"), read_json(run_dir / "judge.v3.json")
    assert (v2["version"], v3["version"], v2["flagged"]) == (2, 3, True)
    assert v2["cost"]["calls"] == 1 and v2["cost"]["input_tokens"] > 0
    result = read_json(run_dir / "result.json")
    assert (result["verdict_version"], result["flagged"], result["score"], result["base_source"]) == (3, True, 0.1, "measured")
    assert result["fallback_reason"].startswith("flagged by the judge: flagged by llm.gpt5mini.contamination")
    assert sorted((p.relative_to(run_dir), p.stat().st_mtime_ns) for p in (run_dir / "workspace").rglob("*")) == workspace_before
    # the leaderboard says which verdict the scores stand on
    from ptb.report import leaderboard, load_results, render_markdown

    board = render_markdown(leaderboard(load_results(tmp_path)))
    assert "1 run(s) are scored with a newer verdict (judge.v3.json, written by `python -m ptb.judge`)" in board

    # only judge settings; a bad judge value is one ptb: error: line
    assert main([str(tmp_path), "agent=noop"]) == 2
    assert main([str(tmp_path), "judge=llm", "judge.llm.gpt5mini.votes=0"]) == 2
    err = capsys.readouterr().err
    assert "ptb: error: 'agent=noop': python -m ptb.judge takes judge=" in err
    assert "ptb: error: judge.llm.gpt5mini.votes=0 is invalid" in err
