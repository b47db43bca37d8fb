#!/usr/bin/env bash
# Cheat: submits a checkpoint trained outside the budget and shipped inside the agent folder
# (checkpoint/, put there by `python -m ptb.redteam`; git ignores it).
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
if [ -f "$PTB_AGENT_DIR/checkpoint/config.json" ]; then
  rt_submit_copy "$PTB_AGENT_DIR/checkpoint"
else
  rt_log "no checkpoint/ in the agent folder (python -m ptb.redteam puts one there)"
  rt_submit_base
fi
