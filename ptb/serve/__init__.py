"""OpenAI-compatible inference servers for evaluation: `start_server` launches one of the
``serve_backend`` plug-ins (`ptb.serve.backends`: the CPU HF server or vLLM) for a checkpoint, always with the harness chat template."""

from ptb.serve.backends import BackendUnavailable, serve_backend, serve_backend_names, vllm_command
from ptb.serve.launch import (
    CheckpointError,
    ServerHandle,
    ServerStartError,
    check_checkpoint_files,
    start_server,
)

__all__ = [
    "BackendUnavailable",
    "CheckpointError",
    "ServerHandle",
    "ServerStartError",
    "check_checkpoint_files",
    "serve_backend",
    "serve_backend_names",
    "start_server",
    "vllm_command",
]
