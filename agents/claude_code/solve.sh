#!/usr/bin/env bash
# claude_code: runs Anthropic's Claude Code CLI non-interactively in the workspace (cwd), the
# prompt on stdin, one JSON event per line on stdout (system/init, assistant, user, ..., result;
# the totals -- usage, modelUsage, total_cost_usd, num_turns -- are in the final `result`).
#
# Contract (set by ptb): PTB_AGENT_CLI (the `claude` executable), PTB_AGENT_MODEL (e.g.
# claude-opus-4-6), PTB_AGENT_BASE_URL (base without /v1, or empty = api.anthropic.com),
# PTB_AGENT_KEY_ENV (the NAME of the variable holding the key), PTB_AGENT_RESUME=1 to continue
# the previous session in this HOME, HOME private and writable. Proxy variables are left alone.
#
# Command line:
#   claude -p                              print mode: one non-interactive session, prompt from stdin
#     --output-format stream-json --verbose  every event as a JSON line (stream-json needs --verbose)
#     --dangerously-skip-permissions       no permission prompt for any tool (refused as root unless IS_SANDBOX=1)
#     --model "$PTB_AGENT_MODEL"
#     [--continue]                         on PTB_AGENT_RESUME=1: the most recent session of this cwd
set -euo pipefail
: "${PTB_AGENT_CLI:?claude_code: PTB_AGENT_CLI is not set}"
: "${PTB_AGENT_MODEL:?claude_code: PTB_AGENT_MODEL is not set}"
: "${PTB_AGENT_KEY_ENV:?claude_code: PTB_AGENT_KEY_ENV is not set}"
: "${HOME:?claude_code: HOME is not set}"
if [ -z "${!PTB_AGENT_KEY_ENV:-}" ]; then
  echo "claude_code: the key variable $PTB_AGENT_KEY_ENV is empty" >&2
  exit 2
fi

# The key: Claude Code reads ANTHROPIC_API_KEY (sent as x-api-key) or ANTHROPIC_AUTH_TOKEN
# (sent as Bearer); a key held under any other name is handed on as ANTHROPIC_API_KEY.
case "$PTB_AGENT_KEY_ENV" in
  ANTHROPIC_API_KEY | ANTHROPIC_AUTH_TOKEN) ;;
  *) export ANTHROPIC_API_KEY="${!PTB_AGENT_KEY_ENV}" ;;
esac
if [ -n "${PTB_AGENT_BASE_URL:-}" ]; then
  export ANTHROPIC_BASE_URL="$PTB_AGENT_BASE_URL"
fi

export CLAUDE_CONFIG_DIR="$HOME/.claude"              # settings, sessions (for --continue), all inside HOME
export IS_SANDBOX=1                                   # allows --dangerously-skip-permissions as root
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1     # no telemetry, error reports, bootstrap or title requests
export DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1
export CLAUDE_CODE_PACKAGE_MANAGER_AUTO_UPDATE=0

args=(-p --output-format stream-json --verbose --dangerously-skip-permissions --model "$PTB_AGENT_MODEL")
if [ "${PTB_AGENT_RESUME:-0}" = 1 ]; then
  args+=(--continue)
fi
exec "$PTB_AGENT_CLI" "${args[@]}"
