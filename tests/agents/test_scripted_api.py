"""tests/agents/scripted_api.py: the scripted stand-in of the four vendor APIs, driven with urllib."""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scripted_api import (  # noqa: E402
    Fail,
    FinalText,
    ScriptedAPI,
    ShellCall,
    TunnelProxy,
    Turn,
    Usage,
    dump_script,
    load_script,
)

# no proxy from the environment may come between the tests and 127.0.0.1
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

U1 = Usage(input=1234, cached_input=1000, output=56, reasoning=7)
U2 = Usage(input=2345, cached_input=2000, output=67, reasoning=8)

BASH_TOOL = {"name": "Bash", "description": "run", "input_schema": {
    "type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}}, "required": ["command"]}}
EXEC_TOOL = {"type": "function", "name": "exec_command", "parameters": {
    "type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}}, "required": ["cmd"]}}
GEMINI_TOOLS = [{"functionDeclarations": [
    {"name": "read_file", "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
    {"name": "run_shell_command", "parametersJsonSchema": {
        "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
]}]
CHAT_BASH = {"type": "function", "function": {"name": "bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}, "description": {"type": "string"},
                                     "timeout": {"type": "integer"}},
    "required": ["command", "description"]}}}


@pytest.fixture
def api() -> Iterator[ScriptedAPI]:
    with ScriptedAPI() as server:
        yield server


def call(api: ScriptedAPI, path: str, body: Any = None, headers: dict[str, str] | None = None,
         method: str = "POST", raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(api.base_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with DIRECT.open(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def sse(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE event; data '[DONE]' stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        payload = "\n".join(data)
        events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events


# --- Anthropic Messages ---------------------------------------------------------------------------


def test_anthropic_stream_plays_a_bash_call_in_the_documented_event_order(api):
    api.set_script([ShellCall("echo hello > made_by_agent.txt", U1)])
    status, headers, raw = call(api, "/v1/messages?beta=true",
                                {"model": "claude-opus-4-6", "stream": True, "tools": [BASH_TOOL], "messages": []},
                                {"x-api-key": "sk-test-KEY", "anthropic-version": "2023-06-01"})
    assert status == 200 and headers["content-type"] == "text/event-stream"
    events = sse(raw)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta",
                                            "content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["model"] == "claude-opus-4-6" and start["usage"]["input_tokens"] == 1234
    block = events[1][1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "Bash" and block["id"]
    delta = events[2][1]["delta"]
    assert delta["type"] == "input_json_delta"
    assert json.loads(delta["partial_json"]) == {"command": "echo hello > made_by_agent.txt"}
    final = events[4][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {"input_tokens": 1234, "cache_creation_input_tokens": 0,
                              "cache_read_input_tokens": 1000, "output_tokens": 56}
    (rec,) = api.requests
    assert rec.api == "anthropic" and rec.turn == 0 and rec.path == "/v1/messages" and rec.query == {"beta": ["true"]}
    assert rec.auth == {"x-api-key": "sk-test-KEY"} and "anthropic-version" in rec.header_names
    assert rec.body["model"] == "claude-opus-4-6" and not rec.absolute_form


def test_anthropic_final_text_ends_the_turn(api):
    api.set_script([FinalText("All done.", U2)])
    _, _, raw = call(api, "/v1/messages", {"model": "m", "stream": True, "tools": [BASH_TOOL], "messages": []})
    events = sse(raw)
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "All done."}
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"
    assert events[4][1]["usage"]["output_tokens"] == 67 and events[4][1]["usage"]["cache_read_input_tokens"] == 2000


def test_anthropic_side_calls_do_not_consume_turns(api):
    api.set_script([ShellCall("true"), FinalText("end")])
    assert call(api, "/", method="HEAD")[0] == 200
    status, _, raw = call(api, "/v1/messages/count_tokens", {"model": "m", "messages": [], "tools": [BASH_TOOL]})
    assert status == 200 and "input_tokens" in json.loads(raw)
    status, _, raw = call(api, "/v1/messages", {"model": "m", "messages": [], "max_tokens": 1})  # no tools: side call
    message = json.loads(raw)
    assert status == 200 and message["type"] == "message" and message["content"] == [{"type": "text", "text": "Scripted session"}]
    assert message["stop_reason"] == "end_turn"
    assert api.turns_played == 0 and all(r.turn is None for r in api.requests)
    _, _, raw = call(api, "/v1/messages", {"model": "m", "tools": [BASH_TOOL], "messages": []})  # non-streaming, real
    message = json.loads(raw)
    assert message["content"][0]["type"] == "tool_use" and message["content"][0]["input"] == {"command": "true"}
    assert api.turns_played == 1 and len(api.side_requests()) == 3 and len(api.real_requests()) == 1


# --- OpenAI Responses -----------------------------------------------------------------------------


def test_responses_stream_plays_an_exec_command_call(api):
    api.set_script([ShellCall("cat made_by_agent.txt", U1)])
    body = {"model": "gpt-5.2", "stream": True, "input": [], "tools": [{"type": "function", "name": "view_image"}, EXEC_TOOL]}
    status, _, raw = call(api, "/v1/responses", body, {"Authorization": "Bearer sk-test-KEY"})
    assert status == 200
    events = sse(raw)
    names = [name for name, _ in events]
    assert names == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.function_call_arguments.delta", "response.function_call_arguments.done",
                     "response.output_item.done", "response.completed"]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    item = events[5][1]["item"]
    assert item["type"] == "function_call" and item["name"] == "exec_command" and item["call_id"]
    assert json.loads(item["arguments"]) == {"cmd": "cat made_by_agent.txt"}
    done = events[-1][1]["response"]
    assert done["status"] == "completed" and done["output"] == [item] and done["model"] == "gpt-5.2"
    assert done["usage"] == {"input_tokens": 1234, "input_tokens_details": {"cached_tokens": 1000}, "output_tokens": 56,
                             "output_tokens_details": {"reasoning_tokens": 7}, "total_tokens": 1290}
    assert api.requests[0].auth == {"authorization": "Bearer sk-test-KEY"}


def test_responses_message_and_shell_tool_with_an_array_command(api):
    shell = {"type": "function", "name": "shell", "parameters": {
        "type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}}
    api.set_script([ShellCall("ls -la"), FinalText("fin")])
    _, _, raw = call(api, "/v1/responses", {"model": "m", "stream": True, "tools": [shell]})
    item = sse(raw)[-1][1]["response"]["output"][0]
    assert item["name"] == "shell" and json.loads(item["arguments"]) == {"command": ["bash", "-lc", "ls -la"]}
    _, _, raw = call(api, "/v1/responses", {"model": "m", "stream": True, "tools": [shell]})
    events = sse(raw)
    assert "response.output_text.delta" in [n for n, _ in events]
    message = events[-1][1]["response"]["output"][0]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == [{"type": "output_text", "text": "fin", "annotations": []}]


# --- Gemini ---------------------------------------------------------------------------------------


def test_gemini_stream_plays_a_run_shell_command_call(api):
    api.set_script([ShellCall("echo hi", U1), FinalText("bye", U2)])
    path = "/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"
    status, headers, raw = call(api, path, {"contents": [], "tools": GEMINI_TOOLS}, {"x-goog-api-key": "sk-test-KEY"})
    assert status == 200 and headers["content-type"] == "text/event-stream"
    ((name, resp),) = sse(raw)
    assert name is None
    cand = resp["candidates"][0]
    assert cand["content"]["parts"] == [{"functionCall": {"name": "run_shell_command", "args": {"command": "echo hi"}}}]
    assert cand["finishReason"] == "STOP" and resp["modelVersion"] == "gemini-3-pro-preview"
    assert resp["usageMetadata"] == {"promptTokenCount": 1234, "candidatesTokenCount": 56, "cachedContentTokenCount": 1000,
                                     "thoughtsTokenCount": 7, "totalTokenCount": 1297}
    assert api.requests[0].auth == {"x-goog-api-key": "sk-test-KEY"} and api.requests[0].api == "gemini"
    status, _, raw = call(api, "/v1beta/models/gemini-3-pro-preview:generateContent", {"contents": [], "tools": GEMINI_TOOLS})
    resp = json.loads(raw)  # non-streaming: one JSON object
    assert resp["candidates"][0]["content"]["parts"] == [{"text": "bye"}] and api.turns_played == 2


def test_gemini_side_calls_get_schema_shaped_json_without_consuming_turns(api):
    api.set_script([ShellCall("true")])
    schema = {"type": "object", "properties": {"reasoning": {"type": "string"},
                                               "next_speaker": {"type": "string", "enum": ["model", "user"]}}}
    body = {"contents": [], "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}}
    _, _, raw = call(api, "/v1beta/models/gemini-2.5-flash:generateContent", body)
    answer = json.loads(json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"])
    assert answer == {"reasoning": "ok", "next_speaker": "user"}
    router = {"type": "object", "properties": {"complexity_reasoning": {"type": "string"}, "complexity_score": {"type": "integer"}}}
    _, _, raw = call(api, "/v1beta/models/gemini-2.5-flash-lite:generateContent",
                     {"contents": [], "generationConfig": {"responseSchema": router}})
    assert json.loads(json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"])["complexity_score"] == 1
    _, _, raw = call(api, "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": []})
    assert "totalTokens" in json.loads(raw)
    assert api.turns_played == 0 and api.real_requests() == []


# --- Chat Completions -----------------------------------------------------------------------------


def test_chat_stream_plays_a_bash_call_and_fills_required_parameters(api):
    api.set_script([ShellCall("echo hello > made_by_agent.txt", U1)])
    body = {"model": "kimi-k2.5", "stream": True, "messages": [], "tools": [CHAT_BASH]}
    status, _, raw = call(api, "/v1/chat/completions", body, {"Authorization": "Bearer sk-test-KEY"})
    assert status == 200
    events = sse(raw)
    assert all(name is None for name, _ in events) and events[-1][1] == "[DONE]"
    role, tool, finish, usage = (data for _, data in events[:-1])
    assert role["choices"][0]["delta"]["role"] == "assistant"
    (tool_call,) = tool["choices"][0]["delta"]["tool_calls"]
    assert tool_call["index"] == 0 and tool_call["type"] == "function" and tool_call["id"]
    assert tool_call["function"]["name"] == "bash"
    args = json.loads(tool_call["function"]["arguments"])
    assert args["command"] == "echo hello > made_by_agent.txt" and isinstance(args["description"], str)
    assert "timeout" not in args  # optional parameters are left out
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290,
                              "prompt_tokens_details": {"cached_tokens": 1000},
                              "completion_tokens_details": {"reasoning_tokens": 7}}
    assert all(chunk["object"] == "chat.completion.chunk" and chunk["model"] == "kimi-k2.5" for _, chunk in events[:-1])


def test_chat_title_request_without_tools_is_a_side_call(api):
    api.set_script([FinalText("real answer", U2)])
    title = {"model": "kimi-k2.5", "stream": True, "messages": [{"role": "user", "content": "make a title"}]}
    events = sse(call(api, "/v1/chat/completions", title)[2])
    assert events[1][1]["choices"][0]["delta"] == {"content": "Scripted session"}
    assert events[2][1]["choices"][0]["finish_reason"] == "stop"
    assert events[3][1]["usage"]["prompt_tokens"] == 0  # side calls report side_usage: zeros
    assert api.turns_played == 0
    events = sse(call(api, "/v1/chat/completions", {**title, "tools": [CHAT_BASH]})[2])
    assert events[1][1]["choices"][0]["delta"] == {"content": "real answer"}
    assert events[3][1]["usage"]["completion_tokens"] == 67
    _, _, raw = call(api, "/v1/chat/completions", {"model": "m", "messages": [], "tools": [CHAT_BASH]})
    completion = json.loads(raw)  # non-streaming, and the script is exhausted
    assert completion["object"] == "chat.completion" and completion["choices"][0]["message"]["content"] == "done"


# --- the script -----------------------------------------------------------------------------------


def test_script_advances_one_turn_per_real_request_across_apis_then_says_done(api):
    api.set_script([ShellCall("a"), ShellCall("b"), FinalText("c")])
    first = sse(call(api, "/v1/messages", {"stream": True, "tools": [BASH_TOOL]})[2])
    second = sse(call(api, "/v1/responses", {"stream": True, "tools": [EXEC_TOOL]})[2])
    third = sse(call(api, "/v1/chat/completions", {"stream": True, "tools": [CHAT_BASH]})[2])
    fourth = sse(call(api, "/v1beta/models/g:streamGenerateContent?alt=sse", {"tools": GEMINI_TOOLS})[2])
    assert json.loads(first[2][1]["delta"]["partial_json"]) == {"command": "a"}
    assert json.loads(second[-1][1]["response"]["output"][0]["arguments"]) == {"cmd": "b"}
    assert third[1][1]["choices"][0]["delta"] == {"content": "c"}
    assert fourth[0][1]["candidates"][0]["content"]["parts"] == [{"text": "done"}]
    assert [r.turn for r in api.requests] == [0, 1, 2, 3] and api.turns_played == 3
    api.set_script([ShellCall("again")])  # a new script starts at its first turn; the log is kept
    again = sse(call(api, "/v1/messages", {"stream": True, "tools": [BASH_TOOL]})[2])
    assert json.loads(again[2][1]["delta"]["partial_json"]) == {"command": "again"}
    assert len(api.requests) == 5 and api.requests[-1].turn == 0


def test_a_polling_shell_call_repeats_until_the_marker_comes_back_or_its_times_run_out(api):
    api.set_script([ShellCall("poll", until="READY42", times=3), FinalText("after")])

    def turn(tool_result: str) -> Any:
        body = {"stream": True, "tools": [BASH_TOOL], "messages": [{"role": "user", "content": tool_result}]}
        return sse(call(api, "/v1/messages", body)[2])

    # the marker in the very first request does not count: the call has not run yet
    first, second = turn("READY42 from an earlier command"), turn("still training")
    assert json.loads(first[2][1]["delta"]["partial_json"]) == {"command": "poll"}
    assert json.loads(second[2][1]["delta"]["partial_json"]) == {"command": "poll  # poll 2"}  # never verbatim
    assert turn("tail of train.log\nREADY42")[2][1]["delta"] == {"type": "text_delta", "text": "after"}
    assert [r.turn for r in api.requests] == [0, 0, 1] and api.turns_played == 2
    api.set_script([ShellCall("poll", until="READY42", times=2), FinalText("gave up")])
    polls = [json.loads(turn("no")[2][1]["delta"]["partial_json"]) for _ in range(2)]
    assert polls == [{"command": "poll"}, {"command": "poll  # poll 2"}]
    assert turn("no")[2][1]["delta"]["text"] == "gave up"  # at most `times` calls, then the script goes on


def test_unknown_tools_fall_back_to_any_tool_with_a_command_parameter(api):
    api.set_script([ShellCall("x"), ShellCall("y")])
    odd = {"name": "Terminal", "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}}}
    events = sse(call(api, "/v1/messages", {"stream": True, "tools": [odd]})[2])
    assert events[1][1]["content_block"]["name"] == "Terminal"
    assert json.loads(events[2][1]["delta"]["partial_json"]) == {"cmd": "x"}
    other = {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
    events = sse(call(api, "/v1/messages", {"stream": True, "tools": [other]})[2])
    assert events[1][1]["content_block"]["name"] == "Bash"  # nothing fits: the CLI's usual name


def test_fail_turns_answer_in_each_vendors_error_shape(api):
    api.set_script([Fail(429, "slow down", headers={"retry-after": "3"}), Fail(401), Fail(401), Fail(429)])
    status, headers, raw = call(api, "/v1/messages", {"stream": True, "tools": [BASH_TOOL]})
    assert status == 429 and headers["retry-after"] == "3"
    assert json.loads(raw) == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    status, _, raw = call(api, "/v1/responses", {"stream": True, "tools": [EXEC_TOOL]})
    error = json.loads(raw)["error"]
    assert status == 401 and error["code"] == "invalid_api_key" and error["message"]
    status, _, raw = call(api, "/v1beta/models/g:streamGenerateContent?alt=sse", {"tools": GEMINI_TOOLS})
    assert status == 401 and json.loads(raw)["error"]["status"] == "UNAUTHENTICATED"
    assert json.loads(raw)["error"]["code"] == 401
    status, _, raw = call(api, "/v1/chat/completions", {"stream": True, "tools": [CHAT_BASH]})
    assert status == 429 and json.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    assert [r.status for r in api.requests] == [429, 401, 401, 429] and [r.turn for r in api.requests] == [0, 1, 2, 3]


def test_fail_times_and_sticky_failures_spare_side_calls(api):
    api.set_script([Fail(500, times=2), FinalText("recovered"), Fail(401, body={"custom": True}, times=None)])
    for _ in range(2):
        assert call(api, "/v1/chat/completions", {"tools": [CHAT_BASH]})[0] == 500
    assert call(api, "/v1/chat/completions", {"messages": []})[0] == 200  # a side call is never failed
    status, _, raw = call(api, "/v1/chat/completions", {"tools": [CHAT_BASH]})
    assert status == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "recovered"
    for _ in range(3):  # times=None: a revoked key stays revoked
        status, _, raw = call(api, "/v1/chat/completions", {"tools": [CHAT_BASH]})
        assert status == 401 and json.loads(raw) == {"custom": True}
    assert [r.turn for r in api.requests] == [0, 0, None, 1, 2, 2, 2]


# --- recording ------------------------------------------------------------------------------------


def test_requests_record_header_names_auth_values_and_decoded_bodies(api):
    body = {"model": "m", "tools": [CHAT_BASH], "messages": [{"role": "user", "content": "hi"}]}
    call(api, "/v1/chat/completions", raw=gzip.compress(json.dumps(body).encode()),
         headers={"Content-Encoding": "gzip", "Authorization": "Bearer sk-test-KEY", "X-Extra": "1"})
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)  # a chunked request body
    conn.putrequest("POST", "/v1/messages")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("x-api-key", "sk-other")
    conn.endheaders()
    payload = json.dumps({"model": "c", "tools": [BASH_TOOL]}).encode()
    for piece in (payload[:10], payload[10:]):
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 200
    conn.close()
    gz, chunked = api.requests
    assert gz.body == body and gz.auth == {"authorization": "Bearer sk-test-KEY"}
    assert {"authorization", "x-extra", "content-encoding", "host"} <= set(gz.header_names)
    assert gz.host == f"127.0.0.1:{api.port}" and gz.method == "POST" and gz.time > 0
    assert chunked.body == {"model": "c", "tools": [BASH_TOOL]} and chunked.auth == {"x-api-key": "sk-other"}
    assert "sk-test-KEY" not in json.dumps(gz.summary())  # summaries name auth headers, never their values


def test_script_json_round_trip_and_errors():
    turns: list[Turn] = [ShellCall("echo 1", Usage(1, 2, 3, 4)), ShellCall("poll", until="OK", times=9), FinalText("t"), Fail(429, "m", headers={"retry-after": "1"}, times=None)]
    assert load_script(json.loads(json.dumps(dump_script(turns)))) == turns
    assert load_script([{"shell": "ls"}]) == [ShellCall("ls", Usage())]
    with pytest.raises(ValueError, match="turn 0"):
        load_script([{"bogus": 1}])


# --- the proxy and the command line ---------------------------------------------------------------


def test_tunnel_proxy_forwards_absolute_form_and_connect_to_the_server(api):
    api.set_script([FinalText("via proxy")])
    with TunnelProxy(api) as proxy:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))
        req = urllib.request.Request(f"http://api.scripted.test:{api.port}/v1/chat/completions",
                                     data=json.dumps({"tools": [CHAT_BASH]}).encode(), method="POST")
        with opener.open(req, timeout=10) as resp:
            assert json.loads(resp.read())["choices"][0]["message"]["content"] == "via proxy"
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.set_tunnel("api.scripted.test", 443)
        conn.request("POST", "/v1/messages", body=json.dumps({"messages": []}), headers={"x-api-key": "k"})
        assert conn.getresponse().status == 200
        conn.close()
    assert proxy.connections == [("FORWARD", f"http://api.scripted.test:{api.port}/v1/chat/completions"),
                                 ("CONNECT", "api.scripted.test:443")]
    forwarded, tunnelled = api.requests
    assert forwarded.absolute_form and forwarded.path == "/v1/chat/completions" and forwarded.turn == 0
    assert not tunnelled.absolute_form and tunnelled.host == "api.scripted.test:443" and tunnelled.auth == {"x-api-key": "k"}


def test_command_line_serves_a_script_file(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "from a file", "usage": {"input": 9, "cached_input": 0, "output": 1}}]))
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_api.py"), "--script", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("port=")
        port = int(line.strip().split("=")[1])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
                                     data=json.dumps({"tools": [CHAT_BASH]}).encode())
        with DIRECT.open(req, timeout=10) as resp:
            completion = json.loads(resp.read())
        assert completion["choices"][0]["message"]["content"] == "from a file" and completion["usage"]["prompt_tokens"] == 9
        logged = json.loads(proc.stderr.readline())
        assert logged["target"] == "/v1/chat/completions" and logged["turn"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
