"""Fill a shared HF cache for offline compute nodes: `python -m ptb.cache` (sweepable like a run).

    python -m ptb.cache model=qwen3-4b task=gsm8k               # one cell
    python -m ptb.cache -m model=qwen3-1.7b,qwen3-4b task=gsm8k,bfcl
    python -m ptb.cache -m +experiment=paper                    # the published 4×7 grid
    python -m ptb.cache -m +experiment=paper cache.dry_run=true # list, download nothing
    HF_TOKEN=hf_... HF_HOME=/shared/hf python -m ptb.cache -m +experiment=paper

On a machine with internet it downloads everything the configured grid reads into the HF cache
(``HF_HOME`` / ``HF_HUB_CACHE``) and the URL-file cache (``PTB_DATA_DIR``): each model's base
repository, its official instruct model (``cache.instruct``, for ``ptb.baseline``) and its
forbidden ids (``cache.forbidden``, which the judge compares weights with), and every task's
``DATA``. Models ptb builds itself (tiny) are skipped. Then it verifies the cache offline, in a
fresh process with ``HF_HUB_OFFLINE=1`` (`ptb.cache.verify`): configs and tokenizers load, weights
are all there, every task's test split builds with the expected number of samples. It prints one
row per item with its size, the cache's total size and where it is, and exits 0 only when every
item is ok. A gated repository (gpqa, Gemma-3) fails with a message naming the token to set and
the page where its terms are accepted; a failing item never stops the others. Run it again after
fixing a failure: what is cached already is not downloaded again. With ``HF_HUB_OFFLINE=1`` set
it downloads nothing and only checks the cache (what a compute node would find).

With ``-m``, ptb's launcher hands every job's config to `cache_all` at once (`ptb.batch`), so a
model shared by several tasks is fetched once.
"""

from __future__ import annotations

import sys
from typing import TextIO

from omegaconf import DictConfig

from ptb.cache.fetch import (
    Downloader,
    Fetched,
    HubDownloader,
    data_location,
    fetch_data,
    fetch_model,
)
from ptb.cache.plan import CachePlan, DataNeed, TaskNeed, plan_cache
from ptb.cache.report import CacheItem, CacheReport, disk_size
from ptb.cache.verify import Check, OfflineChecks, verify_offline
from ptb.data import files_root
from ptb.hub import hf_home, hub_cache_dir, repo_cache_dir
from ptb.plan import ConfigError


def _report(items: list[CacheItem], plan: CachePlan, offline: bool = False) -> CacheReport:
    return CacheReport(
        items=tuple(items),
        hub_cache=str(hub_cache_dir()),
        files_root=str(files_root()),
        hf_home=str(hf_home()),
        offline=offline,
        dry_run=plan.options.dry_run,
    )


def _built_items(plan: CachePlan) -> list[CacheItem]:
    return [
        CacheItem("model", b.name, (f"{b.name} (base)",), "skipped", f"built locally by ptb (builder {b.builder}), not downloaded")
        for b in plan.built
    ]


def _reads(task: TaskNeed) -> str:
    idents = [DataNeed(source, ()).ident for source in task.data]
    return f"reads {', '.join(idents)}" if idents else "no data to download"


def dry_run(plan: CachePlan) -> CacheReport:
    """What the grid needs and how much of it is cached already; nothing is downloaded."""

    def cached(location) -> tuple[str, int]:
        size = disk_size(location)
        return ("in cache" if size else "not in cache"), size

    items: list[CacheItem] = []
    for need in plan.models:
        where, size = cached(repo_cache_dir(need.hf_id, "model"))
        items.append(CacheItem("model", need.hf_id, need.needed_by, "planned", where, size, str(repo_cache_dir(need.hf_id, "model"))))
    items += _built_items(plan)
    for data in plan.data:
        where, size = cached(data_location(data.source))
        items.append(CacheItem(data.kind, data.ident, data.needed_by, "planned", where, size, str(data_location(data.source))))
    for task in plan.tasks:
        if task.problem:
            items.append(CacheItem("task", task.name, (), "failed", task.problem))
        else:
            items.append(CacheItem("task", task.name, (), "planned", _reads(task)))
    return _report(items, plan)


