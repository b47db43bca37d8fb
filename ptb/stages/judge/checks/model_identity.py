"""Check ``model_identity``: final_model is the given base model, fine-tuned by the agent.

Three pieces of evidence, all deterministic:

1. architecture: the architecture fields of final_model/config.json (and of its ``text_config``
   for multimodal families) equal the base model's;
2. derived from the base: per-tensor cosine similarity between final and base weights, over the
   matrices (≥2-D tensors) with equal names and shapes. A fine-tune stays near 1; a fresh
   initialisation or a foreign model of the same shape sits near 0. Norm vectors are left out
   of the median because freshly initialised ones are all ones and would look "similar";
3. not a forbidden model: each ``spec.model.forbidden`` HF id that is in the local HF cache is
   compared too; final_model fails when it is closer (median relative L2 distance) to that model
   than to the base — which catches both submitting the instruct model and fine-tuning it.
   Ids not in the local cache are skipped with a note (the judge never downloads).

What is compared is the run's ``served_model/`` (`ptb.stages.served`): the weight files of
final_model that `ptb.serve.checkpoint.resolve_weights` accepts, the very files the evaluation
serves. A layout it refuses (several formats, unreferenced shards, remote code, an adapter) is
*checkpoint unusable*, and so is a checkpoint whose tensors are not exactly the base model's set
(an extra tensor is one the judge would not compare but a loader might use).

No final_model/ at all is not this check's business (the run scores the base model): it passes
with a note. A final_model that is broken but honest (an unreadable config.json, missing or
truncated weights) passes as *checkpoint unusable*: it is not evidence of cheating, and its
evaluation fails on its own. An unreadable *base* model is the harness's fault: undecided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb.options import option
from ptb.records import ServedModel
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided, judge_check
from ptb.stages.judge.weights import (
    CheckpointWeights,
    TensorDistance,
    WeightsError,
    compare_checkpoints,
    median_cosine,
    median_relative_distance,
)
from ptb.stages.served import ensure_served_model, served_model_dir

ARCHITECTURE_KEYS = (
    "model_type",
    "architectures",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
)


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a JSON object")
    return config


def architecture(config: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The architecture fields of a HF config, nested text_config fields as 'text_config.<key>'."""
    fields = {key: config[key] for key in keys if key in config}
    text = config.get("text_config")
    if isinstance(text, Mapping):
        fields.update({f"text_config.{key}": text[key] for key in keys if key in text})
    return fields


