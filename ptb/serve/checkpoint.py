"""Which weight files a checkpoint folder holds, decided once for every reader: the one rule.

    layout = resolve_weights(Path("run/final_model"))   # WeightLayout, or UnusableCheckpoint
    layout.paths                                         # exactly the files a loader will read

A loader picks its files by its own preferences: transformers takes ``model.safetensors``
before ``model.safetensors.index.json`` before ``pytorch_model.bin`` (or the file a config.json
``transformers_weights`` names, or an adapter that ``adapter_config.json`` points at), vLLM
globs every ``*.safetensors`` (filtered by the index when there is one). A folder on which they
could disagree lets a judge compare one set of weights while a server loads another, so only
layouts on which every reader agrees are accepted, and everything else is refused with the
reason (the run is then *checkpoint unusable*: it scores the base model):

- exactly ``model.safetensors``; or ``model.safetensors.index.json`` and exactly the shards it
  references, each shard holding exactly the tensors the index maps to it (read from the
  headers), no tensor in two shards;
- safetensors only: pickled weights (``*.bin``, ``*.pt``) run code when loaded and are a
  second format beside safetensors, so they are refused, as are gguf, onnx and other formats;
- no ``config.json`` key that makes a loader run the checkpoint's own code or read other weights
  (``auto_map``, ``transformers_weights``, ``speculators_config``, quantization configs), no
  ``adapter_config.json`` (transformers would load a PEFT adapter over another base), no
  symbolic links (unless the caller trusts the folder: the HF cache is made of links).

Files no loader reads are not refused but listed as ``ignored``: a trainer's state
(``training_args.bin``, ``optimizer.pt``, ...) and subfolders (``checkpoint-500/``). The final
evaluation never serves the agent's folder itself but a copy holding only the accepted files
(`ptb.stages.served`), and both the judge and the servers read weights through this function.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# Anything with these endings is weights (or may be) to some loader.
WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5", ".msgpack",
    ".npz", ".npy", ".pkl", ".pickle", ".tflite", ".nemo", ".mlmodel",
)  # fmt: skip
# A Trainer's own state beside a saved model: no model loader reads these names (vLLM skips
# them by name too), and they are never copied into what is served.
_TRAINER_STATE = re.compile(r"(training_args\.bin|optimizer\.(pt|bin)|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth)")
# config.json keys that make a loader run the checkpoint's code, read files other than the
# resolved weights, or reinterpret them; looked for at the top and in nested sub-configs.
LOADER_KEYS = ("auto_map", "transformers_weights", "speculators_config", "quantization_config", "compression_config")
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint folder a server cannot load: files missing, or a layout refused."""


class UnusableCheckpoint(CheckpointError):
    """A checkpoint folder no server may load as it is; the message says why and how to fix it."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors file: where its raw bytes are (absolute offsets in the file)."""

    name: str
    dtype: str  # safetensors dtype: F32, BF16, F16, F64, I64, ...
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WeightLayout:
    """The accepted weights of a folder: safetensors ``files`` (names in ``folder``), its ``index``."""

    folder: str
    files: tuple[str, ...]
    index: str | None
    ignored: tuple[str, ...] = ()  # "name: why no loader reads it"

    load_format = "safetensors"  # vLLM's --load-format for this layout

    @property
    def paths(self) -> list[Path]:
        return [Path(self.folder) / name for name in self.files]


