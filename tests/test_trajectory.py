"""ptb.trajectory: events of a scaffold's parser → an ATIF trajectory with steps, tool calls tied
to their results, tokens and cost (the CLI's own, a price, or unknown — never 0)."""

from __future__ import annotations

import pytest

from ptb.records import AgentCli, AgentSpec, Price
from ptb.traces import ToolCall, TraceEvent, Usage
from ptb.trajectory import SCHEMA_VERSION, agent_usage, build_trajectory

CLI = AgentCli(package="some-cli", version="1.2.3", bin="some")


def events(session_cost: float | None = None, session: bool = True) -> list[TraceEvent]:
    out = [
        TraceEvent(1.0, "harness", "start agent=x"),
        TraceEvent(2.0, "thinking", "I should look around"),
        TraceEvent(2.1, "message", "Listing files."),
        TraceEvent(2.2, "tool", "Bash: ls", call=ToolCall("c1", "Bash", {"command": "ls"})),
        TraceEvent(2.3, "usage", "", usage=Usage(100, 10, 20)),
        TraceEvent(3.0, "tool", "a.txt", result_of="c1"),
        TraceEvent(4.0, "tool", "Bash: cat a.txt", call=ToolCall("c2", "Bash", {"command": "cat a.txt"})),
        TraceEvent(4.1, "usage", "", usage=Usage(200, 100, 30)),
        TraceEvent(5.0, "tool", "hello", result_of="c2"),
        TraceEvent(6.0, "message", "Done."),
        TraceEvent(6.1, "usage", "", usage=Usage(300, 200, 5)),
        TraceEvent(6.2, "error", "a warning on stderr"),
    ]
    if session:
        out.append(TraceEvent(7.0, "usage", "", usage=Usage(600, 310, 55, cost_usd=session_cost, scope="session")))
    return out


def test_steps_calls_observations_and_totals() -> None:
    agent = AgentSpec(name="opus", scaffold="claude_code", model="claude-x", cli=CLI)
    t = build_trajectory(events(), agent=agent, cli_version="1.2.3", session_id="run1")
    assert t["schema_version"] == SCHEMA_VERSION == "ATIF-v1.4"
    assert t["agent"] == {"name": "claude_code", "version": "1.2.3", "model_name": "claude-x"}
    steps = t["steps"]
    assert [s["source"] for s in steps] == ["system", "agent", "agent", "agent", "system"]
    assert [s["step_id"] for s in steps] == [1, 2, 3, 4, 5]
    first = steps[1]
    assert first["reasoning_content"] == "I should look around" and first["message"] == "Listing files."
    assert first["tool_calls"] == [{"tool_call_id": "c1", "function_name": "Bash", "arguments": {"command": "ls"}}]
    assert first["observation"] == {"results": [{"source_call_id": "c1", "content": "a.txt"}]}
    assert first["metrics"]["prompt_tokens"] == 100 and first["metrics"]["cached_tokens"] == 10
    assert steps[2]["observation"]["results"][0]["source_call_id"] == "c2"
    assert steps[3]["message"] == "Done." and "tool_calls" not in steps[3]
    assert steps[0]["timestamp"].startswith("1970-01-01T00:00:01")
    final = t["final_metrics"]  # the CLI's session totals win over summing the steps
    assert (final["total_prompt_tokens"], final["total_cached_tokens"], final["total_completion_tokens"]) == (600, 310, 55)
    assert final["total_steps"] == 3
    assert final["total_cost_usd"] is None and t["extra"]["ptb"]["cost_source"] == "unknown"


def test_cost_from_the_cli_where_it_states_one() -> None:
    cli = AgentCli(package="c", version="1.0.0", bin="c", reports_cost=True)
    agent = AgentSpec(name="opus", model="m", cli=cli, price=Price(input=1000.0, output=1000.0))
    t = build_trajectory(events(session_cost=0.42), agent=agent, cli_version=None, session_id="r")
    assert t["final_metrics"]["total_cost_usd"] == pytest.approx(0.42) and t["extra"]["ptb"]["cost_source"] == "cli"


def test_cost_from_the_price_and_sums_of_steps_without_session_totals() -> None:
    agent = AgentSpec(name="gpt", model="m", cli=CLI, price=Price(input=2.0, cached_input=0.5, output=10.0))
    t = build_trajectory(events(session=False), agent=agent, cli_version="1", session_id="r")
    final = t["final_metrics"]
    assert (final["total_prompt_tokens"], final["total_cached_tokens"], final["total_completion_tokens"]) == (600, 310, 55)
    expected = ((600 - 310) * 2.0 + 310 * 0.5 + 55 * 10.0) / 1e6
    assert final["total_cost_usd"] == pytest.approx(expected) and t["extra"]["ptb"]["cost_source"] == "price"
    assert t["steps"][1]["metrics"]["cost_usd"] == pytest.approx(((100 - 10) * 2.0 + 10 * 0.5 + 20 * 10.0) / 1e6)
    usage = agent_usage(t, agent)
    assert usage is not None and (usage.steps, usage.tool_calls, usage.cost_source) == (3, 2, "price")


def test_offline_agents_have_no_usage() -> None:
    agent = AgentSpec(name="noop")
    t = build_trajectory([TraceEvent(1.0, "output", "copying")], agent=agent, cli_version=None, session_id="r")
    assert agent_usage(t, agent) is None and t["steps"][0]["message"] == "copying"


def test_sessions_are_the_solve_stages_count_when_the_cli_states_no_totals() -> None:
    agent = AgentSpec(name="kimi", model="m", cli=CLI)
    # no session totals (as OpenCode): the CLI's output cannot count its sessions, ptb's count does
    assert build_trajectory(events(session=False), agent=agent, cli_version=None, session_id="r")["extra"]["ptb"]["sessions"] == 1
    counted = build_trajectory(events(session=False), agent=agent, cli_version=None, session_id="r", sessions=3)
    assert counted["extra"]["ptb"]["sessions"] == 3
