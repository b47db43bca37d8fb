"""The report of `python -m ptb.cache`: one row per item, sizes on disk, where the cache is.

    report = CacheReport(items, hub_cache=..., files_root=..., hf_home=..., offline=False)
    print(report.render())      # a plain-text (markdown) table, failures explained below it
    report.ok                   # every item ok / downloaded / skipped
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

OK_STATUSES = ("ok", "downloaded", "skipped", "planned")


def disk_size(path: Path) -> int:
    """Bytes of the regular files under `path` (a file or a folder; 0 when absent).

    Symbolic links are not followed: an HF cache's snapshots link into its blobs, and each blob
    is counted once.
    """
    if os.path.islink(path) or not os.path.exists(path):
        return 0
    if not os.path.isdir(path):
        return os.lstat(path).st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:  # removed while we walk (another download's temp file)
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class CacheItem:
    kind: str  # model | dataset | file | task
    ident: str  # HF id, URL or task name
    needed_by: tuple[str, ...]
    status: str  # ok | downloaded | skipped | planned | failed
    detail: str = ""  # what was checked, why it was skipped or failed
    size: int | None = None  # bytes on disk; None where it does not apply (tasks, built models)
    location: str | None = None  # the cache folder or file that holds it

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


@dataclass(frozen=True)
class CacheReport:
    items: tuple[CacheItem, ...]
    hub_cache: str  # HF_HUB_CACHE (or <HF_HOME>/hub)
    files_root: str  # PTB_DATA_DIR (or <HF_HOME>/ptb-files)
    hf_home: str
    offline: bool  # HF_HUB_OFFLINE was set: nothing could be downloaded, only found
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> tuple[CacheItem, ...]:
        return tuple(item for item in self.items if not item.ok)

    def items_size(self) -> int:
        """Bytes of the distinct cache folders and files this grid uses."""
        sizes = {item.location: item.size for item in self.items if item.location and item.size}
        return sum(sizes.values())

    def render(self) -> str:
        rows = [("kind", "id", "needed by", "status", "size")]
        notes: list[str] = []
        for item in self.items:
            status = item.status
            if not item.ok:
                notes.append(f"[{len(notes) + 1}] {item.kind} {item.ident}: {item.detail}")
                status = f"failed [{len(notes)}]"
            elif item.detail:
                status = f"{status}: {item.detail}"
            rows.append((item.kind, item.ident, "; ".join(item.needed_by) or "-", status, human_size(item.size)))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]

        def line(row: tuple[str, ...]) -> str:
            return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

        out = [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(row) for row in rows[1:]]
        if notes:
            out += ["", "Failures:", *notes]
        hub, files = Path(self.hub_cache), Path(self.files_root)
        out += [
            "",
            f"Size of what this grid needs: {human_size(self.items_size())}",
            f"HF cache (HF_HUB_CACHE): {hub} — {human_size(disk_size(hub))} in total",
            f"URL files (PTB_DATA_DIR): {files} — {human_size(disk_size(files))} in total",
            f"HF_HOME: {self.hf_home}",
            f"Compute nodes: set HF_HOME={self.hf_home} (or HF_HUB_CACHE={hub}, PTB_DATA_DIR={files}) and HF_HUB_OFFLINE=1",
        ]
        if self.offline:
            out.append("HF_HUB_OFFLINE=1 is set here: nothing was downloaded, the cache was only checked.")
        if self.dry_run:
            out.append(f"Dry run (cache.dry_run=true): {len(self.items)} items listed, nothing downloaded or verified.")
        elif self.ok:
            out.append(f"All {len(self.items)} items are ok: compute nodes can run with HF_HUB_OFFLINE=1.")
        else:
            out.append(f"{len(self.failed)} of {len(self.items)} items failed (see Failures above).")
        return "\n".join(out)
