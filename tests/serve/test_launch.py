"""Server launching without a model: commands, checkpoint checks, the missing-vLLM error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ptb.serve import backends
from ptb.serve.backends import BackendUnavailable, hf_command, vllm_command
from ptb.serve.launch import CheckpointError, check_checkpoint_files, start_server


def _checkpoint(path: Path, config: dict | None = None, files=("model.safetensors", "tokenizer.json")) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    for name in files:
        (path / name).write_text("x")
    return path


def test_vllm_command_forces_the_harness_template_on_localhost(tmp_path):
    cmd = vllm_command(tmp_path / "ckpt", tmp_path / "qwen3.jinja", 8123, "final_model",
                       gpu_memory_utilization=0.5, max_model_len=4096, extra_args=["--seed", "0"])
    assert Path(cmd[0]).name == "vllm" and cmd[1:3] == ["serve", str(tmp_path / "ckpt")]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert args["--chat-template"] == str(tmp_path / "qwen3.jinja")
    assert args["--served-model-name"] == "final_model"
    assert args["--host"] == "127.0.0.1" and args["--port"] == "8123"
    assert args["--gpu-memory-utilization"] == "0.5" and args["--max-model-len"] == "4096"
    assert cmd[-2:] == ["--seed", "0"]
    assert "--max-model-len" not in vllm_command("m", "t", 1)


def test_a_tool_parser_turns_on_tool_calling_in_both_backends(tmp_path):
    cmd = vllm_command(tmp_path / "ckpt", tmp_path / "qwen3.jinja", 8123, tool_parser="hermes", extra_args=["--seed", "0"])
    at = cmd.index("--enable-auto-tool-choice")
    assert cmd[at + 1 : at + 3] == ["--tool-call-parser", "hermes"]
    assert cmd[-2:] == ["--seed", "0"]  # the caller's own arguments still come last
    assert "--enable-auto-tool-choice" not in vllm_command("m", "t", 1)
    assert "--tool-call-parser" not in vllm_command("m", "t", 1)

    hf = hf_command(tmp_path / "ckpt", tmp_path / "gemma3_tools.jinja", 8123, tool_parser="pythonic")
    assert hf[hf.index("--tool-call-parser") + 1] == "pythonic"
    assert "--tool-call-parser" not in hf_command("m", "t", 1)

    with pytest.raises(ValueError, match=r"tool_parser='json' is unknown; accepted: \['hermes', 'pythonic'\]"):
        vllm_command("m", "t", 1, tool_parser="json")
    ckpt = _checkpoint(tmp_path / "ok")
    template = tmp_path / "t.jinja"
    template.write_text("x")
    with pytest.raises(ValueError, match="tool_parser='json' is unknown"):  # before starting anything
        start_server(ckpt, template, "hf", tool_parser="json")


def test_missing_vllm_gives_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "vllm_available", lambda: False)
    ckpt = _checkpoint(tmp_path / "ckpt")
    template = tmp_path / "t.jinja"
    template.write_text("{{ messages }}")
    with pytest.raises(BackendUnavailable, match=r"pip install -e \.\[gpu\]"):
        start_server(ckpt, template, "vllm")
    with pytest.raises(ValueError, match=r"backend='tgi' is unknown; accepted: \['hf', 'vllm'\]"):
        start_server(ckpt, template, "tgi")  # type: ignore[arg-type]


def test_checkpoint_check_names_each_missing_file(tmp_path):
    check_checkpoint_files(_checkpoint(tmp_path / "ok"))
    check_checkpoint_files(_checkpoint(tmp_path / "sharded", files=("model-00001-of-00002.safetensors", "tokenizer.model")))

    with pytest.raises(CheckpointError, match="does not exist"):
        check_checkpoint_files(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="weights"):
        check_checkpoint_files(_checkpoint(tmp_path / "noweights", files=("tokenizer.json",)))
    with pytest.raises(CheckpointError, match="tokenizer"):
        check_checkpoint_files(_checkpoint(tmp_path / "notok", files=("model.safetensors",)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="config.json.*weights.*tokenizer"):
        check_checkpoint_files(empty)


def test_gemma3_checkpoints_need_their_processor_files(tmp_path):
    gemma = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"]}
    ckpt = _checkpoint(tmp_path / "gemma", gemma)
    with pytest.raises(CheckpointError, match="preprocessor_config.json"):
        check_checkpoint_files(ckpt)
    (ckpt / "preprocessor_config.json").write_text("{}")
    check_checkpoint_files(ckpt)


def test_start_server_rejects_an_incomplete_checkpoint_before_starting_anything(tmp_path):
    template = tmp_path / "t.jinja"
    template.write_text("x")
    with pytest.raises(CheckpointError, match="weights"):
        start_server(_checkpoint(tmp_path / "c", files=("tokenizer.json",)), template, "hf")
    with pytest.raises(FileNotFoundError, match="chat template"):
        start_server(_checkpoint(tmp_path / "d"), tmp_path / "missing.jinja", "hf")


@pytest.mark.gpu
def test_vllm_serves_a_checkpoint(request, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or not backends.vllm_available():
        pytest.skip("needs a CUDA GPU and vLLM (pip install -e .[gpu])")
    import urllib.request

    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only where it will be used
    template = tmp_path / "chatml.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with start_server(tiny_model_dir, template, "vllm", log_file=tmp_path / "vllm.log") as server:
        body = json.dumps({"model": server.model_name, "max_tokens": 8,
                           "messages": [{"role": "user", "content": "What is 2 + 3?"}]}).encode()
        req = urllib.request.Request(f"{server.base_url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            answer = json.loads(r.read())
    assert answer["usage"]["completion_tokens"] <= 8


from ptb.serve.launch import process_group_alive as _group_alive  # noqa: E402


def test_the_guard_ends_the_server_group_when_its_parent_dies():
    import signal
    import subprocess
    import sys
    import time

    from ptb.paths import PROJECT_ROOT

    # a parent that starts a guarded "server", then exits (when its stdin closes) without stopping it
    parent_code = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'ptb.serve.guard', '--parent-pid', str(os.getpid()),"
        " '--poll-s', '0.2', '--', 'sleep', '300'], start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    pgid = int(parent.stdout.readline())
    try:
        time.sleep(1.5)
        assert _group_alive(pgid), "the guarded server should run while its parent lives"
        parent.stdin.close()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(pgid), "the orphaned server was not stopped"
    finally:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_guard_takes_its_server_with_it():
    import signal
    import subprocess
    import sys
    import time

    from ptb.paths import PROJECT_ROOT

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    guard = subprocess.Popen([sys.executable, "-m", "ptb.serve.guard", "--parent-pid", str(os.getpid()),
                              "--", "sleep", "300"], start_new_session=True, env=env)
    try:
        time.sleep(1.5)
        assert _group_alive(guard.pid)
        os.kill(guard.pid, signal.SIGKILL)  # what Ray does to a lost worker's children
        guard.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(guard.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(guard.pid), "the server outlived its killed guard"
    finally:
        try:
            os.killpg(guard.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
