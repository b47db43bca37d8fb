"""Check ``model_provenance``: final_model's weights were made in the run, not brought into it.

A checkpoint trained before the run (outside its budget) and shipped in the agent's own folder,
which the sandbox mounts read-only for ``solve.sh``, or left in any other readable place, passes
every similarity test: it *is* a fine-tune of the base. What gives it away is that its bytes
already exist somewhere the run did not write. So the check takes fingerprints of the served
weights (`ptb.stages.served`) and looks for them in the agent folder (``spec.agent.path``) and in
``search_paths`` (more places a user knows checkpoints may sit: shared model folders, other
agents' outputs), never in what this run produced (its run folder and scratch folder):

- a fingerprint is ``window_bytes`` of a tensor's raw data, taken where the tensor differs from
  the base model's (a window equal to the base would point at the base model, which the run
  was given), from the ``fingerprints`` largest tensors; so noop (final_model = base) has none
  and passes, and an honest fine-tune matches nothing but itself;
- each is looked for as stored and as the other float encodings it converts to exactly
  (float32 <-> bfloat16 / float16), so a checkpoint re-saved as ``.bin``, ``.pt``, ``.npy``, a
  renamed file or another dtype is found as well as a byte-identical ``model.safetensors``;
  compressed or encoded copies are not (the plan-time warning below and the LLM judge remain);
- every regular file of at least ``min_file_bytes`` is read once, in blocks; a file holding any
  fingerprint fails the check, naming the file and the tensor;
- a checkpoint brought in and then trained a little (no byte left as it was) is found by
  distance instead: each weight file there (safetensors, or a torch zip as ``*.bin``/``*.pt``)
  holding at least ``min_matched_fraction`` of final_model's matrices is compared with it, and
  final_model fails when its median relative distance to the file is under
  ``max_distance_ratio`` times its distance to the base (an honest fine-tune is nearer its base
  than any other checkpoint; a copy of the base itself is never nearer).

At plan time `check_agent_folder` warns about (``agent_weights: warn``) or refuses
(``refuse``) an agent folder holding weight files of at least ``agent_weights_min_bytes``.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ptb.errors import ConfigError
from ptb.options import option
from ptb.records import AgentSpec, JudgeConfig, RunSpec
from ptb.serve.checkpoint import WEIGHT_SUFFIXES, TensorInfo, UnusableCheckpoint, resolve_weights, safetensors_header
from ptb.stages.judge.check import CheckResult, JudgeInputs, Undecided, judge_check
from ptb.stages.judge.checks.model_identity import served_model
from ptb.stages.judge.weights import CheckpointWeights, FileWeights, WeightsError, compare_checkpoints, compare_tensor
from ptb.stages.served import served_model_dir

CHECK = "model_provenance"
_BLOCK = 8 << 20
_COMPARABLE = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")  # compared tensor by tensor too
_ELEMENT_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class ModelProvenanceOptions:
    # More folders to look in, besides the agent folder. Not other runs' results of the same agent
    # and seed: a deterministic recipe (recipe_sft) reproduces its weights byte for byte.
    search_paths: tuple[str, ...] = ()
    fingerprints: int = option(4, ge=1)  # tensors fingerprinted (the largest that differ from the base)
    window_bytes: int = option(4096, ge=256)  # bytes of one fingerprint
    min_file_bytes: int = option(4096, ge=1)  # smaller files are not read
    # a weight file whose tensors final_model is this much closer to than to the base (median
    # relative distance) is a checkpoint final_model derives from: shipped, then trained a little
    max_distance_ratio: float = option(0.5, gt=0, le=1)
    min_matched_fraction: float = option(0.25, gt=0, le=1)  # of final's matrices a candidate file must hold
    slice_elements: int = option(1 << 22, ge=1)
    agent_weights: Literal["warn", "refuse", "ignore"] = "warn"  # plan time: weight files in the agent folder
    agent_weights_min_bytes: int = option(1 << 20, ge=0)


@dataclass(frozen=True)
class Fingerprint:
    tensor: str
    encoding: str  # "F32 as stored", "as BF16", ...
    data: bytes


# ----------------------------------------------------------------------------- fingerprints


def _read(path: Path, start: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(length)


def _encodings(data: bytes, dtype: str) -> list[tuple[str, bytes]]:
    """The window as stored, and as every other float encoding it converts to without loss."""
    out = [(f"{dtype} as stored", data)]
    if dtype == "F32":
        values = np.frombuffer(data, dtype="<f4")
        bits = values.view("<u4")
        if not np.any(bits & 0xFFFF):
            out.append(("as BF16", (bits >> 16).astype("<u2").tobytes()))
        half = values.astype("<f2")
        if np.array_equal(half.astype("<f4"), values, equal_nan=True):
            out.append(("as F16", half.tobytes()))
    elif dtype == "BF16":
        out.append(("as F32", (np.frombuffer(data, dtype="<u2").astype("<u4") << 16).astype("<u4").tobytes()))
    elif dtype == "F16":
        out.append(("as F32", np.frombuffer(data, dtype="<f2").astype("<f4").tobytes()))
    return out


def _differs_enough(window: bytes, base: bytes | None, element: int) -> bool:
    """Most elements differ from the base's, and the bytes are not a trivial pattern."""
    if len(set(window)) < 32:  # zeros, ones, a repeated value: may occur anywhere
        return False
    if base is None:
        return True
    a = np.frombuffer(window, dtype=f"V{element}")
    b = np.frombuffer(base, dtype=f"V{element}")
    return int(np.count_nonzero(a != b)) * 2 > len(a)


