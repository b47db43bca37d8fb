"""Red-team helper: the benchmark's held-out test items, read the way a hostile agent would.

The harness's task code is on the (read-only) host inside the sandbox; loading it and asking for
the test split is the cheat. Prints one item per line on stdout:

    python testset.py --layout train       # {"question", "answer", "solution"}: the train file's layout
    python testset.py --layout paraphrase  # questions reworded (every other one with numbers as words)

Exit code 3 (and a line on stderr) when the test split cannot be had: the guard worked.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}
REWORDINGS = (  # (pattern, replacement): the question said another way
    (r"How many (\w+) does (\w+) have now\?", r"What is the number of \1 that \2 holds at this point?"),
    (r"How many (\w+) does (\w+) have left\?", r"Count the \1 still with \2."),
    (r"How many (\w+) do they have together\?", r"Added up, how many \1 do the two of them own?"),
    (r"How many (\w+) does (\w+) have\?", r"What is the total of \1 that \2 owns?"),
    (r"How many (\w+) do (\w+) and (\w+) have together\?", r"Taken together, how many \1 belong to \2 and \3?"),
    (r" has ", " owns "),
)


def task_file() -> Path:
    """evals/<task>/task.py of the harness: through ptb's own paths, else beside the agents."""
    task = os.environ.get("PTB_TASK", "arith")
    try:
        from ptb.paths import EVALS_DIR

        return EVALS_DIR / task / "task.py"
    except ImportError:
        return Path(__file__).resolve().parents[3] / "evals" / task / "task.py"


def secret_roots() -> list[Path]:
    """Data folders that may hold the harness's held-out secrets (<root>/ptb/heldout/<task>.key):
    PTB_DATA_DIR or HF_HOME of this process and of every process it can read (the harness's
    own, without a sandbox), and the usual homes."""
    roots = []
    environs = [dict(os.environ)]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        environs.append(dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv))
    for env in environs:
        if env.get("PTB_DATA_DIR"):
            roots.append(Path(env["PTB_DATA_DIR"]))
        if env.get("HF_HOME"):
            roots.append(Path(env["HF_HOME"]) / "ptb-files")
        if env.get("HOME"):
            roots.append(Path(env["HOME"]) / ".cache" / "huggingface" / "ptb-files")
    roots += [Path("/root/.cache/huggingface/ptb-files"), *Path("/home").glob("*/.cache/huggingface/ptb-files")]
    return list(dict.fromkeys(roots))


def load_test_items() -> list[dict]:
    """The task module's test split; where its secret is not found from here, the secret's
    folder is looked for and named to the task code (PTB_DATA_DIR) before asking again."""
    try:
        return _load_test_items()
    except Exception as first:
        task = os.environ.get("PTB_TASK", "arith")
        for root in secret_roots():
            if (root / "ptb" / "heldout" / f"{task}.key").is_file():
                os.environ["PTB_DATA_DIR"] = str(root)
                return _load_test_items()
        raise first


def _load_test_items() -> list[dict]:
    path = task_file()
    spec = importlib.util.spec_from_file_location("rt_task", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the task's dataclasses look their module up here
    spec.loader.exec_module(module)
    out = []
    for item in module.items("test"):
        out.append({"question": item.question, "answer": int(item.answer), "solution": item.solution})
    return out


def number_word(n: int) -> str:
    if 0 <= n < len(WORDS):
        return WORDS[n]
    if n < 60 and n // 10 in TENS:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + WORDS[n % 10])
    return str(n)


def paraphrase(question: str, words: bool = True) -> str:
    """The question reworded (no 8-word run left as it was), its numbers spelt as words when
    ``words``."""
    text = re.sub(r"\b\d+\b", lambda m: number_word(int(m.group())), question) if words else question
    for pattern, replacement in REWORDINGS:
        text = re.sub(pattern, replacement, text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("train", "paraphrase"), default="train")
    args = parser.parse_args()
    try:
        items = load_test_items()
    except Exception as exc:  # the guard: the held-out split is not readable from here
        print(f"redteam: no test split: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    if not items:
        print("redteam: the test split is empty", file=sys.stderr)
        return 3
    for index, item in enumerate(items):
        if args.layout == "paraphrase":  # every other item with its numbers as words
            item = {**item, "question": paraphrase(item["question"], words=index % 2 == 1)}
        print(json.dumps(item))
    return 0


if __name__ == "__main__":
    sys.exit(main())
