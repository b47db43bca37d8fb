"""ptb.serve.checkpoint: the one rule on which files of a checkpoint folder are its weights.

Every layout on which two loaders (transformers, vLLM) or a loader and the judge could read
different weights is refused; the layouts save_pretrained writes are accepted exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.torch import save_file  # noqa: E402

from ptb.serve.backends import vllm_command  # noqa: E402
from ptb.serve.checkpoint import CheckpointError, UnusableCheckpoint, resolve_weights  # noqa: E402
from ptb.serve.launch import start_server  # noqa: E402

SMALL = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=2, max_position_embeddings=64)


def llama(folder: Path, seed: int, **save_kwargs) -> Path:
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL))
    model.save_pretrained(folder, **save_kwargs)
    return folder


def state(folder: Path) -> dict:
    return transformers.LlamaForCausalLM.from_pretrained(folder).state_dict()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    return {"a": llama(root / "a", 0), "b": llama(root / "b", 1),
            "sharded": llama(root / "sharded", 0, max_shard_size="20KB")}


def copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def test_save_pretrained_layouts_are_accepted_and_trainer_state_is_ignored(checkpoints, tmp_path) -> None:
    single = resolve_weights(checkpoints["a"])
    assert single.files == ("model.safetensors",) and single.index is None and single.load_format == "safetensors"
    sharded = resolve_weights(checkpoints["sharded"])
    assert len(sharded.files) > 1 and sharded.index == "model.safetensors.index.json"
    assert all(name.startswith("model-") for name in sharded.files)

    trainer = copy(checkpoints["a"], tmp_path / "trainer")
    for name in ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (trainer / name).write_bytes(b"state")
    shutil.copytree(checkpoints["b"], trainer / "checkpoint-500")  # Trainer(output_dir=final_model)
    layout = resolve_weights(trainer)
    assert layout.files == ("model.safetensors",)
    assert "checkpoint-500/: a subfolder (no loader reads weights from one)" in layout.ignored
    assert "optimizer.pt: trainer state" in layout.ignored and len(layout.ignored) == 5


def _shards(folder: Path) -> dict:
    return json.loads((folder / "model.safetensors.index.json").read_text())


DECOYS = {
    # name: (how to make the decoy from the single-file checkpoint a / the sharded one, expected reason)
    "pickle beside safetensors": ("a", lambda f, b: torch.save(state(b), f / "pytorch_model.bin"), "several weight formats"),
    "pickle only": ("a", lambda f, b: (torch.save(state(b), f / "pytorch_model.bin"), (f / "model.safetensors").unlink()),
                    "an unsupported weight format"),
    "gguf beside": ("a", lambda f, b: (f / "model.gguf").write_bytes(b"GGUF"), "several weight formats"),
    "second safetensors": ("a", lambda f, b: shutil.copy(b / "model.safetensors", f / "extra.safetensors"),
                           "without model.safetensors.index.json"),
    "renamed single file": ("a", lambda f, b: (f / "model.safetensors").rename(f / "weights.safetensors"),
                            "without model.safetensors.index.json"),
    "index beside model.safetensors": ("sharded", lambda f, b: shutil.copy(b / "model.safetensors", f / "model.safetensors"),
                                       "both model.safetensors and"),
    "unreferenced shard": ("sharded", lambda f, b: shutil.copy(b / "model.safetensors", f / "model-extra.safetensors"),
                           "the index does not reference: model-extra.safetensors"),
    "index pointing elsewhere": ("sharded", lambda f, b: (f / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: "../b/model.safetensors" for k in _shards(f)["weight_map"]}})), "not shards in the folder"),
    "shard holding another shard's tensor": ("sharded", lambda f, b: _move_one_tensor(f), "does not hold exactly"),
    "pytorch index": ("a", lambda f, b: (f / "pytorch_model.bin.index.json").write_text("{}"), "the only weights index"),
    "auto_map": ("a", lambda f, b: _config(f, auto_map={"AutoModelForCausalLM": "modeling.MyModel"}), "auto_map"),
    "nested auto_map": ("a", lambda f, b: _config(f, text_config={"auto_map": {"AutoModel": "x.Y"}}), "text_config.auto_map"),
    "transformers_weights": ("a", lambda f, b: _config(f, transformers_weights="model.safetensors"), "transformers_weights"),
    "quantization": ("a", lambda f, b: _config(f, quantization_config={"quant_method": "bitsandbytes"}), "quantization_config"),
    "peft adapter": ("a", lambda f, b: (f / "adapter_config.json").write_text('{"base_model_name_or_path": "org/x"}'), "PEFT adapter"),
    "symlinked weights": ("a", lambda f, b: ((f / "model.safetensors").unlink(), os.symlink(b / "model.safetensors", f / "model.safetensors")),
                          "symbolic links"),
    "no config": ("a", lambda f, b: (f / "config.json").unlink(), "config.json is missing"),
}


def _config(folder: Path, **keys) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **keys}))


def _move_one_tensor(folder: Path) -> None:
    """The index says tensor X is in shard 2, but shard 1 holds a copy too (judge and loaders
    that read shards differently would disagree on X)."""
    from safetensors import safe_open

    weight_map = _shards(folder)["weight_map"]
    first, second = sorted(set(weight_map.values()))[:2]
    moved = next(name for name, shard in weight_map.items() if shard == second)
    with safe_open(str(folder / first), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    with safe_open(str(folder / second), "pt") as f:
        tensors[moved] = f.get_tensor(moved) + 1
    save_file(tensors, str(folder / first), metadata={"format": "pt"})


@pytest.mark.parametrize("decoy", sorted(DECOYS))
def test_decoy_layouts_are_refused_with_the_reason(decoy, checkpoints, tmp_path) -> None:
    source, make, reason = DECOYS[decoy]
    folder = copy(checkpoints[source], tmp_path / "final_model")
    make(folder, checkpoints["b"])
    with pytest.raises(UnusableCheckpoint, match=reason):
        resolve_weights(folder)


def test_a_linked_folder_is_refused_unless_trusted(checkpoints, tmp_path) -> None:
    link = tmp_path / "final_model"
    link.symlink_to(checkpoints["a"])
    with pytest.raises(UnusableCheckpoint, match="is a symbolic link"):
        resolve_weights(link)
    assert resolve_weights(link, follow_links=True).files == ("model.safetensors",)  # the HF cache


def test_the_decoys_are_real_transformers_would_load_other_weights(checkpoints, tmp_path) -> None:
    """What the refusals prevent: with these layouts transformers does not load model.safetensors."""
    folder = copy(checkpoints["a"], tmp_path / "named")
    shutil.copy(checkpoints["b"] / "model.safetensors", folder / "decoy.safetensors")
    _config(folder, transformers_weights="decoy.safetensors")
    loaded, a, b = state(folder), state(checkpoints["a"]), state(checkpoints["b"])
    key = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(loaded[key], b[key]) and not torch.equal(loaded[key], a[key])
    with pytest.raises(UnusableCheckpoint):
        resolve_weights(folder)

    # model.safetensors beside an index: transformers takes model.safetensors, vLLM the shards
    both = copy(checkpoints["sharded"], tmp_path / "both")
    shutil.copy(checkpoints["b"] / "model.safetensors", both / "model.safetensors")
    assert torch.equal(state(both)[key], b[key])
    with pytest.raises(UnusableCheckpoint):
        resolve_weights(both)


def test_start_server_refuses_an_ambiguous_checkpoint_before_starting_anything(checkpoints, tmp_path) -> None:
    folder = copy(checkpoints["a"], tmp_path / "final_model")
    (folder / "tokenizer.json").write_text("{}")
    torch.save(state(checkpoints["b"]), folder / "pytorch_model.bin")
    template = tmp_path / "t.jinja"
    template.write_text("{{ messages }}")
    with pytest.raises(CheckpointError, match="several weight formats"):
        start_server(folder, template, "hf")


def test_vllm_is_told_to_load_safetensors_only(tmp_path) -> None:
    cmd = vllm_command(tmp_path / "served_model", tmp_path / "chatml.jinja", 8123)
    assert cmd[cmd.index("--load-format") + 1] == "safetensors"
    assert "--trust-remote-code" not in cmd