def safetensors_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of a safetensors file from its header (8-byte length, JSON), without reading
    any tensor data. Duplicate names are refused: parsers disagree on which one wins."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UnusableCheckpoint(f"{path.name} is not a safetensors file (shorter than its header)")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, _MAX_HEADER_BYTES):
            raise UnusableCheckpoint(f"{path.name} is not a safetensors file (header length {length} for {size} bytes)")
        raw = f.read(length)

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            raise UnusableCheckpoint(f"{path.name} names a tensor twice in its header")
        return dict(pairs)

    try:
        header = json.loads(raw, object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableCheckpoint(f"{path.name} has no readable safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise UnusableCheckpoint(f"{path.name} has no readable safetensors header")
    data_start = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(x) for x in entry["data_offsets"])
            info = TensorInfo(name, str(entry["dtype"]), tuple(int(d) for d in entry["shape"]), data_start + begin, data_start + end)
        except (KeyError, TypeError, ValueError):
            raise UnusableCheckpoint(f"{path.name}: the header entry of {name!r} is malformed") from None
        if not data_start <= info.start <= info.end <= size:
            raise UnusableCheckpoint(f"{path.name}: tensor {name!r} lies outside the file (truncated?)")
        tensors[name] = info
    return tensors


def _loader_keys(config: Mapping[str, Any], where: str = "") -> list[str]:
    found = [f"{where}{key}" for key in LOADER_KEYS if key in config]
    for key, value in config.items():
        if isinstance(value, Mapping) and key.endswith("_config"):  # text_config, vision_config, ...
            found += _loader_keys(value, f"{where}{key}.")
    return found


def check_config(folder: Path) -> dict[str, Any]:
    """config.json as a dict, refused when it asks a loader for code or other files."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UnusableCheckpoint("config.json is missing (save the model with save_pretrained)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableCheckpoint(f"config.json is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise UnusableCheckpoint("config.json is not a JSON object")
    keys = _loader_keys(config)
    if keys:
        raise UnusableCheckpoint(
            f"config.json sets {', '.join(keys)}: that makes a loader run the checkpoint's own code or read "
            "weights other than the checkpoint's safetensors; a plain save_pretrained of the fine-tuned model has none"
        )
    return config


def _weights_below(folder: str) -> bool:
    for _dirpath, _dirs, files in os.walk(folder, followlinks=False):
        if any(name.lower().endswith(WEIGHT_SUFFIXES) for name in files):
            return True
    return False


def resolve_weights(folder: str | os.PathLike, *, follow_links: bool = False) -> WeightLayout:
    """The exact safetensors files every loader reads from ``folder``, or UnusableCheckpoint.

    ``follow_links`` trusts symbolic links (the HF cache's snapshots are links into its blobs);
    an agent's checkpoint is never read through one.
    """
    path = Path(folder)
    if path.is_symlink() and not follow_links:
        raise UnusableCheckpoint(f"{path} is a symbolic link")
    if not path.is_dir():
        raise UnusableCheckpoint(f"{path} is not a folder")
    check_config(path)
    safetensors: list[str] = []
    other: list[str] = []
    ignored: list[str] = []
    links: list[str] = []
    index: str | None = None
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        name, lower = entry.name, entry.name.lower()
        if entry.is_symlink() and not follow_links:
            links.append(name)
            continue
        if entry.is_dir():
            if _weights_below(entry.path):
                ignored.append(f"{name}/: a subfolder (no loader reads weights from one)")
            continue
        if name == "adapter_config.json":
            raise UnusableCheckpoint(
                "adapter_config.json: a PEFT adapter is loaded over the base model its config names; "
                "merge it (merge_and_unload) and save the full model instead"
            )
        if lower.endswith(".index.json"):
            if name != INDEX_FILE:
                raise UnusableCheckpoint(f"{name}: the only weights index accepted is {INDEX_FILE} (safetensors)")
            index = name
        elif lower.endswith(".safetensors"):
            safetensors.append(name)
        elif _TRAINER_STATE.fullmatch(name):
            ignored.append(f"{name}: trainer state")
        elif lower.endswith(WEIGHT_SUFFIXES):
            other.append(name)
    if links:
        raise UnusableCheckpoint(f"symbolic links in the checkpoint: {', '.join(links[:5])}")
    if other:
        what = "several weight formats" if safetensors or index else "an unsupported weight format"
        raise UnusableCheckpoint(
            f"{what}: {', '.join(other[:5])}; only safetensors weights are served (pickled weights run code "
            "when loaded): save with save_pretrained (safetensors by default) and leave no other weight files"
        )
    if index is None:
        if safetensors == [SINGLE_FILE]:
            return WeightLayout(str(path), (SINGLE_FILE,), None, tuple(ignored))
        if not safetensors:
            raise UnusableCheckpoint(f"no weights: no {SINGLE_FILE} (or {INDEX_FILE} and its shards)")
        raise UnusableCheckpoint(
            f"safetensors files {', '.join(safetensors[:5])} without {INDEX_FILE}: loaders would disagree "
            f"on which to read; save with save_pretrained ({SINGLE_FILE}, or shards and their index)"
        )
    if SINGLE_FILE in safetensors:
        raise UnusableCheckpoint(f"both {SINGLE_FILE} and {INDEX_FILE}: transformers reads the first, vLLM the second")
    shards = _check_index(path, index, set(safetensors))
    return WeightLayout(str(path), tuple(sorted(shards)), index, tuple(ignored))


def _check_index(folder: Path, index: str, present: set[str]) -> set[str]:
    try:
        weight_map = json.loads((folder / index).read_text()).get("weight_map")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise UnusableCheckpoint(f"{index} is unreadable: {exc}") from None
    if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
        raise UnusableCheckpoint(f"{index} has no weight_map of tensor names to shard files")
    shards = set(weight_map.values())
    outside = sorted(s for s in shards if Path(s).name != s or s not in present)
    if outside:
        raise UnusableCheckpoint(f"{index} maps tensors to files that are not shards in the folder: {', '.join(outside[:5])}")
    extra = sorted(present - shards)
    if extra:
        raise UnusableCheckpoint(
            f"safetensors files the index does not reference: {', '.join(extra[:5])} (vLLM would read them)"
        )
    for shard in sorted(shards):
        held = set(safetensors_header(folder / shard))
        mapped = {name for name, file in weight_map.items() if file == shard}
        if held != mapped:
            odd = sorted(held ^ mapped)
            raise UnusableCheckpoint(
                f"{shard} does not hold exactly the tensors {index} maps to it (differing: {', '.join(odd[:5])}); "
                "loaders that read the index and loaders that read the shards would load different weights"
            )
    return shards
