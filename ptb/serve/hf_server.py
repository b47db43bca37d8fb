"""A small OpenAI-compatible chat server backed by transformers, for CPU evaluation.

    python -m ptb.serve.hf_server --model final_model --chat-template templates/chatml.jinja \
        --port 8000 --served-model-name final_model [--tool-call-parser hermes]

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions`` and ``GET /stats``
(batches and rows generated so far).

Prompts are always rendered with the *harness* chat template given on the command line, never
with the checkpoint's own (an agent controls the checkpoint's tokenizer_config.json). Requests
arrive concurrently (inspect-ai keeps many connections open), so a micro-batcher thread collects
the pending requests for a few milliseconds and generates them together with left padding; each
HTTP handler thread waits for its own row. Decoding is greedy unless a temperature > 0 is asked
for. Generation stops at the generation config's (and tokenizer's) eos ids, at the request's
``stop`` strings, or at ``max_tokens`` clamped to what is left of the model's context.

Tool calling follows vLLM's OpenAI server: a request's ``tools`` are passed to the chat template;
``role: tool`` messages and assistant messages with ``tool_calls`` (their JSON-string arguments
decoded to dicts for the template) are accepted; ``tool_choice`` may be ``auto`` (the default
when tools are given) or ``none``. With ``--tool-call-parser`` (hermes or pythonic, see
ptb.serve.tool_calls) and ``tool_choice`` auto, a reply that parses into calls is answered with
OpenAI ``tool_calls`` and ``finish_reason: "tool_calls"``; ``auto`` without a parser is refused
(HTTP 400), as vLLM refuses it without ``--enable-auto-tool-choice --tool-call-parser``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
)

from ptb.serve.tool_calls import parse_tool_calls, tool_parser_names

log = logging.getLogger("ptb.serve.hf_server")

FinishReason = Literal["stop", "length"]
TOOL_CHOICES = ("auto", "none")


class RequestError(ValueError):
    """A request the server cannot serve; answered with HTTP 400 and this message."""


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: tuple[int, ...]
    max_new_tokens: int  # already clamped to the context left after the prompt
    temperature: float  # 0 = greedy
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    stop_token_ids: tuple[int, ...] = ()  # extra ids that end the reply (vLLM's stop_token_ids)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def batch_key(self) -> tuple:
        """Requests that may share one generate() call: same decoding mode and parameters.

        A seeded sampling request runs alone, so its output depends only on its seed and not
        on which other requests happened to arrive with it.
        """
        if self.greedy:
            return ("greedy", self.stop_token_ids)
        if self.seed is not None:
            return ("seeded", id(self))
        return ("sample", self.temperature, self.top_p, self.stop_token_ids)


@dataclass(frozen=True)
class ChatRequest:
    """A parsed chat request: what to generate, and how to read tool calls from the reply."""

    generation: GenerationRequest
    reply_parser: str | None  # a tool_parser plug-in name when the reply may hold tool calls, else None


@dataclass(frozen=True)
class Generation:
    text: str
    completion_tokens: int
    finish_reason: FinishReason


def _eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """The union of the generation config's and the tokenizer's eos ids (what vLLM stops at)."""
    ids: list[int] = []
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if value is None:
            continue
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if int(i) not in ids:
                ids.append(int(i))
    return tuple(ids)


def _context_length(config: Any) -> int:
    for cfg in (config, getattr(config, "text_config", None)):
        if cfg is None:
            continue
        for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
    raise ValueError("cannot tell the model's context length from its config.json")


class _RowStops(StoppingCriteria):
    """Per-row stopping: each row has its own token limit, eos ids and stop strings.

    generate() only knows one max_new_tokens for the batch; this marks a row finished as soon
    as *its* limit, an eos token or one of *its* stop strings is reached, and remembers how
    many tokens the row had then (later positions hold padding).
    """

    def __init__(self, requests: Sequence[GenerationRequest], prompt_len: int, eos: Sequence[int], tokenizer: Any):
        self.requests = list(requests)
        self.prompt_len = prompt_len
        self.eos = set(eos)
        self.tokenizer = tokenizer
        self.done_len: list[int | None] = [None] * len(requests)
        self.reason: list[FinishReason] = ["length"] * len(requests)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.prompt_len
        for i, req in enumerate(self.requests):
            if self.done_len[i] is not None:
                continue
            last = int(input_ids[i, -1]) if n > 0 else None
            if last is not None and (last in self.eos or last in req.stop_token_ids):  # noqa: SIM114
                self.done_len[i], self.reason[i] = n, "stop"
            elif req.stop and any(s in self._text(input_ids[i, self.prompt_len :]) for s in req.stop):
                self.done_len[i], self.reason[i] = n, "stop"
            elif n >= req.max_new_tokens:
                self.done_len[i], self.reason[i] = n, "length"
        done = [d is not None for d in self.done_len]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    def _text(self, ids: torch.Tensor) -> str:
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=True)


class ChatModel:
    """A causal LM, its tokenizer and the harness chat template; renders and generates."""

    def __init__(self, model_path: str | Path, chat_template: str, dtype: str = "float32", device: str = "auto"):
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), trust_remote_code=False)
        # safetensors only, never code from the folder: the weights ptb.serve.checkpoint resolved
        self.model = AutoModelForCausalLM.from_pretrained(
            str(model_path), dtype=getattr(torch, dtype), use_safetensors=True, trust_remote_code=False
        )
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers' stubs
        self.chat_template = chat_template
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        if not self.eos_ids:
            raise ValueError(f"{model_path}: neither generation_config.json nor the tokenizer names an eos token")
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.eos_ids[0]
        # generate() fills unset options from model.generation_config: make that neutral, so the
        # checkpoint's sampling defaults (temperature, top_k, repetition_penalty, ...), which
        # the agent controls, never change how the harness decodes.
        self.model.generation_config = GenerationConfig(eos_token_id=list(self.eos_ids), pad_token_id=self.pad_id)
        self.context_length = _context_length(self.model.config)

    def render_text(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """The prompt as text: the harness template applied to the messages (and tools)."""
        try:
            text = self.tokenizer.apply_chat_template(
                messages, chat_template=self.chat_template, tools=tools, add_generation_prompt=True, tokenize=False  # type: ignore[arg-type]
            )
            assert isinstance(text, str)  # tokenize=False renders text
            return text
        except Exception as exc:  # the template rejects these messages (role order, content, ...)
            raise RequestError(f"the chat template cannot render these messages: {exc}") from exc

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> tuple[int, ...]:
        """Prompt token ids: the rendered text tokenized without extra specials, as vLLM's chat
        endpoint does; the template writes any BOS itself (gemma3's), so adding the tokenizer's
        own would double it."""
        return tuple(self.tokenizer.encode(self.render_text(messages, tools), add_special_tokens=False))

    def clamp_max_tokens(self, prompt_len: int, max_tokens: int | None) -> int:
        room = self.context_length - prompt_len
        if room <= 0:
            raise RequestError(
                f"the prompt is {prompt_len} tokens but the model's context is {self.context_length} tokens"
            )
        return room if max_tokens is None else max(1, min(max_tokens, room))

    @torch.inference_mode()
    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate all requests in one call (they must share `batch_key()`), left-padded."""
        first = requests[0]
        prompt_len = max(len(r.prompt_ids) for r in requests)
        ids = [[self.pad_id] * (prompt_len - len(r.prompt_ids)) + list(r.prompt_ids) for r in requests]
        mask = [[0] * (prompt_len - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in requests]
        stops = _RowStops(requests, prompt_len, self.eos_ids, self.tokenizer)
        config = GenerationConfig(
            max_new_tokens=max(r.max_new_tokens for r in requests),
            eos_token_id=list(dict.fromkeys([*self.eos_ids, *first.stop_token_ids])),  # one batch: same ids
            pad_token_id=self.pad_id,
            do_sample=not first.greedy,
        )
        if not first.greedy:
            config.temperature, config.top_p, config.top_k = first.temperature, first.top_p, 0
            if first.seed is not None:
                torch.manual_seed(first.seed)
        out = self.model.generate(
            input_ids=torch.tensor(ids, dtype=torch.long, device=self.device),
            attention_mask=torch.tensor(mask, dtype=torch.long, device=self.device),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([stops]),
        )
        results = []
        for i, req in enumerate(requests):
            row = out[i, prompt_len:].tolist()
            n = stops.done_len[i] if stops.done_len[i] is not None else len(row)
            results.append(self._finish(row[:n], stops.reason[i], req))
        return results

    def _finish(self, tokens: list[int], reason: FinishReason, req: GenerationRequest) -> Generation:
        count = len(tokens)
        if tokens and (tokens[-1] in self.eos_ids or tokens[-1] in req.stop_token_ids):
            tokens, reason = tokens[:-1], "stop"
        text = str(self.tokenizer.decode(tokens, skip_special_tokens=True))
        cuts = [text.find(s) for s in req.stop if s and s in text]
        if cuts:  # like OpenAI, the stop string itself is not returned
            text, reason = text[: min(cuts)], "stop"
        return Generation(text=text, completion_tokens=count, finish_reason=reason)


class MicroBatcher:
    """One thread that owns the model: gathers waiting requests and generates them together.

    `submit` blocks the calling (HTTP handler) thread until its row is done. When the model is
    idle the first request waits `wait_s` for companions; under load the queue fills while a
    batch runs, so the next batch takes everything waiting without extra delay.
    """

    def __init__(self, model: ChatModel, max_batch_size: int = 32, wait_s: float = 0.002):
        self.model = model
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self.batches_run = 0
        self.rows_run = 0
        self._queue: queue.Queue[tuple[GenerationRequest, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, request: GenerationRequest) -> Generation:
        future: Future = Future()
        self._queue.put((request, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _collect(self) -> list[tuple[GenerationRequest, Future]] | None:
        item = self._queue.get()
        if item is None:
            return None
        batch = [item]
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.max_batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # finish this batch, then stop
                break
            batch.append(item)
        return batch

    def _loop(self) -> None:
        while (batch := self._collect()) is not None:
            groups: dict[tuple, list[tuple[GenerationRequest, Future]]] = {}
            for item in batch:
                groups.setdefault(item[0].batch_key(), []).append(item)
            for group in groups.values():
                self._run(group)

    def _run(self, group: list[tuple[GenerationRequest, Future]]) -> None:
        try:
            results = self.model.generate_batch([req for req, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"the model returned {len(results)} results for {len(group)} requests")
        except Exception as exc:  # every waiting client gets the error, the server lives on
            log.exception("generation failed")
            for _, future in group:
                future.set_exception(exc)
            return
        self.batches_run += 1
        self.rows_run += len(group)
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)


def _message_text(content: Any) -> str:
    """OpenAI content is a string or a list of parts; text parts are joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise RequestError(f"only text content parts are supported, got {part!r:.80}")
            parts.append(str(part.get("text", "")))
        return "\n".join(parts)
    raise RequestError(f"message content must be a string or a list of parts, got {type(content).__name__}")


def _template_tool_call(call: Any) -> dict[str, Any]:
    """An assistant message's tool call as templates read it: arguments as a dict, not the JSON
    string OpenAI clients send (vLLM decodes them the same way before rendering)."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise RequestError(f"each tool call needs a 'function' with a 'name', got {call!r:.120}")
    arguments = fn.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise RequestError(f"tool call {fn['name']!r}: arguments are not valid JSON ({exc})") from exc
    if not isinstance(arguments, dict):
        raise RequestError(f"tool call {fn['name']!r}: arguments must be a JSON object, got {arguments!r:.80}")
    return {**call, "function": {**fn, "arguments": arguments}}


def _template_message(m: Any) -> dict[str, Any]:
    if not isinstance(m, dict) or "role" not in m:
        raise RequestError("each message needs a 'role'")
    message = {**m, "content": _message_text(m.get("content"))}
    calls = m.get("tool_calls")
    if calls is not None:
        if m["role"] != "assistant" or not isinstance(calls, list):
            raise RequestError("'tool_calls' must be a list, on assistant messages only")
        message["tool_calls"] = [_template_tool_call(c) for c in calls]
    return message


def _request_tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The request's tools, OpenAI-style ({"type": "function", "function": {...}}) or bare
    function schemas, checked enough that a template can read their names."""
    tools = body.get("tools")
    if tools is None or tools == []:
        return None
    if not isinstance(tools, list):
        raise RequestError("'tools' must be a list of tool definitions")
    for tool in tools:
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError(
                f"each tool must be {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}, got {tool!r:.120}"
            )
    return tools


def _reply_parser(body: dict[str, Any], tools: list[dict[str, Any]] | None, tool_parser: str | None) -> str | None:
    """How the reply is read for tool calls under the request's tool_choice (vLLM's rules)."""
    choice = body.get("tool_choice")
    if choice is None:
        choice = "auto" if tools else "none"
    if choice not in TOOL_CHOICES:
        raise RequestError(
            f"tool_choice {choice!r} is not supported by this server: send 'auto' or 'none' "
            "(or leave it out: 'auto' when tools are given)"
        )
    if choice == "none":
        return None  # the tools are still shown to the model (vLLM's default), its reply stays text
    if not tools:
        raise RequestError("tool_choice 'auto' needs 'tools' in the request")
    if tool_parser is None:
        raise RequestError(
            "tool_choice 'auto' needs a tool call parser, and this server was started without one: "
            f"start it with --tool-call-parser ({' or '.join(tool_parser_names())}), or send tool_choice 'none'"
        )
    return tool_parser


def parse_chat_request(body: dict[str, Any], model: ChatModel, tool_parser: str | None = None) -> ChatRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    rendered = [_template_message(m) for m in messages]
    tools = _request_tools(body)
    reply_parser = _reply_parser(body, tools, tool_parser)
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise RequestError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(str(s) for s in stop)
    temperature = float(body.get("temperature") or 0.0)
    top_p = float(body.get("top_p") if body.get("top_p") is not None else 1.0)  # type: ignore[arg-type]
    seed = body.get("seed")
    stop_token_ids = body.get("stop_token_ids") or []
    if not isinstance(stop_token_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in stop_token_ids):
        raise RequestError(f"stop_token_ids must be a list of token ids (non-negative integers), got {stop_token_ids!r}")
    prompt_ids = model.render(rendered, tools)
    generation = GenerationRequest(
        prompt_ids=prompt_ids,
        max_new_tokens=model.clamp_max_tokens(len(prompt_ids), max_tokens),
        temperature=temperature,
        top_p=top_p,
        seed=int(seed) if seed is not None else None,
        stop=stop,
        stop_token_ids=tuple(dict.fromkeys(stop_token_ids)),
    )
    return ChatRequest(generation=generation, reply_parser=reply_parser)


def _reply_message(gen: Generation, reply_parser: str | None) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason: OpenAI tool_calls when the reply parses into calls."""
    if reply_parser is not None:
        parsed = parse_tool_calls(gen.text, reply_parser)
        if parsed.calls:
            calls = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                }
                for call in parsed.calls
            ]
            return {"role": "assistant", "content": parsed.content, "tool_calls": calls}, "tool_calls"
    return {"role": "assistant", "content": gen.text}, gen.finish_reason


def completion_body(
    served_model_name: str, req: GenerationRequest, gen: Generation, reply_parser: str | None = None
) -> dict[str, Any]:
    message, finish_reason = _reply_message(gen, reply_parser)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served_model_name,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": len(req.prompt_ids),
            "completion_tokens": gen.completion_tokens,
            "total_tokens": len(req.prompt_ids) + gen.completion_tokens,
        },
    }


