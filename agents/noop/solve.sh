#!/usr/bin/env bash
# noop: submits the base model unchanged (the floor of every task, and a smoke test of the
# pipeline). The prompt on stdin is not read. final_model/ is a real copy, never a symlink,
# so it survives the collect stage's copy out of the workspace.
set -euo pipefail
: "${PTB_BASE_MODEL:?noop: PTB_BASE_MODEL is not set}"
rm -rf final_model final_model.tmp
cp -rL -- "$PTB_BASE_MODEL" final_model.tmp
chmod -R u+w final_model.tmp   # the base model is mounted read-only; its copy must not be
mv final_model.tmp final_model
echo "noop: copied the base model into final_model/"
