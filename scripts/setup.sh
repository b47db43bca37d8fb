#!/usr/bin/env bash
# Sets ptb up on a fresh machine: bubblewrap (the sandbox), a virtualenv in .venv, torch, and
# ptb itself (editable, with the test extra). Safe to run again: finished steps are skipped.
#   PTB_TORCH   pip requirement for torch (default torch==2.13.0; on a CUDA cluster e.g. "torch")
#   PTB_EXTRAS  extras to install (default "test"; add "gpu" for vLLM: PTB_EXTRAS=test,gpu)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup: could not install bubblewrap; sandbox=auto will fall back to 'none'" >&2
  elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup: could not install bubblewrap; sandbox=auto will fall back to 'none'" >&2
  else
    echo "setup: bubblewrap (bwrap) is missing and cannot be installed here; sandbox=auto will fall back to 'none'" >&2
  fi
fi

# chromium: only the browser test of report.html (tests/test_report_html.py) needs it; it skips without
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq chromium >/dev/null 2>&1 || echo "setup: could not install chromium; the report browser test will skip" >&2
  elif sudo -n true 2>/dev/null; then sudo apt-get install -y -qq chromium >/dev/null 2>&1 || echo "setup: could not install chromium; the report browser test will skip" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/python -m pip"
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  $PIP install -q "${PTB_TORCH:-torch==2.13.0}"
fi
$PIP install -q -e ".[${PTB_EXTRAS:-test}]"
echo "setup: ready (.venv/bin/python -m ptb.run)"
