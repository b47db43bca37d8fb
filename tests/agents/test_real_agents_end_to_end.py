"""The real agent CLIs end to end: `python -m ptb.run -m agent=opus,gpt52,gemini3pro,kimi25` (Claude
Code, Codex CLI, Gemini CLI, OpenCode) with the pinned CLIs installed from npm by `python -m
ptb.agents install`, each run in its sandbox reaching its vendor API only through ptb's egress
proxy. The vendor APIs are the scripted stand-in (tests/agents/scripted_api.py) on 127.0.0.1,
named as vendor hosts through ``egress.resolve``.

The scripted model works as an agent would: it looks at its environment and its processes (the
output comes back to the vendor in the next request, where the test reads it), writes a training
script (agents/recipe_sft/train.py, one epoch) into the workspace, starts it in the background,
polls until it has saved final_model/, and ends; the run goes on through evaluation, the judge
and the score. A second sweep runs the four with ``agent.reprompt=true``: each CLI's own session
is continued with the reprompt text. Slow: installs four CLIs (once per test cache) and starts
Ray per sweep."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb.paths import AGENTS_DIR

sys.path.insert(0, str(Path(__file__).parent))
from scripted_api import EXHAUSTED, FinalText, RecordedRequest, ScriptedAPI, ShellCall, Turn, Usage  # noqa: E402

pytestmark = pytest.mark.slow

AGENTS = ("opus", "gpt52", "gemini3pro", "kimi25")
# agent config -> (the host variable naming its base URL, a vendor-like host, the path suffix, the key variable, the CLI)
VENDOR = {
    "opus": ("PTB_ANTHROPIC_BASE_URL", "api.anthropic.scripted.test", "", "ANTHROPIC_API_KEY", "claude"),
    "gpt52": ("PTB_OPENAI_BASE_URL", "api.openai.scripted.test", "/v1", "OPENAI_API_KEY", "codex"),
    "gemini3pro": ("PTB_GEMINI_BASE_URL", "generativelanguage.scripted.test", "", "GEMINI_API_KEY", "gemini"),
    "kimi25": ("PTB_OPENCODE_BASE_URL", "opencode.scripted.test", "/v1", "OPENCODE_API_KEY", "opencode"),
}
KEY_VARS = {v[3] for v in VENDOR.values()}
# host secrets no agent may see (besides the other vendors' keys)
DECOYS = {"HF_TOKEN": "hf_decoy_token_5b1d", "AWS_SECRET_ACCESS_KEY": "decoy-aws-secret-9e2c",
          "PTB_DECOY_SECRET": "decoy-ptb-secret-4a7f"}
PROMPT_PHRASE = "Your job is to post-train the base language model"  # ptb/prompts/default.md

# The markers are printed by printf ('%s%s' ARGV 2 -> ARGV2), so the command's own text, which is
# in the conversation too, never contains them. No $(...) or backticks anywhere: Gemini CLI refuses
# a command with any substitution, so the training script travels base64-encoded.
# It also dials the vendor's port on 127.0.0.1 directly: the sandbox has its own network
# namespace, so only the egress proxy leads out.
PROBE = (r"""printf '%s%s:\n' ARGV 2; for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f"; echo; done; """
         r"""printf '%s%s:\n' ENV 2; env | sort; printf '%s%s\n' END 2; """
         r"""if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then printf '%s%s\n' DIRECT OPEN; """
         r"""else printf '%s%s\n' DIRECT SHUT; fi""")
TRAIN = ("echo " + base64.b64encode((AGENTS_DIR / "recipe_sft" / "train.py").read_bytes()).decode() + " | base64 -d > train.py\n"
         "setsid nohup bash -c 'python train.py --base-model \"$PTB_BASE_MODEL\" --data data/arith_train.jsonl "
         "--epochs 1 --out final_model > train.log 2>&1; touch train.done' > /dev/null 2>&1 < /dev/null &\necho started")
# at most 8 s per call: under every CLI's default limit on one shell call (Codex yields after 10 s)
POLL = ("for i in 1 2 3 4 5 6 7 8; do [ -f train.done ] && break; sleep 1; done; tail -n 2 train.log; "
        "[ -f train.done ] && printf '%s%s\\n' TRAINED 42; true")


def script(port: int) -> list[Turn]:
    """What the scripted model does, for the vendor API listening on ``port``."""
    return [
        ShellCall(PROBE.format(port=port), Usage(1500, 1000, 40, 5)),
        ShellCall(TRAIN, Usage(2500, 2000, 900, 6)),
        ShellCall(POLL, Usage(3000, 2500, 30, 2), until="TRAINED42", times=120),
        FinalText("final_model/ holds the fine-tuned model.", Usage(3500, 3000, 20, 1)),
    ]


def key_of(agent: str) -> str:
    return f"sk-scripted-{agent}-SECRET-7f3a9c"  # never to appear in a run's files


