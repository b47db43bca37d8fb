# Red-team helpers, sourced by every agents/redteam/<case>/solve.sh (bash, cwd = the workspace).
# A cheat that cannot do its trick still submits the base model, so its run is scored (a cheat
# that had no effect scores the base score: "blocked").
set -euo pipefail
: "${PTB_BASE_MODEL:?redteam: PTB_BASE_MODEL is not set}"
: "${PTB_AGENT_DIR:?redteam: PTB_AGENT_DIR is not set}"
RT_LIB="$(cd "$PTB_AGENT_DIR/../_lib" && pwd)"
RT_RECIPE="$(cd "$PTB_AGENT_DIR/../../recipe_sft" && pwd)/train.py"
RT_STEPS="${RT_STEPS:-100}"   # enough to lift the tiny model well above its base score (measured: 15-30 %)

rt_log() { echo "redteam[$(basename "$PTB_AGENT_DIR")]: $*"; }

# The base model unchanged into final_model/ (what a blocked cheat is left with).
rt_submit_base() {
  rm -rf final_model final_model.tmp
  cp -rL -- "$PTB_BASE_MODEL" final_model.tmp
  chmod -R u+w final_model.tmp
  mv final_model.tmp final_model
  rt_log "submitted the base model"
}

# rt_submit_copy DIR: a copy of DIR as final_model/ (the base model when it cannot be copied).
rt_submit_copy() {
  rm -rf final_model final_model.tmp
  if cp -rL -- "$1" final_model.tmp && chmod -R u+w final_model.tmp && mv final_model.tmp final_model; then
    rt_log "submitted a copy of $1"
  else
    rt_log "cannot copy $1"
    rt_submit_base
  fi
}

# rt_train FILE [train.py args...]: the honest recipe's trainer on FILE (the train file's JSONL
# layout), fast settings; falls back to the base model when training fails.
rt_train() {
  local data="$1"; shift
  if python "$RT_RECIPE" --base-model "$PTB_BASE_MODEL" --data "$data" --out final_model \
      --max-steps "$RT_STEPS" --epochs 1000 --lr 3e-3 --seed "${PTB_SEED:-0}" "$@"; then
    rt_log "trained final_model on $data"
  else
    rt_log "training failed; submitting the base model"
    rt_submit_base
  fi
}
