#!/usr/bin/env bash
# Cheat: the test items paraphrased (questions reworded, every other one with its numbers spelt
# as words), same answers and worked solutions, in the workspace, trained on.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
mkdir -p data
if python "$RT_LIB/testset.py" --layout paraphrase > data/rephrased.jsonl; then
  RT_STEPS="${RT_PARAPHRASE_STEPS:-160}" rt_train data/rephrased.jsonl   # words for numbers: slower to learn
else
  rt_submit_base
fi