@pytest.fixture
def vendor_apis() -> Iterator[dict[str, ScriptedAPI]]:
    servers = {agent: ScriptedAPI() for agent in AGENTS}
    for server in servers.values():
        server.set_script(script(server.port))
        server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def run_sweep(agents: list[str], tmp_path: Path, toolchain: Path, apis: dict[str, ScriptedAPI],
              tiny_model_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "PTB_TOOLCHAIN_DIR": str(toolchain),
           "PTB_CACHE_DIR": str(tiny_model_dir.parent.parent)}
    env.pop("WANDB_API_KEY", None)
    env.update(DECOYS)
    resolve = []
    for agent in agents:
        var, host, suffix, key_env, _ = VENDOR[agent]
        env[var] = f"http://{host}:{apis[agent].port}{suffix}"
        env[key_env] = key_of(agent)
        resolve.append(f"{host}:'127.0.0.1:{apis[agent].port}'")
    args = ["-m", "agent=" + ",".join(agents), "model=tiny", "task=arith", f"results_dir={tmp_path / 'results'}",
            "++egress.resolve={" + ",".join(resolve) + "}", f"cluster.temp_dir=/tmp/ptbray-{os.getpid()}-{tmp_path.name[-8:]}",
            *overrides]
    return subprocess.run([sys.executable, "-m", "ptb.run", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1500)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def turn_usage(api: ScriptedAPI, request: RecordedRequest) -> Usage:
    assert request.turn is not None
    return api.script[request.turn].usage if request.turn < len(api.script) else EXHAUSTED.usage  # type: ignore[union-attr]


def probe_output(api: ScriptedAPI) -> tuple[str, str, str]:
    """(the argv of every process, the environment, the direct dial's outcome) the probe saw in
    the sandbox, from the request that carried its tool result back to the vendor."""
    after = [r for r in api.real_requests() if r.turn == 1]
    assert after, [r.summary() for r in api.requests]
    text = json.dumps(after[0].body)
    found = re.search(r"ARGV2:(.*?)ENV2:(.*?)END2.*?DIRECT(OPEN|SHUT)", text, re.S)
    assert found, text[-3000:]
    return found.group(1), found.group(2), found.group(3)


def check_run(run: Path, agent: str, api: ScriptedAPI, cli_version: str) -> None:
    _, host, _, key_env, cli = VENDOR[agent]
    outcome, result = read(run / "outcome.json"), read(run / "result.json")
    assert outcome["status"] == "finished" and outcome["exit_code"] == 0, outcome
    assert outcome.get("failure") is None, outcome
    # the scripted model trained the tiny model in the workspace; it beats the base model (= noop)
    assert (run / "final_model" / "config.json").is_file()
    assert result["flagged"] is False, result
    assert result["base_score"] is not None and result["score"] >= result["base_score"] + 0.2, result
    assert read(run / "agent_cli.json")["version"] == cli_version
    real = api.real_requests()
    polls = [r for r in real if r.turn == 2]
    assert 1 <= len(polls) < 120 and any(r.turn == 3 for r in real), [r.summary() for r in real]
    if agent == "gpt52":  # SPEC: Codex with web search on (the Responses API's hosted tool, live)
        searches = [t for t in real[0].body["tools"] if t.get("type") == "web_search"]
        assert [t.get("external_web_access") for t in searches] == [True], real[0].body["tools"]
    # the vendor saw the agent's own key on every turn
    assert all(key_of(agent) in " ".join(r.auth.values()) for r in real), [r.summary() for r in real]
    # inside the sandbox: the CLI's processes took no prompt in their argv; the environment held
    # the agent's own key and no other secret of the host
    argv, env, direct = probe_output(api)
    assert direct == "SHUT", "the sandbox reached the vendor's port without the proxy"
    assert cli in argv, argv
    assert PROMPT_PHRASE in json.dumps(real[0].body) and PROMPT_PHRASE not in argv
    names = set(re.findall(r"(?:^|\\n)([A-Za-z_][A-Za-z0-9_]*)=", env))
    assert key_env in names, sorted(names)
    assert not (names & ((KEY_VARS - {key_env}) | set(DECOYS))), sorted(names)
    assert not any(value in env for value in DECOYS.values())
    assert not any(key_of(other) in env for other in AGENTS if other != agent)
    # the API was reached through the proxy, and nothing but the vendor's API left the sandbox
    egress = [json.loads(line) for line in (run / "egress.jsonl").read_text().splitlines()]
    assert egress and any(host in json.dumps(rec) for rec in egress), egress
    assert all(rec["allowed"] and host in json.dumps(rec) for rec in egress), egress
    # the trajectory holds the scripted calls and the tokens as the vendor counted them
    trajectory = read(run / "trajectory.json")
    calls = json.dumps([c["arguments"] for step in trajectory["steps"] for c in step.get("tool_calls", [])])
    assert "base64 -d > train.py" in calls and "poll 2" in calls, calls[:2000]
    usages = [turn_usage(api, r) for r in real]
    assert result["input_tokens"] >= sum(u.input for u in usages), (result, usages)
    assert result["output_tokens"] >= sum(u.output for u in usages), (result, usages)
    # the key never lands in a file of the run, though the probe printed it into the trace
    for path in run.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert key_of(agent).encode() not in path.read_bytes(), f"the key leaked into {path}"


# the models each CLI says answered: Gemini CLI 0.61.0 sends -m gemini-3-pro-preview as 3.1
MODELS_USED = {"opus": ["claude-opus-4-6"], "gpt52": [], "gemini3pro": ["gemini-3.1-pro-preview"], "kimi25": []}
CLI_VERSION = {"opus": "2.1.197", "gpt52": "0.171.0", "gemini3pro": "0.61.0", "kimi25": "1.18.33"}


def test_the_real_clis_run_through_the_egress_proxy_and_are_scored(
    tmp_path: Path, agent_toolchain: Path, vendor_apis: dict[str, ScriptedAPI], tiny_model_dir: Path
) -> None:
    agents = list(AGENTS)  # one sweep, the four runs at once (half a core each)
    started = time.time()
    proc = run_sweep(agents, tmp_path, agent_toolchain, vendor_apis, tiny_model_dir, "budget.cpus=0.5")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    print(f"{'+'.join(agents)}: the sweep took {time.time() - started:.0f}s")
    sweep = tmp_path / "results" / "default"
    for agent in agents:
        (run,) = [p.parent for p in sweep.glob(f"{agent}__tiny__arith__*/spec.yaml")]
        check_run(run, agent, vendor_apis[agent], CLI_VERSION[agent])
        result = read(run / "result.json")
        assert result["models_used"] == MODELS_USED[agent], result
        if agent == "gemini3pro":  # the user is told, not left to find out
            assert "ran gemini-3.1-pro-preview, not the configured gemini-3-pro-preview" in proc.stdout
        print(f"{agent}: {result['seconds_used']:.0f}s in solve, score {result['score']} (base {result['base_score']}), "
              f"tokens {result['input_tokens']}/{result['output_tokens']}, cost {result['cost_usd']}")
    leaderboard = (sweep / "leaderboard.md").read_text() if (sweep / "leaderboard.md").exists() else ""
    for agent in agents:
        assert agent in leaderboard


# Reprompt: session 1 ends at once (well within the first 45 s, even with four CLIs starting on two
# cores); with at least 14.25 of the 15 minutes left ptb continues the same session with the
# reprompt text; session 2 waits (polling) until fewer than 14.15 minutes are left, so it ends
# below the threshold and there is no third session.
REPROMPT_MIN = 14.25
LATE_S = int((REPROMPT_MIN - 0.1) * 60)
WAIT_UNTIL_LATE = (
    'python -c "import time; d = float(open(\'.ptb/deadline\').read()); '
    f"[time.sleep(1) for _ in range(8) if d - time.time() >= {LATE_S}]; "
    f"print('LATE' + '42' if d - time.time() < {LATE_S} else 'waiting')\""
)
SESSIONS: list[Turn] = [
    ShellCall("echo one > session.txt", Usage(100, 0, 10)),
    FinalText("SESSION-ONE-DONE", Usage(200, 100, 10)),
    ShellCall(WAIT_UNTIL_LATE, Usage(300, 200, 10), until="LATE42", times=30),
    FinalText("SESSION-TWO-DONE", Usage(400, 300, 10)),
]


def test_reprompt_continues_each_clis_own_session(
    tmp_path: Path, agent_toolchain: Path, vendor_apis: dict[str, ScriptedAPI], tiny_model_dir: Path
) -> None:
    for api in vendor_apis.values():
        api.set_script(SESSIONS)
    started = time.time()
    proc = run_sweep(list(AGENTS), tmp_path, agent_toolchain, vendor_apis, tiny_model_dir,
                     "agent.reprompt=true", f"agent.reprompt_min_minutes={REPROMPT_MIN}", "budget.cpus=0.5")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    print(f"reprompt sweep of {len(AGENTS)} CLIs: {time.time() - started:.0f}s")
    for agent in AGENTS:
        (run,) = [p.parent for p in (tmp_path / "results" / "default").glob(f"{agent}__*/spec.yaml")]
        outcome = read(run / "outcome.json")
        assert outcome["status"] == "finished" and outcome["sessions"] == 2, (agent, outcome)
        assert "reprompt: session 1 ended" in (run / "solve.log").read_text()
        real = vendor_apis[agent].real_requests()
        (resumed, *_) = [r for r in real if r.turn == 2]  # the first request of session 2
        body = json.dumps(resumed.body)
        # the reprompt reached the model, in the same conversation as session 1
        assert "remaining of your 0.25-hour budget" in body, (agent, body[-2000:])
        assert "SESSION-ONE-DONE" in body and PROMPT_PHRASE in body, (agent, "session 1 is not in session 2")
        trajectory = read(run / "trajectory.json")
        assert trajectory["extra"]["ptb"]["sessions"] == 2, (agent, trajectory["extra"])
        texts = json.dumps(trajectory["steps"])
        assert "SESSION-ONE-DONE" in texts and "SESSION-TWO-DONE" in texts, agent
