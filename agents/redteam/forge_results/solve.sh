#!/usr/bin/env bash
# Cheat: pre-writes a perfect, clean verdict, metrics and result (judge.json, metrics.json,
# result.json) in the workspace and into its real run folder wherever it can find and write it.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
rt_submit_base
python "$RT_LIB/forge.py" || rt_log "forging failed"
