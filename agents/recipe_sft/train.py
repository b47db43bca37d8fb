"""recipe_sft: a fixed, honest supervised fine-tuning recipe (no LLM in the loop).

It trains the base model on the task's allowed train split only (``data/arith_train.jsonl``),
each item rendered as a two-turn chat with the harness's own template from the workspace, with
the loss on the assistant's reply (and its closing ``<|im_end|>``) alone. Everything is fixed:
the steps, the learning rate, the order of the batches (from ``--seed``), the thread count
(``OMP_NUM_THREADS``), so two runs give the same model. It stops early, and still saves, when
the budget's deadline (``PTB_DEADLINE``) comes near.

    python train.py --base-model $PTB_BASE_MODEL --out final_model     # cwd = the workspace
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

# The user message the evaluation sends is the question, a newline, then this instruction
# (read off the task's evaluate.py / task.py, as any agent would).
INSTRUCTION = 'Think step by step, then end your reply with "The answer is N."'
DEFAULT_TEMPLATE = "templates/chatml.jinja"
SAVE_MARGIN_S = 30.0  # stop training this long before the deadline, to save in time


def log(message: str) -> None:
    print(message, flush=True)


def thread_count() -> int:
    """OMP_NUM_THREADS, else the CPUs of the budget (PTB_CPUS, may be fractional), at least 1."""
    for name in ("OMP_NUM_THREADS", "PTB_CPUS"):
        try:
            return max(1, int(float(os.environ[name])))
        except (KeyError, ValueError):
            continue
    return 1


def template_file(workspace: Path) -> Path:
    """The harness chat template named by ptb_eval.json ("template"), else the ChatML one."""
    name = DEFAULT_TEMPLATE
    config = workspace / "ptb_eval.json"
    if config.is_file():
        name = json.loads(config.read_text()).get("template") or DEFAULT_TEMPLATE
    path = Path(name)
    if path.suffix != ".jinja":  # a family name ("chatml") rather than a file
        path = Path("templates") / f"{name}.jinja"
    path = path if path.is_absolute() else workspace / path
    if not path.is_file():
        sys.exit(f"recipe_sft: chat template {path} not found (named by ptb_eval.json 'template')")
    return path


def load_examples(path: Path, tokenizer, template: str, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per train item; labels are -100 on the prompt."""
    examples = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        user = {"role": "user", "content": f"{item['question']}\n{INSTRUCTION}"}
        prompt = tokenizer.apply_chat_template(
            [user], chat_template=template, add_generation_prompt=True, tokenize=False
        )
        # The prompt is tokenised on its own, exactly as at generation time; the reply is
        # appended as separate tokens, ending with <|im_end|> so the model learns to stop.
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(item["solution"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + reply_ids)[:max_len]
        labels = ([-100] * len(prompt_ids) + reply_ids)[:max_len]
        examples.append((ids, labels))
    return examples


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default=os.environ.get("PTB_BASE_MODEL"))
    parser.add_argument("--data", default="data/arith_train.jsonl")
    parser.add_argument("--out", default="final_model")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="cap (for quick tests)")
    args = parser.parse_args(argv)
    if not args.base_model:
        sys.exit("recipe_sft: no base model (pass --base-model or set PTB_BASE_MODEL)")

    started = time.time()
    workspace = Path.cwd()
    deadline = float(os.environ.get("PTB_DEADLINE", "inf"))
    threads = thread_count()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)

    template = template_file(workspace).read_text()
    tokenizer = AutoTokenizer.from_pretrained(args.base_model)
    model = AutoModelForCausalLM.from_pretrained(args.base_model, dtype=torch.float32)
    max_len = int(getattr(model.config, "max_position_embeddings", 256))
    examples = load_examples(workspace / args.data, tokenizer, template, max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    steps_per_epoch = math.ceil(len(examples) / args.batch_size)
    total = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total = min(total, args.max_steps)
    warmup = max(1, total // 20)
    log(f"recipe_sft: {len(examples)} examples, {total} steps, batch {args.batch_size}, "
        f"lr {args.lr}, {threads} threads, template {template_file(workspace).name}")

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    order = torch.Generator().manual_seed(args.seed)
    model.train()
    step = 0
    stopped_early = False
    while step < total and not stopped_early:
        permutation = torch.randperm(len(examples), generator=order).tolist()
        for start in range(0, len(permutation), args.batch_size):
            if step >= total:
                break
            if time.time() > deadline - SAVE_MARGIN_S:
                log(f"recipe_sft: deadline near, stopping at step {step}/{total}")
                stopped_early = True
                break
            batch = collate([examples[i] for i in permutation[start : start + args.batch_size]], pad_id)
            # Linear warmup, then cosine decay to 10 %.
            progress = max(0.0, (step - warmup) / max(1, total - warmup))
            lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            if step % 25 == 0 or step == total or step == 1:
                log(f"step {step}/{total} loss {loss.item():.4f} lr {lr:.2e} elapsed {time.time() - started:.0f}s")

    # Save next to the target and rename, so final_model is never half written.
    model.eval()
    out = workspace / args.out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"recipe_sft: saved {out} after {step} steps in {time.time() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
