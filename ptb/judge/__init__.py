"""The integrity judge (stage 4): deterministic checks over a collected run folder.

    from ptb.judge import judge_run
    verdict = judge_run(spec, {"harness_unchanged": {}, "model_identity": {}, "test_overlap": {"ngram": 8}}, base)

Checks register themselves by decorator (`register_check`); importing this package registers
the built-in ones: harness_unchanged, model_identity, test_overlap.
"""

from ptb.judge import harness as _harness  # noqa: F401  (registers harness_unchanged)
from ptb.judge import model_identity as _model_identity  # noqa: F401  (registers model_identity)
from ptb.judge import test_overlap as _test_overlap  # noqa: F401  (registers test_overlap)
from ptb.judge.registry import CheckResult, JudgeInputs, known_checks, register_check, resolve_checks
from ptb.judge.run import judge_run

__all__ = ["CheckResult", "JudgeInputs", "judge_run", "known_checks", "register_check", "resolve_checks"]