def _windows(info: TensorInfo, window: int) -> Iterator[int]:
    """Window offsets inside the tensor, from its middle outwards (ends are often padding-like)."""
    count = info.nbytes // window
    middle = count // 2
    for step in range(count):
        index = middle + (step + 1) // 2 * (1 if step % 2 else -1)
        if 0 <= index < count:
            yield index * window


def fingerprints(served: Path, base: Path, count: int, window: int, tries: int = 16) -> list[Fingerprint]:
    final_tensors = _tensors(served, follow_links=False)
    base_tensors = _tensors(base, follow_links=True)
    ranked = sorted(
        (item for item in final_tensors.items() if len(item[1][1].shape) >= 2 and item[1][1].dtype in _ELEMENT_BYTES),
        key=lambda item: -item[1][1].nbytes,
    )
    found: list[Fingerprint] = []
    for name, (path, info) in ranked:
        element = _ELEMENT_BYTES[info.dtype]
        size = window - window % element
        if info.nbytes < size:
            continue
        theirs = base_tensors.get(name)
        same_kind = theirs is not None and (theirs[1].dtype, theirs[1].shape) == (info.dtype, info.shape)
        for n, offset in enumerate(_windows(info, size)):
            if n >= tries:
                break
            data = _read(path, info.start + offset, size)
            base_data = _read(theirs[0], theirs[1].start + offset, size) if same_kind and theirs else None
            if _differs_enough(data, base_data, element):
                found += [Fingerprint(name, encoding, encoded) for encoding, encoded in _encodings(data, info.dtype)]
                break
        if len({f.tensor for f in found}) >= count:
            break
    return found


def _tensors(folder: Path, follow_links: bool) -> dict[str, tuple[Path, TensorInfo]]:
    layout = resolve_weights(folder, follow_links=follow_links)
    return {name: (path, info) for path in layout.paths for name, info in safetensors_header(path).items()}


# ----------------------------------------------------------------------------- the search


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _candidate_files(roots: list[Path], excluded: list[str], min_bytes: int) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            if _inside(os.path.realpath(dirpath), excluded):
                dirnames.clear()
                continue
            for name in sorted(filenames):
                path = Path(dirpath) / name
                try:
                    st = path.stat()  # a link to a file counts as that file
                except OSError:
                    continue
                if not _is_regular(st.st_mode) or st.st_size < min_bytes or (st.st_dev, st.st_ino) in seen:
                    continue
                if _inside(os.path.realpath(path), excluded):
                    continue
                seen.add((st.st_dev, st.st_ino))
                yield path


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _holds(path: Path, prints: list[Fingerprint]) -> Fingerprint | None:
    """The first fingerprint found in the file (read in blocks that overlap by a fingerprint)."""
    overlap = max(len(p.data) for p in prints) - 1
    tail = b""
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            data = tail + block
            for p in prints:
                if data.find(p.data) >= 0:
                    return p
            tail = data[-overlap:] if overlap > 0 else b""
    return None


@judge_check(CHECK, options=ModelProvenanceOptions)
def model_provenance(inputs: JudgeInputs, options: ModelProvenanceOptions) -> CheckResult:
    if not inputs.final_model.exists():
        return CheckResult.ok("no final_model/ in the run folder: nothing to trace")
    if not served_model(inputs).usable:
        return CheckResult.ok("final_model is not served (its layout is refused, see model_identity): nothing to trace")
    served = served_model_dir(inputs.run_dir)
    try:
        prints = fingerprints(served, inputs.base_model, options.fingerprints, options.window_bytes)
    except UnusableCheckpoint as exc:
        # the served copy passed this rule when it was built; the base model is the harness's
        raise Undecided(f"weights cannot be read for fingerprints: {exc}") from exc
    except OSError as exc:
        raise Undecided(f"weights cannot be read for fingerprints: {exc}") from exc
    if not prints:
        return CheckResult.ok("final_model's weights are the base model's (no tensor differs from it): nothing to trace")
    roots, notes = _search_roots(inputs.spec, options)
    excluded = [os.path.realpath(p) for p in (inputs.spec.run_dir, inputs.spec.scratch_dir, inputs.run_dir)]
    files = scanned = unreadable = 0
    hits: list[str] = []
    weight_files: list[Path] = []
    for path in _candidate_files(roots, excluded, options.min_file_bytes):
        try:
            found = _holds(path, prints)
        except OSError:
            unreadable += 1
            continue
        files += 1
        scanned += path.stat().st_size
        if found:
            hits.append(f"{path} holds the bytes of final_model's tensor {found.tensor} ({found.encoding})")
        elif path.name.lower().endswith(_COMPARABLE):
            weight_files.append(path)
    hits += _derived_from(served, inputs.base_model, weight_files, options)
    tensors = len({p.tensor for p in prints})
    where = ", ".join(str(r) for r in roots) or "nowhere (no agent folder, no search_paths)"
    if hits:
        more = f"; and {len(hits) - 3} more files" if len(hits) > 3 else ""
        return CheckResult.failed(
            "final_model's weights were not produced by this run: " + "; ".join(hits[:3]) + more
            + " (a checkpoint shipped in the agent folder or built outside the run's budget)"
        )
    tail = "".join(f"; {n}" for n in notes) + (f"; {unreadable} unreadable files skipped" if unreadable else "")
    return CheckResult.ok(
        f"no file in {where} holds final_model's weights ({files} files, {scanned / 1e6:.1f} MB read; "
        f"fingerprints of {tensors} tensors that differ from the base){tail}"
    )