def _item(kind: str, ident: str, needed_by: tuple[str, ...], fetched: Fetched, check: Check | None) -> CacheItem:
    size, location = disk_size(fetched.location), str(fetched.location)
    if fetched.status == "failed":
        return CacheItem(kind, ident, needed_by, "failed", fetched.detail, size, location)
    if check is None or not check.ok:
        why = check.detail if check else "not verified"
        return CacheItem(kind, ident, needed_by, "failed", f"offline check failed: {why}", size, location)
    return CacheItem(kind, ident, needed_by, fetched.status, check.detail, size, location)


def run_cache(plan: CachePlan, downloader: Downloader, log: TextIO | None = None) -> CacheReport:
    """Download every item of the plan, verify them offline, and report."""
    if plan.options.dry_run:
        return dry_run(plan)
    log = log or sys.stderr

    def say(message: str) -> None:
        log.write(f"[ptb.cache] {message}\n")
        log.flush()

    if downloader.offline:
        say("HF_HUB_OFFLINE=1 is set: nothing is downloaded, the cache is only checked")
    models: dict[str, Fetched] = {}
    for need in plan.models:
        say(f"model {need.hf_id} ({', '.join(need.needed_by)})")
        models[need.hf_id] = fetch_model(downloader, need.hf_id)
        say(f"model {need.hf_id}: {models[need.hf_id].status}")
    data: list[Fetched] = []
    for data_need in plan.data:
        say(f"{data_need.kind} {data_need.ident} ({', '.join(data_need.needed_by)})")
        data.append(fetch_data(downloader, data_need.source))
        say(f"{data_need.kind} {data_need.ident}: {data[-1].status}")

    failed_sources = {need.source: need for need, f in zip(plan.data, data, strict=True) if f.status == "failed"}
    verified_models = [hf_id for hf_id, f in models.items() if f.status != "failed"]
    verified_data = [need.source for need, f in zip(plan.data, data, strict=True) if f.status != "failed"]
    verified_tasks = [t.spec for t in plan.tasks if t.spec and not t.problem and not failed_sources.keys() & set(t.data)]
    say(f"verifying offline (HF_HUB_OFFLINE=1): {len(verified_models)} models, {len(verified_data)} data sources, {len(verified_tasks)} tasks")
    checks: OfflineChecks = verify_offline(
        verified_models, verified_data, verified_tasks, grader_key_envs=plan.grader_key_envs
    )  # fmt: skip
    data_checks = dict(zip(verified_data, checks.data, strict=True))

    items = [_item("model", n.hf_id, n.needed_by, models[n.hf_id], checks.models.get(n.hf_id)) for n in plan.models]
    items += _built_items(plan)
    items += [_item(n.kind, n.ident, n.needed_by, f, data_checks.get(n.source)) for n, f in zip(plan.data, data, strict=True)]
    for task in plan.tasks:
        missing = [failed_sources[s].ident for s in task.data if s in failed_sources]
        if task.problem:
            items.append(CacheItem("task", task.name, (), "failed", task.problem))
        elif missing:
            items.append(CacheItem("task", task.name, (), "failed", f"not verified: its data failed ({', '.join(missing)})"))
        else:
            check = checks.tasks.get(task.name, Check(False, "not verified"))
            status = "ok" if check.ok else "failed"
            items.append(CacheItem("task", task.name, (), status, check.detail if check.ok else f"offline check failed: {check.detail}"))
    return _report(items, plan, offline=downloader.offline)


def cache_all(configs: list[DictConfig], downloader: Downloader | None = None, out: TextIO | None = None) -> list[int]:
    """Plan, download, verify and report the whole batch; one exit code per job (all equal)."""
    try:
        plan = plan_cache(configs)
    except ConfigError as error:
        sys.stderr.write(f"ptb: error: {error}\n")
        sys.exit(2)
    report = run_cache(plan, downloader if downloader is not None else HubDownloader())
    out = out or sys.stdout
    out.write(report.render() + "\n")
    out.flush()
    return [0 if report.ok else 1] * len(configs)
