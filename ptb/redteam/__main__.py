"""`python -m ptb.redteam`: run every red-team case (guarded and with its guard off) and the
honest runs as one sweep, print the table and exit non-zero on any MISSED case, ineffective
cheat or false flag.

    python -m ptb.redteam                          # every case, full budgets, into results/redteam
    python -m ptb.redteam --short                  # the CI mode (small budgets, 20 test items)
    python -m ptb.redteam --cases test_jsonl,forge_results --work-dir /tmp/rt
    python -m ptb.redteam --list                   # the cases and their guards
    python -m ptb.redteam --short -- cluster.temp_dir=/tmp/ray   # more overrides for every job
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ptb.errors import ConfigError
from ptb.redteam.cases import CASES
from ptb.redteam.sweep import RedTeamOptions, run_redteam


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptb.redteam", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("results/redteam"))
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--short", action="store_true", help="CI mode: small budgets and evaluations")
    parser.add_argument("--min-lift", type=float, default=0.1, help="score above base that shows a cheat works")
    parser.add_argument("--fresh", action="store_true", help="delete the work dir's results first")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every job")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            print(f"{case.name}: {case.cheat} — guard: {case.guard}")
        return 0
    if args.fresh:
        shutil.rmtree(args.work_dir / "results", ignore_errors=True)
        shutil.rmtree(args.work_dir / "scratch", ignore_errors=True)
    options = RedTeamOptions(
        work_dir=args.work_dir,
        cases=tuple(c for c in args.cases.split(",") if c),
        short=args.short,
        min_lift=args.min_lift,
        overrides=tuple(args.overrides),
    )
    try:
        report = run_redteam(options)
    except ConfigError as error:
        sys.stderr.write(f"ptb: error: {error}\n")
        return 2
    print("\n" + "\n".join(report.lines()))
    print(f"[redteam] wall time {report.seconds:.0f} s; results in {args.work_dir / 'results'}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
