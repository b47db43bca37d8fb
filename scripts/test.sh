#!/usr/bin/env bash
# Sets up (scripts/setup.sh), runs the gates (ruff, mypy; configured in pyproject.toml) and the
# whole test suite, slow end-to-end tests included. pytest's exit 5 ("no tests ran") is a
# failure here, never a success. Arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/ruff check . || { echo "test: ruff found problems (run .venv/bin/ruff check --fix .)" >&2; exit 1; }
.venv/bin/mypy || { echo "test: mypy found type errors" >&2; exit 1; }
# each agent folder's trace.py is its own top-level module (all named trace): one mypy run each
for trace in agents/*/trace.py; do
  .venv/bin/mypy --no-error-summary "$trace" || { echo "test: mypy found type errors in $trace" >&2; exit 1; }
done
export HF_HUB_OFFLINE=1 WANDB_SILENT=true
# the tiny model is built once (about 75 s) and reused by later test runs
export PTB_TEST_CACHE="${PTB_TEST_CACHE:-$PWD/.cache/ptb-test}"
.venv/bin/python -m pytest --durations=25 "$@"  # the slowest tests, to keep the suite short
rc=$?
if [ "$rc" = 5 ]; then echo "test: pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
