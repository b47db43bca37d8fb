"""agents/<scaffold>/trace.py: each CLI's real output (captured from the CLI driven by the
scripted API, tests/agents/fixtures) becomes tool calls with their results, messages, and the
tokens and cost in each vendor's own counting; API errors become typed failures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.agents.failures import classify_failure
from ptb.paths import CONF_DIR
from ptb.plan import build_plan
from ptb.plugins import load_agent_plugins
from ptb.records import AgentSpec, Result
from ptb.sweep import summary_line
from ptb.traces import TraceEvent, parse_trace
from ptb.trajectory import agent_usage, build_trajectory

# PTB_TRACE_FIXTURES: a fresh capture to check (tests/agents/capture_fixtures.py --out DIR)
FIXTURES = Path(os.environ.get("PTB_TRACE_FIXTURES") or Path(__file__).parent / "fixtures")
AGENT_OF = {"claude_code": "opus", "codex": "gpt52", "gemini_cli": "gemini3pro", "opencode": "kimi25"}

# The scripted sessions: first `echo hello > made_by_agent.txt`, `cat made_by_agent.txt`, a final
# text; resumed: `echo again >> made_by_agent.txt`, a final text. Per response the scripted API
# stated (input, cached, output, reasoning): (1234, 1000, 56, 7), (2345, 2000, 67, 8),
# (3456, 3000, 78, 9); resumed (4567, 4000, 89, 10), (5678, 5000, 90, 11).
COMMANDS = ["echo hello > made_by_agent.txt", "cat made_by_agent.txt", "echo again >> made_by_agent.txt"]
# What each session costs in a trace's counting (input with cached, output with reasoning):
SESSION_TOKENS = {
    # Anthropic's input_tokens leave out cache reads: 1234+1000 + 2345+2000 + 3456+3000
    "claude_code": [(13035, 6000, 201), (19245, 9000, 179)],
    # OpenAI's figures already include both; the resumed thread's restated totals are subtracted
    "codex": [(7035, 6000, 201), (10245, 9000, 179)],
    # Gemini's output leaves out thoughts (7+8+9): 201 + 24
    "gemini_cli": [(7035, 6000, 225), (10245, 9000, 200)],
}


def make_result(**kw: object) -> Result:
    fields: dict = dict(run_id="r", sweep="s", agent="a", model="m", task="t", seed=0, hours=1.0, weight=1.0,
                        status="finished", raw_score=0.5, base_score=0.1, score=0.5, flagged=False,
                        fallback_reason=None, seconds_used=60.0, budget_seconds=3600.0)
    return Result(**{**fields, **kw})  # type: ignore[arg-type]


def command_of(arguments: object) -> str:
    """The shell command of a call; Codex wraps it in ``/bin/bash -c '...'`` (``-lc`` with a login shell)."""
    assert isinstance(arguments, dict)
    command = str(arguments["command"])
    for wrapped in ("/bin/bash -lc '", "/bin/bash -c '"):
        if command.startswith(wrapped):
            return command[len(wrapped):-1]
    return command


def agent_spec(scaffold: str, tmp_path: Path) -> AgentSpec:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"agent={AGENT_OF[scaffold]}", f"results_dir={tmp_path}"])
    agent = build_plan(cfg).spec.agent
    load_agent_plugins(agent.path)
    return agent


def solve_log(tmp_path: Path, *stems: str) -> Path:
    """A solve.log as the harness writes it: the CLI's stdout, then its stderr, session by session."""
    lines, t = [], 1_000.0
    for stem in stems:
        for stream, suffix in (("stdout", ".jsonl"), ("stderr", ".stderr.txt")):
            path = FIXTURES / f"{stem}{suffix}"
            for text in path.read_text().splitlines() if path.exists() else []:
                t += 1
                lines.append(f"{t} {stream} {text}")
    out = tmp_path / "solve.log"
    out.write_text("\n".join(lines) + "\n")
    return out


