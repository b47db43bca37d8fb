"""The published reference baselines (SPEC §2): base and official instruct models, zero-shot
with the harness templates, as fractions 0..1, keyed by ptb's model and task config names.

    reference_score("base", "qwen3-4b", "gsm8k")      # 0.418
    reference_score("instruct", "gemma3-4b", "bfcl")  # 0.67
    reference_score("base", "tiny", "arith")          # None: not part of the published grid

The leaderboard falls back to these when no measured baseline exists (`ptb.baseline.store`), and
says so.
"""

from __future__ import annotations

from typing import Literal, get_args

BaselineKind = Literal["base", "instruct"]
KINDS: tuple[str, ...] = get_args(BaselineKind)
TASKS = ("aime2025", "arenahard_writing", "bfcl", "gpqa", "gsm8k", "healthbench", "humaneval")


def _row(*percent: float) -> dict[str, float]:
    assert len(percent) == len(TASKS)
    return {task: round(p / 100.0, 6) for task, p in zip(TASKS, percent, strict=True)}


#                                 AIME  ArenaW  BFCL  GPQA  GSM8K  HealthB  HumanEval
REFERENCE: dict[str, dict[str, dict[str, float]]] = {
    "base": {
        "qwen3-1.7b": _row(0.0, 0.9, 0.0, 14.1, 12.7, 7.5, 7.9),
        "qwen3-4b": _row(3.3, 3.4, 0.0, 13.4, 41.8, 13.4, 36.6),
        "smollm3-3b": _row(3.3, 0.4, 0.0, 4.9, 21.1, 0.0, 6.1),
        "gemma3-4b": _row(0.0, 0.3, 6.0, 1.6, 6.1, 17.0, 0.6),
    },
    "instruct": {
        "qwen3-1.7b": _row(26.7, 50.0, 94.0, 35.5, 88.5, 44.9, 68.9),
        "qwen3-4b": _row(53.3, 86.8, 95.0, 44.6, 93.8, 52.7, 77.4),
        "smollm3-3b": _row(26.7, 49.2, 84.0, 33.3, 82.2, 29.6, 70.1),
        "gemma3-4b": _row(10.0, 94.8, 67.0, 31.5, 83.5, 46.1, 69.5),
    },
}

# The published weighted averages, in percent (a check on the table and on the weights).
PUBLISHED_WEIGHTED: dict[str, dict[str, float]] = {
    "base": {"qwen3-1.7b": 6.7, "qwen3-4b": 14.3, "smollm3-3b": 4.5, "gemma3-4b": 4.6},
    "instruct": {"qwen3-1.7b": 49.4, "qwen3-4b": 63.7, "smollm3-3b": 44.8, "gemma3-4b": 46.6},
}


def reference_score(kind: str, model: str, task: str) -> float | None:
    if kind not in KINDS:
        raise ValueError(f"baseline kind {kind!r} is unknown; accepted: {list(KINDS)}")
    return REFERENCE[kind].get(model, {}).get(task)
