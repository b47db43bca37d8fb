"""Capture each scaffold's real CLI output against the scripted API: the fixtures that
tests/agents/test_scaffold_traces.py parses (tests/agents/fixtures/<scaffold>_*).

Run it after bumping a CLI's pinned version (conf/scaffold/<scaffold>.yaml), then run the trace
tests: a changed output format shows up there, not in a user's ten-hour run.

    python -m ptb.agents install -m agent=opus,gpt52,gemini3pro,kimi25
    python tests/agents/capture_fixtures.py --out /tmp/fresh [--scaffold codex ...]
    PTB_TRACE_FIXTURES=/tmp/fresh pytest tests/agents/test_scaffold_traces.py   # the parsers on it
    python tests/agents/capture_fixtures.py                 # then replace the committed fixtures

Each scaffold's solve.sh runs the installed CLI (outside any sandbox: the scripted API is on
127.0.0.1 and only the output matters here) through three sessions:

* ``<scaffold>_stream``: ``echo hello > made_by_agent.txt``, ``cat made_by_agent.txt``, a final text;
* ``<scaffold>_resume_stream``: the same HOME with ``PTB_AGENT_RESUME=1``: ``echo again >>
  made_by_agent.txt``, a final text;
* ``<scaffold>_auth_error``: a fresh HOME, every request answered 401.

The token numbers of the turns are the ones test_scaffold_traces.py expects (SESSION_TOKENS).
stdout goes to ``.jsonl``, stderr (when there is any) to ``.stderr.txt``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir

from ptb.agents.toolchain import find_cli
from ptb.paths import AGENTS_DIR, CONF_DIR
from ptb.records import AgentSpec

sys.path.insert(0, str(Path(__file__).parent))
from scripted_api import Fail, FinalText, ScriptedAPI, ShellCall, Turn, Usage  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
AGENT_OF = {"claude_code": "opus", "codex": "gpt52", "gemini_cli": "gemini3pro", "opencode": "kimi25"}
KEY = "sk-scripted-fixture-key"
FIRST: list[Turn] = [
    ShellCall("echo hello > made_by_agent.txt", Usage(1234, 1000, 56, 7)),
    ShellCall("cat made_by_agent.txt", Usage(2345, 2000, 67, 8)),
    FinalText("The file made_by_agent.txt holds hello.", Usage(3456, 3000, 78, 9)),
]
RESUMED: list[Turn] = [
    ShellCall("echo again >> made_by_agent.txt", Usage(4567, 4000, 89, 10)),
    FinalText("Improved.", Usage(5678, 5000, 90, 11)),
]
PROMPT = "Write hello into made_by_agent.txt, show it, and say what the file holds."


def agent_spec(name: str) -> AgentSpec:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"agent={name}"])
    from ptb.plan import build_plan  # the plan checks the CLI is installed: a clear error if not

    return build_plan(cfg).spec.agent


def node_dir() -> list[str]:
    """Node's folder: the CLIs are Node programs or launched by a Node shim (as ptb's agent_env does)."""
    node = shutil.which("node")
    return [str(Path(node).resolve().parent)] if node else []


def run_session(agent: AgentSpec, executable: str, api: ScriptedAPI, home: Path, workspace: Path,
                resume: bool) -> subprocess.CompletedProcess[str]:
    suffix = "/v1" if agent.scaffold in ("codex", "opencode") else ""
    assert agent.key_env is not None
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), *node_dir(), "/usr/bin", "/bin"]),
        "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": tempfile.gettempdir(),
        "PTB_AGENT_CLI": executable, "PTB_AGENT_MODEL": agent.model or "", "PTB_AGENT_KEY_ENV": agent.key_env,
        "PTB_AGENT_BASE_URL": api.base_url + suffix, "PTB_AGENT_REASONING_EFFORT": agent.reasoning_effort or "",
        "PTB_AGENT_RESUME": "1" if resume else "0", agent.key_env: KEY,
    }
    return subprocess.run(["bash", str(AGENTS_DIR / str(agent.scaffold) / "solve.sh")], input=PROMPT, env=env,
                          cwd=workspace, capture_output=True, text=True, timeout=300)


def save(out: Path, stem: str, proc: subprocess.CompletedProcess[str]) -> None:
    (out / f"{stem}.jsonl").write_text(proc.stdout)
    stderr = out / f"{stem}.stderr.txt"
    if proc.stderr.strip():
        stderr.write_text(proc.stderr)
    elif stderr.exists():
        stderr.unlink()
    print(f"{stem}: exit {proc.returncode}, {len(proc.stdout.splitlines())} stdout lines, "
          f"{len(proc.stderr.splitlines())} stderr lines")


def capture(scaffold: str, toolchain: str, out: Path) -> None:
    agent = agent_spec(AGENT_OF[scaffold])
    assert agent.cli is not None
    installed = find_cli(toolchain, agent.cli)
    if installed is None:
        raise SystemExit(f"{agent.cli.package}@{agent.cli.version} is not installed in {toolchain}: "
                         f"python -m ptb.agents install agent={agent.name}")
    with tempfile.TemporaryDirectory(prefix=f"ptb-fixture-{scaffold}-") as tmp:
        home, workspace = Path(tmp) / "home", Path(tmp) / "workspace"
        home.mkdir()
        workspace.mkdir()
        with ScriptedAPI(FIRST) as api:
            save(out, f"{scaffold}_stream", run_session(agent, installed.executable, api, home, workspace, False))
            api.set_script(RESUMED)
            save(out, f"{scaffold}_resume_stream", run_session(agent, installed.executable, api, home, workspace, True))
        fresh = Path(tmp) / "fresh-home"
        fresh.mkdir()
        with ScriptedAPI([Fail(401, "scripted invalid key", times=None)]) as api:
            save(out, f"{scaffold}_auth_error", run_session(agent, installed.executable, api, fresh, workspace, False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scaffold", action="append", choices=sorted(AGENT_OF), help="default: all four")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--toolchain", default=os.environ.get("PTB_TOOLCHAIN_DIR", "~/.cache/ptb/toolchain"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for scaffold in args.scaffold or sorted(AGENT_OF):
        capture(scaffold, os.path.expanduser(args.toolchain), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
