"""Where a task's data comes from: Hugging Face dataset repositories and files shipped by URL.

A task module declares what it needs as ``DATA`` (a tuple of `HubDataset` / `UrlFile`) and reads
its files through them:

    GSM8K = HubDataset("openai/gsm8k", files=("main/test-*.parquet", "main/train-*.parquet"))
    test_file = GSM8K.file("main/test-00000-of-00001.parquet")     # a local Path

Both read from local caches that `python -m ptb.cache` fills on a machine with internet: hub
repositories live in the HF cache (``HF_HUB_CACHE`` / ``HF_HOME``, shared by the cluster), URL
files under `files_root()` (``PTB_DATA_DIR``, default ``<HF_HOME>/ptb-files``). With
``HF_HUB_OFFLINE=1`` nothing is downloaded and a missing file is a `DataUnavailable` error that
says how to fetch it; online, a missing file is downloaded on first use.

The layout on disk is the source's own (the repository's paths, the URL's path), so the test
fixtures are small files we write in that same layout into a temporary HF cache.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ptb.hub import gated_message, hf_home, hub_cache_dir, hub_offline, token_hint
from ptb.io import FILE_MODE


class DataUnavailable(RuntimeError):
    """A dataset or file is not in the local cache and cannot be downloaded now."""


def files_root() -> Path:
    """Where files shipped by URL are kept: ``PTB_DATA_DIR``, else ``<HF_HOME>/ptb-files``."""
    configured = os.environ.get("PTB_DATA_DIR")
    return Path(configured).expanduser() if configured else hf_home() / "ptb-files"


def harness_files_root() -> Path:
    """Files the harness itself generates for grading (arenahard_writing's stored answers of the
    official instruct model): under `files_root()`, and hidden from every agent's sandbox."""
    return files_root() / "ptb"


@dataclass(frozen=True)
class HubDataset:
    """A dataset repository on the Hugging Face Hub, or the part of it a task reads."""

    repo_id: str
    files: tuple[str, ...] = ()  # glob patterns of the files the task reads (empty = all)
    revision: str | None = None  # branch, tag or commit; None = main
    gated: bool = False  # needs an accepted licence and a token (gpqa)

    @property
    def label(self) -> str:
        return f"hf dataset {self.repo_id}"

    def _snapshot(self, *, download: bool) -> Path:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        local_only = hub_offline() or not download
        try:
            return Path(
                snapshot_download(
                    repo_id=self.repo_id,
                    repo_type="dataset",
                    revision=self.revision,
                    allow_patterns=list(self.files) or None,
                    local_files_only=local_only,
                    cache_dir=hub_cache_dir(),  # read now: huggingface_hub reads it once at import
                )
            )
        except GatedRepoError as exc:
            raise DataUnavailable(gated_message(self.repo_id, "dataset")) from exc
        except RepositoryNotFoundError as exc:
            hint = f" ({token_hint(self.repo_id, 'dataset')})" if self.gated else ""
            raise DataUnavailable(f"dataset {self.repo_id} was not found on the Hub{hint}: {exc}") from exc
        except Exception as exc:
            if local_only:
                gated = f" It is gated, so fetching it needs a token: {token_hint(self.repo_id, 'dataset')}." if self.gated else ""
                raise DataUnavailable(
                    f"dataset {self.repo_id} is not in the HF cache ({hub_cache_dir()}) and downloads are off "
                    f"(HF_HUB_OFFLINE=1). Fetch it on a machine with internet into the same cache with "
                    f"`python -m ptb.cache task=<task>` (or `hf download {self.repo_id} --repo-type dataset`).{gated}"
                ) from exc
            raise DataUnavailable(f"dataset {self.repo_id} could not be downloaded: {type(exc).__name__}: {exc}") from exc

    def local_dir(self) -> Path:
        """The local snapshot folder (downloaded first when online and missing)."""
        return self._snapshot(download=True)

    def fetch(self) -> list[Path]:
        """Download (or find) the files the task reads; every pattern must match a file."""
        root = self._snapshot(download=True)
        return self._matching(root)

    def _matching(self, root: Path) -> list[Path]:
        present = sorted(p for p in root.rglob("*") if p.is_file())
        relative = [p.relative_to(root).as_posix() for p in present]
        for pattern in self.files:
            if not any(fnmatch.fnmatch(r, pattern) for r in relative):
                raise DataUnavailable(
                    f"dataset {self.repo_id} has no file matching '{pattern}' in {root}; "
                    f"files present: {relative[:20]}"
                )
        if not self.files:
            return present
        return [p for p, r in zip(present, relative, strict=True) if any(fnmatch.fnmatch(r, pat) for pat in self.files)]

    def file(self, path: str) -> Path:
        """One file of the repository, by its path in the repository."""
        root = self.local_dir()
        target = root / path
        if not target.is_file():
            found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
            raise DataUnavailable(
                f"dataset {self.repo_id} has no file '{path}' (local snapshot {root}; files: {found[:20]}). "
                f"Run `python -m ptb.cache task=<task>` on a machine with internet."
            )
        return target

    def glob(self, pattern: str) -> list[Path]:
        """The repository's files matching a glob pattern (sorted); at least one."""
        root = self.local_dir()
        found = sorted(p for p in root.glob(pattern) if p.is_file())
        if not found:
            raise DataUnavailable(f"dataset {self.repo_id} has no file matching '{pattern}' in {root}")
        return found


@dataclass(frozen=True)
class UrlFile:
    """A file a benchmark ships at a URL (questions, rubrics), kept under `files_root()`."""

    url: str
    sha256: str | None = None  # checked after download when given

    @property
    def label(self) -> str:
        return f"file {self.url}"

    def cached_path(self) -> Path:
        """Where the file lives locally: <files_root>/<host>/<path of the URL>."""
        parsed = urllib.parse.urlparse(self.url)
        parts = [p for p in parsed.path.split("/") if p and p not in (".", "..")]
        if not parsed.netloc or not parts:
            raise ValueError(f"UrlFile needs an absolute http(s) URL with a path, got {self.url!r}")
        return files_root() / parsed.netloc / Path(*parts)

    def path(self) -> Path:
        """The local file (downloaded first when online and missing)."""
        target = self.cached_path()
        if target.is_file():
            return target
        if hub_offline():
            raise DataUnavailable(
                f"{self.url} is not in the local data cache ({target}) and downloads are off "
                f"(HF_HUB_OFFLINE=1). Fetch it on a machine with internet with `python -m ptb.cache task=<task>`, "
                f"or put the file there (PTB_DATA_DIR sets the cache folder)."
            )
        return self._download(target)

    def fetch(self) -> list[Path]:
        return [self.path()]

    def _download(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(self.url, timeout=60) as response:
                shutil.copyfileobj(response, out)
            if self.sha256:
                digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
                if digest != self.sha256:
                    raise DataUnavailable(f"{self.url}: sha256 {digest} differs from the expected {self.sha256}")
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except DataUnavailable:
            raise
        except Exception as exc:
            raise DataUnavailable(f"{self.url} could not be downloaded: {type(exc).__name__}: {exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target


DataSource = HubDataset | UrlFile

__all__ = [
    "DataSource", "DataUnavailable", "HubDataset", "UrlFile", "files_root", "harness_files_root", "hf_home", "hub_offline",
]
