"""Stage 1, prepare: the run folder, the agent's workspace, its prompt and its environment.

The run folder (`spec.run_dir`) is the harness's: spec.yaml, prompt.md, harness_hashes.json and
later every verdict and metric. The workspace (under `spec.scratch_dir`) is the agent's only
writable place; it gets evaluate.py, the harness chat template, timer.sh, ptb_eval.json, the
task's context files and `.ptb/prompt.md`. Hashes of every harness-provided file are recorded
in the run folder so the judge can tell whether the agent changed them.
"""

from __future__ import annotations

import itertools
import math
import os
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ptb.agents.toolchain import InstalledCli, ToolchainError, find_cli, install_hint
from ptb.chat_templates import harness_template, model_templates, tool_parser
from ptb.data import harness_files_root
from ptb.egress.policy import egress_policy
from ptb.io import sha256_file, to_jsonable, write_json_atomic, write_record, write_text_atomic
from ptb.paths import PROMPTS_DIR
from ptb.plugins import load_task_module
from ptb.records import RunPlan, RunSpec
from ptb.stages.solve.agent_run import SolveRequest
from ptb.tasks.evaluate_script import evaluate_script

TIMER_SH = """#!/usr/bin/env bash
# Prints the time left of your budget as H:MM, or says that the time is up.
deadline=$(cat "$(dirname "$0")/.ptb/deadline" 2>/dev/null) || { echo "timer: no deadline file"; exit 1; }
now=$(date +%s)
left=$(( ${deadline%.*} - now ))
if [ "$left" -le 0 ]; then echo "Time is up."; exit 0; fi
printf '%d:%02d remaining\\n' $(( left / 3600 )) $(( (left % 3600) / 60 ))
"""


AGENT_PROMPT_NOTE = "prompt_note.md"  # in an agent folder: a paragraph added to the prompt


@dataclass(frozen=True)
class PreparedRun:
    workspace: Path
    home: Path
    prompt_file: Path  # inside the workspace, fed to the agent on stdin
    env: Mapping[str, str]  # the agent's complete environment (PTB_DEADLINE is added at start)
    cli: InstalledCli | None = None  # the agent's CLI on this node (agent_cli.json)


def render_prompt(spec: RunSpec, workspace: Path, base_model_path: Path) -> str:
    gpus = spec.budget.gpus
    hardware = f"{gpus} GPU(s)" if gpus else "CPU only, no GPU"
    hardware += f", {spec.budget.cpus:g} CPU core(s) reserved"
    network = (
        "You have internet access."
        if spec.agent.network
        else "You have no internet access: work with what is in your folder and installed."
    )
    if spec.agent.network and (denied := egress_policy(spec).prompt_text()):
        network += " " + denied  # what the egress proxy denies (ptb.egress.policy)
    packages = (
        "Python with torch and transformers is installed (`python`); "
        + ("install more with pip." if spec.agent.network else "nothing more can be installed.")
    )
    context = (
        "\nThe task's allowed training data is in `data/`."
        if (workspace / "data").is_dir()
        else ""
    )
    grader = spec.task.params.get("grader_model")
    if grader:
        context += (
            f"\nThis benchmark is graded by an LLM ({grader} in the final evaluation). The harness's grader "
            "key is not available to you: `evaluate.py` grades only with a grader you give it "
            "(`--grader-model`, `--grader-base-url`, `--grader-api-key-env`; see `python evaluate.py --help`)."
        )
    data_line = ""
    if spec.task.disallowed_data:
        data_line += " This includes: " + "; ".join(spec.task.disallowed_data) + "."
    if spec.task.allowed_data:
        data_line += " Allowed despite coming from the benchmark: " + "; ".join(spec.task.allowed_data) + "."
    text = (PROMPTS_DIR / f"{spec.prompt_variant}.md").read_text()
    note = Path(spec.agent.path) / AGENT_PROMPT_NOTE
    if note.is_file():  # what this scaffold needs to be told (Claude Code: it runs non-interactively)
        text = text.rstrip("\n") + "\n\n" + note.read_text().replace("{", "{{").replace("}", "}}")
    return text.format(
        model_id=spec.model.hf_id or f"{spec.model.name} (built by the harness)",
        benchmark=spec.task.benchmark,
        workspace=workspace,
        base_model_path=base_model_path,
        network_line=network,
        packages_line=packages,
        hardware_line=hardware,
        context_line=context,
        data_line=data_line,
        hours=f"{spec.budget.hours:g}",
    )


