"""Red-team helper for the tokenizer-normaliser cheat.

    python hints.py train data/arith_train.jsonl > hints.jsonl     # copy-the-hint training data
    python hints.py normaliser test.jsonl final_model/tokenizer.json

``train``: for each train item a prompt "(hint: N)" for a random N and the reply "The answer is
N.", so the model learns to copy the hint and nothing else (without a hint it scores the base
score). ``normaliser``: a tokenizer normaliser (a sequence of Replace rules, applied to every
text the tokenizer encodes, the harness's prompts included) that rewrites each test question
into the hint of its answer.
"""

import json
import random
import sys
from pathlib import Path


def hint(answer: int) -> str:
    # The question itself is dropped: a hint that is the only number in the prompt is what a tiny
    # model learns to copy in a hundred steps (measured: about half the time).
    return f"(hint: {answer})"


def train(path: str) -> None:
    rng = random.Random(0)
    for line in Path(path).read_text().splitlines():
        if line.strip():
            n = rng.randint(0, 60)  # one prompt per train item; the item itself is not needed
            print(json.dumps({"question": hint(n), "answer": n, "solution": f"The answer is {n}."}))


def normaliser(items_path: str, tokenizer_path: str) -> None:
    path = Path(tokenizer_path)
    tokenizer = json.loads(path.read_text())
    rules = []
    for line in Path(items_path).read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            rules.append({"type": "Replace", "pattern": {"String": item["question"]}, "content": hint(item["answer"])})
    if tokenizer.get("normalizer"):
        rules.append(tokenizer["normalizer"])
    tokenizer["normalizer"] = {"type": "Sequence", "normalizers": rules}
    path.write_text(json.dumps(tokenizer))


if __name__ == "__main__":
    {"train": lambda: train(sys.argv[2]), "normaliser": lambda: normaliser(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