def parsed(scaffold: str, tmp_path: Path, *stems: str) -> tuple[AgentSpec, list[TraceEvent]]:
    agent = agent_spec(scaffold, tmp_path)
    return agent, parse_trace(solve_log(tmp_path, *stems), agent.trace_format)


@pytest.mark.parametrize("scaffold", sorted(AGENT_OF))
def test_calls_results_and_messages_of_two_sessions(scaffold: str, tmp_path: Path) -> None:
    agent, events = parsed(scaffold, tmp_path, f"{scaffold}_stream", f"{scaffold}_resume_stream")
    assert agent.trace_format != "plain"
    assert not [e for e in events if e.kind == "harness"], "the parser must not fail on the CLI's real output"
    calls = [e.call for e in events if e.call is not None]
    assert [command_of(c.arguments) for c in calls] == COMMANDS
    assert len({c.id for c in calls}) == 3, "call ids are unique across sessions"
    results = {e.result_of: e.text for e in events if e.result_of is not None}
    assert set(results) == {c.id for c in calls}, "every call has its result"
    assert results[calls[1].id].strip() == "hello"
    messages = [e.text for e in events if e.kind == "message"]
    assert messages == ["The file made_by_agent.txt holds hello.", "Improved."]


@pytest.mark.parametrize("scaffold", sorted(SESSION_TOKENS))
def test_session_totals_in_each_vendors_counting(scaffold: str, tmp_path: Path) -> None:
    agent, events = parsed(scaffold, tmp_path, f"{scaffold}_stream", f"{scaffold}_resume_stream")
    sessions = [e.usage for e in events if e.usage is not None and e.usage.scope == "session"]
    assert [(u.input_tokens, u.cached_input_tokens, u.output_tokens) for u in sessions] == SESSION_TOKENS[scaffold]
    usage = agent_usage(build_trajectory(events, agent=agent, cli_version="x", session_id="r"), agent)
    assert usage is not None
    want = [sum(col) for col in zip(*SESSION_TOKENS[scaffold], strict=True)]
    assert [usage.input_tokens, usage.cached_input_tokens, usage.output_tokens] == want
    assert (usage.steps, usage.tool_calls) == (5, 3)


def test_claude_states_its_cost_and_the_run_sums_it(tmp_path: Path) -> None:
    agent, events = parsed("claude_code", tmp_path, "claude_code_stream", "claude_code_resume_stream")
    trajectory = build_trajectory(events, agent=agent, cli_version="2.1.197", session_id="r")
    assert trajectory["final_metrics"]["total_cost_usd"] == pytest.approx(0.0432 + 0.0602)
    assert trajectory["extra"]["ptb"] == {"agent_config": "opus", "cost_source": "cli", "sessions": 2,
                                          "models_used": ["claude-opus-4-6"]}


# What each CLI's output says about the model that answered: Claude Code names it in every
# message, Gemini CLI in its session stats; Codex and OpenCode name none.
MODELS_STATED = {"claude_code": ["claude-opus-4-6"], "codex": [], "gemini_cli": ["gemini-3.1-pro-preview"], "opencode": []}


@pytest.mark.parametrize("scaffold", sorted(MODELS_STATED))
def test_the_models_the_cli_says_it_used_reach_the_run(scaffold: str, tmp_path: Path) -> None:
    agent, events = parsed(scaffold, tmp_path, f"{scaffold}_stream", f"{scaffold}_resume_stream")
    usage = agent_usage(build_trajectory(events, agent=agent, cli_version="x", session_id="r"), agent)
    assert usage is not None and list(usage.models_used) == MODELS_STATED[scaffold]


