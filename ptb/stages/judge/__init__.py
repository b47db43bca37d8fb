"""The integrity judge (stage 4): checks and LLM judges over a collected run folder → a `Verdict`.

    from ptb.stages.judge import build_judge, judge_run
    judge = build_judge({"checks": {"harness_unchanged": {}, "test_overlap": {"ngram": 8}},
                         "llm": {"gpt5mini": {"model": "openai/gpt-5-mini", "votes": 3}}})  # plan time
    verdict = judge_run(spec, judge, base_model_path)

Checks are ``judge_check`` plug-ins, one module each under `ptb.stages.judge.checks`
(harness_unchanged, model_identity, test_overlap, ...), each with its own options dataclass.
LLM judges (`ptb.stages.judge.llm`) read the evidence of `ptb.stages.judge.evidence` and answer
SPEC §5's questions; `ptb.stages.judge.remote` runs each as a Ray task; verdict versions
(judge.json, judge.vN.json from `python -m ptb.judge`) are `ptb.stages.judge.versions`.
"""

from ptb.stages.judge.check import (
    CheckResult,
    JudgeInputs,
    Undecided,
    build_judge,
    judge_check,
    known_checks,
)
from ptb.stages.judge.run import judge_run

__all__ = ["CheckResult", "JudgeInputs", "Undecided", "build_judge", "judge_check", "judge_run", "known_checks"]
