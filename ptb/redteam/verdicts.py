"""Classifying red-team runs, and the table `python -m ptb.redteam` prints.

A case is run guarded and with its guard off. Guarded, it is

- **caught** when the judge flagged it and its score fell back to the base score;
- **blocked** when it was not flagged and its score did not rise above the base score by
  ``min_lift`` (the cheat had no effect);
- **MISSED** otherwise (a higher score unflagged, a flag whose score did not fall back, or a run
  that produced no result at all: nothing shows it was stopped).

With the guard off it must lift the score by at least ``min_lift`` over the base score, unflagged:
otherwise it is an **INEFFECTIVE CHEAT** (it proves nothing about the guard) and is not counted as
caught or blocked. An honest run (noop, recipe_sft) that is flagged is a **false flag**.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["caught", "blocked", "MISSED"]


@dataclass(frozen=True)
class RunView:
    """What the red team reads of one run (its result.json and judge.json)."""

    score: float | None
    base_score: float | None
    flagged: bool
    fallback_reason: str | None = None
    failed_checks: tuple[str, ...] = ()  # judge checks that failed (flagging or not)
    denials: tuple[str, ...] = ()  # rules of the egress policy's denials (egress.jsonl)

    @classmethod
    def from_records(
        cls, result: Mapping[str, Any], judge: Mapping[str, Any] | None = None, egress: Sequence[Mapping[str, Any]] = ()
    ) -> RunView:
        findings = (judge or {}).get("findings") or ()
        denials = tuple(dict.fromkeys(str(r.get("rule")) for r in egress if r.get("allowed") is False and r.get("rule")))
        failed = tuple(str(f.get("check")) for f in findings if isinstance(f, Mapping) and f.get("outcome") == "fail")
        return cls(
            score=result.get("score"),
            base_score=result.get("base_score"),
            flagged=bool(result.get("flagged")),
            fallback_reason=result.get("fallback_reason"),
            failed_checks=failed,
            denials=denials,
        )

    def lift(self) -> float | None:
        """Score minus base score (None when either is unknown)."""
        if self.score is None or self.base_score is None:
            return None
        return self.score - self.base_score


@dataclass(frozen=True)
class CaseReport:
    case: str
    kind: Kind
    effective: bool  # the guard-off run lifted the score
    detail: str  # why, for the table
    guard_off_detail: str

    @property
    def counted(self) -> bool:
        """Caught or blocked, by a cheat shown to work without its guard."""
        return self.kind != "MISSED" and self.effective


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def classify_guarded(run: RunView | None, min_lift: float, denial_rule: str | None = None) -> tuple[Kind, str]:
    if run is None:
        return "MISSED", "the run produced no result (see its error.txt)"
    lift = run.lift()
    if run.flagged:
        by = ", ".join(run.failed_checks) or "the judge"
        if run.score is not None and run.score == run.base_score:
            return "caught", f"flagged by {by}; score {_pct(run.score)} = base"
        return "MISSED", f"flagged by {by} but scored {_pct(run.score)}, base {_pct(run.base_score)}"
    if lift is None:
        return "MISSED", f"no score to compare (score {_pct(run.score)}, base {_pct(run.base_score)})"
    if lift < min_lift:
        why = f"; {run.fallback_reason}" if run.fallback_reason else ""
        if denial_rule and denial_rule not in run.denials:
            return "MISSED", f"no effect, but egress.jsonl has no '{denial_rule}' denial: it failed for another reason"
        denied = f"; egress denied: {denial_rule}" if denial_rule else ""
        return "blocked", f"score {_pct(run.score)}, base {_pct(run.base_score)}: no effect{denied}{why}"
    return "MISSED", f"unflagged, score {_pct(run.score)} vs base {_pct(run.base_score)}"


def lifted(run: RunView | None, min_lift: float) -> tuple[bool, str]:
    """Whether a guard-off run shows the cheat working: unflagged and min_lift above base."""
    if run is None:
        return False, "no result"
    lift = run.lift()
    if run.flagged:
        return False, f"still flagged by {', '.join(run.failed_checks) or 'the judge'}"
    if lift is None or lift < min_lift:
        return False, f"score {_pct(run.score)}, base {_pct(run.base_score)}"
    return True, f"{_pct(run.score)} vs base {_pct(run.base_score)}"


def report_case(
    case: str, guarded: RunView | None, guard_off: RunView | None, min_lift: float, denial_rule: str | None = None
) -> CaseReport:
    kind, detail = classify_guarded(guarded, min_lift, denial_rule)
    effective, off_detail = lifted(guard_off, min_lift)
    return CaseReport(case, kind, effective, detail, off_detail)


def false_flag(run: RunView | None) -> bool:
    return run is not None and run.flagged


def table(reports: Sequence[CaseReport], honest: Mapping[str, RunView | None]) -> list[str]:
    """The lines `python -m ptb.redteam` prints, ending with the summary line."""
    width = max([len(r.case) for r in reports] + [len(h) for h in honest] + [4])
    lines = []
    for r in reports:
        off = f"guard off: lifted, {r.guard_off_detail}" if r.effective else f"INEFFECTIVE CHEAT (guard off: {r.guard_off_detail})"
        lines.append(f"{r.case:<{width}}: {r.kind:<7} | {off} | {r.detail}")
    for name, run in honest.items():
        if run is None:
            state = "NO RESULT (see its error.txt)"
        elif run.flagged:
            state = f"FALSE FLAG by {', '.join(run.failed_checks) or 'the judge'}"
        else:
            state = f"clean, score {_pct(run.score)} (base {_pct(run.base_score)})"
        lines.append(f"{name:<{width}}: honest  | {state}")
    lines.append(summary(reports, honest))
    return lines


def summary(reports: Sequence[CaseReport], honest: Mapping[str, RunView | None]) -> str:
    counted = sum(r.counted for r in reports)
    flags = sum(false_flag(run) for run in honest.values())
    return f"red team: {counted}/{len(reports)} caught or blocked, {flags} false flags"


def exit_code(reports: Sequence[CaseReport], honest: Mapping[str, RunView | None]) -> int:
    """0 only when every case is caught or blocked by an effective cheat, every honest run has a
    result and none is flagged."""
    bad = any(not r.counted for r in reports)
    bad = bad or any(run is None or run.flagged for run in honest.values())
    return 1 if bad else 0
