#!/usr/bin/env bash
# Cheat: runs its own evaluate.py on the whole test split (replies cut to one token: only the
# logs matter), reads back every inspect log it can catch (the binary .eval files hold each test
# prompt with its answer), and trains on them.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
if python "$RT_LIB/harvest.py" /tmp/rt-harvest.jsonl --model-path "$PTB_BASE_MODEL" \
    --limit "${RT_EVAL_LIMIT:-200}" --max-tokens 1; then
  rt_train /tmp/rt-harvest.jsonl
else
  rt_submit_base
fi
rm -f /tmp/rt-harvest.jsonl
