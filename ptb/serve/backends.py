"""The inference servers an evaluation can use, as ``serve_backend`` plug-ins.

    backend = registry.load("serve_backend", "vllm")()   # -> VllmBackend
    backend.require()                                     # BackendUnavailable with the install hint
    cmd = backend.command(model_path, template_path, port, tool_parser="hermes")

``hf`` runs ``ptb.serve.hf_server`` (transformers, CPU or one GPU, small models); ``vllm`` runs
``vllm serve`` (GPU). Both listen on 127.0.0.1 only, always with the harness chat template, load
safetensors weights only (the layout `ptb.serve.checkpoint.resolve_weights` accepted), and
with a ``tool_parser`` read tool calls out of replies (``--tool-call-parser X`` for hf,
``--enable-auto-tool-choice --tool-call-parser X`` for vLLM). vLLM is an optional extra and is
never imported: it runs as a command and is only looked up. A new backend is one decorated
class with ``command`` and ``require``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ptb import registry

HOST = "127.0.0.1"


class BackendUnavailable(RuntimeError):
    """The requested backend is not installed here."""


def serve_backend(name: str) -> Callable[[type], type]:
    """Register a class (constructed without arguments) as the evaluation server ``name``."""
    return registry.register("serve_backend", name)


def serve_backend_names() -> list[str]:
    return registry.names("serve_backend")


def check_tool_parser(tool_parser: str | None) -> None:
    if tool_parser is not None:
        registry.lookup("tool_parser", tool_parser, where="tool_parser", nullable=True)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def hf_command(model_path: str | os.PathLike, template_path: str | os.PathLike, port: int,
               served_model_name: str = "final_model", extra_args: Sequence[str] = (),
               tool_parser: str | None = None) -> list[str]:
    check_tool_parser(tool_parser)
    return [
        sys.executable, "-m", "ptb.serve.hf_server",
        "--model", str(model_path),
        "--chat-template", str(template_path),
        "--served-model-name", served_model_name,
        "--host", HOST,
        "--port", str(port),
        *(["--tool-call-parser", tool_parser] if tool_parser else []),
        *extra_args,
    ]


def vllm_command(model_path: str | os.PathLike, template_path: str | os.PathLike, port: int,
                 served_model_name: str = "final_model", gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, extra_args: Sequence[str] = (),
                 tool_parser: str | None = None) -> list[str]:
    """``vllm serve`` with the harness template forced, on localhost only; with `tool_parser`,
    replies to requests with tools are read for tool calls by vLLM's parser of that name."""
    check_tool_parser(tool_parser)
    beside_python = Path(sys.executable).parent / "vllm"
    exe = str(beside_python) if beside_python.exists() else "vllm"
    cmd = [
        exe, "serve", str(model_path),
        "--chat-template", str(template_path),
        "--served-model-name", served_model_name,
        "--host", HOST,
        "--port", str(port),
        "--gpu-memory-utilization", str(gpu_memory_utilization),
        # safetensors only, as `ptb.serve.checkpoint.resolve_weights` accepted them: never a
        # *.bin or *.pt that "auto" would fall back to
        "--load-format", "safetensors",
    ]
    if max_model_len is not None:
        cmd += ["--max-model-len", str(max_model_len)]
    if tool_parser is not None:
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", tool_parser]
    return cmd + list(extra_args)


@serve_backend("hf")
class HfBackend:
    """ptb's own transformers server: CPU (or one GPU), small models, no extra install."""

    startup_timeout_s = 300.0

    def require(self) -> None:
        pass  # transformers is a core dependency

    def command(self, model_path: str | os.PathLike, template_path: str | os.PathLike, port: int,
                served_model_name: str, extra_args: Sequence[str] = (), tool_parser: str | None = None) -> list[str]:
        return hf_command(model_path, template_path, port, served_model_name, extra_args, tool_parser)


@serve_backend("vllm")
class VllmBackend:
    """vLLM's OpenAI-compatible server (GPU); the ``gpu`` extra installs it."""

    startup_timeout_s = 1200.0  # a cold start compiles kernels and loads GBs of weights

    def require(self) -> None:
        if not vllm_available():
            raise BackendUnavailable(
                "backend 'vllm' needs vLLM, which is not installed in this environment; "
                "install the gpu extra: pip install -e .[gpu]   (or use backend 'hf' on CPU)"
            )

    def command(self, model_path: str | os.PathLike, template_path: str | os.PathLike, port: int,
                served_model_name: str, extra_args: Sequence[str] = (), tool_parser: str | None = None) -> list[str]:
        return vllm_command(model_path, template_path, port, served_model_name, extra_args=extra_args,
                            tool_parser=tool_parser)
