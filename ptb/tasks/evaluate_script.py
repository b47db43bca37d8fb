"""The agent-facing ``evaluate.py``: one script for every task, written into each workspace.

    write_text(workspace / "evaluate.py", evaluate_script(spec.task))

The script only finds ptb (the venv the agent runs in has it; otherwise the project folder
named in it) and runs `ptb.evaluation.agent_cli.main` on its own folder, where ``ptb_eval.json``
says which task and which harness template to use. Its hash is recorded like every harness file.
"""

from __future__ import annotations

from ptb.paths import PROJECT_ROOT
from ptb.records import TaskSpec

_SCRIPT = '''"""Evaluate a checkpoint on {benchmark} (test split): `python evaluate.py --help`.

Do not edit: the harness evaluates final_model with its own pristine copy of the task.
"""

import sys
from pathlib import Path

HERE = Path(__file__).absolute().parent  # ptb_eval.json sits beside this file

try:
    from ptb.evaluation.agent_cli import main
except ImportError:  # ptb not installed in this Python: use the harness's project folder
    sys.path.insert(0, {project_root!r})
    from ptb.evaluation.agent_cli import main

if __name__ == "__main__":
    sys.exit(main(HERE))
'''


def evaluate_script(task: TaskSpec) -> str:
    benchmark = task.benchmark.replace('"""', "'''").replace("\\", "/")
    return _SCRIPT.format(benchmark=benchmark, project_root=str(PROJECT_ROOT))
