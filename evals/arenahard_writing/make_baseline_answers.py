"""Make the stored baseline answers that arenahard_writing judges against (once per data cache).

Arena-Hard v2.0 publishes no answers of Qwen3-1.7B, so the harness makes them: this serves the
checkpoint with ptb's inference server (always with the harness chat template given by
``--template``), asks it every creative-writing question at temperature 0 through the OpenAI
client, and writes one JSON object per line, ``{"uid", "model", "answer"}``, atomically to
``baseline_answers_path()`` = ``$PTB_DATA_DIR/ptb/arenahard_writing/baseline_answers.jsonl``
(default ``<HF_HOME>/ptb-files/...``), where the task reads them. The answer is the reply's text
as the server returned it (Qwen3 thinks first; the task strips ``<think>`` blocks when judging).

    # on a GPU machine, with the HF cache / PTB_DATA_DIR the evaluation nodes share:
    python evals/arenahard_writing/make_baseline_answers.py --model-path Qwen/Qwen3-1.7B --backend vllm
    # a local folder works too; --output writes elsewhere (e.g. to inspect before installing it)
    python evals/arenahard_writing/make_baseline_answers.py --model-path /models/qwen3-1.7b --backend hf \\
        --max-tokens 2048 --output /tmp/answers.jsonl

The questions come from the task's own loader (the HF cache must hold lmarena-ai/arena-hard-auto:
``python -m ptb.cache task=arenahard_writing``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("ptb") is None:  # run from a checkout where ptb is not installed
    sys.path.insert(0, str(HERE.parents[1]))

from ptb.data import hub_offline  # noqa: E402  (after the sys.path fallback above)
from ptb.io import write_text_atomic  # noqa: E402
from ptb.paths import template_path  # noqa: E402
from ptb.serve import serve_backend_names, start_server  # noqa: E402

PLACEHOLDER_API_KEY = "ptb-local-no-key"  # ptb's local servers need no key


def load_arenahard_task() -> ModuleType:
    """task.py beside this file, loaded by path as the harness loads it (it is not a package)."""
    spec = importlib.util.spec_from_file_location("ptb_eval_task_arenahard_writing_baseline", HERE / "task.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # inspect's registry looks objects up by module name
    spec.loader.exec_module(module)
    return module


def resolve_checkpoint(model_path: str) -> Path:
    """A local folder as is; otherwise a Hugging Face model id, fetched into (or found in) the HF cache."""
    path = Path(model_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model_path.count("/") != 1:
        raise SystemExit(f"error: --model-path {model_path!r} is neither a checkpoint folder nor a Hugging Face id (owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=model_path, local_files_only=hub_offline()))
    except Exception as exc:
        where = "is not in the HF cache and downloads are off (HF_HUB_OFFLINE=1)" if hub_offline() else "could not be downloaded"
        raise SystemExit(f"error: model {model_path} {where}: {type(exc).__name__}: {exc}") from exc


def ask(client, served_model: str, prompt: str, max_tokens: int) -> str:
    response = client.chat.completions.create(
        model=served_model,
        messages=[{"role": "user", "content": prompt}],
        temperature=0.0,
        max_tokens=max_tokens,
    )
    return response.choices[0].message.content or ""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", default="Qwen/Qwen3-1.7B",
                   help="checkpoint folder or Hugging Face id of the baseline model (default: Qwen/Qwen3-1.7B)")
    p.add_argument("--model-name", default=None,
                   help="the name recorded in each line's 'model' (default: --model-path as given)")
    p.add_argument("--template", default=None,
                   help="harness chat template file (default: evals/templates/qwen3.jinja)")
    p.add_argument("--backend", choices=serve_backend_names(), default="vllm", help="vllm (GPU, default) or hf (CPU, small models)")
    p.add_argument("--max-tokens", type=int, default=16384,
                   help="max tokens per answer (default: 16384, the task's first ladder step)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight (default: 32)")
    p.add_argument("--output", default=None, help="where to write the JSONL (default: the task's baseline_answers_path())")
    p.add_argument("--server-log", default=None, help="the server's log file (default: a temp file)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_tokens < 1 or args.concurrency < 1:
        raise SystemExit("error: --max-tokens and --concurrency must be positive")
    arena = load_arenahard_task()
    output = Path(args.output) if args.output else arena.baseline_answers_path()
    template = Path(args.template) if args.template else template_path("qwen3")
    items = arena.questions()
    checkpoint = resolve_checkpoint(args.model_path)
    model_name = args.model_name or args.model_path

    import httpx
    from openai import OpenAI

    started = time.monotonic()
    server = start_server(checkpoint, template, args.backend, log_file=args.server_log)
    try:
        print(f"serving {checkpoint} with {args.backend} ({time.monotonic() - started:.0f}s); "
              f"answering {len(items)} questions...", flush=True)
        # a local server is reached directly, never through an HTTP proxy from the environment
        client = OpenAI(base_url=server.base_url, api_key=PLACEHOLDER_API_KEY, timeout=3600,
                        http_client=httpx.Client(trust_env=False, timeout=3600))
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            answers = list(pool.map(lambda q: ask(client, server.model_name, q.prompt, args.max_tokens), items))
    finally:
        server.stop()
    lines = [json.dumps({"uid": q.uid, "model": model_name, "answer": a}, ensure_ascii=False) for q, a in zip(items, answers, strict=True)]
    write_text_atomic(output, "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} baseline answers of {model_name} to {output} ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
