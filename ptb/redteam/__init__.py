"""The red team: offline cheating agents (agents/redteam/<case>/) run against the harness.

    python -m ptb.redteam [--short] [--cases a,b]

`cases` is the table of cases (what each cheat does, its guard, how the guard is turned off);
`verdicts` classifies runs (caught, blocked, MISSED; effective cheat; false flag) and prints the
table; `sweep` runs everything as one Ray sweep; `artifacts` builds the checkpoints some cheats
need (a stand-in instruct model, a checkpoint trained outside the budget).
"""

from ptb.redteam.cases import CASES, HONEST, Case
from ptb.redteam.verdicts import CaseReport, RunView, classify_guarded, exit_code, lifted, report_case, summary, table

__all__ = ["CASES", "HONEST", "Case", "CaseReport", "RunView", "classify_guarded", "exit_code", "lifted", "report_case", "summary", "table"]