def make_server(
    host: str, port: int, model: ChatModel, batcher: MicroBatcher, served_model_name: str,
    tool_parser: str | None = None,
) -> ThreadingHTTPServer:
    """The HTTP server around a model and its batcher; `tool_parser` (a tool_parser plug-in name) reads
    tool calls out of replies to requests with tools."""
    if tool_parser is not None and tool_parser not in tool_parser_names():
        raise ValueError(f"tool_parser={tool_parser!r} is unknown; accepted: {tool_parser_names()}")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            kind = {400: "BadRequestError", 404: "NotFoundError"}.get(status, "InternalServerError")
            self._send(status, {"error": {"message": message, "type": kind, "code": status}})

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path == "/stats":  # not OpenAI: lets tests and logs see the batching
                self._send(200, {"batches": batcher.batches_run, "rows": batcher.rows_run})
            elif self.path == "/v1/models":
                card = {
                    "id": served_model_name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "ptb",
                    "max_model_len": model.context_length,
                }
                self._send(200, {"object": "list", "data": [card]})
            else:
                self._error(404, f"no route GET {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/v1/chat/completions":
                self._error(404, f"no route POST {self.path}")
                return
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise RequestError("the request body must be a JSON object")
                if body.get("model") not in (None, served_model_name):
                    self._error(404, f"model {body.get('model')!r} does not exist; this server serves {served_model_name!r}")
                    return
                if body.get("stream"):
                    raise RequestError("streaming is not supported by this server; send stream=false")
                chat = parse_chat_request(body, model, tool_parser)
            except (RequestError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
                self._error(400, str(exc))
                return
            try:
                gen = batcher.submit(chat.generation)
            except Exception as exc:  # noqa: BLE001 (any generation failure is this request's 500)
                self._error(500, f"generation failed: {exc}")
                return
            self._send(200, completion_body(served_model_name, chat.generation, gen, chat.reply_parser))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="HF checkpoint folder")
    parser.add_argument("--chat-template", required=True, help="harness chat template file (.jinja)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--served-model-name", default="final_model")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=2.0,
                        help="when idle, how long the first request waits for companions")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: $OMP_NUM_THREADS, else 1)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when visible)")
    parser.add_argument("--tool-call-parser", default=None, choices=tool_parser_names(),
                        help="read tool calls out of replies to requests with tools (as vLLM's parser of that name)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    # One thread unless told otherwise: on a shared CPU box, OpenMP threads that wait for a
    # descheduled sibling made generation 10-30x slower than a single thread (measured).
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS") or 1)
    torch.set_num_threads(max(1, threads))
    started = time.monotonic()
    model = ChatModel(args.model, Path(args.chat_template).read_text(), dtype=args.dtype, device=args.device)
    batcher = MicroBatcher(model, max_batch_size=args.max_batch_size, wait_s=args.batch_wait_ms / 1000)
    server = make_server(args.host, args.port, model, batcher, args.served_model_name, args.tool_call_parser)
    log.info(
        "serving %s as %r on http://%s:%d/v1 (%s, context %d, eos %s, %d threads, loaded in %.1fs)",
        args.model, args.served_model_name, args.host, args.port, model.device,
        model.context_length, list(model.eos_ids), torch.get_num_threads(), time.monotonic() - started,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        batcher.close()


if __name__ == "__main__":
    main()
