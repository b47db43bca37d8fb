"""The solve stage for real agents: reprompted sessions, masked keys, typed failure reasons, and
the internet through the run's egress proxy only."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb.records import AgentCli, AgentSpec, Budget
from ptb.sandbox import bwrap_works
from ptb.stages.solve import run_solve
from ptb.stages.solve.agent_run import reprompt_text

KEY = "sk-test-0123456789abcdef"
CLI = AgentCli(package="fake-cli", version="1.0.0", bin="fake")  # marks an LLM agent; never run


def _agent(request, **changes) -> AgentSpec:
    return dataclasses.replace(request.agent, **changes)


def test_reprompt_continues_the_session_while_enough_time_is_left(make_request) -> None:
    request = make_request("session_agent", seconds=30, env={"SESSION_AGENT_KEY": KEY, "SESSION_SLEEP": "6"})
    # sessions of 6 s in a 30 s budget, reprompted while 21 s are left: after the first ~24 s are
    # left (another session), after the second ~18 s (the end)
    request = dataclasses.replace(request, agent=_agent(request, reprompt=True, reprompt_min_minutes=0.35,
                                                        key_env="SESSION_AGENT_KEY", cli=CLI))
    outcome = run_solve(request)
    workspace = Path(request.workspace)
    sessions = sorted(workspace.glob("session-*.txt"))
    assert outcome.status == "finished" and outcome.sessions == 2 == len(sessions)
    first, second = (p.read_text() for p in sessions)
    assert first.startswith("resume=0\nsolve it")
    assert second.startswith("resume=1\nYou still have 0 h 00 min remaining of your") and "final_model/" in second
    log = (Path(request.run_dir) / "solve.log").read_text()
    assert "reprompt: session 1 ended" in log and "sessions=2" in log


def test_no_reprompt_without_the_option(make_request) -> None:
    request = make_request("session_agent", seconds=30)
    outcome = run_solve(request)
    assert outcome.sessions == 1 and len(list(Path(request.workspace).glob("session-*.txt"))) == 1


def test_the_agents_key_is_masked_and_its_failure_is_typed(make_request) -> None:
    request = make_request("session_agent", seconds=30, env={"SESSION_AGENT_KEY": KEY})
    request = dataclasses.replace(request, agent=_agent(request, key_env="SESSION_AGENT_KEY", cli=CLI))
    outcome = run_solve(request)
    log = (Path(request.run_dir) / "solve.log").read_text()
    assert KEY not in log and "my key is [SESSION_AGENT_KEY]" in log
    assert outcome.failure == "rate_limit"
    assert outcome.failure_detail is not None and "429" in outcome.failure_detail and KEY not in outcome.failure_detail


def test_reprompt_text_states_the_time_left() -> None:
    text = reprompt_text(3 * 3600 + 25 * 60 + 59, Budget(hours=10))
    assert text.startswith("You still have 3 h 25 min remaining of your 10-hour budget")


@pytest.fixture
def origin() -> Iterator[int]:
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = f"hello from the origin, path {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")
def test_a_networked_agent_reaches_the_internet_only_through_the_recorded_proxy(make_request, origin: int) -> None:
    request = make_request(
        "net_agent", seconds=60, sandbox="bwrap",
        env={"NET_AGENT_URL": "http://origin.test/v1/hello?key=secret-in-query", "NET_AGENT_HOST_PORT": str(origin)},
    )
    request = dataclasses.replace(request, agent=_agent(request, network=True),
                                  egress_resolve={"origin.test": f"127.0.0.1:{origin}"})
    outcome = run_solve(request)
    workspace, run_dir = Path(request.workspace), Path(request.run_dir)
    assert outcome.status == "finished", (run_dir / "solve.log").read_text()
    assert (workspace / "via_proxy.txt").read_text().startswith("hello from the origin, path /v1/hello")
    assert (workspace / "direct.txt").read_text().startswith("blocked:")  # the host's loopback is not the sandbox's
    records = [json.loads(line) for line in (run_dir / "egress.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["host"], r["method"], r["status"]) for r in records] == [("http", "origin.test", "GET", 200)]
    assert records[0]["path"].startswith("/v1/hello") and "secret-in-query" not in json.dumps(records)
    assert not (Path(request.home).parent / "egress" / "proxy.sock").exists(), "the proxy is stopped with the solve"


@pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")
def test_the_runs_egress_policy_is_enforced_and_the_sandbox_gets_the_run_ca(make_request) -> None:
    from ptb.egress import build_policy
    from ptb.records import EgressSpec, ModelSpec

    request = make_request("policy_agent", seconds=60, sandbox="bwrap")
    agent = _agent(request, network=True, cli=CLI, scaffold="claude_code")  # an Anthropic agent
    model = ModelSpec(name="qwen3-4b", template="qwen3", hf_id="Qwen/Qwen3-4B-Base", instruct="Qwen/Qwen3-4B")
    request = dataclasses.replace(request, agent=dataclasses.replace(agent, cli=None),  # nothing to classify
                                  egress_policy=build_policy(EgressSpec(), agent, model))
    outcome = run_solve(request)
    workspace, run_dir = Path(request.workspace), Path(request.run_dir)
    assert outcome.status == "finished", (run_dir / "solve.log").read_text()
    out = json.loads((workspace / "policy.json").read_text())
    assert out["openai"][0] == 403 and "hosted LLM API api.openai.com (OpenAI; not this agent's vendor)" in out["openai"][1]
    assert out["bundle_has_run_ca"] is True and out["same_for_requests"] is True
    (record,) = [json.loads(line) for line in (run_dir / "egress.jsonl").read_text().splitlines()]
    assert (record["host"], record["allowed"], record["rule"]) == ("api.openai.com", False, "llm_api")
