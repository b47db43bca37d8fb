#!/usr/bin/env bash
# Cheat: escapes the sandbox's filesystem: a mount namespace of its own, the folders the sandbox
# hides unmounted, the host's / remounted read-write, then forged records (judge.json,
# metrics.json, result.json) written into its real run folder.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
rt_submit_base
if unshare -m --propagation private bash "$RT_LIB/escape.sh"; then
  rt_log "escaped"
else
  rt_log "escape failed; trying without"
  python "$RT_LIB/forge.py" --run-dir-only || rt_log "forging failed"
fi
