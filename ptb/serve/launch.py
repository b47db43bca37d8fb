"""Starting and stopping an OpenAI-compatible inference server for one checkpoint.

    handle = start_server("final_model", "templates/chatml.jinja", backend="hf")
    ...  # point an OpenAI client / inspect-ai at handle.base_url, model handle.model_name
    handle.stop()

The backend is a ``serve_backend`` plug-in (`ptb.serve.backends`: ``hf`` on CPU, ``vllm`` on GPU)
that builds the command; here the server runs as a subprocess in its own session on 127.0.0.1,
always with the harness chat template, and ``start_server`` returns only once ``/health``
answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from ptb import registry
from ptb.paths import PROJECT_ROOT
from ptb.serve.backends import HOST, check_tool_parser
from ptb.serve.checkpoint import CheckpointError, resolve_weights

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")
GEMMA3_PROCESSOR_FILES = ("preprocessor_config.json",)


class ServerStartError(RuntimeError):
    """The inference server did not come up; the message holds the tail of its log."""


@dataclass(frozen=True)
class ServerHandle:
    base_url: str  # http://127.0.0.1:<port>/v1
    model_name: str  # the served model name clients must send
    pid: int
    log_file: str
    backend: str
    model_path: str
    _process: subprocess.Popen = field(repr=False, compare=False)

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the server's own process group (vLLM has children), then SIGKILL."""
        if self._process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self._process.wait(timeout=timeout)
        # children left behind in the group (the leader exited first) get the same end
        _signal_group(self.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _read_config(model_path: Path) -> dict:
    try:
        return json.loads((model_path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{model_path}/config.json cannot be read: {exc}") from exc


def is_gemma3(config: dict) -> bool:
    archs = config.get("architectures") or []
    return config.get("model_type", "").startswith("gemma3") or any(a.startswith("Gemma3") for a in archs)


def check_checkpoint_files(model_path: str | os.PathLike) -> None:
    """Raise CheckpointError naming every missing file a server needs to load this folder.

    A HF save_pretrained folder needs config.json, weights (safetensors or .bin) and tokenizer
    files; Gemma-3 checkpoints also need the processor files (preprocessor_config.json) beside
    the weights, or vLLM refuses to load them.
    """
    path = Path(model_path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist (expected a HF save_pretrained folder)")
    missing: list[str] = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
        missing.append("weights (model.safetensors, model-*.safetensors or pytorch_model*.bin)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append(f"tokenizer files (one of {', '.join(TOKENIZER_FILES)}; save the tokenizer with save_pretrained)")
    if "config.json" not in missing and is_gemma3(_read_config(path)):
        for name in GEMMA3_PROCESSOR_FILES:
            if not (path / name).is_file():
                missing.append(
                    f"{name} (Gemma-3 checkpoints need the processor files beside the weights: "
                    "AutoProcessor.from_pretrained(<base model>).save_pretrained(<checkpoint>))"
                )
    if missing:
        raise CheckpointError(f"checkpoint {path} is incomplete; missing: " + "; ".join(missing))


def _server_env(extra: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment, with ptb importable even when it is not pip-installed."""
    env = {**os.environ, **(extra or {})}
    root = str(PROJECT_ROOT)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


def _log_tail(path: Path, chars: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-chars:]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy


def _healthy(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(
    model_path: str | os.PathLike,
    template_path: str | os.PathLike,
    backend: str,
    port: int | None = None,
    served_model_name: str = "final_model",
    log_file: str | os.PathLike | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float | None = None,
    env: dict[str, str] | None = None,
    exit_with_parent: bool = False,
    tool_parser: str | None = None,
) -> ServerHandle:
    """Start a server for the checkpoint and wait until /health answers.

    Raises CheckpointError (missing files, or weights `resolve_weights` refuses), BackendUnavailable (no vLLM), FileNotFoundError
    (no template) before starting anything, and ServerStartError (with the log's tail) when the
    process exits or does not become healthy within `startup_timeout` seconds.
    `exit_with_parent` runs the server under `ptb.serve.guard`, which ends it when the calling
    process dies, so a lost evaluation actor leaves no server (and no GPU memory) behind.
    `tool_parser` (a ``tool_parser`` plug-in name) turns tool calls in replies into OpenAI `tool_calls`.
    """
    server = registry.load("serve_backend", backend, where="backend")()
    check_tool_parser(tool_parser)
    model_path = Path(model_path).absolute()
    template_path = Path(template_path).absolute()
    check_checkpoint_files(model_path)
    # The one rule on which files are weights (ptb.serve.checkpoint): an ambiguous folder is refused
    # here, and the backends load safetensors only (vLLM with --load-format safetensors).
    # Links are trusted here: the final evaluation serves a link-free copy, baselines the HF cache.
    resolve_weights(model_path, follow_links=True)
    if not template_path.is_file():
        raise FileNotFoundError(f"chat template {template_path} does not exist")
    port = port or free_port()
    server.require()
    cmd = server.command(model_path, template_path, port, served_model_name, extra_args, tool_parser=tool_parser)
    timeout = startup_timeout or server.startup_timeout_s
    if exit_with_parent:
        cmd = [sys.executable, "-m", "ptb.serve.guard", "--parent-pid", str(os.getpid()), "--", *cmd]
    if log_file is None:
        fd, name = tempfile.mkstemp(prefix=f"ptb-{backend}-server-", suffix=".log")
        os.close(fd)
        log_file = name
    log_path = Path(log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)

    with open(log_path, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends it and its children only
            env=_server_env(env),
        )
    handle = ServerHandle(
        base_url=f"http://{HOST}:{port}/v1", model_name=served_model_name, pid=process.pid,
        log_file=str(log_path), backend=backend, model_path=str(model_path), _process=process,
    )
    health = f"http://{HOST}:{port}/health"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            handle.stop()
            raise ServerStartError(
                f"{backend} server for {model_path} exited with code {process.returncode} before becoming "
                f"healthy; log {log_path}, last lines:\n{_log_tail(log_path)}"
            )
        if _healthy(health):
            return handle
        if time.monotonic() > deadline:
            handle.stop()
            raise ServerStartError(
                f"{backend} server for {model_path} was not healthy after {timeout:.0f}s; "
                f"log {log_path}, last lines:\n{_log_tail(log_path)}"
            )
        time.sleep(0.25)


def process_group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in process group `pgid`: how callers check
    that stopping a server (or losing its owner) really ended everything it started."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