def architecture_mismatches(final: Mapping[str, Any], base: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    base_fields, final_fields = architecture(base, keys), architecture(final, keys)
    return [
        f"{key}: {final_fields.get(key, '<absent>')!r} vs base {value!r}"
        for key, value in base_fields.items()
        if final_fields.get(key, "<absent>") != value
    ]


def comparable_matrices(final: CheckpointWeights, ref: CheckpointWeights) -> tuple[list[str], int]:
    """Names of ≥2-D tensors with the same name and shape in both; and how many the ref has."""
    final_shapes = final.shapes()
    ref_matrices = {name: shape for name, shape in ref.shapes().items() if len(shape) >= 2}
    if not ref_matrices:  # a model without matrices: compare whatever there is
        ref_matrices = ref.shapes()
    names = sorted(name for name, shape in ref_matrices.items() if final_shapes.get(name) == shape)
    return names, len(ref_matrices)


def tensor_set_differences(final: CheckpointWeights, base: CheckpointWeights, shown: int = 5) -> list[str]:
    """How final's tensors differ from the base's as a set: extra names, missing names, shapes."""
    final_shapes, base_shapes = final.shapes(), base.shapes()
    extra = sorted(set(final_shapes) - set(base_shapes))
    missing = sorted(set(base_shapes) - set(final_shapes))
    reshaped = sorted(n for n in set(final_shapes) & set(base_shapes) if final_shapes[n] != base_shapes[n])
    odd = []
    for what, names in (("tensors the base does not have", extra), ("base tensors missing", missing),
                        ("tensors of another shape", reshaped)):
        if names:
            more = f" and {len(names) - shown} more" if len(names) > shown else ""
            odd.append(f"{what}: {', '.join(names[:shown])}{more}")
    return odd


def served_model(inputs: JudgeInputs) -> ServedModel:
    """The run's served copy of final_model (built now for a run folder collected without one)."""
    try:
        return ensure_served_model(inputs.run_dir, inputs.base_model)
    except OSError as exc:  # the run folder or the base model unreadable: the harness's side
        raise Undecided(f"the served copy of final_model cannot be built or read: {exc}") from exc


def local_hf_snapshot(hf_id: str, cache_dir: str | None) -> Path | None:
    """The local snapshot folder of an HF model, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hf_id, cache_dir=cache_dir, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, malformed ids, partial caches: all mean "not here"
        return None


@dataclass(frozen=True)
class ModelIdentityOptions:
    min_median_cosine: float = option(0.5, ge=-1, le=1)  # below it: not derived from the base
    min_matched_fraction: float = option(0.5, gt=0, le=1)  # of the base's matrices, same name and shape
    architecture_keys: tuple[str, ...] = ARCHITECTURE_KEYS
    hf_cache_dir: str | None = None  # where forbidden models are looked up (None: HF_HUB_CACHE)
    slice_elements: int = option(1 << 22, ge=1)  # tensors are compared in slices of this size


@judge_check("model_identity", options=ModelIdentityOptions)
def model_identity(inputs: JudgeInputs, options: ModelIdentityOptions) -> CheckResult:
    if not inputs.final_model.exists():
        return CheckResult.ok("no final_model/ in the run folder: nothing to compare (the run scores the base model)")
    served = served_model(inputs)
    if not served.usable:
        return CheckResult.unusable(f"final_model cannot be served: {served.reason}")
    final_dir = served_model_dir(inputs.run_dir)  # exactly what the evaluation serves
    try:
        final_config = read_config(final_dir)
    except ValueError as exc:
        return CheckResult.unusable(f"final_model has no usable config: {exc}")
    try:
        base_config = read_config(inputs.base_model)
    except ValueError as exc:  # the harness's own model: an error here is ours
        raise Undecided(f"the base model cannot be read: {exc}") from exc
    mismatches = architecture_mismatches(final_config, base_config, list(options.architecture_keys))
    if mismatches:
        return CheckResult.failed("architecture differs from the base model — " + "; ".join(mismatches))

    try:
        final = CheckpointWeights.open(final_dir)
    except WeightsError as exc:
        return CheckResult.unusable(f"final_model weights unusable: {exc}")
    try:
        base = CheckpointWeights.open(inputs.base_model)
    except WeightsError as exc:
        final.close()
        raise Undecided(f"the base model's weights cannot be read: {exc}") from exc
    with final, base:
        names, total = comparable_matrices(final, base)
        if not names or len(names) < options.min_matched_fraction * total:
            return CheckResult.failed(
                f"final_model shares only {len(names)} of the base model's {total} weight matrices "
                f"(same name and shape); it is not a full checkpoint of the base architecture",
            )
        odd = tensor_set_differences(final, base)
        if odd:  # a tensor the judge cannot compare is one a loader may use (or leave random)
            return CheckResult.unusable(
                "final_model's tensors are not the base model's set (same names and shapes): " + "; ".join(odd)
            )
        try:
            to_base = compare_checkpoints(final, base, names, options.slice_elements)
        except Exception as exc:  # a truncated shard: its header was fine, its data is not there
            return CheckResult.unusable(f"final_model weights unreadable: {type(exc).__name__}: {exc}")
        cosine, distance = median_cosine(to_base), median_relative_distance(to_base)
        summary = (
            f"{len(names)}/{total} weight matrices compared; median cosine to base {cosine:.4f} "
            f"(threshold {options.min_median_cosine}), median relative distance {distance:.4f}"
        )
        if cosine < options.min_median_cosine:
            lowest = ", ".join(f"{d.name} {d.cosine:.3f}" for d in sorted(to_base, key=lambda d: d.cosine)[:3])
            return CheckResult.failed(f"weights not derived from the base model: {summary}; lowest: {lowest}")
        forbidden_notes, failure = _forbidden_models(inputs, options, final, distance)
    if failure:
        return CheckResult.failed(f"{failure}; {summary}")
    notes = f"; {'; '.join(forbidden_notes)}" if forbidden_notes else ""
    return CheckResult.ok(f"same architecture as the base; {summary}{notes}")


def _forbidden_models(
    inputs: JudgeInputs, options: ModelIdentityOptions, final: CheckpointWeights, distance_to_base: float
) -> tuple[list[str], str | None]:
    notes: list[str] = []
    for hf_id in inputs.spec.model.forbidden:
        snapshot = local_hf_snapshot(hf_id, options.hf_cache_dir)
        if snapshot is None:
            notes.append(f"forbidden {hf_id} not in the local HF cache (not compared)")
            continue
        try:
            forbidden = CheckpointWeights.open(snapshot)
        except WeightsError as exc:
            notes.append(f"forbidden {hf_id} has no readable weights in the cache (not compared: {exc})")
            continue
        with forbidden:
            names, _ = comparable_matrices(final, forbidden)
            if not names:
                notes.append(f"forbidden {hf_id} shares no weight matrix with final_model")
                continue
            to_forbidden: list[TensorDistance] = compare_checkpoints(final, forbidden, names, options.slice_elements)
        distance = median_relative_distance(to_forbidden)
        if distance < distance_to_base or distance == 0.0:
            return notes, (
                f"final_model is the forbidden model {hf_id} or derived from it: median relative distance "
                f"{distance:.4f} to it vs {distance_to_base:.4f} to the base"
            )
        notes.append(f"farther from forbidden {hf_id} ({distance:.4f}) than from the base")
    return notes, None