def test_gemini_cli_silently_runs_3_1_for_gemini_3_pro_and_the_run_says_so(tmp_path: Path) -> None:
    # measured on 0.61.0: with an API key, -m gemini-3-pro-preview requests gemini-3.1-pro-preview
    agent, events = parsed("gemini_cli", tmp_path, "gemini_cli_stream")
    assert agent.model == "gemini-3-pro-preview"
    usage = agent_usage(build_trajectory(events, agent=agent, cli_version="0.61.0", session_id="r"), agent)
    assert usage is not None
    result = make_result(agent_model=agent.model, models_used=usage.models_used)
    assert result.model_substituted
    assert "ran gemini-3.1-pro-preview, not the configured gemini-3-pro-preview" in summary_line(result)
    # several models in one session (a small one for routing): the one with the most tokens answered
    stats = {"type": "result", "stats": {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10, "models": {
        "gemini-2.5-flash-lite": {"total_tokens": 3}, "gemini-3-pro-preview": {"total_tokens": 7}}}}
    log = tmp_path / "two.log"
    log.write_text(f"1.0 stdout {json.dumps(stats)}\n")
    (session,) = [e.usage for e in parse_trace(log, agent.trace_format) if e.usage is not None]
    assert session.model == "gemini-3-pro-preview"


@pytest.mark.parametrize(("wanted", "used", "substituted"), [
    ("claude-opus-4-6", ("claude-opus-4-6", "claude-haiku-4-5"), False),  # a side model besides the configured one
    ("opencode/kimi-k2.5", ("kimi-k2.5",), False),  # the provider's own id of a provider/model
    ("gpt-5.2", (), False),  # the CLI names no model: nothing to say
    ("gemini-3-pro-preview", ("gemini-3.1-pro-preview",), True),
])
def test_a_substituted_model_is_one_the_cli_never_ran(wanted: str, used: tuple[str, ...], substituted: bool) -> None:
    assert make_result(agent_model=wanted, models_used=used).model_substituted is substituted


def test_a_claude_session_killed_before_its_result_is_priced_from_its_steps(tmp_path: Path) -> None:
    # the resumed session without its final result line: what a deadline kill leaves
    killed = [line for line in (FIXTURES / "claude_code_resume_stream.jsonl").read_text().splitlines()
              if json.loads(line)["type"] != "result"]
    (tmp_path / "killed.jsonl").write_text("\n".join(killed) + "\n")
    agent = agent_spec("claude_code", tmp_path)
    log = solve_log(tmp_path, "claude_code_stream")
    log.write_text(log.read_text() + "".join(f"{2000 + i} stdout {line}\n" for i, line in enumerate(killed)))
    trajectory = build_trajectory(parse_trace(log, agent.trace_format), agent=agent, cli_version=None, session_id="r")
    final = trajectory["final_metrics"]
    # session 1 from its result; session 2 from its two messages, each counted once
    assert final["total_prompt_tokens"] == 13035 + (4567 + 4000) + (5678 + 5000)
    assert agent.price is not None
    killed_cost = agent.price.cost(4567 + 4000 + 5678 + 5000, 9000, 2)  # Claude's stream states 1 output token per message
    assert final["total_cost_usd"] == pytest.approx(0.0432 + killed_cost)
    assert trajectory["extra"]["ptb"]["cost_source"] == "cli+price"


def test_one_claude_message_in_several_lines_counts_once(tmp_path: Path) -> None:
    usage = {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 1}
    blocks = [{"type": "thinking", "thinking": "plan"}, {"type": "text", "text": "Let me look."},
              {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}]
    lines = [json.dumps({"type": "assistant", "message": {"id": "m1", "model": "claude-x", "content": [b], "usage": usage}})
             for b in blocks]
    lines.append(json.dumps({"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1",
                                                                      "content": [{"type": "text", "text": "a.txt"}]}]}}))
    log = tmp_path / "solve.log"
    log.write_text("".join(f"{i}.0 stdout {line}\n" for i, line in enumerate(lines)))
    agent = agent_spec("claude_code", tmp_path)
    events = parse_trace(log, agent.trace_format)
    assert [e.kind for e in events] == ["thinking", "message", "tool", "usage", "tool"]
    steps = build_trajectory(events, agent=agent, cli_version=None, session_id="r")["steps"]
    assert len(steps) == 1, "one API message is one step"
    assert steps[0]["metrics"]["prompt_tokens"] == 100 and steps[0]["observation"]["results"][0]["content"] == "a.txt"


