"""The agent-facing evaluation CLI, the same for every task (SPEC §3).

Each task's ``evaluate.py`` calls `main` with its own folder; the workspace copy sits beside
``ptb_eval.json`` ({"task": <TaskSpec>, "template": "templates/<family>.jinja"}), which says
which task and which harness chat template to use:

    python evaluate.py                                  # final_model, the task's default --limit
    python evaluate.py --model-path ckpt/ --limit 20 --json-output-file out.json

It serves the checkpoint (vLLM when CUDA and vLLM are available, else the CPU HF server),
runs the task on its test split with inspect-ai, prints the score and optionally writes it as
JSON.

Scores, not solutions: what it writes where the agent can read it (``--log-dir``, default
``eval_logs/``) is the score and, per test item, its id and whether the model got it right
(``<time>_<task>_scores.json``) and the server log — never a target, a worked solution or the
model's replies (a correct reply is a worked solution). inspect's own log, which holds the
targets of a task whose test data is public, is written to a private temporary folder and
deleted. Where the harness grades a secret split (``PTB_GRADING_SOCKET`` names the run's grading
service, `ptb.grading`), the samples come from the service (prompts only) and each reply is graded
by it: the answers are never in the sandbox at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.chat_templates import stop_token_ids
from ptb.evaluation.inspect_runner import EvalFailed, run_inspect_task
from ptb.grading.client import SOCKET_ENV, GradingClient, GradingError
from ptb.io import from_jsonable, write_json_atomic
from ptb.records import TaskSpec
from ptb.sandbox.code_exec import trust_enclosing_sandbox
from ptb.serve.backends import BackendUnavailable, serve_backend_names, vllm_available
from ptb.serve.launch import CheckpointError, ServerStartError, start_server
from ptb.tasks.grader import GraderUnavailable, grader_model

CONFIG_FILE = "ptb_eval.json"


def auto_backend(note=print) -> str:
    """vllm where a CUDA GPU and vLLM are present, else the HF server (on the GPU when there is
    one). A GPU without vLLM is said out loud: the HF server is much slower for big models."""
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda and not vllm_available():
        note(
            "note: a CUDA GPU is visible but vLLM is not installed in this environment, so the much "
            "slower HF server is used; install vLLM (`pip install vllm`) for fast evaluation.",
        )
    return "vllm" if cuda and vllm_available() else "hf"


@dataclass(frozen=True)
class EvalConfig:
    """What ptb_eval.json says: the task, the harness template and the tool-call format."""

    task: TaskSpec
    template: Path
    tool_parser: str | None


def load_config(config_dir: Path) -> EvalConfig:
    path = config_dir / CONFIG_FILE
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing; evaluate.py must sit in the workspace ptb prepared")
    data = json.loads(path.read_text())
    task = from_jsonable(TaskSpec, data["task"])
    return EvalConfig(task, (config_dir / data["template"]).resolve(), data.get("tool_parser"))


def _limit(value: str) -> int | None:
    if value.lower() == "all":
        return None
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("--limit must be a positive number of samples or 'all'")
    return n


def build_parser(task: TaskSpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate.py",
        description=f"Evaluate a checkpoint on {task.benchmark} (test split).",
    )
    p.add_argument("--model-path", default="final_model", help="HF checkpoint folder (default: final_model)")
    p.add_argument("--limit", type=_limit, default=task.default_limit,
                   help=f"samples to evaluate, or 'all' (default: {task.default_limit or 'all'})")
    p.add_argument("--max-tokens", type=int, default=task.ladder[0].max_tokens,
                   help=f"max tokens per answer (default: {task.ladder[0].max_tokens})")
    p.add_argument("--max-connections", type=int, default=task.max_connections,
                   help=f"concurrent requests (default: {task.max_connections})")
    p.add_argument("--json-output-file", default=None, help="also write the result as JSON here")
    p.add_argument("--backend", choices=["auto", *serve_backend_names()], default="auto",
                   help="inference server: vllm (GPU), hf (CPU) or auto (default)")
    p.add_argument("--log-dir", default="eval_logs",
                   help="per-item scores (correct or not, no answers) and the server log (default: eval_logs)")
    if GRADER_PARAMS[0] in task.params:  # an LLM-graded task: the grader is the agent's to choose here
        params = task.params
        p.add_argument("--grader-model", default=params.get("grader_model"),
                       help=f"inspect-ai model that grades the answers (default: {params.get('grader_model')})")
        p.add_argument("--grader-base-url", default=params.get("grader_base_url"),
                       help="OpenAI-compatible endpoint of the grader (default: the provider's own)")
        p.add_argument("--grader-api-key-env", default=params.get("grader_api_key_env"),
                       help=f"variable holding the grader's API key (default: {params.get('grader_api_key_env')}); "
                            "the harness's own grader key is not available here: use a key of your own")
    return p


GRADER_PARAMS = ("grader_model", "grader_base_url", "grader_api_key_env")


def _with_grader(task: TaskSpec, args: argparse.Namespace) -> TaskSpec:
    """The task with the grader the command line chose; checked before anything is served."""
    if GRADER_PARAMS[0] not in task.params:
        return task
    chosen = {name: getattr(args, name) for name in GRADER_PARAMS}
    grader_model(chosen["grader_model"], chosen["grader_base_url"], chosen["grader_api_key_env"])  # raises when unusable
    return dataclasses.replace(task, params={**task.params, **chosen})


def main(config_dir: str | Path, argv: Sequence[str] | None = None) -> int:
    # The agent's evaluate.py runs inside the agent's sandbox: generated code (humaneval) runs
    # there too, not in a nested one the sandbox forbids (see trust_enclosing_sandbox).
    with trust_enclosing_sandbox("the agent-facing evaluate.py runs inside the agent's sandbox"):
        return _main(config_dir, argv)


def _main(config_dir: str | Path, argv: Sequence[str] | None) -> int:
    config = load_config(Path(config_dir))
    task = config.task
    args = build_parser(task).parse_args(argv)
    try:
        task = _with_grader(task, args)
    except (GraderUnavailable, ValueError) as exc:
        print(f"error: {exc}\nHere: --grader-model, --grader-base-url and --grader-api-key-env choose the grader "
              "(see --help).", file=sys.stderr)
        return 2
    try:
        remote = _remote_task(task)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backend = auto_backend() if args.backend == "auto" else args.backend
    log_dir = Path(args.log_dir).absolute()
    started = time.monotonic()
    try:
        server = start_server(
            args.model_path, config.template, backend,
            log_file=log_dir / "server.log", tool_parser=config.tool_parser,
        )
    except (CheckpointError, BackendUnavailable, FileNotFoundError, ServerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    private_logs = Path(tempfile.mkdtemp(prefix="ptb-eval-"))  # inspect's log: it holds the targets
    try:
        print(f"serving {args.model_path} with {backend} ({time.monotonic() - started:.1f}s); evaluating...", flush=True)
        result = run_inspect_task(
            task, server.base_url, server.model_name, limit=args.limit, max_tokens=args.max_tokens,
            max_connections=args.max_connections, log_dir=private_logs,
            stop_token_ids=stop_token_ids(args.model_path, config.template), inspect_task=remote,
        )
        scores_file = write_item_scores(result.log_file, log_dir, task.name, result.metric, result.score)
    except EvalFailed as exc:
        print(f"error: evaluation failed: {exc}\nserver log: {server.log_file}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        shutil.rmtree(private_logs, ignore_errors=True)
    seconds = time.monotonic() - started
    print(f"{task.name}: {result.metric} = {result.score:.4f} on {result.samples} samples ({seconds:.0f}s)")
    print(f"per-item scores (no answers): {scores_file}")
    if args.json_output_file:
        write_json_atomic(args.json_output_file, {
            "task": task.name, "metric": result.metric, "score": result.score,
            result.metric: result.score, "samples": result.samples, "limit": args.limit,
            "max_tokens": args.max_tokens, "model_path": str(Path(args.model_path).absolute()),
            "log_file": str(scores_file), "backend": backend, "seconds": round(seconds, 1),
        })
    return 0


def _remote_task(task: TaskSpec) -> Any:
    """The task graded by the run's grading service (an inspect Task), when the harness started
    one for this run; else None (the task's own test split: public data, or a secret one where it
    is readable, on the host). A secret split that is not readable here fails now, before a
    server is started."""
    socket_path = os.environ.get(SOCKET_ENV)
    if not socket_path:
        from ptb.plugins import load_task_module
        from ptb.tasks.heldout import HeldoutUnavailable

        heldout = getattr(load_task_module(task), "heldout_items", None)
        if callable(heldout):
            try:
                heldout()
            except HeldoutUnavailable as exc:
                raise GradingError(f"{exc} (no grading service: {SOCKET_ENV} is not set)") from exc
        return None
    from ptb.grading.remote_task import remote_task

    client = GradingClient(socket_path)
    served = client.task()
    if served != task.name:
        raise GradingError(f"the grading service grades '{served}', not '{task.name}' ({SOCKET_ENV}={socket_path})")
    return remote_task(client)


def write_item_scores(eval_log: str, log_dir: Path, task_name: str, metric: str, score: float) -> Path:
    """Per sample of inspect's log: its id and its score value (e.g. "C" / "I"); nothing else
    of the log (targets, metadata, explanations, the model's replies) leaves it."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(eval_log)
    items = []
    for sample in log.samples or []:
        values = [s.value for s in (sample.scores or {}).values()]
        items.append({"id": sample.id, "epoch": sample.epoch, "score": values[0] if values else None})
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = log_dir / f"{stamp}_{os.getpid()}_{task_name}_scores.json"
    write_json_atomic(path, {"task": task_name, "metric": metric, "score": score, "items": items})
    return path
