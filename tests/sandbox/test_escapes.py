"""Escapes a hostile agent tries from inside the bwrap sandbox, each asserted to fail.

The one that worked before (issue 12): the agent ran as root with its capabilities, made its own
mount namespace, remounted the host read-write and wrote a forged metrics.json into its real run
folder. Every probe below runs as the agent runs: the real `BwrapSandbox.command` of a request
shaped like the solve stage's (workspace and home writable inside a hidden results folder).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ptb.sandbox import SandboxRequest, bwrap_works, make_sandbox
from ptb.sandbox import bwrap as bwrap_backend
from ptb.sandbox.seccomp import DENIED, agent_filter, build_filter, host_arch

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bwrap cannot create namespaces on this host")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the harness-as-root mode (the agent becomes uid 65534)")


def _layout(tmp_path: Path) -> dict[str, Path]:
    results = tmp_path / "results"
    run_dir = results / "sweep" / "run-1"
    scratch = results / "sweep" / ".scratch" / "run-1"
    paths = {"results": results, "run_dir": run_dir, "workspace": scratch / "workspace", "home": scratch / "home",
             "tmp": scratch / "tmp", "other": results / "sweep" / ".scratch" / "run-2" / "workspace"}
    for key in ("run_dir", "workspace", "home", "tmp", "other"):
        paths[key].mkdir(parents=True)
    (paths["run_dir"] / "metrics.json").write_text('{"score": 0.1}')
    (paths["other"] / "model.safetensors").write_text("another run's live checkpoint")
    return paths


def _run_as_agent(tmp_path: Path, script: str, *, readonly: tuple[str, ...] = (), sockets: tuple[str, ...] = ()):
    paths = _layout(tmp_path) if not (tmp_path / "results").exists() else {
        "results": tmp_path / "results", "workspace": tmp_path / "results/sweep/.scratch/run-1/workspace",
        "home": tmp_path / "results/sweep/.scratch/run-1/home", "tmp": tmp_path / "results/sweep/.scratch/run-1/tmp",
    }
    request = SandboxRequest(
        argv=(sys.executable, "-c", textwrap.dedent(script)),
        cwd=str(paths["workspace"]),
        writable=(str(paths["workspace"]), str(paths["home"])),
        readonly=readonly,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(paths["home"])},
        hidden=(str(paths["results"]),),
        tmp=str(paths["tmp"]),
        sockets=sockets,
    )
    argv, env = make_sandbox("bwrap").command(request)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_bwrap
def test_the_agent_has_no_capability_no_root_and_a_seccomp_filter(tmp_path):
    report = _run_as_agent(tmp_path, """
        import json, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        print(json.dumps({k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")}
                         | {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups()}))
    """)
    assert report["CapEff"] == report["CapPrm"] == report["CapAmb"] == "0000000000000000"
    assert report["NoNewPrivs"] == "1" and report["Seccomp"] == "2"
    if os.geteuid() == 0:  # the harness is root: the agent is a plain host user, bounding set empty
        assert report["uid"] == report["euid"] == bwrap_backend.AGENT_UID and report["groups"] in ([], [bwrap_backend.AGENT_GID])
        assert report["CapBnd"] == "0000000000000000"


@needs_bwrap
def test_mount_tricks_fail_and_nothing_reaches_the_real_run_folder(tmp_path):
    """The escape of issue 12, step by step: a namespace of its own, a remount, a bind of the
    host's root, a forged metrics.json written through any of them."""
    paths = _layout(tmp_path)
    metrics = paths["run_dir"] / "metrics.json"
    report = _run_as_agent(tmp_path, f"""
        import json, subprocess
        def attempt(cmd):
            done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
            return done.returncode
        forged = "echo '{{\\"score\\": 1.0}}' > {metrics}"
        print(json.dumps({{
            "unshare_mount": attempt("unshare -m true"),
            "unshare_user": attempt("unshare -Ur true"),
            "unshare_user_mount": attempt("unshare -Urm sh -c 'mount -o remount,rw / && " + forged + "'"),
            "remount": attempt("mount -o remount,rw /"),
            "bind_root": attempt("mkdir -p /tmp/host && mount --bind / /tmp/host"),
            "forge_direct": attempt(forged),
            "sees_run_folder": attempt("test -e {metrics}") == 0,
            "sees_other_run": attempt("test -e {paths['other']}/model.safetensors") == 0,
        }}))
    """)
    for name in ("unshare_mount", "unshare_user", "unshare_user_mount", "remount", "bind_root", "forge_direct"):
        assert report[name] != 0, name
    assert not report["sees_run_folder"] and not report["sees_other_run"]
    assert json.loads(metrics.read_text()) == {"score": 0.1}  # the host's file is untouched


@needs_bwrap
def test_the_filter_refuses_namespace_mount_and_kernel_interfaces_at_the_syscall(tmp_path):
    """The same calls made directly (no util-linux in between), with the errno the filter returns;
    threads (clone3 refused with ENOSYS, so the C library falls back to clone) keep working."""
    numbers = host_arch().numbers if host_arch() else None
    if numbers is None:
        pytest.skip("no seccomp filter for this architecture")
    report = _run_as_agent(tmp_path, f"""
        import ctypes, json, os, threading, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        nr = {json.dumps(numbers)}
        def call(name, *args):
            ctypes.set_errno(0)
            result = libc.syscall(nr[name], *[ctypes.c_long(a) for a in args])
            return result, ctypes.get_errno()
        out = {{
            "unshare_user": call("unshare", 0x10000000),
            "unshare_net": call("unshare", 0x40000000),
            "clone_newuser": call("clone", 0x10000000 | 17, 0, 0, 0, 0),
            "mount": call("mount", 0, 0, 0, 0, 0),
            "keyctl": call("keyctl", 0, 0, 0, 0, 0),
            "io_uring_setup": call("io_uring_setup", 8, 0),
            "open_by_handle_at": call("open_by_handle_at", 0, 0, 0),
            "bpf": call("bpf", 0, 0, 0),
            "tiocsti": (libc.ioctl(0, 0x5412, ctypes.c_char_p(b"x")), ctypes.get_errno()),
            "clone3": call("clone3", 0, 0),
        }}
        if {numbers.get("clone") == 56}:  # x86_64: another ABI's numbers are refused outright
            out["x32_getpid"] = (libc.syscall(ctypes.c_long(0x40000000 | 39)), ctypes.get_errno())
        box = []
        t = threading.Thread(target=box.append, args=(1,)); t.start(); t.join()
        out["thread"] = box == [1]
        out["subprocess"] = subprocess.run(["true"]).returncode
        print(json.dumps(out))
    """)
    import errno

    for name in ("unshare_user", "unshare_net", "clone_newuser", "mount", "keyctl", "io_uring_setup",
                 "open_by_handle_at", "bpf", "tiocsti"):
        assert report[name] == [-1, errno.EPERM], (name, report[name])
    assert report["clone3"] == [-1, errno.ENOSYS]
    if "x32_getpid" in report:
        assert report["x32_getpid"] == [-1, errno.EPERM]
    assert report["thread"] and report["subprocess"] == 0


@needs_bwrap
@as_root
def test_root_only_files_and_root_sockets_are_closed_to_the_agent(tmp_path):
    """With the harness as root the agent is uid 65534: a host secret (mode 0600, like
    ~/.netrc or an HF token) and a root service's socket (mode 0660, like docker's) that are
    visible are still closed to it."""
    shared = tmp_path / "visible"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    secret = shared / "token"
    secret.write_text("hf_secret")
    secret.chmod(0o600)
    service = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    service.bind(str(shared / "docker.sock"))
    os.chmod(shared / "docker.sock", 0o660)
    service.listen(1)
    try:
        report = _run_as_agent(tmp_path, f"""
            import json, socket
            def read():
                try:
                    return open("{secret}").read()
                except OSError as exc:
                    return type(exc).__name__
            def connect():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect("{shared / 'docker.sock'}")
                    return "connected"
                except OSError as exc:
                    return type(exc).__name__
            print(json.dumps({{"secret": read(), "socket": connect()}}))
        """, readonly=(str(shared),))
    finally:
        service.close()
    assert report == {"secret": "PermissionError", "socket": "PermissionError"}


@needs_bwrap
@as_root
def test_an_interpreter_in_a_closed_folder_stays_usable_and_the_rest_stays_hidden(tmp_path, monkeypatch):
    """A Python under /root/.pyenv (mode 0700) must still run the agent's scripts: the closed
    folder becomes an empty one with only what is needed mounted back."""
    closed = tmp_path / "closed"
    needed = closed / "toolchain"
    needed.mkdir(parents=True)
    (needed / "tool.txt").write_text("usable")
    (closed / "secret.txt").write_text("private")
    closed.chmod(0o700)
    report = _run_as_agent(tmp_path, f"""
        import json, os
        print(json.dumps({{"tool": open("{needed / 'tool.txt'}").read(), "secret": os.path.exists("{closed / 'secret.txt'}")}}))
    """, readonly=(str(needed),))
    assert report == {"tool": "usable", "secret": False}


@needs_bwrap
def test_the_agents_tmp_is_kept_for_the_judge(tmp_path):
    paths = _layout(tmp_path)
    _run_as_agent(tmp_path, """
        import json
        open("/tmp/test_items.jsonl", "w").write("kept only in /tmp")
        print(json.dumps({}))
    """)
    assert (paths["tmp"] / "test_items.jsonl").read_text() == "kept only in /tmp"


def test_a_harness_that_is_not_root_gets_a_user_namespace_without_capabilities(monkeypatch):
    """The flags when the harness is a normal user: own user namespace, every capability dropped,
    no further user namespaces (bwrap >= 0.8), and the harness user's home hidden."""
    flags = bwrap_backend._privilege_flags(as_root=False)
    assert flags[:3] == ["--unshare-user", "--cap-drop", "ALL"]
    if bwrap_backend.bwrap_supports("--disable-userns"):
        assert "--disable-userns" in flags
    assert "--cap-add" not in flags
    request = SandboxRequest(argv=("true",), cwd="/nonexistent", writable=())
    assert os.path.realpath(os.path.expanduser("~")) in bwrap_backend._folders_to_hide(request, as_root=False)


def test_the_filter_is_well_formed_for_each_known_architecture():
    for name in ("x86_64", "aarch64"):
        arch = bwrap_backend_arch(name)
        program = build_filter(arch)
        assert len(program) % 8 == 0 and 0 < len(program) // 8 < 4096
        assert set(DENIED) <= set(arch.numbers)
    assert (agent_filter() is None) == (host_arch() is None)


def bwrap_backend_arch(name: str):
    from ptb.sandbox.seccomp import ARCHES

    return ARCHES[name]


@needs_bwrap
@as_root
def test_a_needed_path_closed_to_the_agent_is_a_clear_error(tmp_path):
    """A read-only path the agent needs but, as uid 65534, cannot read (an npm install made by
    mkdtemp, mode 0700) is named before anything runs, with the fix."""
    toolchain = tmp_path / "toolchain"
    toolchain.mkdir(mode=0o700)
    toolchain.chmod(0o700)
    request = SandboxRequest(argv=("true",), cwd=str(tmp_path), writable=(), readonly=(str(toolchain),))
    with pytest.raises(bwrap_backend.SandboxSetupError, match=r"could not read .*toolchain \(mode 0700.*chmod -R o\+rX"):
        make_sandbox("bwrap").command(request)


@as_root
def test_a_hard_link_in_the_workspace_is_never_given_to_the_agent(tmp_path):
    """Between sessions the harness chowns the workspace to the agent: a hard link the agent made
    there to a host file (possible where fs.protected_hardlinks=0) must not make that file its."""
    host_file = tmp_path / "host-passwd"
    host_file.write_text("root:x:0:0")
    ws = tmp_path / "ws"
    ws.mkdir()
    os.link(host_file, ws / "passwd-link")
    (ws / "own.txt").write_text("mine")
    bwrap_backend._give_to_agent([str(ws)], bwrap_backend.AGENT_UID, bwrap_backend.AGENT_GID)
    assert host_file.stat().st_uid == 0
    assert (ws / "own.txt").stat().st_uid == bwrap_backend.AGENT_UID and ws.stat().st_uid == bwrap_backend.AGENT_UID
