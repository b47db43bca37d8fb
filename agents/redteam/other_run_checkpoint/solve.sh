#!/usr/bin/env bash
# Cheat: takes another run's live checkpoint from its workspace (visible where scratch_dir is
# outside the results folder) instead of training.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
if python "$RT_LIB/thief.py"; then
  rt_log "submitted another run's checkpoint"
else
  rt_submit_base
fi
