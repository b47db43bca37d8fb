"""Downloading the models and data of a cache plan into the shared HF cache.

    downloader = HubDownloader()                      # the real Hub (huggingface_hub)
    fetched = fetch_model(downloader, "Qwen/Qwen3-4B-Base")
    fetched.status, fetched.detail                    # "downloaded" | "ok" | "failed", why

The network sits behind the `Downloader` protocol so that tests replace it with a fake that
writes fixture files into a temporary HF cache (or raises the Hub's own errors). Whether an item
was downloaded now or was already cached is read from its cache folder's size before and after,
which works the same for every downloader. A failure is turned into a message that says what to
do (gated repository: which token, which page), and never stops the other items.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ptb.cache.report import disk_size
from ptb.data import DataSource, DataUnavailable, HubDataset
from ptb.hub import (
    RepoType,
    gated_message,
    hf_home,
    hub_cache_dir,
    hub_offline,
    repo_cache_dir,
    token_hint,
)


class Downloader(Protocol):
    @property
    def offline(self) -> bool:
        """Whether it only finds what is cached (the report then says nothing was downloaded)."""
        ...

    def model(self, hf_id: str) -> Path:
        """Download (or find) a model repository into the HF cache; its snapshot folder."""
        ...

    def data(self, source: DataSource) -> list[Path]:
        """Download (or find) a task's data source into the local caches; its files."""
        ...


class HubDownloader:
    """The real Hugging Face Hub. With ``HF_HUB_OFFLINE=1`` it only finds what is cached.

    A model is downloaded whole: ptb.models and the judge find it offline with a pattern-less
    ``snapshot_download(local_files_only=True)``, which huggingface_hub refuses as an incomplete
    snapshot when files of the repository's cached listing are missing.
    """

    @property
    def offline(self) -> bool:
        return hub_offline()

    def model(self, hf_id: str) -> Path:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id=hf_id,
                repo_type="model",
                cache_dir=str(hub_cache_dir()),  # the folder this command measures and reports
                local_files_only=hub_offline(),
            )
        )

    def data(self, source: DataSource) -> list[Path]:
        return source.fetch()  # ptb.data downloads into the same caches the tasks read


@dataclass(frozen=True)
class Fetched:
    status: str  # "downloaded" (fetched now) | "ok" (already cached) | "failed"
    detail: str  # what was fetched, or why it failed
    location: Path  # the cache folder (or file) holding the item


def failure_reason(exc: BaseException, repo_id: str | None, repo_type: RepoType) -> str:
    """An actionable message for a failed download."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if isinstance(exc, DataUnavailable):  # ptb.data already says what to do
        return str(exc)
    if repo_id and isinstance(exc, GatedRepoError):
        return gated_message(repo_id, repo_type)
    if repo_id and isinstance(exc, RepositoryNotFoundError):
        return (
            f"{repo_type} {repo_id} was not found on the Hub: check the id in conf/; a private or gated "
            f"repository looks the same when {token_hint(repo_id, repo_type)}"
        )
    if repo_id and hub_offline() and isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        return (
            f"{repo_type} {repo_id} is not in the HF cache ({hub_cache_dir()}) and downloads are off "
            f"(HF_HUB_OFFLINE=1): run `python -m ptb.cache` on a machine with internet, with the same "
            f"HF_HOME ({hf_home()})"
        )
    what = f"{repo_type} {repo_id}" if repo_id else "it"
    return f"{what} could not be downloaded: {type(exc).__name__}: {exc}"


def _fetch(location: Path, download, repo_id: str | None, repo_type: RepoType) -> Fetched:
    before = disk_size(location)
    try:
        found = download()
    except Exception as exc:  # noqa: BLE001 (one failing item never stops the others)
        return Fetched("failed", failure_reason(exc, repo_id, repo_type), location)
    after = disk_size(location)
    count = len(found) if isinstance(found, list) else sum(1 for p in Path(found).rglob("*") if p.is_file())
    if after > before:
        return Fetched("downloaded", f"{count} files", location)
    return Fetched("ok", f"{count} files, already cached", location)


def fetch_model(downloader: Downloader, hf_id: str) -> Fetched:
    return _fetch(repo_cache_dir(hf_id, "model"), lambda: downloader.model(hf_id), hf_id, "model")


def data_location(source: DataSource) -> Path:
    if isinstance(source, HubDataset):
        return repo_cache_dir(source.repo_id, "dataset")
    return source.cached_path()


def fetch_data(downloader: Downloader, source: DataSource) -> Fetched:
    repo_id = source.repo_id if isinstance(source, HubDataset) else None
    return _fetch(data_location(source), lambda: downloader.data(source), repo_id, "dataset")
