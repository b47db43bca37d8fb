"""The served copy of a run's checkpoint: what the final evaluation loads and the judge reads.

    served = ensure_served_model(run_dir, base_model)    # ServedModel (served_model.json)
    if served.usable: serve served_model_dir(run_dir)     # else: checkpoint unusable, served.reason

Built once, normally by collect (later callers read ``served_model.json`` back), into
``<run>/served_model/``, holding only:

- the weights `ptb.serve.checkpoint.resolve_weights` accepts in final_model (``model.safetensors``,
  or the index and its shards), hard-linked (copied across file systems), and final_model's
  ``config.json`` as it is (refused there when it asks for code or other files);
- ``generation_config.json`` reduced to its token ids (eos, bos, pad, decoder start), written even
  when final_model has none: vLLM takes a checkpoint's sampling defaults (temperature, top_k,
  repetition_penalty, ...; from config.json when there is no generation config) as the defaults
  of every request, and those are the harness's to set, not the agent's;
- the **base model's** tokenizer files, never the checkpoint's. A checkpoint must not change how
  the harness's prompts are tokenised (a normaliser that rewrites a question into its answer, a
  pre-tokeniser that splits it differently); comparing tokenizers can only flag what it knows
  to look for, so the evaluation does not use the agent's tokenizer at all, and the
  ``tokenizer_unchanged`` check flags one that differs (both: neutralised and flagged). What an
  honest fine-tune loses is nothing: training keeps the base vocabulary (a resized one fails
  ``model_identity``'s vocab_size), and special tokens it added are decoded as specials either
  way. The checkpoint's own chat template (tokenizer_config.json, chat_template.jinja) is never
  copied: the harness template is forced anyway (SPEC §1);
- Gemma-3's processor files from the base model (vLLM refuses the family without them).

A refused layout is recorded too (usable false, with the reason): the run is then *checkpoint
unusable*, evaluated to no score (so it scores the base model), and the judge says why. Every
file's sha256 is recorded, so what was served is on record.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

from ptb.io import read_record, write_record
from ptb.records import ServedFile, ServedModel
from ptb.serve.checkpoint import UnusableCheckpoint, resolve_weights

SERVED_DIR = "served_model"
SERVED_RECORD = "served_model.json"
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "tokenizer.model", "tiktoken.model", "vocab.txt", "spiece.model",
    "sentencepiece.bpe.model",
)  # fmt: skip
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
GENERATION_TOKEN_KEYS = ("eos_token_id", "bos_token_id", "pad_token_id", "decoder_start_token_id")


def served_model_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / SERVED_DIR


def read_served_model(run_dir: str | os.PathLike) -> ServedModel | None:
    path = Path(run_dir) / SERVED_RECORD
    return read_record(path, ServedModel) if path.is_file() else None


def ensure_served_model(run_dir: str | os.PathLike, base_model: str | os.PathLike) -> ServedModel:
    """served_model.json, building served_model/ first when it is not there yet. Safe to call
    from several processes at once (the judge and the evaluation): one builds, the others wait."""
    run = Path(run_dir)
    recorded = read_served_model(run)
    if recorded is not None:
        return recorded
    with open(run / f".{SERVED_DIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = read_served_model(run)
        if recorded is not None:
            return recorded
        served = build_served_model(run / "final_model", served_model_dir(run), Path(base_model))
        write_record(run / SERVED_RECORD, served)  # last: the record says the folder is complete
        return served


def build_served_model(final_model: Path, dest: Path, base_model: Path) -> ServedModel:
    """Write the served copy of ``final_model`` into ``dest`` (replacing it); refused layouts
    leave no folder and return usable false."""
    shutil.rmtree(dest, ignore_errors=True)
    try:
        layout = resolve_weights(final_model)
    except UnusableCheckpoint as exc:
        return ServedModel(usable=False, reason=str(exc))
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files: list[ServedFile] = []
    for name in (*layout.files, *([layout.index] if layout.index else []), "config.json"):
        _link_or_copy(final_model / name, tmp / name)
        files.append(_served_file(tmp / name, "final_model"))
    # Always written: without one, loaders derive a generation config from config.json, sampling
    # fields and all; the token ids come from final_model's generation config, else its config.
    generation = _generation_tokens(final_model / "generation_config.json")
    if generation is None:
        generation = _generation_tokens(final_model / "config.json") or {}
    (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    files.append(_served_file(tmp / "generation_config.json", "final_model"))
    for name in (*TOKENIZER_FILES, *PROCESSOR_FILES):
        source = base_model / name
        if source.is_file():  # the base is the harness's: its HF-cache links are followed
            shutil.copyfile(source, tmp / name)
            files.append(_served_file(tmp / name, "base_model"))
    os.rename(tmp, dest)
    return ServedModel(usable=True, files=tuple(files), ignored=layout.ignored)


def _generation_tokens(path: Path) -> dict | None:
    """The token ids of a generation_config.json, nothing else (None: no usable file)."""
    if path.is_symlink() or not path.is_file():
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError, json.JSONDecodeError):
        config = json.loads(path.read_text())
        if isinstance(config, dict):
            return {key: config[key] for key in GENERATION_TOKEN_KEYS if _token_ids(config.get(key))}
    return None


def _token_ids(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, list) and bool(value) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs no space (a 4B checkpoint is 8 GB); the run folder is written by the
    # harness only, so the linked file cannot change under the served name.
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copyfile(source, target, follow_symlinks=False)


def _served_file(path: Path, source: str) -> ServedFile:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return ServedFile(name=path.name, source=source, bytes=path.stat().st_size, sha256=digest.hexdigest())  # type: ignore[arg-type]
