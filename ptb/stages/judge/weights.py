"""Reading checkpoint weights tensor by tensor, and comparing two checkpoints.

A 4B model must never sit whole in memory in the judge, so tensors are read lazily
(``safetensors.safe_open``) and compared in slices along their first dimension, accumulating the
sums in float64. Which files are the weights is `ptb.serve.checkpoint.resolve_weights`'s to say
(safetensors only), so the judge reads what the servers load.

    with CheckpointWeights.open(Path("final_model")) as final, CheckpointWeights.open(base_dir) as base:
        names = [n for n, s in base.shapes().items() if final.shapes().get(n) == s]
        distances = compare_checkpoints(final, base, names)
"""

from __future__ import annotations

import contextlib
import math
import statistics
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from ptb.serve.checkpoint import UnusableCheckpoint, resolve_weights

Shape = tuple[int, ...]


class WeightsError(Exception):
    """A checkpoint folder whose weights cannot be read (message says why)."""


class CheckpointWeights:
    """The tensors of one save_pretrained folder: names, shapes, and float64 slices on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stack = contextlib.ExitStack()
        self._safetensors: dict[str, object] = {}  # name -> open safetensors handle
        self._shapes: dict[str, Shape] = {}

    @classmethod
    def open(cls, folder: Path) -> CheckpointWeights:
        weights = cls(folder)
        try:
            weights._load_index()
        except WeightsError:
            weights.close()
            raise
        except Exception as exc:  # corrupt headers, truncated files, pickles that are not weights
            weights.close()
            raise WeightsError(f"cannot read the weights in {folder}: {type(exc).__name__}: {exc}") from exc
        return weights

    def _load_index(self) -> None:
        # The same rule as every server (ptb.serve.checkpoint): the judge reads exactly the files
        # a loader reads. Links are followed: the base and forbidden models come from the HF
        # cache, and a run's served_model/ holds none.
        try:
            layout = resolve_weights(self.folder, follow_links=True)
        except UnusableCheckpoint as exc:
            raise WeightsError(str(exc)) from None
        for path in layout.paths:
            handle = self._stack.enter_context(safe_open(str(path), framework="pt"))
            for name in handle.keys():
                self._safetensors[name] = handle
                self._shapes[name] = tuple(handle.get_slice(name).get_shape())

    def shapes(self) -> dict[str, Shape]:
        return dict(self._shapes)

    def slices(self, name: str, max_elements: int) -> Iterator[torch.Tensor]:
        """The tensor as flat float64 pieces of at most ~max_elements, along its first dim."""
        shape = self._shapes[name]
        if len(shape) == 0:
            yield self._read(name, None).reshape(-1).to(torch.float64)
            return
        row = math.prod(shape[1:]) or 1
        step = max(1, max_elements // row)
        for start in range(0, shape[0], step):
            yield self._read(name, slice(start, start + step)).reshape(-1).to(torch.float64)

    def _read(self, name: str, rows: slice | None) -> torch.Tensor:
        handle = self._safetensors[name]
        if rows is None:
            return handle.get_tensor(name)  # type: ignore[attr-defined]
        return handle.get_slice(name)[rows]  # type: ignore[attr-defined]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> CheckpointWeights:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileWeights(CheckpointWeights):
    """The tensors of one weight file, whatever folder it lies in: a candidate the judge compares
    final_model with (``model_provenance``). safetensors, or a torch zip archive (``*.bin``,
    ``*.pt``) loaded with ``weights_only`` and memory-mapped; a nested ``state_dict``/``model``
    mapping is looked into."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._torch: dict[str, torch.Tensor] = {}

    def _load_index(self) -> None:
        path = self.folder
        if path.suffix == ".safetensors":
            handle = self._stack.enter_context(safe_open(str(path), framework="pt"))
            for name in handle.keys():
                self._safetensors[name] = handle
                self._shapes[name] = tuple(handle.get_slice(name).get_shape())
            return
        if not zipfile.is_zipfile(path):
            raise WeightsError(f"{path} is neither safetensors nor a torch zip archive")
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise WeightsError(f"{path} does not hold a mapping of tensors")
        for name, tensor in state.items():
            if isinstance(name, str) and isinstance(tensor, torch.Tensor):
                self._torch[name] = tensor
                self._shapes[name] = tuple(tensor.shape)

    def _read(self, name: str, rows: slice | None) -> torch.Tensor:
        if name in self._torch:
            tensor = self._torch[name]
            return tensor if rows is None else tensor[rows]
        return super()._read(name, rows)

    def close(self) -> None:
        super().close()
        self._torch.clear()


@dataclass(frozen=True)
class TensorDistance:
    name: str
    cosine: float  # 1 = same direction; ~0 for independent random tensors
    relative_distance: float  # ||a - b|| / ||b||; 0 = identical


def compare_tensor(a: CheckpointWeights, b: CheckpointWeights, name: str, max_elements: int) -> TensorDistance:
    """How tensor ``name`` of a differs from b's (same shape in both)."""
    dot = norm_a = norm_b = diff = 0.0
    for x, y in zip(a.slices(name, max_elements), b.slices(name, max_elements), strict=True):
        dot += float(torch.dot(x, y))
        norm_a += float(torch.dot(x, x))
        norm_b += float(torch.dot(y, y))
        diff += float(torch.sum((x - y) ** 2))
    if norm_a == 0.0 or norm_b == 0.0:
        cosine = 1.0 if norm_a == norm_b else 0.0  # both all-zero tensors are the same tensor
    else:
        cosine = dot / math.sqrt(norm_a * norm_b)
    relative = math.sqrt(diff) / math.sqrt(norm_b) if norm_b > 0.0 else (0.0 if diff == 0.0 else math.inf)
    return TensorDistance(name=name, cosine=cosine, relative_distance=relative)


def compare_checkpoints(
    a: CheckpointWeights, b: CheckpointWeights, names: Sequence[str], max_elements: int = 1 << 22
) -> list[TensorDistance]:
    return [compare_tensor(a, b, name, max_elements) for name in names]


def median_cosine(distances: Sequence[TensorDistance]) -> float:
    return statistics.median(d.cosine for d in distances)


def median_relative_distance(distances: Sequence[TensorDistance]) -> float:
    return statistics.median(d.relative_distance for d in distances)
