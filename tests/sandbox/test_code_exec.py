"""ptb.sandbox.code_exec: untrusted Python runs in bubblewrap, never on the host.

Each test runs real code in the real sandbox (skipped where bwrap cannot work here), except the
"unavailable" test, which hides bwrap and checks that nothing runs at all.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from ptb.sandbox import code_exec
from ptb.sandbox.code_exec import (
    ExecResult,
    SandboxUnavailable,
    run_python,
    sandbox_probe,
)

needs_sandbox = pytest.mark.skipif(not sandbox_probe()[0], reason=f"code sandbox unavailable: {sandbox_probe()[1]}")


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@needs_sandbox
def test_passing_code_passes_and_its_output_comes_back():
    result = run_python(_code("""
        def add(a, b):
            return a + b
        assert add(2, 3) == 5
        print("sum ok")
    """), timeout_s=10)
    assert isinstance(result, ExecResult)
    assert result.passed and result.returncode == 0 and not result.timed_out
    assert result.stdout == "sum ok\n" and result.stderr == ""


@needs_sandbox
def test_stdin_reaches_only_the_program_and_is_empty_without_it():
    source = "import sys\nprint(repr(sys.stdin.read()))\n"
    assert "'the tests, kept off the program file'" in run_python(source, timeout_s=20, stdin="the tests, kept off the program file").stdout
    assert "''" in run_python(source, timeout_s=20).stdout


@needs_sandbox
def test_failing_assert_fails_with_its_traceback():
    result = run_python("assert 2 + 2 == 5, 'arithmetic is broken'\n", timeout_s=10)
    assert not result.passed and result.returncode == 1 and not result.timed_out
    assert "AssertionError: arithmetic is broken" in result.stderr


@needs_sandbox
def test_infinite_loop_is_killed_at_the_timeout_with_every_process_it_started():
    token = f"ptb-orphan-{uuid.uuid4().hex}"
    # The loop also starts a child that would outlive its parent if only the parent were killed.
    source = _code(f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.1)", "{token}"])
        while True:
            pass
    """)
    started = time.monotonic()
    result = run_python(source, timeout_s=1.5)
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.passed and result.returncode is None
    assert 1.5 <= elapsed < 6, elapsed

    def survivors() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if token.encode() in cmdline.read_bytes() and cmdline.parent.name != str(os.getpid()):
                    found.append(cmdline.parent.name)
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 5  # the kernel tears the pid namespace down asynchronously
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors() == []


@needs_sandbox
def test_no_network_even_to_the_hosts_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        result = run_python(_code(f"""
            import socket
            for address in (("127.0.0.1", {port}), ("1.1.1.1", 53)):
                try:
                    socket.create_connection(address, timeout=2).close()
                    print("CONNECTED", address)
                except OSError as exc:
                    print("refused", address, type(exc).__name__)
        """), timeout_s=15)
        assert result.passed, result.stderr
        assert "CONNECTED" not in result.stdout and result.stdout.count("refused") == 2
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's listener
    finally:
        listener.close()


@needs_sandbox
def test_cannot_write_outside_its_private_scratch_dir(tmp_path):
    outside = tmp_path / "escaped.txt"
    project_file = Path(code_exec.__file__).with_name(f"escaped-{uuid.uuid4().hex}.txt")
    result = run_python(_code(f"""
        import json, os
        def try_write(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                return True
            except OSError:
                return False
        with open("own.txt", "w") as f:
            f.write("mine")
        print(json.dumps({{
            "cwd": os.getcwd(),
            "cwd_listing": sorted(os.listdir(".")),
            "tmp": try_write("/tmp/t.txt"),
            "outside": try_write({str(outside)!r}),
            "project": try_write({str(project_file)!r}),
            "usr": try_write("/usr/ptb-escape.txt"),
            "sees_tests": os.path.exists({str(Path(__file__).parent)!r}),
        }}))
    """), timeout_s=10)
    assert result.passed, result.stderr
    seen = json.loads(result.stdout)
    assert seen["cwd_listing"] == ["own.txt"]  # it started empty
    assert seen["tmp"] is True  # a private /tmp
    assert seen["outside"] is False and seen["project"] is False and seen["usr"] is False
    assert seen["sees_tests"] is False  # the checkout is not even visible
    assert not outside.exists() and not project_file.exists()
    assert not list(tmp_path.iterdir())


