#!/usr/bin/env bash
# opencode: runs OpenCode non-interactively in the workspace (cwd), the prompt on stdin, one
# JSON event per line on stdout (step_start, tool_use, text, step_finish, ...; tokens and cost
# per step in step_finish.part, no final summary event).
#
# Contract (set by ptb): PTB_AGENT_CLI (the `opencode` executable), PTB_AGENT_MODEL
# (provider/model, e.g. opencode/kimi-k2.5), PTB_AGENT_BASE_URL (base INCLUDING /v1, or empty =
# the provider's own endpoint), PTB_AGENT_KEY_ENV (the NAME of the variable holding the key),
# PTB_AGENT_RESUME=1 to continue the previous session in this HOME, HOME private and writable.
# Proxy variables are left alone.
#
# ~/.config/opencode/opencode.json (written each run):
#   provider.<prefix>.options.apiKey = "{env:<PTB_AGENT_KEY_ENV>}"  opencode substitutes it when it
#                                 loads the config, so the key itself never lands on disk
#   with a base URL, the provider is an OpenAI-compatible one (@ai-sdk/openai-compatible, bundled in
#   the binary: Chat Completions over SSE) at options.baseURL, with the model declared; without
#   one, the provider named by the model's prefix is used as opencode knows it
#   model, permission "allow" for every tool, autoupdate off, sharing off
# @opencode-ai/plugin: opencode installs it in the background into each config folder (from the
#   npm registry) unless it is already there; the copy installed next to the CLI is linked in.
# Environment: OPENCODE_DISABLE_MODELS_FETCH (no models.dev catalogue download),
#   OPENCODE_DISABLE_AUTOUPDATE, OPENCODE_DISABLE_SHARE, OPENCODE_DISABLE_LSP_DOWNLOAD,
#   OPENCODE_DISABLE_CLAUDE_CODE (do not read ~/.claude); OPENCODE_DISABLE_FFF is NOT set (it
#   would download ripgrep from a non-registry host).
#
# Command line:
#   opencode run               one non-interactive session; the prompt from stdin
#     --format json            raw JSON events on stdout
#     --auto                   approve every permission that is not explicitly denied
#     -m "$PTB_AGENT_MODEL"
#     [--continue]             on PTB_AGENT_RESUME=1: the last session (of this project)
set -euo pipefail
: "${PTB_AGENT_CLI:?opencode: PTB_AGENT_CLI is not set}"
: "${PTB_AGENT_MODEL:?opencode: PTB_AGENT_MODEL is not set}"
: "${PTB_AGENT_KEY_ENV:?opencode: PTB_AGENT_KEY_ENV is not set}"
: "${HOME:?opencode: HOME is not set}"
if [ -z "${!PTB_AGENT_KEY_ENV:-}" ]; then
  echo "opencode: the key variable $PTB_AGENT_KEY_ENV is empty" >&2
  exit 2
fi
case "$PTB_AGENT_MODEL" in
  */*) ;;
  *) echo "opencode: PTB_AGENT_MODEL must be provider/model, got '$PTB_AGENT_MODEL'" >&2; exit 2 ;;
esac

export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" \
  XDG_CACHE_HOME="$HOME/.cache" XDG_STATE_HOME="$HOME/.local/state"
export OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_SHARE=1 \
  OPENCODE_DISABLE_LSP_DOWNLOAD=1 OPENCODE_DISABLE_CLAUDE_CODE=1

config_dir="$XDG_CONFIG_HOME/opencode"
mkdir -p "$config_dir"
python -I - "$config_dir/opencode.json" <<'EOF'
import json, os, sys
model, base_url, key_env = os.environ["PTB_AGENT_MODEL"], os.environ.get("PTB_AGENT_BASE_URL", ""), os.environ["PTB_AGENT_KEY_ENV"]
provider, _, model_id = model.partition("/")
entry = {"options": {"apiKey": "{env:" + key_env + "}"}}
if base_url:
    entry = {"npm": "@ai-sdk/openai-compatible", "name": provider,
             "options": {"baseURL": base_url, "apiKey": "{env:" + key_env + "}"},
             "models": {model_id: {"name": model_id}}}
config = {"$schema": "https://opencode.ai/config.json", "model": model, "small_model": model,
          "provider": {provider: entry},
          "permission": {"*": "allow"}, "autoupdate": False, "share": "disabled"}
with open(sys.argv[1], "w") as f:
    json.dump(config, f, indent=2)
EOF

# @opencode-ai/plugin: opencode installs it in the background (from the npm registry) into each
# config folder unless that folder has node_modules/ and a package-lock.json listing it. The copy
# installed next to the CLI (same npm prefix), when there is one, is linked in so that the
# listing is true; no plugin is configured, so nothing loads it either way.
cli_dir="$(cd "$(dirname "$(readlink -f "$PTB_AGENT_CLI")")" && pwd)"
mkdir -p "$config_dir/node_modules/@opencode-ai"
plugin_version="*"
for candidate in "$cli_dir/../../@opencode-ai/plugin" "$cli_dir/../node_modules/@opencode-ai/plugin"; do
  if [ -f "$candidate/package.json" ]; then
    ln -sfn "$(cd "$candidate" && pwd)" "$config_dir/node_modules/@opencode-ai/plugin"
    plugin_version="$(python -I -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$candidate/package.json")"
    break
  fi
done
printf '{"dependencies": {"@opencode-ai/plugin": "%s"}}\n' "$plugin_version" >"$config_dir/package.json"
printf '{"lockfileVersion": 3, "packages": {"": {"dependencies": {"@opencode-ai/plugin": "%s"}}}}\n' \
  "$plugin_version" >"$config_dir/package-lock.json"

args=(run --format json --auto -m "$PTB_AGENT_MODEL")
if [ "${PTB_AGENT_RESUME:-0}" = 1 ]; then
  args+=(--continue)
fi
exec "$PTB_AGENT_CLI" "${args[@]}"