def test_opencode_states_each_steps_cost_and_zero_means_unknown(tmp_path: Path) -> None:
    agent, events = parsed("opencode", tmp_path, "opencode_stream", "opencode_resume_stream")
    steps = [e.usage for e in events if e.usage is not None]
    assert [(u.input_tokens, u.cached_input_tokens, u.output_tokens) for u in steps] == [
        (1234, 1000, 56), (2345, 2000, 67), (3456, 3000, 78), (4567, 4000, 89), (5678, 5000, 90)]
    trajectory = build_trajectory(events, agent=agent, cli_version=None, session_id="r")
    assert trajectory["final_metrics"]["total_cost_usd"] == pytest.approx(sum(u.cost_usd or 0 for u in steps))
    assert trajectory["extra"]["ptb"]["cost_source"] == "cli"
    free = json.dumps({"type": "step_finish", "part": {"tokens": {"input": 5, "output": 5}, "cost": 0}})
    log = tmp_path / "zero.log"
    log.write_text(f"1.0 stdout {free}\n")
    (usage,) = [e.usage for e in parse_trace(log, agent.trace_format) if e.usage is not None]
    assert usage.cost_usd is None


def test_a_codex_command_the_deadline_interrupted_is_still_a_call(tmp_path: Path) -> None:
    started = [line for line in (FIXTURES / "codex_stream.jsonl").read_text().splitlines()][:4]
    assert json.loads(started[-1])["type"] == "item.started"
    log = tmp_path / "solve.log"
    log.write_text("".join(f"{i}.0 stdout {line}\n" for i, line in enumerate(started)))
    events = parse_trace(log, agent_spec("codex", tmp_path).trace_format)
    calls = [e for e in events if e.call is not None]
    assert len(calls) == 1 and "echo hello" in calls[0].text and not [e for e in events if e.result_of]


@pytest.mark.parametrize("scaffold", sorted(AGENT_OF))
def test_an_invalid_key_is_an_auth_failure(scaffold: str, tmp_path: Path) -> None:
    _, events = parsed(scaffold, tmp_path, f"{scaffold}_auth_error")
    errors = [e.text for e in events if e.kind == "error"]
    assert errors, "the API error is an error event"
    found = classify_failure(errors)
    assert found is not None and found[0] == "auth", errors


@pytest.mark.parametrize("scaffold", sorted(AGENT_OF))
def test_hostile_output_is_kept_and_never_breaks_the_parser(scaffold: str, tmp_path: Path) -> None:
    hostile = ['{"type": "assistant", "message": {"content": "not a list", "usage": {"input_tokens": -5}}}',
               '{"type": "item.completed", "item": {"type": "command_execution", "exit_code": "x"}}',
               '{"type": "result", "stats": {"input_tokens": "many"}, "usage": [], "total_cost_usd": "free"}',
               '{"type": "step_finish", "part": {"tokens": {"input": true, "cache": 3}, "cost": "x"}}',
               '{"type": "tool_use", "part": {"state": "done"}, "parameters": [1]}',
               '[1, 2]', '{"type": 7}', '{not json', 'plain words from a crash']
    log = tmp_path / "solve.log"
    log.write_text("".join(f"{i}.0 stdout {line}\n" for i, line in enumerate(hostile)) + "99.0 stderr Traceback\n")
    agent = agent_spec(scaffold, tmp_path)
    events = parse_trace(log, agent.trace_format)
    assert not [e for e in events if e.kind == "harness"], "no parser failure"
    texts = [e.text for e in events]
    assert "plain words from a crash" in texts and "{not json" in texts and "[1, 2]" in texts
    assert [e.text for e in events if e.kind == "error"][-1] == "Traceback"
    for e in events:
        if e.usage is not None:
            assert min(e.usage.input_tokens, e.usage.cached_input_tokens, e.usage.output_tokens) >= 0
    build_trajectory(events, agent=agent, cli_version=None, session_id="r")  # and the trajectory builds
