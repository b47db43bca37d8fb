"""Running an agent's command isolated from the host.

    from ptb.sandbox import SandboxRequest, make_sandbox

    sandbox = make_sandbox("auto")            # bwrap where it works, else none (warns)
    argv, env = sandbox.command(SandboxRequest(
        argv=("bash", "/agents/noop/solve.sh"), cwd=ws, writable=(ws, home),
        readonly=(agent_dir, base_model), env=agent_env, network=False))
    subprocess.Popen(argv, env=env, cwd=ws, start_new_session=True)
    if sandbox.warning: ...                   # put it in solve.log

    result = run_python(untrusted_code, timeout_s=10)   # generated code (humaneval), never on the host

Kinds are ``sandbox`` plug-ins (`ptb.registry`): ``bwrap``, ``none`` and ``auto``; a new backend is
a `Sandbox` subclass decorated with ``@sandbox_kind("name")``.
"""

from ptb.sandbox.auto import make_sandbox  # registers auto; bwrap and none register on import
from ptb.sandbox.base import Sandbox, SandboxRequest, sandbox_kind
from ptb.sandbox.bwrap import BwrapSandbox, bwrap_probe, bwrap_works
from ptb.sandbox.code_exec import ExecResult, SandboxUnavailable, run_python
from ptb.sandbox.direct import DirectSandbox

__all__ = [
    "BwrapSandbox",
    "DirectSandbox",
    "ExecResult",
    "Sandbox",
    "SandboxRequest",
    "SandboxUnavailable",
    "bwrap_probe",
    "bwrap_works",
    "make_sandbox",
    "run_python",
    "sandbox_kind",
]
