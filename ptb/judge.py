"""`python -m ptb.judge <results>/<sweep> [judge=...] [judge.llm.<name>.<key>=...]`: judge finished
runs again, writing a new verdict version beside the old ones.

    python -m ptb.judge results/default judge=llm                       # every finished run
    python -m ptb.judge results/default judge=llm judge.llm.gpt5mini.votes=3 dry_run=true

The judge config is composed from conf/ as `python -m ptb.run` would (default: conf/config.yaml's
judge), checked before anything runs (a bad value: one ``ptb: error:`` line, exit 2). Only
``judge`` overrides and ``dry_run`` are accepted: a run keeps everything else it recorded in its
spec.yaml. For each run folder with a result.json:

- the checks and LLM judges run in this process over the run folder (the collected snapshot, never
  a live workspace; nothing under ``workspace/`` is written);
- the verdict is written as the next version, ``judge.v<N>.json`` (judge.json, the pipeline's,
  is version 1; older versions are never rewritten, see `ptb.stages.judge.versions`);
- result.json is scored again from it by the score stage's own rule (the base score it recorded
  is kept) and names that version (``verdict_version``): the newest verdict is the one that counts.

An undecided verdict (a check's data missing, the judge's API down) is judged again up to the run's
``infra_retries``; if it stays undecided nothing is written for that run and the exit status is 1.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from ptb.errors import ConfigError
from ptb.io import from_jsonable, read_record, write_record
from ptb.paths import CONF_DIR
from ptb.records import CollectReport, JudgeConfig, Metrics, Outcome, Result, RunSpec, Verdict
from ptb.stages.judge.check import build_judge
from ptb.stages.judge.versions import latest_version, verdict_file, verdict_path
from ptb.stages.score import score_run


def compose_judge(overrides: Sequence[str]) -> tuple[JudgeConfig, bool]:
    """The judge config of ``overrides`` (``judge=...``, ``judge.x=y``, ``dry_run=...``), checked."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if not (key == "judge" or key.startswith("judge.") or key == "dry_run"):
            raise ConfigError(f"{override!r}: python -m ptb.judge takes judge=..., judge.<key>=... and dry_run=... only "
                              f"(a run keeps the rest of the config it recorded)")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
    except HydraException as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    judge = OmegaConf.to_container(cfg.judge, resolve=True)
    dry_run = cfg.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"dry_run={dry_run!r} is invalid: expected true or false")
    return build_judge({str(k): v for k, v in judge.items()} if isinstance(judge, dict) else None), dry_run


def finished_runs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob("*/result.json"))


def read_spec(run_dir: Path) -> RunSpec:
    """The run's recorded spec; its run_dir is where the folder is now (results may have moved)."""
    document = yaml.safe_load((run_dir / "spec.yaml").read_text())
    spec = from_jsonable(RunSpec, document["spec"])
    return dataclasses.replace(spec, run_dir=str(run_dir))


def rejudge_run(run_dir: Path, judge: JudgeConfig) -> tuple[Verdict, Result] | str:
    """Judge one finished run again: the new verdict and result (both written), or why not."""
    from ptb.models import resolve_base_model
    from ptb.stages.judge.run import judge_run

    spec = read_spec(run_dir)
    # only the deterministic checks read the base model (LLM judges alone need none built or fetched)
    base_model = str(resolve_base_model(spec.model, spec.cache_dir)) if judge.checks else ""
    verdict = judge_run(spec, judge, base_model)
    for _ in range(spec.infra_retries):
        if verdict.decided:
            break
        verdict = judge_run(spec, judge, base_model)
    if not verdict.decided:
        return f"undecided after {spec.infra_retries + 1} tries, nothing written: {verdict.reason}"
    version = max(2, latest_version(run_dir) + 1)
    verdict = dataclasses.replace(verdict, version=version)
    write_record(verdict_path(run_dir, version), verdict)
    previous = read_record(run_dir / "result.json", Result)
    result = score_run(spec, read_record(run_dir / "outcome.json", Outcome), read_record(run_dir / "collect.json", CollectReport),
                       verdict, read_record(run_dir / "metrics.json", Metrics), previous.base_score, previous.base_source)
    write_record(run_dir / "result.json", result)
    return verdict, result


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-") or "=" in args[0]:
        sys.stderr.write("usage: python -m ptb.judge <results>/<sweep> [judge=<name>] [judge.<key>=<value> ...] [dry_run=true]\n")
        return 2
    sweep_dir = Path(args[0]).expanduser().resolve()
    try:
        judge, dry_run = compose_judge(args[1:])
        if not sweep_dir.is_dir():
            raise ConfigError(f"{sweep_dir} is not a folder: pass a sweep folder (<results>/<sweep>)")
        runs = finished_runs(sweep_dir)
        if not runs:
            raise ConfigError(f"no finished run (<run>/result.json) in {sweep_dir}")
    except ConfigError as error:
        sys.stderr.write(f"ptb: error: {error}\n")
        return 2
    names = [c.name for c in judge.checks] + [f"llm.{j.name} ({j.model}, {j.votes} votes)" for j in judge.llm]
    print(f"[ptb.judge] {len(runs)} finished run(s) in {sweep_dir}; judge: {', '.join(names) or 'none'}")
    status = 0
    for run_dir in runs:
        if dry_run:
            print(f"{run_dir.name}: would write {verdict_file(max(2, latest_version(run_dir) + 1))}")
            continue
        outcome = rejudge_run(run_dir, judge)
        if isinstance(outcome, str):
            print(f"{run_dir.name}: {outcome}")
            status = 1
            continue
        verdict, result = outcome
        cost = verdict.cost
        print(f"{run_dir.name}: {verdict_file(verdict.version)}: {'FLAGGED' if verdict.flagged else 'not flagged'} "
              f"({verdict.reason}); score {result.score}; judge cost {cost.calls} calls, {cost.input_tokens} input "
              f"+ {cost.output_tokens} output tokens")
    if dry_run:
        print("[ptb.judge] dry run: nothing judged")
    return status


if __name__ == "__main__":
    sys.exit(main())
