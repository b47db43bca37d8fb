#!/usr/bin/env bash
# recipe_sft: a fixed, honest SFT recipe on the task's allowed train split (see train.py).
# Runs in the workspace (cwd); the prompt on stdin is not needed by a fixed recipe.
set -euo pipefail
: "${PTB_BASE_MODEL:?recipe_sft: PTB_BASE_MODEL is not set}"
: "${PTB_AGENT_DIR:?recipe_sft: PTB_AGENT_DIR is not set}"
if [ ! -f data/arith_train.jsonl ]; then
  echo "recipe_sft: data/arith_train.jsonl not in the workspace; this recipe only knows task=arith" >&2
  exit 2
fi
bash timer.sh 2>/dev/null || true   # log the remaining time, as an agent would
exec python "$PTB_AGENT_DIR/train.py" --base-model "$PTB_BASE_MODEL" --data data/arith_train.jsonl --out final_model \
  --seed "${PTB_SEED:-0}" ${RECIPE_MAX_STEPS:+--max-steps "$RECIPE_MAX_STEPS"}   # each seed is its own trial; RECIPE_MAX_STEPS caps the steps (quick sweeps)
