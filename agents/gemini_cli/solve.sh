#!/usr/bin/env bash
# gemini_cli: runs Google's Gemini CLI non-interactively (headless) in the workspace (cwd), the
# prompt on stdin, one JSON event per line on stdout (init, message, tool_use, tool_result, ...,
# result; token usage only in result.stats, keyed by model).
#
# Contract (set by ptb): PTB_AGENT_CLI (the `gemini` executable), PTB_AGENT_MODEL (e.g.
# gemini-3-pro-preview), PTB_AGENT_BASE_URL (base without /v1beta, or empty = the vendor's),
# PTB_AGENT_KEY_ENV (the NAME of the variable holding the key), PTB_AGENT_RESUME=1 to continue
# the previous session in this HOME, HOME private and writable. Proxy variables are left alone.
#
# ~/.gemini/settings.json (written each run):
#   security.auth.selectedType=gemini-api-key  the key from GEMINI_API_KEY (sent as x-goog-api-key); without
#                                              it a custom base URL fails "Invalid auth method selected"
#   security.folderTrust.enabled=false         an untrusted folder silently drops --yolo
#   privacy.usageStatisticsEnabled=false       no usage statistics upload (the only other lookup)
#   general.enableAutoUpdate(Notification)=false, telemetry.enabled=false, ide.enabled=false
#
# Command line (the prompt is read from stdin: a non-terminal stdin runs headless):
#   gemini --yolo                  every tool call approved
#     --skip-trust                 trust the workspace for this session (belt and braces with the setting)
#     --output-format stream-json  events as JSON lines
#     -m "$PTB_AGENT_MODEL"        without -m it first asks a router model which model to use
#     [--resume latest]            on PTB_AGENT_RESUME=1: the most recent session of this project
set -euo pipefail
: "${PTB_AGENT_CLI:?gemini_cli: PTB_AGENT_CLI is not set}"
: "${PTB_AGENT_MODEL:?gemini_cli: PTB_AGENT_MODEL is not set}"
: "${PTB_AGENT_KEY_ENV:?gemini_cli: PTB_AGENT_KEY_ENV is not set}"
: "${HOME:?gemini_cli: HOME is not set}"
if [ -z "${!PTB_AGENT_KEY_ENV:-}" ]; then
  echo "gemini_cli: the key variable $PTB_AGENT_KEY_ENV is empty" >&2
  exit 2
fi

if [ "$PTB_AGENT_KEY_ENV" != GEMINI_API_KEY ]; then
  export GEMINI_API_KEY="${!PTB_AGENT_KEY_ENV}"
fi
if [ -n "${PTB_AGENT_BASE_URL:-}" ]; then
  export GOOGLE_GEMINI_BASE_URL="$PTB_AGENT_BASE_URL"
fi

mkdir -p "$HOME/.gemini"
cat >"$HOME/.gemini/settings.json" <<'EOF'
{
  "security": {
    "auth": {"selectedType": "gemini-api-key"},
    "folderTrust": {"enabled": false}
  },
  "privacy": {"usageStatisticsEnabled": false},
  "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
  "telemetry": {"enabled": false},
  "ide": {"enabled": false}
}
EOF

args=(--yolo --skip-trust --output-format stream-json -m "$PTB_AGENT_MODEL")
if [ "${PTB_AGENT_RESUME:-0}" = 1 ]; then
  args+=(--resume latest)
fi
exec "$PTB_AGENT_CLI" "${args[@]}"
