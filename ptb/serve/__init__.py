"""OpenAI-compatible inference servers for evaluation: `start_server` launches the CPU HF
server (`ptb.serve.hf_server`) or vLLM for a checkpoint, always with the harness chat template."""

from ptb.serve.launch import (
    BackendUnavailable,
    CheckpointError,
    ServerHandle,
    ServerStartError,
    check_checkpoint_files,
    start_server,
    vllm_command,
)

__all__ = [
    "BackendUnavailable",
    "CheckpointError",
    "ServerHandle",
    "ServerStartError",
    "check_checkpoint_files",
    "start_server",
    "vllm_command",
]
