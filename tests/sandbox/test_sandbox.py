"""The sandbox backends, checked with real processes (bwrap tests skip where bwrap cannot work)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from ptb.paths import PROJECT_ROOT
from ptb.sandbox import SandboxRequest, bwrap_works, make_sandbox

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")

# Runs inside the sandbox and reports what it can see and do, as one JSON line.
PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    workspace, project_file, port, tmp_file, hidden_file = sys.argv[1:]
    port = int(port)

    def can_write(path):
        try:
            with open(path, "w") as f:
                f.write("x")
            return True
        except OSError:
            return False

    def can_connect():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            return False

    with open("/proc/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    print(json.dumps({
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "interfaces": interfaces,
        "connect_host_loopback": can_connect(),
        "workspace_writable": can_write(os.path.join(workspace, "written.txt")),
        "project_writable": can_write(project_file),
        "tmp_writable": can_write(tmp_file),
        "sees_hidden_file": os.path.exists(hidden_file),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
    }))
    """
)


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def _probe(tmp_path: Path, port: int, network: bool, kind: str = "bwrap", project_file: Path | None = None) -> dict:
    # The workspace sits inside a hidden folder (the sweep's results, say): hidden but for it.
    hidden, workspace, home = tmp_path / "results", tmp_path / "results" / "ws", tmp_path / "home"
    workspace.mkdir(parents=True, exist_ok=True)
    (hidden / "other_run.txt").write_text("another run's files")
    home.mkdir(exist_ok=True)
    probe = tmp_path / "probe.py"  # under /tmp: visible only because it is passed as readonly
    probe.write_text(PROBE)
    tmp_file = f"/tmp/ptb-sandbox-probe-{uuid.uuid4().hex}.txt"
    # LC_ALL given: without a locale, Python would add LC_CTYPE to its own environment (PEP 538)
    env = {"PATH": "/usr/bin:/bin", "PTB_MARK": "given", "HOME": str(home), "LC_ALL": "C.UTF-8"}
    request = SandboxRequest(
        argv=(
            sys.executable, str(probe), str(workspace), str(project_file or PROJECT_ROOT / "ptb-probe-write.txt"),
            str(port), tmp_file, str(hidden / "other_run.txt"),
        ),
        cwd=str(workspace),
        writable=(str(workspace), str(home)),
        readonly=(str(probe),),
        env=env,
        network=network,
        hidden=(str(hidden),),
    )
    argv, popen_env = make_sandbox(kind).command(request)
    done = subprocess.run(argv, env=popen_env, cwd=request.cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["given_env"] = env
    report["host_sees_tmp_file"] = os.path.exists(tmp_file)
    if report["host_sees_tmp_file"]:
        os.unlink(tmp_file)
    return report


@needs_bwrap
def test_bwrap_isolates_processes_files_env_and_network(tmp_path, listener):
    report = _probe(tmp_path, listener, network=False)
    # Only the sandbox's own processes: bwrap's init, the keeper, the probe.
    assert len(report["pids"]) <= 4 and 1 in report["pids"], report["pids"]
    assert report["interfaces"] == ["lo"]
    assert not report["connect_host_loopback"]
    assert report["workspace_writable"] and (tmp_path / "results" / "ws" / "written.txt").exists()
    assert not report["sees_hidden_file"]
    assert not report["project_writable"]
    assert not (PROJECT_ROOT / "ptb-probe-write.txt").exists()
    assert report["tmp_writable"] and not report["host_sees_tmp_file"]  # private /tmp
    # bwrap's --chdir sets PWD (to the cwd); nothing else is added
    assert report["env"].pop("PWD") == report["cwd"] == str(tmp_path / "results" / "ws")
    assert report["env"] == report["given_env"]


@needs_bwrap
def test_bwrap_network_when_asked(tmp_path, listener):
    report = _probe(tmp_path, listener, network=True)
    assert report["connect_host_loopback"]
    assert len(report["interfaces"]) > 1


def test_none_backend_warns_and_only_empties_env(tmp_path, listener, caplog):
    sandbox = make_sandbox("none")
    assert sandbox.warning and "NO SANDBOX" in sandbox.warning
    with caplog.at_level(logging.WARNING):
        report = _probe(tmp_path, listener, network=False, kind="none", project_file=tmp_path / "host.txt")
    assert any("NO SANDBOX" in r.getMessage() for r in caplog.records)
    assert report["env"] == report["given_env"]
    assert report["connect_host_loopback"]  # no isolation at all
    assert os.getpid() in report["pids"]  # sees host processes
    assert report["project_writable"] and report["host_sees_tmp_file"]


def test_kinds():
    with pytest.raises(ValueError, match="accepted: \\['auto', 'bwrap', 'none'\\]"):
        make_sandbox("docker")
    assert make_sandbox("auto").kind == ("bwrap" if bwrap_works() else "none")


@needs_bwrap
def test_bwrap_keeps_a_venv_that_lives_under_tmp_visible(tmp_path, monkeypatch):
    """A checkout or venv under /tmp (CI clones there) must survive the sandbox's private /tmp."""
    venv = Path("/tmp") / f"ptb-fake-venv-{uuid.uuid4().hex[:8]}"
    (venv / "bin").mkdir(parents=True)
    tool = venv / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool-ran\n")
    tool.chmod(0o755)
    try:
        monkeypatch.setattr(sys, "prefix", str(venv))
        ws = tmp_path / "ws"
        ws.mkdir()
        argv, env = make_sandbox("bwrap").command(
            SandboxRequest(argv=[str(tool)], cwd=str(ws), writable=(str(ws),), env={"PATH": "/usr/bin:/bin"})
        )
        done = subprocess.run(argv, env=env, cwd=str(ws), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "tool-ran"
    finally:
        tool.unlink()
        (venv / "bin").rmdir()
        venv.rmdir()