def _derived_from(served: Path, base: Path, candidates: list[Path], options: ModelProvenanceOptions) -> list[str]:
    """Weight files final_model is much closer to than to the base: a checkpoint brought into the
    run and trained a little more (so that no byte of it is left), or a sibling of one."""
    if not candidates:
        return []
    hits = []
    try:
        final, base_weights = CheckpointWeights.open(served), CheckpointWeights.open(base)
    except WeightsError as exc:
        raise Undecided(f"weights cannot be read for comparison: {exc}") from exc
    with final, base_weights:
        final_shapes, base_shapes = final.shapes(), base_weights.shapes()
        matrices = [n for n, shape in final_shapes.items() if len(shape) >= 2 and base_shapes.get(n) == shape]
        to_base: dict[str, float] = {}
        for path in candidates:
            try:
                candidate = FileWeights.open(path)
            except WeightsError:
                continue  # not a checkpoint (or not one the judge can read): the fingerprints remain
            with candidate:
                names = [n for n in matrices if candidate.shapes().get(n) == final_shapes[n]]
                if not names or len(names) < options.min_matched_fraction * len(matrices):
                    continue
                try:
                    to_candidate = compare_checkpoints(final, candidate, names, options.slice_elements)
                except Exception:  # a truncated file: its header was fine, its data is not there
                    continue
            for name in names:
                if name not in to_base:
                    to_base[name] = compare_tensor(final, base_weights, name, options.slice_elements).relative_distance
            near = statistics.median(d.relative_distance for d in to_candidate)
            far = statistics.median(to_base[n] for n in names)
            if far > 0 and near < options.max_distance_ratio * far:
                hits.append(
                    f"{path} holds a checkpoint final_model derives from: median relative distance {near:.4f} "
                    f"to it vs {far:.4f} to the base ({len(names)} matrices)"
                )
    return hits


def _search_roots(spec: RunSpec, options: ModelProvenanceOptions) -> tuple[list[Path], list[str]]:
    roots, notes = [], []
    for raw in (spec.agent.path, *options.search_paths):
        if not raw:
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            roots.append(path)
        else:
            notes.append(f"{path} is not a folder (not searched)")
    return roots, notes


# ----------------------------------------------------------------------------- plan time


def agent_weight_files(folder: str | os.PathLike, min_bytes: int) -> list[tuple[str, int]]:
    """Weight files (by name) of at least ``min_bytes`` in an agent folder: (relative path, size)."""
    found = []
    root = Path(folder)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.lower().endswith(WEIGHT_SUFFIXES):
                continue
            path = Path(dirpath) / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size >= min_bytes:
                found.append((str(path.relative_to(root)), size))
    return found


def check_agent_folder(agent: AgentSpec, judge: JudgeConfig) -> str | None:
    """Plan time: the warning about weight files in the agent folder (None: nothing to say), or
    ConfigError when ``model_provenance.agent_weights`` is ``refuse``."""
    configured = next((c.options for c in judge.checks if c.name == CHECK), None)
    options = configured if isinstance(configured, ModelProvenanceOptions) else ModelProvenanceOptions()
    if options.agent_weights == "ignore" or not agent.path:
        return None
    files = agent_weight_files(agent.path, options.agent_weights_min_bytes)
    if not files:
        return None
    shown = ", ".join(f"{rel} ({size / 1e6:.1f} MB)" for rel, size in files[:5]) + (
        f" and {len(files) - 5} more" if len(files) > 5 else ""
    )
    message = (
        f"agent folder {agent.path} holds weight files: {shown}; the agent can read them during its run, "
        f"and a final_model made of them is flagged by the judge's {CHECK} check"
    )
    if options.agent_weights == "refuse":
        raise ConfigError(
            f"{message}; remove them, or set judge.checks.{CHECK}.agent_weights=warn to run anyway"
        )
    return message


@functools.cache
def _warned(message: str) -> bool:
    print(f"ptb: warning: {message}", file=sys.stderr)
    return True


def warn_agent_folder(agent: AgentSpec, judge: JudgeConfig) -> None:
    """`check_agent_folder` for a plan: the warning printed once per process (a sweep plans every
    job, and they share the folder)."""
    message = check_agent_folder(agent, judge)
    if message:
        _warned(message)
