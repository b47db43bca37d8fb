"""The sandbox's one way to the internet: a per-run egress proxy that records every connection.

The sandbox keeps its own network namespace (only a loopback inside). The host runs an
`EgressProxy` on a Unix socket, bind-mounted into the sandbox; inside, `bridge.py` listens on
the sandbox's 127.0.0.1 and relays every connection to that socket; the agent's proxy variables
point at the bridge. Each tunnel and request becomes one line of ``egress.jsonl`` in the run
folder, which the sandbox cannot see (no header, no query value in it: they hold API keys).

How a run uses it::

    import sys, os
    from ptb.egress import BRIDGE, DEFAULT_PORT, EgressProxy, bridged_argv, proxy_env

    socket_path = run_scratch / "egress" / "proxy.sock"   # a folder holding the socket only
    with EgressProxy(socket_path, run_dir / "egress.jsonl", policy=None) as proxy:
        request = SandboxRequest(
            argv=tuple(bridged_argv(os.path.realpath(sys.executable), str(BRIDGE),
                                    str(socket_path), DEFAULT_PORT, agent_argv)),
            readonly=(..., str(BRIDGE)),
            sockets=(str(socket_path),),               # its folder mounted read-only, connectable
            env={**agent_env, **proxy_env(DEFAULT_PORT)},
            network=False,                                # keep --unshare-net
            ...)
        ...  # run and supervise the sandbox as usual; the proxy outlives it

Facts this rests on:

- The socket's folder may be bind-mounted read-only: connect() on a Unix socket needs write
  permission on the socket file, which a read-only mount does not take away (checked on Linux,
  as root and as an unprivileged user in a user namespace). Read-only is better: the agent
  cannot replace the socket. The folder is created 0700 and the socket 0600; where the agent runs
  as another uid (the harness is root) the sandbox gives both to that uid (``sockets=``), and
  other users of the node stay out.
- The bridge runs between keeper.py and the agent (keeper → bridge → agent), so the agent's
  first request finds it listening. It exits right after its child, with the child's exit code;
  it never forwards SIGTERM (the harness signals the whole tree; a second SIGTERM would hurt
  programs that treat it as "force quit"). Processes the agent left behind lose the network
  when the bridge exits, while the keeper still waits for them in the grace period.
- ``NO_PROXY=localhost,127.0.0.1,::1``: loopback inside the sandbox is the sandbox's own; sent to
  the proxy it would name the host's loopback, which the proxy refuses (it dials only public
  addresses, or what ``resolve`` maps). Go clients never proxy loopback whatever NO_PROXY says.
- Clients send the host name to the proxy and never resolve it themselves, so the sandbox needs
  no DNS: the proxy resolves on the host.
- The egress policy (`ptb.egress.policy`, ``policy=egress_policy(spec)``) denies the run's
  forbidden models on the Hub and other vendors' hosted LLM APIs. To see the Hub's paths the
  proxy opens TLS to the Hub's hosts with a per-run CA (`ptb.egress.tls`): the sandbox then needs
  ``proxy.sandbox_env(port)`` (the proxy variables and the CA variables) instead of
  ``proxy_env(port)``, and ``proxy.sandbox_files`` (the CA files) mounted read-only.
"""

from ptb.egress.launch import BRIDGE, CA_BUNDLE_VARS, DEFAULT_PORT, NO_PROXY, bridged_argv, proxy_env
from ptb.egress.policy import Denial, EgressPolicy, build_policy, egress_policy
from ptb.egress.proxy import EgressProxy, Policy, Refused, Resolve, allow_all
from ptb.egress.record import EgressLog, EgressRecord, format_denials, read_denials, read_egress, redacted_target

__all__ = [
    "BRIDGE",
    "CA_BUNDLE_VARS",
    "DEFAULT_PORT",
    "NO_PROXY",
    "Denial",
    "EgressLog",
    "EgressPolicy",
    "EgressProxy",
    "EgressRecord",
    "Policy",
    "Refused",
    "Resolve",
    "allow_all",
    "bridged_argv",
    "build_policy",
    "egress_policy",
    "format_denials",
    "proxy_env",
    "read_denials",
    "read_egress",
    "redacted_target",
]
