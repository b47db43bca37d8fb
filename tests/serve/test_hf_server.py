"""The CPU HF server, started through `start_server`, against the tiny model."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ptb.paths import template_path
from ptb.serve.launch import ServerStartError, start_server

os.environ["HF_HUB_OFFLINE"] = "1"

CHATML = template_path("chatml").read_text()  # the harness's own template
PROMPTS = [
    "Mia has 3 apples. Leo gives her 4 more apples. How many apples does Mia have?",
    "What is 7 + 5?",
    "Sam has 12 cards and gives 5 to Zoe.",
    "Count: 1, 2, 3,",
    "Ava has 4 boxes with 6 pencils in each.",
    "Tell me a story about Ben and his marbles.",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "chatml.jinja"
    path.write_text(CHATML)
    return path


@pytest.fixture(scope="module")
def server(tiny_model_dir, template, tmp_path_factory):
    log = tmp_path_factory.mktemp("srv") / "server.log"
    handle = start_server(tiny_model_dir, template, "hf", log_file=log, extra_args=["--batch-wait-ms", "50"])
    yield handle
    handle.stop()
    assert not handle.alive()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _post(server, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _chat(server, prompt: str, **params) -> dict:
    status, body = _post(server, {"model": server.model_name, "messages": [{"role": "user", "content": prompt}], **params})
    assert status == 200, body
    return body


def _root(server) -> str:
    return server.base_url.removesuffix("/v1")


def test_health_models_and_prompt_rendered_with_the_harness_template(server, tiny_model_dir, template):
    from transformers import AutoTokenizer

    assert _get(f"{_root(server)}/health")["status"] == "ok"
    models = _get(f"{server.base_url}/models")["data"]
    assert [m["id"] for m in models] == ["final_model"]

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    messages = [{"role": "user", "content": PROMPTS[1]}]
    text = tok.apply_chat_template(messages, chat_template=CHATML, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    body = _chat(server, PROMPTS[1], max_tokens=2)
    assert body["usage"]["prompt_tokens"] == len(tok.encode(text, add_special_tokens=False))
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_concurrent_requests_are_batched_and_equal_the_unbatched_greedy_outputs(server):
    alone = [_chat(server, p, max_tokens=24) for p in PROMPTS]  # one at a time: batches of one
    before = _get(f"{_root(server)}/stats")
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        together = list(pool.map(lambda p: _chat(server, p, max_tokens=24, temperature=0), PROMPTS))
    after = _get(f"{_root(server)}/stats")

    assert after["rows"] - before["rows"] == len(PROMPTS)
    assert after["batches"] - before["batches"] < len(PROMPTS), "concurrent requests were not batched"
    for a, b in zip(alone, together, strict=True):
        assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]
        assert a["choices"][0]["finish_reason"] == b["choices"][0]["finish_reason"]
        assert a["usage"] == b["usage"]
        assert a["choices"][0]["finish_reason"] in ("stop", "length")
        assert a["usage"]["completion_tokens"] <= 24


def test_max_tokens_and_stop_strings_are_honoured(server):
    outputs = [_chat(server, p, max_tokens=24) for p in PROMPTS]
    longest = max(outputs, key=lambda o: len(o["choices"][0]["message"]["content"]))
    prompt = PROMPTS[outputs.index(longest)]
    text = longest["choices"][0]["message"]["content"]
    assert len(text) >= 4, f"the tiny model answered too briefly to test stop strings: {text!r}"

    short = _chat(server, prompt, max_tokens=3)
    assert short["usage"]["completion_tokens"] <= 3
    assert text.startswith(short["choices"][0]["message"]["content"])
    if short["usage"]["completion_tokens"] == 3:
        assert short["choices"][0]["finish_reason"] == "length"

    stop = text[2:4]
    stopped = _chat(server, prompt, max_tokens=24, stop=[stop, "never-generated-xyz"])
    assert stopped["choices"][0]["message"]["content"] == text[: text.find(stop)]
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_is_clamped_to_the_context_and_bad_requests_are_rejected(server):
    context = _get(f"{server.base_url}/models")["data"][0]["max_model_len"]
    body = _chat(server, PROMPTS[1], max_tokens=10 * context)
    assert body["usage"]["total_tokens"] <= context

    status, err = _post(server, {"messages": [{"role": "user", "content": "7 " * (2 * context)}]})
    assert status == 400 and "context" in err["error"]["message"]
    status, err = _post(server, {"model": "other", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 404 and "final_model" in err["error"]["message"]
    status, err = _post(server, {"messages": []})
    assert status == 400
    status, err = _post(server, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"})
    assert status == 400 and "max_tokens" in err["error"]["message"]
    raw = urllib.request.Request(f"{server.base_url}/chat/completions", data=b"not json")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(raw, timeout=30)
    assert info.value.code == 400
    assert _get(f"{_root(server)}/health")["status"] == "ok"  # bad requests never take it down


def test_sampling_with_a_seed_is_reproducible(server):
    a = _chat(server, PROMPTS[0], max_tokens=12, temperature=1.0, seed=7)
    b = _chat(server, PROMPTS[0], max_tokens=12, temperature=1.0, seed=7)
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]


def test_a_server_that_cannot_load_fails_fast_with_its_log(tmp_path, template):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"}')
    (broken / "model.safetensors").write_bytes(b"not weights")
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(ServerStartError, match="exited with code") as info:
        start_server(broken, template, "hf", log_file=tmp_path / "server.log", startup_timeout=120)
    assert "Traceback" in str(info.value)  # the log tail explains why


def test_the_checkpoints_own_sampling_defaults_do_not_change_decoding(tiny_model_dir, tmp_path):
    import shutil

    from ptb.serve.hf_server import ChatModel, GenerationRequest

    tweaked = tmp_path / "tweaked"
    shutil.copytree(tiny_model_dir, tweaked)
    gen = json.loads((tweaked / "generation_config.json").read_text()) if (tweaked / "generation_config.json").exists() else {}
    gen.update({"do_sample": True, "temperature": 5.0, "top_k": 3, "repetition_penalty": 10.0, "no_repeat_ngram_size": 1})
    (tweaked / "generation_config.json").write_text(json.dumps(gen))

    outputs = []
    for path in (tiny_model_dir, tweaked):
        model = ChatModel(path, CHATML)
        prompt = model.render([{"role": "user", "content": PROMPTS[0]}])
        req = GenerationRequest(prompt, 16, temperature=0.0, top_p=1.0, seed=None, stop=())
        outputs.append(model.generate_batch([req, req]))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == outputs[0][1]
