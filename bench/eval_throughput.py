"""Final-evaluation throughput: how long one checkpoint's evaluation takes at several request
concurrencies (the reference ran 1–2 concurrent requests, which made evaluation slow).

    .venv/bin/python bench/eval_throughput.py                 # tiny model, arith test split
    .venv/bin/python bench/eval_throughput.py --quick         # 40 samples, for CI-sized runs
    .venv/bin/python bench/eval_throughput.py --model-path final_model --connections 1,8,32

Prints one line per concurrency: samples, wall seconds, samples/s, score. Scores must agree
across concurrencies (greedy decoding); the script exits 1 when they do not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ptb.evaluation import run_inspect_task  # noqa: E402
from ptb.models import resolve_base_model  # noqa: E402
from ptb.paths import EVALS_DIR, template_path  # noqa: E402
from ptb.records import LadderStep, ModelSpec, TaskSpec  # noqa: E402
from ptb.serve.launch import start_server  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", help="checkpoint to serve (default: the tiny base model)")
    parser.add_argument("--cache-dir", default=os.environ.get("PTB_CACHE_DIR", "~/.cache/ptb"))
    parser.add_argument("--connections", default="1,4,16", help="comma list of max_connections")
    parser.add_argument("--limit", type=int, default=None, help="samples (default: the whole test split)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--quick", action="store_true", help="40 samples, concurrencies 1 and 16")
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.connections = 40, "1,16"

    model = ModelSpec(name="tiny", template="chatml", builder="tiny")
    model_path = Path(args.model_path) if args.model_path else resolve_base_model(model, args.cache_dir)
    task = TaskSpec(
        name="arith", benchmark="arith", weight=1.0, eval_dir=str(EVALS_DIR / "arith"),
        ladder=(LadderStep(args.max_tokens, 1),),
    )
    scores = []
    with tempfile.TemporaryDirectory() as logs:
        started = time.perf_counter()
        with start_server(model_path, template_path(model.template), backend="hf") as server:
            print(f"server start: {time.perf_counter() - started:.1f} s ({model_path})")
            for connections in [int(c) for c in args.connections.split(",")]:
                t0 = time.perf_counter()
                result = run_inspect_task(
                    task, server.base_url, server.model_name, limit=args.limit, max_tokens=args.max_tokens,
                    max_connections=connections, log_dir=Path(logs) / str(connections),
                )
                wall = time.perf_counter() - t0
                scores.append(result.score)
                print(
                    f"max_connections={connections:>3}: {result.samples} samples in {wall:6.1f} s "
                    f"= {result.samples / wall:5.2f} samples/s, score {result.score:.3f}"
                )
    if len(set(scores)) > 1:
        print(f"scores differ across concurrencies: {scores}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
