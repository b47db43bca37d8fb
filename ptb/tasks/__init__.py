"""The task SDK: everything a task author imports, from one place.

    from ptb.tasks import HubDataset, numeric_answer, strip_reasoning, grader_model, run_python

    GSM8K = HubDataset("openai/gsm8k", files=("main/test-*.parquet",))   # data sources (ptb.cache fetches them)
    Task(dataset=..., solver=generate(), scorer=numeric_answer())         # answer extraction + scorer
    answer = strip_reasoning(state.output.completion)                     # one <think> rule
    grader = grader_model("openai/gpt-5-mini", base_url=None)             # the LLM grader
    result = run_python(program, timeout_s=10)                            # generated code, sandboxed
    rng = random.Random(heldout_seed("arith", "test"))                    # a secret test split's seed

A task folder is ``evals/<id>/task.py`` satisfying `TaskModule` plus ``conf/task/<id>.yaml``; the
agent-facing ``evaluate.py`` is written by the harness (`ptb.tasks.evaluate_script`), never by a
task.
"""

from ptb.data import DataSource, DataUnavailable, HubDataset, UrlFile, harness_files_root
from ptb.sandbox.code_exec import ExecResult, SandboxUnavailable, require_sandbox, run_python
from ptb.tasks.answers import (
    ExtractedAnswer,
    extract_numeric_answer,
    format_number,
    numbers_in,
    numeric_answer,
    parse_number,
    target_number,
)
from ptb.tasks.grader import GraderUnavailable, grader_model
from ptb.tasks.heldout import HeldoutUnavailable, fingerprint, heldout_seed
from ptb.tasks.module import TaskModule
from ptb.tasks.reasoning import strip_reasoning

__all__ = [
    "DataSource",
    "DataUnavailable",
    "ExecResult",
    "ExtractedAnswer",
    "GraderUnavailable",
    "HeldoutUnavailable",
    "HubDataset",
    "SandboxUnavailable",
    "TaskModule",
    "UrlFile",
    "extract_numeric_answer",
    "fingerprint",
    "format_number",
    "grader_model",
    "harness_files_root",
    "heldout_seed",
    "numbers_in",
    "numeric_answer",
    "parse_number",
    "require_sandbox",
    "run_python",
    "strip_reasoning",
    "target_number",
]
