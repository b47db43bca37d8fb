"""The embedded base model: a tiny Llama that ptb builds itself, deterministically, on CPU.

It plays the part of a *base* model: a short raw-text "pre-training" on generated stories and
equations about small-number arithmetic teaches it the domain (words, numbers, sums), but it
never sees a chat marker, so it cannot follow the ChatML format until someone post-trains it.

    python -m ptb.models.tiny /tmp/tiny          # build into a folder (about 80 s on one core)

Most callers want `ptb.models.resolve_base_model`, which builds into the shared cache once.
Everything (corpus, tokenizer, initial weights, batches) comes from `SEED`, and torch runs on a
fixed number of threads, so two builds on one machine give byte-identical weights; the manifest
``ptb_model.json`` records their sha256.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ptb.io import FILE_MODE, write_json_atomic
from ptb.models import MANIFEST, model_builder

VERSION = "v2"  # bump whenever anything below changes what gets built
SEED = 1234
# One thread, always: float sums (and so the weights) may differ with the thread count, and a
# multi-threaded torch slows down several times over when other processes share the cores.
THREADS = 1

logger = logging.getLogger(__name__)

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
VOCAB_SIZE = 768

# Model shape: about 0.9M parameters. The context (RoPE, no learned positions) is far longer than
# the training sequences so that every real task's prompt (10-shot gsm8k, bfcl's tool schemas,
# multi-turn healthbench) fits in the smoke tests; v2 changed only this from v1's 256.
HIDDEN, LAYERS, HEADS, FFN, MAX_POSITIONS = 128, 4, 4, 384, 4096

# Pre-training: a fixed step count (about 0.5M tokens), so the result never depends on how fast
# the machine is. Small batches learn more per token than large ones at this budget.
STEPS, BATCH, SEQ_LEN, LR, WARMUP = 500, 8, 128, 3e-3, 30
DOCUMENTS = 30000
FACT_SHARE = 0.3  # share of documents that are plain equation lists

# --------------------------------------------------------------------------- corpus

NAMES = (
    "Mia", "Leo", "Ava", "Sam", "Zoe", "Max", "Lily", "Ben", "Emma", "Noah", "Ella", "Jack",
    "Ruby", "Owen", "Nora", "Finn", "Ivy", "Luke", "Rosa", "Theo", "Anna", "Omar", "Lena", "Hugo",
    "Maya", "Eli", "Iris", "Adam", "Cleo", "Paul", "Tom", "Kate",
)  # fmt: skip
OBJECTS = (
    "apples", "pears", "books", "cards", "shells", "stickers", "marbles", "pencils", "cookies",
    "stamps", "coins", "toys", "plums", "buttons", "balloons", "candles", "rocks", "crayons",
    "beads", "eggs", "flowers", "cups",
)  # fmt: skip
CONTAINERS = ("boxes", "bags", "jars", "baskets", "cups", "bowls")


def _fact(rng: random.Random) -> str:
    # Equations with small numbers: the arithmetic the stories (and the task) rely on.
    lines = []
    for _ in range(rng.randint(3, 6)):
        op = rng.choice("+-*")
        if op == "+":
            x, y = rng.randint(0, 12), rng.randint(0, 12)
            lines.append(f"{x} + {y} = {x + y}.")
        elif op == "-":
            x = rng.randint(1, 25)
            y = rng.randint(0, x)
            lines.append(f"{x} - {y} = {x - y}.")
        else:
            x, y = rng.randint(1, 6), rng.randint(1, 6)
            lines.append(f"{x} * {y} = {x * y}.")
    return " ".join(lines)


GAINED = ("got", "bought", "found", "picked up", "won")
GAVE = ("gave", "sent", "handed")


def _story(rng: random.Random) -> str:
    # Past-tense stories with the reasoning written out: the shapes of grade-school problems,
    # told as prose (no chat turns, no fixed answer phrase).
    a, b = rng.sample(NAMES, 2)
    o, c = rng.choice(OBJECTS), rng.choice(CONTAINERS)
    got, gave = rng.choice(GAINED), rng.choice(GAVE)
    kind = rng.randrange(9)
    if kind == 0:
        x, y = rng.randint(1, 12), rng.randint(1, 12)
        return (f"{a} had {x} {o}. {a} {got} {y} more {o}. How many {o} did {a} have then? "
                f"{x} + {y} = {x + y}, so {a} had {x + y} {o}.")
    if kind == 1:
        x = rng.randint(2, 25)
        y = rng.randint(1, x - 1)
        return (f"{a} had {x} {o}. {a} {gave} {y} {o} to {b}. How many {o} did {a} have left? "
                f"{x} - {y} = {x - y}, so {a} had {x - y} {o} left.")
    if kind == 2:
        x, y = rng.randint(1, 12), rng.randint(1, 12)
        return (f"{a} had {x} {o} and {b} had {y} {o}. How many {o} did they have together? "
                f"{x} + {y} = {x + y}. Together they had {x + y} {o}.")
    if kind == 3:
        x, y = rng.randint(2, 5), rng.randint(2, 5)
        return (f"{a} had {x} {c} with {y} {o} in each. How many {o} did {a} have? "
                f"{x} * {y} = {x * y}, so there were {x * y} {o}.")
    if kind == 4:
        x = rng.randint(3, 25)
        y = rng.randint(1, x - 1)
        return (f"{a} had {x} {o}. {b} had {y} fewer {o} than {a}. How many {o} did {b} have? "
                f"{x} - {y} = {x - y}, so {b} had {x - y} {o}.")
    if kind == 5:
        x, y = rng.randint(1, 12), rng.randint(1, 12)
        s = x + y
        z = rng.randint(1, s - 1)
        return (f"{a} had {x} {o}. {a} {got} {y} more {o} and then {gave} {z} {o} to {b}. "
                f"How many {o} did {a} have in the end? {x} + {y} = {s}. {s} - {z} = {s - z}. "
                f"So {a} had {s - z} {o}.")
    if kind == 6:
        x, y = rng.randint(2, 5), rng.randint(2, 5)
        s = x * y
        z = rng.randint(1, s - 1)
        return (f"{a} had {x} {c} with {y} {o} in each. {a} {gave} {z} {o} to {b}. "
                f"How many {o} did {a} have left? {x} * {y} = {s}. {s} - {z} = {s - z}. "
                f"So {a} had {s - z} {o} left.")
    if kind == 7:
        x, y = rng.randint(1, 9), rng.randint(1, 9)
        s = x + y
        return (f"{a} had {x} {o}. {b} had {y} more {o} than {a}. How many {o} did {a} and {b} "
                f"have together? {x} + {y} = {s}. {x} + {s} = {x + s}. Together they had {x + s} {o}.")
    # A classroom scene: the words of instructions and replies, in plain prose.
    x, y = rng.randint(2, 5), rng.randint(2, 5)
    return (
        f'"Think step by step, then end your reply with the number," the teacher told the class. '
        f"{b} had {x} {c} with {y} {o} in each, so {b} wrote {x} * {y} = {x * y} and gave {x * y} as the answer."
    )


def corpus(documents: int | None = None, seed: int = SEED) -> list[str]:
    """The raw pre-training text: stories and equation lists, no chat markers anywhere."""
    rng = random.Random(seed)
    count = DOCUMENTS if documents is None else documents
    return [_fact(rng) if rng.random() < FACT_SHARE else _story(rng) for _ in range(count)]


# --------------------------------------------------------------------------- build


def train_tokenizer(texts: list[str]):
    """A byte-level BPE tokenizer on the corpus, with the ChatML markers as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # eos is <|im_end|>: a chat-formatted reply ends with it, so generation stops there.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )


def _lr(step: int, steps: int) -> float:
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(1, steps - WARMUP)
    return LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@model_builder("tiny", version=VERSION)
def build(out_dir: str | Path, steps: int = STEPS, log: Callable[[str], None] = logger.info) -> dict:
    """Build the tiny model into `out_dir` (created; must not hold another model).

    Returns the manifest, also written to ``<out_dir>/ptb_model.json``. `steps` below the
    default gives a smaller, still deterministic build (for tests).
    """
    import torch

    started = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.random.fork_rng(devices=[]):  # seeding here leaves the caller's RNG alone
            model, tokenizer, loss_value = _pretrain(steps, log)
    finally:
        torch.set_num_threads(threads_before)  # the caller's process keeps its own setting

    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    for saved in out.iterdir():  # a shared cache: the agent (another uid) must read the weights
        saved.chmod(FILE_MODE)
    weights = out / "model.safetensors"
    manifest = {
        "name": "tiny",
        "version": VERSION,
        "seed": SEED,
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "steps": steps,
        "tokens_seen": steps * BATCH * SEQ_LEN,
        "final_loss": round(loss_value, 4),
        "threads": THREADS,
        "seconds": round(time.time() - started, 2),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    write_json_atomic(out / MANIFEST, manifest)
    log(f"tiny model built in {manifest['seconds']:.0f}s: {out}")
    return manifest


def _pretrain(steps: int, log: Callable[[str], None]):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    texts = corpus()
    tokenizer = train_tokenizer(texts)
    eot = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    im_end = tokenizer.convert_tokens_to_ids(IM_END)

    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(eot)
    data = torch.tensor(stream, dtype=torch.long)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=[im_end, eot],
        pad_token_id=eot,
    )
    model = LlamaForCausalLM(config)

    batches = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
    model.train()
    loss_value = float("nan")
    for step in range(steps):
        starts = torch.randint(0, len(data) - SEQ_LEN - 1, (BATCH,), generator=batches)
        batch = torch.stack([data[s : s + SEQ_LEN] for s in starts.tolist()])
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, steps)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = loss.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"tiny pretrain step {step + 1}/{steps} loss {loss_value:.4f}")

    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[im_end, eot], pad_token_id=eot, bos_token_id=None, do_sample=False
    )
    return model, tokenizer, loss_value


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ptb.models.tiny OUT_DIR")
    print(build(sys.argv[1], log=print))
