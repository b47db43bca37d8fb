"""ptb.plugins: task folders checked against the TaskModule protocol, agent folders carrying
their scaffold's trace parser, both loaded by path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.errors import ConfigError
from ptb.paths import CONF_DIR, PROJECT_ROOT
from ptb.plan import build_plan
from ptb.plugins import agent_trace_format, load_task_module
from ptb.records import LadderStep, TaskSpec
from ptb.stages.collect import collect
from ptb.tasks.evaluate_script import evaluate_script

JSON_TRACE = '''
import json
from ptb.traces import TraceEvent, trace_parser

@trace_parser("fixture_json_lines")
def parse(lines):
    """Each stdout line is a JSON event {"type": ..., "text": ...}."""
    for line in lines:
        event = json.loads(line.text)
        yield TraceEvent(line.t, {"tool_use": "tool", "text": "message"}[event["type"]], event["text"])
'''


def agent_folder(root: Path, name: str, trace_py: str | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "solve.sh").write_text("#!/bin/bash\ntrue\n")
    if trace_py is not None:
        (folder / "trace.py").write_text(textwrap.dedent(trace_py))
    return folder


def plan(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return build_plan(compose("config", overrides=[f"results_dir={tmp_path}/r", *overrides]))


def solve_log(run_dir: Path, *lines: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"2026-12-03T10:00:0{i}.000+00:00 stdout {line}\n" for i, line in enumerate(lines))
    (run_dir / "solve.log").write_text("2026-12-03T09:59:59.000+00:00 ptb start\n" + text)


# --------------------------------------------------------------------------- agent folders


def test_an_agent_folder_s_trace_py_is_its_default_trace_format(tmp_path: Path) -> None:
    folder = agent_folder(tmp_path, "scaffold_a", JSON_TRACE)
    assert plan(tmp_path, f"agent.path={folder}").spec.agent.trace_format == "fixture_json_lines"
    # an explicit format wins over the folder's own
    assert plan(tmp_path, f"agent.path={folder}", "agent.trace_format=plain").spec.agent.trace_format == "plain"
    # a folder without trace.py is plain
    assert plan(tmp_path, "agent=noop").spec.agent.trace_format == "plain"


def test_collect_parses_with_the_folder_s_parser_even_in_a_fresh_process(tmp_path: Path) -> None:
    folder = agent_folder(tmp_path, "scaffold_b", JSON_TRACE.replace("fixture_json_lines", "fixture_json_lines_b"))
    run, ws = tmp_path / "run", tmp_path / "ws"
    ws.mkdir()
    solve_log(run, json.dumps({"type": "tool_use", "text": "Bash: ls"}), json.dumps({"type": "text", "text": "done"}))
    code = (
        "import sys; from ptb.stages.collect import collect\n"
        f"report = collect({str(ws)!r}, {str(run)!r}, 'fixture_json_lines_b', agent_dir={str(folder)!r})\n"
        "print(report.trace_format, report.trace_events)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fixture_json_lines_b", "3"]
    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["text"]) for e in events] == [("harness", "start"), ("tool", "Bash: ls"), ("message", "done")]


def test_a_parser_that_breaks_on_hostile_output_keeps_every_line(tmp_path: Path) -> None:
    folder = agent_folder(tmp_path, "scaffold_c", JSON_TRACE.replace("fixture_json_lines", "fixture_json_lines_c"))
    run, ws = tmp_path / "run", tmp_path / "ws"
    ws.mkdir()
    solve_log(run, json.dumps({"type": "text", "text": "fine"}), "not json at all {{{")
    report = collect(ws, run, "fixture_json_lines_c", agent_dir=folder)
    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert report.trace_events == 4 and kinds.count("harness") == 2
    assert any("trace format 'fixture_json_lines_c' failed (JSONDecodeError" in e["text"] for e in events)
    assert [e["text"] for e in events if e["kind"] == "output"] == [json.dumps({"type": "text", "text": "fine"}), "not json at all {{{"]


def test_a_folder_with_several_formats_must_choose_and_a_broken_one_is_named(tmp_path: Path) -> None:
    two = JSON_TRACE.replace("fixture_json_lines", "fixture_two_x") + JSON_TRACE.replace("fixture_json_lines", "fixture_two_y").replace("def parse", "def parse_y")
    folder = agent_folder(tmp_path, "scaffold_d", two)
    with pytest.raises(ConfigError, match=r"registers several trace formats \['fixture_two_x', 'fixture_two_y'\]: choose one with agent.trace_format"):
        plan(tmp_path, f"agent.path={folder}")
    assert plan(tmp_path, f"agent.path={folder}", "agent.trace_format=fixture_two_y").spec.agent.trace_format == "fixture_two_y"
    broken = agent_folder(tmp_path, "scaffold_e", "import no_such_module_anywhere\n")
    with pytest.raises(ConfigError, match=r"scaffold_e/trace.py does not load: ModuleNotFoundError"):
        agent_trace_format(broken)


# --------------------------------------------------------------------------- task folders


def task_folder(root: Path, source: str) -> TaskSpec:
    folder = root / "evals" / "mytask"
    folder.mkdir(parents=True)
    (folder / "task.py").write_text(textwrap.dedent(source))
    return TaskSpec(name="mytask", benchmark="My task", eval_dir=str(folder), ladder=(LadderStep(8, 1),))


def test_a_task_module_missing_parts_of_the_protocol_is_a_clear_error(tmp_path: Path) -> None:
    spec = task_folder(tmp_path, """
        from inspect_ai import Task, task

        DATA = "openai/gsm8k"

        @task
        def mytask(split="test"):
            return Task(dataset=[])

        def test_texts():
            return []
    """)
    with pytest.raises(ConfigError) as info:
        load_task_module(spec)
    message = str(info.value)
    assert "is not a complete task module" in message
    assert "DATA: a tuple of ptb.tasks.HubDataset / UrlFile" in message and "(got str)" in message
    assert "write_agent_context: a function (workspace: Path)" in message
    assert "test_texts" not in message.split("needs", 1)[1] and "mytask:" not in message


def test_a_task_without_its_task_function_is_named(tmp_path: Path) -> None:
    spec = task_folder(tmp_path, """
        DATA = ()
        def test_texts():
            return []
        def write_agent_context(workspace):
            return []
    """)
    with pytest.raises(ConfigError, match="mytask: an inspect-ai @task function named after the task"):
        load_task_module(spec)


def test_every_shipped_task_satisfies_the_protocol() -> None:
    for folder in sorted((PROJECT_ROOT / "evals").glob("*/task.py")):
        name = folder.parent.name
        module = load_task_module(TaskSpec(name=name, eval_dir=str(folder.parent), ladder=(LadderStep(8, 1),)))
        assert callable(getattr(module, name)) and isinstance(module.DATA, tuple)


def test_the_one_evaluate_script_names_the_task_and_finds_ptb(tmp_path: Path) -> None:
    spec = TaskSpec(name="x", benchmark='Odd "name" \\ here', eval_dir="/e", ladder=(LadderStep(8, 1),))
    script = evaluate_script(spec)
    compile(script, "evaluate.py", "exec")  # valid Python whatever the benchmark is called
    assert "Odd" in script.splitlines()[0] and repr(str(PROJECT_ROOT)) in script
    assert "from ptb.evaluation.agent_cli import main" in script
    assert not list((PROJECT_ROOT / "evals").glob("*/evaluate.py")), "no per-task copies"
