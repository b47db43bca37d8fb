"""Tool calling through the HF server: the OpenAI client sends tools, tool calls and tool results,
and gets OpenAI `tool_calls` back.

The tiny model never writes a tool call by itself, so most tests serve a scripted model: the real
`ChatModel` rendering (harness template, tokenizer) and the real HTTP server and batcher, with
`generate_batch` returning a scripted reply. One test starts the real server process on the tiny
model with `--tool-call-parser hermes` to check the command-line plumbing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import openai
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from ptb.paths import template_path
from ptb.serve.hf_server import (
    ChatModel,
    Generation,
    GenerationRequest,
    MicroBatcher,
    make_server,
)
from ptb.serve.launch import HOST, free_port, start_server

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_SCHEMA = json.dumps(WEATHER)  # how the hermes templates list it: one JSON line


def _tokenizer() -> PreTrainedTokenizerFast:
    """Word-level, with a post-processor that prepends BOS as Gemma's tokenizer does."""
    specials = ["<unk>", "<pad>", "<bos>", "<eos>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"]
    vocab = {token: i for i, token in enumerate(specials)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>", pad_token="<pad>")
    tok.add_special_tokens({"additional_special_tokens": specials[4:]})
    return tok


class ScriptedChatModel(ChatModel):
    """ChatModel's rendering with a scripted reply instead of a network: `reply` is what the
    model "generates"; `prompts` collects every rendered prompt text."""

    def __init__(self, family: str):  # no checkpoint to load
        self.tokenizer = _tokenizer()
        self.chat_template = template_path(family).read_text()
        self.context_length = 100_000
        self.reply = ""
        self.prompts: list[str] = []

    def render_text(self, messages, tools=None) -> str:
        text = super().render_text(messages, tools)
        self.prompts.append(text)
        return text

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [Generation(text=self.reply, completion_tokens=7, finish_reason="stop") for _ in requests]


@pytest.fixture
def serve():
    """serve(family, tool_parser) -> (model, OpenAI client) for an in-process server."""
    started = []

    def start(family: str, tool_parser: str | None):
        model = ScriptedChatModel(family)
        batcher = MicroBatcher(model, wait_s=0.0)
        server = make_server(HOST, free_port(), model, batcher, "final_model", tool_parser)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, batcher, thread))
        client = openai.OpenAI(base_url=f"http://{HOST}:{server.server_address[1]}/v1", api_key="none", max_retries=0)
        return model, client

    yield start
    for server, batcher, thread in started:
        server.shutdown()
        server.server_close()
        batcher.close()
        thread.join(timeout=10)


def _ask(client, tools=(WEATHER,), **params):
    messages = params.pop("messages", [{"role": "user", "content": "Weather in Paris?"}])
    return client.chat.completions.create(model="final_model", messages=messages, tools=list(tools), **params)


def test_a_hermes_reply_reaches_the_client_as_tool_calls_and_the_prompt_holds_the_tools(serve):
    model, client = serve("qwen3", "hermes")
    model.reply = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>'
    answer = _ask(client)

    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 2}
    assert f"<tools>\n{WEATHER_SCHEMA}\n</tools>" in model.prompts[-1]


def test_tool_calls_and_tool_results_in_the_history_are_rendered_for_the_template(serve):
    model, client = serve("qwen3", "hermes")
    model.reply = "It is 18C in Paris."
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    answer = _ask(client, messages=messages)

    assert answer.choices[0].message.content == "It is 18C in Paris."
    assert answer.choices[0].finish_reason == "stop" and not answer.choices[0].message.tool_calls
    assert model.prompts[-1].endswith(
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\n18C\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_a_pythonic_reply_on_gemma3_tools(serve):
    model, client = serve("gemma3_tools", "pythonic")
    model.reply = '```tool_code\n[get_weather(city="Paris"), get_weather(city="Rome")]\n```'
    answer = _ask(client)

    calls = answer.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}),
    ]
    assert answer.choices[0].message.content is None
    assert len({c.id for c in calls}) == 2
    prompt = model.prompts[-1]
    assert prompt.startswith("<bos><start_of_turn>user\nYou have access to the functions listed below.")
    assert json.dumps(WEATHER["function"]) in prompt


