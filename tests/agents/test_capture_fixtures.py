"""tests/agents/capture_fixtures.py, for real: the installed OpenCode (the quickest of the four
CLIs to capture) driven through its three scripted sessions, and its trace parser on the fresh
output finds the scripted calls, results, messages and the auth failure. Slow: installs the CLIs
(once per test cache)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ptb.agents.failures import classify_failure
from ptb.traces import parse_trace

sys.path.insert(0, str(Path(__file__).parent))
import capture_fixtures  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_fresh_capture_parses_into_the_scripted_sessions(agent_toolchain: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PTB_TOOLCHAIN_DIR", str(agent_toolchain))
    out = tmp_path / "fixtures"
    assert capture_fixtures.main(["--scaffold", "opencode", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "opencode_auth_error.jsonl", "opencode_resume_stream.jsonl", "opencode_stream.jsonl"]
    agent = capture_fixtures.agent_spec("kimi25")

    def events(*stems: str) -> list:
        log = tmp_path / "solve.log"
        log.write_text("".join(f"{i}.0 stdout {line}\n" for i, line in enumerate(
            line for stem in stems for line in (out / f"{stem}.jsonl").read_text().splitlines())))
        return parse_trace(log, agent.trace_format)

    both = events("opencode_stream", "opencode_resume_stream")
    commands = [str(e.call.arguments.get("command")) for e in both if e.call is not None]
    assert commands == [turn.command for turn in (*capture_fixtures.FIRST, *capture_fixtures.RESUMED)
                        if isinstance(turn, capture_fixtures.ShellCall)]
    assert [e.text for e in both if e.kind == "message"] == ["The file made_by_agent.txt holds hello.", "Improved."]
    assert [e.usage.input_tokens for e in both if e.usage is not None] == [1234, 2345, 3456, 4567, 5678]
    failure = classify_failure(e.text for e in events("opencode_auth_error") if e.kind == "error")
    assert failure is not None and failure[0] == "auth", failure