def agent_env(
    spec: RunSpec, workspace: Path, home: Path, prompt_file: Path, base_model_path: Path, cli: InstalledCli | None = None
) -> dict[str, str]:
    """The complete environment of the agent; nothing of the host leaks unless listed. Of the
    host's secrets only the agent's own vendor key (``agent.key_env``) and ``env_passthrough``
    reach it — never the LLM grader's key."""
    venv_bin = str(Path(sys.executable).parent)
    threads = str(max(1, math.floor(spec.budget.cpus)))
    path = [venv_bin]
    node = shutil.which("node")
    if cli is not None and node:  # the CLIs are Node programs (or launched by a Node shim)
        path.append(str(Path(node).resolve().parent))
    env = {
        "PATH": ":".join(dict.fromkeys([*path, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PTB_WORKSPACE": str(workspace),
        "PTB_PROMPT_FILE": str(prompt_file),
        "PTB_BASE_MODEL": str(base_model_path),
        "PTB_AGENT_DIR": spec.agent.path,
        "PTB_TASK": spec.task.name,
        "PTB_MODEL": spec.model.name,
        "PTB_HOURS": f"{spec.budget.hours:g}",
        "PTB_CPUS": f"{spec.budget.cpus:g}",
        "PTB_SEED": str(spec.seed),
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    # Shared caches (read-only in the sandbox). Never the LLM grader's key or the host's tokens.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "PTB_DATA_DIR"):
        if var in os.environ:
            env[var] = os.environ[var]
    agent = spec.agent
    if cli is not None:
        # the contract of a scaffold's solve.sh (see agents/claude_code/solve.sh)
        env.update({
            "PTB_AGENT_CLI": cli.executable,
            "PTB_AGENT_MODEL": agent.model or "",
            "PTB_AGENT_BASE_URL": agent.base_url or "",
            "PTB_AGENT_KEY_ENV": agent.key_env or "",
            "PTB_AGENT_REASONING_EFFORT": agent.reasoning_effort or "",
        })
    env.update(agent.env)
    for var in agent.secret_vars:
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def find_agent_cli(spec: RunSpec) -> InstalledCli | None:
    """The run's agent CLI on this node, or an error naming the install command."""
    cli = spec.agent.cli
    if cli is None:
        return None
    found = find_cli(spec.toolchain_dir, cli)
    if found is None:
        raise ToolchainError(
            f"{cli.package}@{cli.version} is not installed in {spec.toolchain_dir} on this node; "
            f"run: {install_hint(spec.agent.name)} toolchain_dir={spec.toolchain_dir}"
        )
    return found


def _move_aside_interrupted(scratch: Path) -> None:
    """A workspace without an outcome is an interrupted solve: keep it, start afresh."""
    workspace = scratch / "workspace"
    if workspace.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = next(scratch / f"interrupted-{stamp}-{n}" for n in itertools.count() if not (scratch / f"interrupted-{stamp}-{n}").exists())
        workspace.rename(aside)


def write_spec(plan: RunPlan) -> None:
    run_dir = Path(plan.spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    document = {"spec": to_jsonable(plan.spec), "config": plan.config()}
    write_text_atomic(run_dir / "spec.yaml", yaml.safe_dump(document, sort_keys=False))


def _keep_path_in_login_shells(home: Path, path: str) -> None:
    """A login shell (``bash -l``: an agent's own, or a CLI's tool) runs /etc/profile, which
    resets PATH and hides the project's python; the private HOME's profile puts the sandbox's
    PATH back (bash reads ~/.bash_profile, sh ~/.profile)."""
    profile = (
        "# written by ptb: /etc/profile resets PATH; this is the sandbox's PATH\n"
        f"export PATH={shlex.quote(path)}\n"
        'if [ -n "${BASH_VERSION:-}" ] && [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi\n'
    )
    for name in (".bash_profile", ".profile"):
        if not (home / name).exists():
            write_text_atomic(home / name, profile)


def prepare(plan: RunPlan, base_model_path: Path) -> PreparedRun:
    spec = plan.spec
    run_dir = Path(spec.run_dir)
    scratch = Path(spec.scratch_dir)
    write_spec(plan)
    _move_aside_interrupted(scratch)
    workspace, home = scratch / "workspace", scratch / "home"
    (workspace / ".ptb").mkdir(parents=True)
    home.mkdir(parents=True, exist_ok=True)

    harness_files: list[Path] = []
    write_text_atomic(workspace / "evaluate.py", evaluate_script(spec.task))
    harness_files.append(workspace / "evaluate.py")
    # Every template of the model (the tool template too); evaluate.py uses the one the final
    # evaluation uses for this task.
    (workspace / "templates").mkdir()
    for template in model_templates(spec.model):
        shutil.copy2(template, workspace / "templates" / template.name)
        harness_files.append(workspace / "templates" / template.name)
    template = harness_template(spec.model, spec.task)
    write_text_atomic(workspace / "timer.sh", TIMER_SH)
    (workspace / "timer.sh").chmod(0o755)
    harness_files.append(workspace / "timer.sh")
    eval_config: dict[str, Any] = {
        "task": to_jsonable(spec.task),
        "template": f"templates/{template.name}",
        "tool_parser": tool_parser(spec.model, spec.task),
    }
    write_json_atomic(workspace / "ptb_eval.json", eval_config)
    harness_files.append(workspace / "ptb_eval.json")
    harness_files.extend(load_task_module(spec.task).write_agent_context(workspace))

    prompt = render_prompt(spec, workspace, base_model_path)
    prompt_file = workspace / ".ptb" / "prompt.md"
    write_text_atomic(prompt_file, prompt)
    write_text_atomic(run_dir / "prompt.md", prompt)

    hashes = {str(p.relative_to(workspace)): sha256_file(p) for p in harness_files}
    write_json_atomic(run_dir / "harness_hashes.json", hashes)
    cli = find_agent_cli(spec)
    if cli is not None:
        write_record(run_dir / "agent_cli.json", cli)  # the version this run really used
    env = agent_env(spec, workspace, home, prompt_file, base_model_path, cli)
    _keep_path_in_login_shells(home, env["PATH"])
    return PreparedRun(workspace=workspace, home=home, prompt_file=prompt_file, env=env, cli=cli)


def hidden_from_agents(spec: RunSpec) -> tuple[str, ...]:
    """Host folders the agent's sandbox replaces with an empty one. The host is readable in the
    sandbox; other runs' results, verdicts and workspaces are not (the agent's own workspace and
    home are mounted back on top), nor the files the harness generates for grading
    (arenahard_writing's stored answers of the official instruct model). Workspaces live in the
    sweep's scratch folder, inside the results folder by default but anywhere with
    ``scratch_dir``: that folder is hidden too, so no run sees another's live checkpoint."""
    results_dir = Path(spec.run_dir).parent.parent
    sweep_scratch = Path(spec.scratch_dir).parent
    hidden = [str(results_dir), str(harness_files_root()), str(sweep_scratch)]
    # A user's scratch_dir holds every sweep's scratch folder: hide it whole, unless it is so
    # broad (/, a home) that it holds the project or the base model the agent needs.
    scratch_dir = sweep_scratch.parent
    if not _holds_needed(scratch_dir, spec):
        hidden.append(str(scratch_dir))
    folders = [Path(p) for p in dict.fromkeys(hidden)]
    return tuple(str(f) for f in folders if not any(o != f and o in f.parents for o in folders))


def _holds_needed(folder: Path, spec: RunSpec) -> bool:
    from ptb.paths import PROJECT_ROOT

    needed = (PROJECT_ROOT, Path(spec.agent.path), Path(sys.executable).parent)
    return folder == Path("/") or any(p == folder or folder in p.parents for p in needed)


def model_mount(base_model_path: Path) -> str:
    """What to mount for the base model: a Hub cache snapshot is a folder of symlinks into the
    repository's blobs, so the whole repository folder goes in, or the links would dangle."""
    if base_model_path.parent.name == "snapshots" and base_model_path.parent.parent.name.startswith("models--"):
        return str(base_model_path.parent.parent)
    return str(base_model_path)


def shared_caches(spec: RunSpec) -> tuple[str, ...]:
    """The shared model/data caches the agent reads (mounted read-only): they may sit in a folder
    the sandbox hides or the agent's uid cannot pass through (the harness user's home, or /tmp,
    which the sandbox replaces). The harness's own, and those the agent's config points it at."""
    names = ("HF_HOME", "HF_HUB_CACHE", "PTB_DATA_DIR")
    folders = [os.environ.get(v) for v in names] + [spec.agent.env.get(v) for v in names]
    return tuple(dict.fromkeys(f for f in folders if f and os.path.isdir(f)))


def solve_request(prepared: PreparedRun, spec: RunSpec, base_model_path: Path) -> SolveRequest:
    """What the solve stage runs for this prepared run."""
    return SolveRequest(
        run_dir=spec.run_dir,
        workspace=str(prepared.workspace),
        home=str(prepared.home),
        agent=spec.agent,
        prompt_file=str(prepared.prompt_file),
        env=dict(prepared.env),
        budget=spec.budget,
        sandbox=spec.sandbox,
        readonly=(
            model_mount(base_model_path), spec.agent.path, *((prepared.cli.home,) if prepared.cli else ()), *shared_caches(spec)
        ),
        monitor_interval_s=spec.monitor_interval_s,
        hidden=hidden_from_agents(spec),
        egress_resolve=dict(spec.egress.resolve),
        egress_policy=egress_policy(spec),
    )
