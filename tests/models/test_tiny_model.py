"""ptb.models: resolving base models, and the tiny model ptb builds itself."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from ptb.models import MANIFEST, model_builder, resolve_base_model, tiny
from ptb.paths import TEMPLATES_DIR
from ptb.records import ModelSpec


def test_a_model_with_neither_builder_nor_hf_id_is_rejected_with_the_accepted_builders(tmp_path):
    with pytest.raises(ValueError, match="neither a builder nor an hf_id.*tiny"):
        resolve_base_model(ModelSpec(name="x", template="chatml"), tmp_path)
    with pytest.raises(ValueError, match=r"model.builder='huge' is unknown; accepted: \[.*'tiny'"):
        resolve_base_model(ModelSpec(name="x", template="chatml", builder="huge"), tmp_path)


def test_an_hf_model_missing_from_the_offline_cache_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(name="x", template="chatml", hf_id="ptb-tests/no-such-model-anywhere")
    with pytest.raises(RuntimeError, match="(?s)not in the HF cache.*machine with internet.*python -m ptb.cache"):
        resolve_base_model(spec, tmp_path)


def test_tiny_model_folder_manifest_and_special_tokens(tiny_model_dir: Path, ptb_test_cache: Path):
    assert tiny_model_dir == ptb_test_cache / "models" / f"tiny-{tiny.VERSION}"
    manifest = json.loads((tiny_model_dir / MANIFEST).read_text())
    assert manifest["version"] == tiny.VERSION and manifest["steps"] == tiny.STEPS
    assert 500_000 <= manifest["params"] <= 3_000_000
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    assert manifest["weights_sha256"] == hashlib.sha256(weights).hexdigest()

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.model_type == "llama" and config.max_position_embeddings == 4096
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert 500 <= len(tokenizer) <= 1000
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in tiny.SPECIAL_TOKENS}
    for token, token_id in ids.items():  # each marker is one token, not spelled out in bytes
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [token_id]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    generation = GenerationConfig.from_pretrained(tiny_model_dir)
    assert set(generation.eos_token_id) == {ids["<|im_end|>"], ids["<|endoftext|>"]}


def test_chatml_template_renders_turns_and_generation_prompt(tiny_model_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = (TEMPLATES_DIR / "chatml.jinja").read_text()
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "2 + 3 = 5. The answer is 5."},
        {"role": "user", "content": "And 4 + 4?"},
    ]
    text = tokenizer.apply_chat_template(messages, chat_template=template, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n2 + 3 = 5. The answer is 5.<|im_end|>\n"
        "<|im_start|>user\nAnd 4 + 4?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    closed = tokenizer.apply_chat_template(messages[:3], chat_template=template, tokenize=False)
    assert closed.endswith("The answer is 5.<|im_end|>\n")
    # the rendered markers tokenise to the special ids, and decoding gives the text back
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 5
    assert tokenizer.decode(ids) == text


def test_pretraining_corpus_is_seeded_and_never_shows_the_chat_format():
    first, again = tiny.corpus(documents=500), tiny.corpus(documents=500)
    assert first == again
    text = "\n".join(tiny.corpus())
    for marker in ("<|im_start|>", "<|im_end|>", "assistant", "The answer is"):
        assert marker not in text
    assert " + " in text and " * " in text and "How many" in text


def test_two_builds_give_identical_weights(tmp_path):
    first = tiny.build(tmp_path / "a", steps=3)
    second = tiny.build(tmp_path / "b", steps=3)
    assert first["weights_sha256"] == second["weights_sha256"]
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert first["steps"] == 3 and first["params"] == second["params"]


FAKE = ModelSpec(name="fake", template="chatml", builder="fake")


@pytest.fixture
def fake_build():
    """Registers the builder ``fake`` (the real decorator) for this test; ``fake_build(fn)``
    chooses what it does."""
    behaviour = {}
    model_builder("fake", version="vtest")(lambda out: behaviour["fn"](out))

    def use(fn) -> None:
        behaviour["fn"] = fn

    return use


def _slow_builder(out: Path) -> None:
    with open(out.parent.parent / "builds.log", "a") as log:
        log.write("built\n")
    time.sleep(0.5)  # long enough that the other processes queue on the lock
    (out / MANIFEST).write_text("{}")


def _resolve_in_child(cache: str, queue) -> None:
    queue.put(str(resolve_base_model(FAKE, cache)))


def test_concurrent_processes_build_once_and_share_the_folder(tmp_path, fake_build):
    fake_build(_slow_builder)
    context = multiprocessing.get_context("fork")  # the children inherit the fake builder
    queue = context.Queue()
    children = [context.Process(target=_resolve_in_child, args=(str(tmp_path), queue)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    paths = {queue.get(timeout=5) for _ in children}
    assert paths == {str(tmp_path / "models" / "fake-vtest")}
    assert (tmp_path / "builds.log").read_text() == "built\n"
    assert not [p for p in (tmp_path / "models").iterdir() if ".build-" in p.name]  # no leftovers
    # a later call finds it built and does not build again
    resolve_base_model(FAKE, tmp_path)
    assert (tmp_path / "builds.log").read_text() == "built\n"


def test_a_failed_build_leaves_nothing_and_the_next_call_builds(tmp_path, fake_build):
    def broken(out: Path) -> None:
        (out / "half.bin").write_text("x")
        raise RuntimeError("disk full")

    fake_build(broken)
    spec = FAKE
    with pytest.raises(RuntimeError, match="disk full"):
        resolve_base_model(spec, tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".fake-vtest.lock"]
    fake_build(lambda out: (out / MANIFEST).write_text("{}"))
    assert (resolve_base_model(spec, tmp_path) / MANIFEST).is_file()


def test_cache_dir_with_tilde_is_expanded(tmp_path, monkeypatch, fake_build):
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_build(lambda out: (out / MANIFEST).write_text("{}"))
    folder = resolve_base_model(FAKE, "~/cache")
    assert folder == tmp_path / "cache" / "models" / "fake-vtest"


def test_base_model_knows_arithmetic_prose_but_not_the_chat_format(tiny_model_dir, arith_greedy_accuracy):
    # Through the harness ChatML template the untrained base model rarely gives a scorable answer.
    assert arith_greedy_accuracy(tiny_model_dir, limit=100) < 0.2