@needs_sandbox
def test_memory_bomb_is_stopped_while_modest_use_works():
    bomb = run_python("blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]\n", timeout_s=15, memory_mb=256)
    assert not bomb.passed and not bomb.timed_out
    assert "MemoryError" in bomb.stderr
    modest = run_python("b = bytearray(64 * 1024 * 1024)\nprint(len(b))\n", timeout_s=15, memory_mb=256)
    assert modest.passed and modest.stdout.strip() == str(64 * 1024 * 1024)


@needs_sandbox
def test_environment_is_empty(monkeypatch):
    monkeypatch.setenv("PTB_CODE_EXEC_SECRET", "do-not-leak-1234")
    result = run_python("import json, os\nprint(json.dumps(dict(os.environ)))\n", timeout_s=10)
    assert result.passed, result.stderr
    env = json.loads(result.stdout)
    assert "do-not-leak-1234" not in result.stdout
    # bwrap's --chdir sets PWD and Python's locale coercion sets LC_CTYPE; nothing else exists.
    assert set(env) <= {"PWD", "LC_CTYPE"}, env


@needs_sandbox
def test_output_is_capped_by_the_file_size_limit_and_returned_as_a_tail():
    result = run_python("import sys\nfor i in range(10**7):\n    sys.stdout.write(f'line {i}\\n')\n", timeout_s=20, file_size_mb=1)
    assert not result.passed and not result.timed_out
    assert "File too large" in result.stderr  # writing past 1 MiB fails (EFBIG)
    assert 0 < len(result.stdout) <= code_exec.TAIL_CHARS
    assert "line 0\n" not in result.stdout  # only the tail comes back


def test_unavailable_bwrap_raises_and_runs_nothing_on_the_host(monkeypatch, tmp_path):
    marker = tmp_path / "ran-on-host.txt"
    monkeypatch.setattr(code_exec, "_bwrap_path", lambda: None)
    code_exec.sandbox_probe.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="only inside bubblewrap; install it: apt-get install bubblewrap"):
            run_python(f"open({str(marker)!r}, 'w').write('x')\n", timeout_s=5)
    finally:
        code_exec.sandbox_probe.cache_clear()
    assert not marker.exists()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        run_python("pass", timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb must be at least 64"):
        run_python("pass", timeout_s=1, memory_mb=8)


@needs_sandbox
def test_runs_nested_inside_the_agents_bwrap_sandbox(tmp_path):
    """The agent's evaluate.py scores humaneval inside the agent's own bwrap sandbox, whose seccomp
    filter forbids a nested one: there generated code runs in the enclosing sandbox."""
    import subprocess
    import sys

    from ptb.sandbox import SandboxRequest, bwrap_works, make_sandbox

    if not bwrap_works():
        pytest.skip("the agent sandbox (bwrap) does not work here")
    script = (
        "from ptb.sandbox.code_exec import run_python, trust_enclosing_sandbox\n"
        "with trust_enclosing_sandbox('test'):\n"
        "    ok = run_python('import os\\nprint(os.getuid())', timeout_s=10)\n"
        "    bad = run_python('assert False', timeout_s=10)\n"
        "print(ok.passed, ok.stdout.strip(), bad.passed)\n"
    )
    argv, env = make_sandbox("bwrap").command(
        SandboxRequest(argv=(sys.executable, "-c", script), cwd=str(tmp_path), writable=(str(tmp_path),))
    )
    done = subprocess.run(argv, check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", code_exec.SANDBOX_UID, "False"]


def test_trusting_an_enclosing_sandbox_outside_one_changes_nothing(tmp_path):
    """The harness (or a test) calling the agent-facing evaluation in-process is not confined:
    generated code still gets its own bwrap there, during the block and after it."""
    if not code_exec.sandbox_probe()[0]:
        pytest.skip("bwrap cannot build the code sandbox here")
    marker = tmp_path / "host-file"
    with code_exec.trust_enclosing_sandbox("not really enclosed"):
        assert code_exec._ENCLOSED_BY is None
        result = run_python(f"open({str(marker)!r}, 'w').write('x')", timeout_s=10)
    assert not result.passed and not marker.exists()  # the host is out of the code's reach
