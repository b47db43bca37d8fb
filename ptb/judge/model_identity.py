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

No final_model/ at all is not this check's business (the run scores the base model): it passes
with a note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from ptb.judge.registry import CheckResult, JudgeInputs, register_check
from ptb.judge.weights import (
    CheckpointWeights,
    TensorDistance,
    WeightsError,
    compare_checkpoints,
    median_cosine,
    median_relative_distance,
)

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


def local_hf_snapshot(hf_id: str, cache_dir: str | None) -> Path | None:
    """The local snapshot folder of an HF model, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hf_id, cache_dir=cache_dir, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError, malformed ids, partial caches: all mean "not here"
        return None


@register_check(
    "model_identity",
    min_median_cosine=0.5,
    min_matched_fraction=0.5,
    architecture_keys=list(ARCHITECTURE_KEYS),
    hf_cache_dir=None,  # None = the HF default cache (HF_HUB_CACHE)
    slice_elements=1 << 22,
)
def model_identity(inputs: JudgeInputs, params: Mapping[str, Any]) -> CheckResult:
    final_dir = inputs.final_model
    if not final_dir.exists():
        return CheckResult(True, "no final_model/ in the run folder: nothing to compare (the run scores the base model)")
    try:
        final_config = read_config(final_dir)
    except ValueError as exc:
        return CheckResult(False, f"final_model has no usable config: {exc}")
    base_config = read_config(inputs.base_model)  # the harness's own model: an error here is ours
    mismatches = architecture_mismatches(final_config, base_config, list(params["architecture_keys"]))
    if mismatches:
        return CheckResult(False, "architecture differs from the base model — " + "; ".join(mismatches))

    try:
        final = CheckpointWeights.open(final_dir)
    except WeightsError as exc:
        return CheckResult(False, f"final_model weights unusable: {exc}")
    with final, CheckpointWeights.open(inputs.base_model) as base:
        names, total = comparable_matrices(final, base)
        if not names or len(names) < params["min_matched_fraction"] * total:
            return CheckResult(
                False,
                f"final_model shares only {len(names)} of the base model's {total} weight matrices "
                f"(same name and shape); it is not a full checkpoint of the base architecture",
            )
        try:
            to_base = compare_checkpoints(final, base, names, int(params["slice_elements"]))
        except Exception as exc:
            return CheckResult(False, f"final_model weights unreadable: {type(exc).__name__}: {exc}")
        cosine, distance = median_cosine(to_base), median_relative_distance(to_base)
        summary = (
            f"{len(names)}/{total} weight matrices compared; median cosine to base {cosine:.4f} "
            f"(threshold {params['min_median_cosine']}), median relative distance {distance:.4f}"
        )
        if cosine < params["min_median_cosine"]:
            lowest = ", ".join(f"{d.name} {d.cosine:.3f}" for d in sorted(to_base, key=lambda d: d.cosine)[:3])
            return CheckResult(False, f"weights not derived from the base model: {summary}; lowest: {lowest}")
        forbidden_notes, failure = _forbidden_models(inputs, params, final, distance)
    if failure:
        return CheckResult(False, f"{failure}; {summary}")
    notes = f"; {'; '.join(forbidden_notes)}" if forbidden_notes else ""
    return CheckResult(True, f"same architecture as the base; {summary}{notes}")


def _forbidden_models(
    inputs: JudgeInputs, params: Mapping[str, Any], final: CheckpointWeights, distance_to_base: float
) -> tuple[list[str], str | None]:
    notes: list[str] = []
    for hf_id in inputs.spec.model.forbidden:
        snapshot = local_hf_snapshot(hf_id, params["hf_cache_dir"])
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
            to_forbidden: list[TensorDistance] = compare_checkpoints(final, forbidden, names, int(params["slice_elements"]))
        distance = median_relative_distance(to_forbidden)
        if distance < distance_to_base or distance == 0.0:
            return notes, (
                f"final_model is the forbidden model {hf_id} or derived from it: median relative distance "
                f"{distance:.4f} to it vs {distance_to_base:.4f} to the base"
            )
        notes.append(f"farther from forbidden {hf_id} ({distance:.4f}) than from the base")
    return notes, None
