"""Base models: where the weights of a run's base model come from.

    from ptb.models import resolve_base_model
    folder = resolve_base_model(run.model, run.cache_dir)   # a from_pretrained-able folder

A model config names either a ``builder`` (a ``model_builder`` plug-in: a model ptb builds itself,
today ``tiny``) or an ``hf_id`` (a Hugging Face Hub repository, fetched into the HF cache). Built models are cached
under ``<cache_dir>/models/<builder>-<version>/`` and built once, even when several processes
(Ray actors) ask at the same time: a file lock serialises the builders and a build is renamed
into place only when it is complete.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ptb import registry
from ptb.records import ModelSpec

logger = logging.getLogger(__name__)
MANIFEST = "ptb_model.json"  # written last by every builder: a folder without it is unfinished


@dataclass(frozen=True)
class ModelBuilder:
    name: str
    version: str  # part of the cache folder's name: bump it whenever the build changes
    build: Callable[[Path], object]  # writes a save_pretrained folder, MANIFEST last


BuildFn = TypeVar("BuildFn", bound=Callable[..., object])


def model_builder(name: str, version: str) -> Callable[[BuildFn], BuildFn]:
    """Register ``build(out_dir)`` as the builder ``model.builder=name`` (cached per version)."""

    def decorate(build: BuildFn) -> BuildFn:
        entry = ModelBuilder(name, version, build)

        def factory() -> ModelBuilder:
            return entry

        factory.__module__ = build.__module__  # the registry attributes the plug-in to its module
        registry.register("model_builder", name)(factory)
        return build

    return decorate


def get_builder(name: str) -> ModelBuilder:
    return registry.load("model_builder", name)()


def built_model_dir(builder: str, cache_dir: str | Path) -> Path:
    """Where a built model lives (or will live) in the cache."""
    return Path(cache_dir).expanduser() / "models" / f"{builder}-{get_builder(builder).version}"


def _build_once(name: str, cache_dir: str | Path) -> Path:
    builder = get_builder(name)
    final = built_model_dir(name, cache_dir)
    if (final / MANIFEST).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    lock_path = final.parent / f".{final.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other builders wait here, then find it built
        if (final / MANIFEST).is_file():
            return final
        if final.exists():  # a folder without a manifest is left from a broken build
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.build-"))
        logger.warning("building base model '%s' into %s (once; about a minute on CPU)", name, final)
        try:
            builder.build(tmp)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; runs and sandboxes read it
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def resolve_hub_model(hf_id: str) -> Path:
    """A Hugging Face model's local snapshot (downloaded unless HF_HUB_OFFLINE=1)."""
    return _from_hub(hf_id)


def _from_hub(hf_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError

    from ptb.hub import gated_message, hub_cache_dir, hub_offline

    offline = hub_offline()
    try:
        return Path(snapshot_download(repo_id=hf_id, local_files_only=offline, cache_dir=hub_cache_dir()))
    except GatedRepoError as error:  # gemma: accept the licence, set a token
        raise RuntimeError(gated_message(hf_id, "model")) from error
    except Exception as error:
        where = "offline (HF_HUB_OFFLINE=1) and it is not in the HF cache" if offline else "could not be downloaded"
        raise RuntimeError(
            f"base model '{hf_id}' {where} ({type(error).__name__}: {error}). Download it on a "
            f"machine with internet into the same HF cache (HF_HOME) with `python -m ptb.cache`, "
            f"or `huggingface-cli download {hf_id}`, then run again."
        ) from error


def resolve_base_model(model: ModelSpec, cache_dir: str | Path) -> Path:
    """The folder holding the base model's weights and tokenizer, building or fetching it once."""
    if model.builder:
        registry.lookup("model_builder", model.builder)  # an unknown name lists the known ones
        return _build_once(model.builder, cache_dir)
    if model.hf_id:
        return _from_hub(model.hf_id)
    raise ValueError(
        f"model '{model.name}' names neither a builder nor an hf_id; set builder to one of "
        f"{registry.names('model_builder')}, or hf_id to a Hugging Face repository id"
    )


from ptb.models import tiny as _tiny  # noqa: E402,F401  (registers the tiny builder)

__all__ = ["MANIFEST", "ModelBuilder", "built_model_dir", "get_builder", "model_builder", "resolve_base_model", "resolve_hub_model"]
