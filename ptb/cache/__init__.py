"""Filling a shared HF cache for offline compute nodes: `python -m ptb.cache`.

Modules, in the order the command uses them: `plan` (what a grid needs), `fetch` (downloading
it), `verify` (checking it offline in a fresh process), `report` (the table it prints), and
`command` (the sweepable command that runs them).
"""

from ptb.cache.command import cache_all, dry_run, run_cache
from ptb.cache.plan import CacheOptions, CachePlan, plan_cache

__all__ = ["CacheOptions", "CachePlan", "cache_all", "dry_run", "plan_cache", "run_cache"]
