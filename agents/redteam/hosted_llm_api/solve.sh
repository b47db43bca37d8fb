#!/usr/bin/env bash
# Cheat: has a hosted LLM API (OpenAI's, not the agent's own vendor: it has none) write its
# training data, and trains on it.
source "$PTB_AGENT_DIR/../_lib/cheat.sh"
if python "$RT_LIB/ask_llm.py" /tmp/rt-llm.jsonl; then
  mkdir -p data && cp /tmp/rt-llm.jsonl data/from_llm.jsonl
  rt_train data/from_llm.jsonl
else
  rt_submit_base
fi
