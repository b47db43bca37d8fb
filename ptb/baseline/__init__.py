"""Baselines: the base model zero-shot and the official instruct model, per (model, task).

    python -m ptb.baseline model=qwen3-4b task=gsm8k          # the command (`ptb.baseline.command`)
    BaselineStore(results_dir).score("base", "qwen3-4b", "gsm8k")   # measured, else reference
    BaselineMeter(results_dir, eval_pool).base_score(model, task, base_path)

Modules: `store` (the baselines folder), `meter` (measuring through the evaluation pool),
`reference` (SPEC's published table), `command` (the sweepable command).
"""

from ptb.baseline.reference import KINDS, reference_score
from ptb.baseline.store import BaselineScore, BaselineStore

__all__ = ["KINDS", "BaselineScore", "BaselineStore", "reference_score"]
