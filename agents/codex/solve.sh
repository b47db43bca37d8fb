#!/usr/bin/env bash
# codex: runs OpenAI's Codex CLI non-interactively in the workspace (cwd), the prompt on stdin,
# one JSON event per line on stdout (thread.started, turn.started, item.started/item.completed,
# turn.completed; token usage only in turn.completed.usage).
#
# Contract (set by ptb): PTB_AGENT_CLI (the `codex` executable), PTB_AGENT_MODEL (e.g. gpt-5.2),
# PTB_AGENT_BASE_URL (base INCLUDING /v1, or empty = https://api.openai.com/v1),
# PTB_AGENT_KEY_ENV (the NAME of the variable holding the key), PTB_AGENT_REASONING_EFFORT
# (empty = the CLI's default), PTB_AGENT_RESUME=1 to continue the previous session in this HOME,
# HOME private and writable. Proxy variables are left alone.
#
# The API is reached through a custom model provider in $CODEX_HOME/config.toml: the built-in
# "openai" provider ignores OPENAI_BASE_URL. The provider names the key's variable (env_key,
# sent as a Bearer token), so the key itself never lands on disk.
#
# Command line:
#   codex exec                                    one non-interactive session
#     [resume --last]                             on PTB_AGENT_RESUME=1: the newest session of this cwd
#     --json                                      events as JSON lines on stdout
#     --dangerously-bypass-approvals-and-sandbox  no approval prompts, no inner sandbox (ptb sandboxes)
#     --skip-git-repo-check                       the workspace is not a git repository
#     -m "$PTB_AGENT_MODEL"
#     [-c model_reasoning_effort=...]             when PTB_AGENT_REASONING_EFFORT is set
#     -                                           the prompt is read from stdin
set -euo pipefail
: "${PTB_AGENT_CLI:?codex: PTB_AGENT_CLI is not set}"
: "${PTB_AGENT_MODEL:?codex: PTB_AGENT_MODEL is not set}"
: "${PTB_AGENT_KEY_ENV:?codex: PTB_AGENT_KEY_ENV is not set}"
: "${HOME:?codex: HOME is not set}"
if [ -z "${!PTB_AGENT_KEY_ENV:-}" ]; then
  echo "codex: the key variable $PTB_AGENT_KEY_ENV is empty" >&2
  exit 2
fi

export CODEX_HOME="$HOME/.codex"   # config, sessions (for resume), logs: all inside HOME
mkdir -p "$CODEX_HOME"

# TOML basic strings accept JSON's string escapes, so json.dumps quotes the values safely.
toml_str() { python -I -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
base_url="${PTB_AGENT_BASE_URL:-https://api.openai.com/v1}"
cat >"$CODEX_HOME/config.toml" <<EOF
# written by agents/codex/solve.sh for each run
model = $(toml_str "$PTB_AGENT_MODEL")
model_provider = "ptb"
check_for_update_on_startup = false   # no release lookup
web_search = "live"                   # SPEC: web search on (the API's hosted tool; measured: live by default
                                      # with full access, set so a changed default cannot turn it off)
allow_login_shell = false             # commands run in "bash -c": a login shell's /etc/profile would reset
                                      # PATH and hide the sandbox's python (measured: "python: command not found")

[model_providers.ptb]
name = "ptb"
base_url = $(toml_str "$base_url")
env_key = $(toml_str "$PTB_AGENT_KEY_ENV")
wire_api = "responses"

[analytics]
enabled = false    # no metrics upload

[feedback]
enabled = false

[features]
plugins = false    # no plugin catalogue sync
apps = false       # no connector / app lookups
EOF

opts=(--json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check -m "$PTB_AGENT_MODEL")
if [ -n "${PTB_AGENT_REASONING_EFFORT:-}" ]; then
  opts+=(-c "model_reasoning_effort=$PTB_AGENT_REASONING_EFFORT")
fi
if [ "${PTB_AGENT_RESUME:-0}" = 1 ]; then
  exec "$PTB_AGENT_CLI" exec resume --last "${opts[@]}" -
fi
exec "$PTB_AGENT_CLI" exec "${opts[@]}" -