def test_the_gemma_bos_is_not_doubled_in_the_prompt_ids():
    model = ScriptedChatModel("gemma3")
    bos = model.tokenizer.bos_token_id
    assert model.tokenizer.encode("hi")[0] == bos  # the tokenizer would add one by itself
    ids = model.render([{"role": "user", "content": "hi"}])
    assert ids[0] == bos and ids.count(bos) == 1


def test_replies_that_are_not_tool_calls_stay_text(serve):
    model, client = serve("qwen3", "hermes")
    model.reply = '<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>'  # malformed
    answer = _ask(client)
    assert answer.choices[0].message.content == model.reply
    assert answer.choices[0].finish_reason == "stop" and not answer.choices[0].message.tool_calls

    model.reply = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    answer = _ask(client, tool_choice="none")  # the model sees the tools, its reply is not parsed
    assert answer.choices[0].message.content == model.reply and not answer.choices[0].message.tool_calls
    assert WEATHER_SCHEMA in model.prompts[-1]


def test_unsupported_tool_requests_are_refused_with_a_clear_message(serve):
    _, client = serve("qwen3", "hermes")
    with pytest.raises(openai.BadRequestError, match="tool_choice 'required' is not supported.*'auto' or 'none'"):
        _ask(client, tool_choice="required")
    with pytest.raises(openai.BadRequestError, match="tool_choice .* is not supported"):
        _ask(client, tool_choice={"type": "function", "function": {"name": "get_weather"}})
    with pytest.raises(openai.BadRequestError, match="each tool must be"):
        _ask(client, tools=[{"type": "function", "function": {"description": "no name"}}])
    bad_history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{not json"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "18C"},
    ]
    with pytest.raises(openai.BadRequestError, match="arguments are not valid JSON"):
        _ask(client, messages=bad_history)

    _, no_parser = serve("qwen3", None)
    with pytest.raises(openai.BadRequestError, match="--tool-call-parser"):
        _ask(no_parser)
    assert _ask(no_parser, tool_choice="none").choices[0].finish_reason == "stop"


def test_make_server_rejects_an_unknown_parser():
    with pytest.raises(ValueError, match=r"tool_parser='json' is unknown; accepted: \['hermes', 'pythonic'\]"):
        make_server(HOST, free_port(), ScriptedChatModel("qwen3"), None, "final_model", "json")  # type: ignore[arg-type]


@pytest.mark.slow  # starts the server process on the tiny model (~25 s on a busy CPU)
def test_the_server_process_takes_tool_call_parser_and_renders_tools(tiny_model_dir, tmp_path):
    """A request with tools is rendered with them: the prompt length the server reports is that of
    the harness template rendered *with* the tools (300+ tokens more than without)."""
    from transformers import AutoTokenizer

    template = template_path("chatml")
    messages = [{"role": "user", "content": "What is 7 + 5?"}]
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    text = tok.apply_chat_template(messages, chat_template=template.read_text(), tools=[WEATHER],
                                   add_generation_prompt=True, tokenize=False)
    assert WEATHER_SCHEMA in text
    with_tools = len(tok.encode(text, add_special_tokens=False))

    with start_server(tiny_model_dir, template, "hf", log_file=tmp_path / "server.log", tool_parser="hermes") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        reply = client.chat.completions.create(model=server.model_name, messages=messages, tools=[WEATHER], max_tokens=4)
        assert reply.usage.prompt_tokens == with_tools
        with pytest.raises(openai.BadRequestError, match="tool_choice 'required' is not supported"):
            client.chat.completions.create(model=server.model_name, messages=messages, tools=[WEATHER],
                                           tool_choice="required")
        plain = client.chat.completions.create(model=server.model_name, messages=messages, max_tokens=4)
    assert "--tool-call-parser hermes" in (tmp_path / "server.log").read_text()
    assert plain.choices[0].finish_reason in ("stop", "length") and not plain.choices[0].message.tool_calls
