"""Verifying the shared cache the way a compute node will see it: offline, in a fresh process.

    checks = verify_offline(["Qwen/Qwen3-4B-Base"], data_sources, task_specs)
    checks.models["Qwen/Qwen3-4B-Base"]      # Check(ok=True, detail="qwen3 config, 3 weight files")

`verify_offline` runs ``python -m ptb.cache.verify <plan.json> <results.json>`` with
``HF_HUB_OFFLINE=1`` (and transformers' and datasets' offline switches) set before anything is
imported, so what passes here is what an offline node finds in the same cache:

- a model: its snapshot resolves from the cache, ``AutoConfig.from_pretrained(<hf id>)`` loads,
  its tokenizer files and every weight file (every shard of the index) are present, and a
  multimodal checkpoint (a config with ``vision_config``, e.g. Gemma-3) has its
  ``preprocessor_config.json``. Weights are not loaded.
- a data source: ``fetch()`` finds every file the task reads.
- a task: ``task_fn(split="test", **params)`` builds, and its dataset has ``samples`` items
  (conf/task/<task>.yaml) when that is set. The LLM-graded tasks build their grader client at
  construction, which wants the grader's key; when that variable is unset, the check process
  gets a placeholder value — the grader is never called here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb.data import DataSource, HubDataset, UrlFile
from ptb.io import from_jsonable, to_jsonable
from ptb.records import TaskSpec
from ptb.serve.launch import TOKENIZER_FILES  # what a server needs to load a checkpoint

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
PLACEHOLDER_GRADER_KEY = "ptb-cache-verify-placeholder"  # never sent anywhere: nothing is graded
SOURCE_TYPES = {"HubDataset": HubDataset, "UrlFile": UrlFile}


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True)
class OfflineChecks:
    models: Mapping[str, Check] = field(default_factory=dict)  # by HF id
    data: tuple[Check, ...] = ()  # in the order of the sources given
    tasks: Mapping[str, Check] = field(default_factory=dict)  # by task name


def _source_to_json(source: DataSource) -> dict[str, Any]:
    return {"type": type(source).__name__, "fields": to_jsonable(source)}


def _source_from_json(data: Mapping[str, Any]) -> DataSource:
    return from_jsonable(SOURCE_TYPES[data["type"]], data["fields"])


def verify_offline(
    models: Sequence[str],
    data: Sequence[DataSource],
    tasks: Sequence[TaskSpec],
    *,
    grader_key_envs: Sequence[str] = (),
    timeout_s: float | None = None,
) -> OfflineChecks:
    """Check models, data and tasks in a child process with HF_HUB_OFFLINE=1."""
    if not (models or data or tasks):
        return OfflineChecks()
    env = {**os.environ, **OFFLINE_ENV}
    for variable in grader_key_envs:
        env.setdefault(variable, PLACEHOLDER_GRADER_KEY)
    with tempfile.TemporaryDirectory(prefix="ptb-cache-verify-") as tmp:
        plan, results = Path(tmp) / "plan.json", Path(tmp) / "results.json"
        plan.write_text(
            json.dumps(
                {
                    "models": list(models),
                    "data": [_source_to_json(s) for s in data],
                    "tasks": [to_jsonable(t) for t in tasks],
                }
            )
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "ptb.cache.verify", str(plan), str(results)],
                env=env, capture_output=True, text=True, timeout=timeout_s, check=False,
            )  # fmt: skip
            why = f"the offline check process exited with code {proc.returncode}: {proc.stderr[-2000:].strip()}"
        except subprocess.TimeoutExpired:
            why = f"the offline check process took longer than {timeout_s:g} s"
        if not results.is_file():
            failed = Check(False, why)
            return OfflineChecks(
                models={m: failed for m in models},
                data=tuple(failed for _ in data),
                tasks={t.name: failed for t in tasks},
            )
        found = json.loads(results.read_text())
    return OfflineChecks(
        models={k: Check(*v) for k, v in found["models"].items()},
        data=tuple(Check(*v) for v in found["data"]),
        tasks={k: Check(*v) for k, v in found["tasks"].items()},
    )


# --------------------------------------------------------------------------- the child process


def _weight_files(folder: Path) -> tuple[list[str], list[str]]:
    """(weight files present, weight files missing) of a snapshot; shards from the index."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
            if not shards:
                return [], [f"weight shards ({index_name} lists none)"]
            present = [s for s in shards if (folder / s).is_file()]
            return present, [s for s in shards if s not in present]
    found = sorted(p.name for p in folder.glob("*.safetensors") if p.is_file())
    found = found or sorted(p.name for p in folder.glob("pytorch_model*.bin") if p.is_file())
    return found, [] if found else ["*.safetensors (or pytorch_model*.bin)"]


def check_model(hf_id: str) -> Check:
    from huggingface_hub import snapshot_download
    from transformers import AutoConfig

    folder = Path(snapshot_download(repo_id=hf_id, repo_type="model", local_files_only=True))
    config = AutoConfig.from_pretrained(hf_id)  # the way vLLM and transformers resolve the id offline
    missing: list[str] = []
    if not (folder / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    weights, missing_weights = _weight_files(folder)
    missing += missing_weights
    if getattr(config, "vision_config", None) is not None and not (folder / "preprocessor_config.json").is_file():
        missing.append("preprocessor_config.json (a multimodal checkpoint needs its processor files)")
    if missing:
        return Check(False, f"snapshot {folder} lacks {', '.join(missing)}")
    return Check(True, f"{config.model_type} config, tokenizer, {len(weights)} weight files")


def check_data(source: DataSource) -> Check:
    files = source.fetch()
    return Check(True, f"{len(files)} files")


def check_task(task: TaskSpec) -> Check:
    from ptb.plugins import load_task_module

    module = load_task_module(task)
    task_fn = getattr(module, task.name, None)
    if task_fn is None:
        return Check(False, f"{task.eval_dir}/task.py has no @task function named '{task.name}'")
    size = len(task_fn(split="test", **task.params).dataset)
    if task.samples is not None and size != task.samples:
        return Check(False, f"the test split has {size} samples; conf/task/{task.name}.yaml expects samples: {task.samples}")
    return Check(True, f"{size} test samples")


def _guarded(check, *args: Any) -> list[Any]:
    try:
        result = check(*args)
        return [result.ok, result.detail]
    except Exception as exc:  # noqa: BLE001 (one failing item never stops the others)
        return [False, f"{type(exc).__name__}: {exc}"]


def main(argv: list[str]) -> int:
    plan_path, results_path = argv
    plan = json.loads(Path(plan_path).read_text())
    results: dict[str, Any] = {
        "models": {hf_id: _guarded(check_model, hf_id) for hf_id in plan["models"]},
        "data": [_guarded(check_data, _source_from_json(s)) for s in plan["data"]],
        "tasks": {},
    }
    for data in plan["tasks"]:
        task = from_jsonable(TaskSpec, data)
        results["tasks"][task.name] = _guarded(check_task, task)
    Path(results_path).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        sys.exit("ptb.cache.verify checks what offline nodes see: run it with HF_HUB_OFFLINE=1 (ptb.cache does)")
    sys.exit(main(sys.argv[1:]))
