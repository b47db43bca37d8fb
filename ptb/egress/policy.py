"""What the egress proxy lets a run reach: `EgressPolicy`, built at plan time from the run.

    policy = egress_policy(spec)                      # ConfigError on a bad egress.* value
    policy.deny_host("api.openai.com", 443)           # Denial("llm_api", "hosted LLM API ...") or None
    policy.deny_request("huggingface.co", "/api/models/Qwen%2FQwen3-4B")   # Denial("forbidden_model", ...)
    policy.intercepts("huggingface.co")               # True: the proxy terminates TLS to read paths
    policy.prompt_text()                              # what the agent is told

Denied, while ``egress.policy`` is true (the default):

- **the run's forbidden models on the Hugging Face Hub**: ``model.instruct``, ``model.forbidden`` and
  ``egress.deny_models``, matched by repo id case-insensitively in any Hub path (resolve, api,
  tree, blob, paths-info, git smart HTTP, resolve-cache: the id's two segments anywhere in the
  path, %-decoded, ``.git`` dropped, dot segments resolved as a server would), on the Hub's hosts
  (`HUB_HOSTS`). Copies count too: the same repository name under another owner and the usual
  quantised re-uploads (``-GGUF``, ``-AWQ``, ``-bnb-4bit``...), on model routes. Every other repo
  (datasets, the base model) stays open. HTTPS to the Hub hosts is opened by the proxy with a
  per-run CA (`ptb.egress.tls`) so that the path is visible; every other host is a plain tunnel.
- **hosted LLM APIs other than the agent's own vendor's**: the table `LLM_APIS` (and HuggingChat
  on the Hub, ``/chat``), plus ``egress.deny_hosts``. The agent's vendor comes from its scaffold
  (Claude Code: Anthropic, Codex: OpenAI, Gemini CLI: Google) or, for OpenCode, from the provider
  prefix of ``agent.model``; its hosts, the host of ``agent.base_url``, the names the operator
  mapped in ``egress.resolve`` and ``egress.allow_hosts`` stay allowed.
- **bare IP addresses** as destinations: a client that names an address instead of a host could
  reach a denied service the name rules never see (operators name gateways in ``egress.resolve``).

Everything else is allowed; every connection is recorded either way (`ptb.egress.record`). A
denylist cannot be complete (any relay on the internet can front a denied API): the records go
to the judge, which reads what was reached as well as what was denied.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ptb.errors import ConfigError
from ptb.records import AgentSpec, EgressSpec, ModelSpec, RunSpec

# Hosts that carry repo ids in their paths. Their CDNs (cdn-lfs*.hf.co, *.xethub.hf.co) address
# content by hash: a download from them needs a hash that only these hosts hand out per repo.
# hf-mirror.com serves the same paths; ModelScope hosts the same labs' models under the same ids.
HUB_HOSTS: tuple[str, ...] = (
    "huggingface.co", "www.huggingface.co", "hf.co", "www.hf.co", "hf-mirror.com",
    "modelscope.cn", "www.modelscope.cn", "modelscope.ai", "www.modelscope.ai",
)  # fmt: skip

# Paths on the Hub hosts that are hosted LLM APIs themselves (HuggingChat, the inference proxy).
HUB_LLM_PATHS: tuple[tuple[str, str], ...] = (
    ("/chat", "HuggingChat"),
    ("/api/inference-proxy", "Hugging Face inference providers"),
)

# First path segments of the Hub's own pages and routes: never a model's owner.
_RESERVED_TOP = frozenset({
    "api", "datasets", "spaces", "buckets", "collections", "organizations", "models", "docs", "blog", "papers",
    "chat", "settings", "login", "join", "pricing", "tasks", "learn", "posts", "oauth", "static", "front",
})  # fmt: skip

# Suffixes of re-uploads of one model in another format (a copy of the forbidden weights).
_COPY_SUFFIX = re.compile(
    r"-(gguf|ggml|awq|gptq(-int[48])?|int[48]|w[48]a(8|16)|fp8(-dynamic)?|fp16|bf16|nf4|"
    r"(unsloth-)?bnb-[48]bit|[2-8]bit|mlx(-[0-9a-z]+)?|onnx|exl2(-[0-9.a-z]+)?|openvino|hf)$"
)


@dataclass(frozen=True)
class Vendor:
    """A hosted LLM API: who runs it and the hosts it answers on (fnmatch patterns, lowercase)."""

    key: str
    name: str
    hosts: tuple[str, ...]


# The maintained table of hosted LLM APIs. A pattern's "*" matches any characters, dots included.
# Add a vendor here (or a host in egress.deny_hosts for one run); keep it to API endpoints, not
# to the vendors' web sites (docs and downloads stay open).
LLM_APIS: tuple[Vendor, ...] = (
    Vendor("anthropic", "Anthropic", ("api.anthropic.com",)),
    Vendor("openai", "OpenAI", ("api.openai.com", "*.openai.azure.com", "*.cognitiveservices.azure.com")),
    Vendor(
        "google",
        "Google",
        (
            "generativelanguage.googleapis.com",
            "aiplatform.googleapis.com",
            "*-aiplatform.googleapis.com",
            "cloudcode-pa.googleapis.com",
        ),
    ),  # fmt: skip
    Vendor("openrouter", "OpenRouter", ("openrouter.ai", "*.openrouter.ai")),
    Vendor("together", "Together AI", ("api.together.xyz", "api.together.ai")),
    Vendor("groq", "Groq", ("api.groq.com",)),
    Vendor("mistral", "Mistral", ("api.mistral.ai", "codestral.mistral.ai")),
    Vendor("deepseek", "DeepSeek", ("api.deepseek.com",)),
    Vendor("fireworks", "Fireworks AI", ("api.fireworks.ai",)),
    Vendor("cohere", "Cohere", ("api.cohere.com", "api.cohere.ai")),
    Vendor("xai", "xAI", ("api.x.ai",)),
    Vendor("perplexity", "Perplexity", ("api.perplexity.ai",)),
    Vendor("moonshot", "Moonshot AI", ("api.moonshot.ai", "api.moonshot.cn")),
    Vendor("zai", "Z.AI (Zhipu)", ("api.z.ai", "open.bigmodel.cn")),
    Vendor("alibaba", "Alibaba DashScope", ("dashscope*.aliyuncs.com",)),
    Vendor(
        "huggingface",
        "Hugging Face inference",
        (
            "router.huggingface.co",
            "api-inference.huggingface.co",
            "*.endpoints.huggingface.cloud",
        ),
    ),  # fmt: skip
    Vendor("opencode", "OpenCode Zen", ("opencode.ai", "api.opencode.ai")),
    Vendor("cerebras", "Cerebras", ("api.cerebras.ai",)),
    Vendor("sambanova", "SambaNova", ("api.sambanova.ai",)),
    Vendor("deepinfra", "DeepInfra", ("api.deepinfra.com",)),
    Vendor("replicate", "Replicate", ("api.replicate.com",)),
    Vendor("novita", "Novita AI", ("api.novita.ai",)),
    Vendor("hyperbolic", "Hyperbolic", ("api.hyperbolic.xyz",)),
    Vendor("nebius", "Nebius AI Studio", ("api.studio.nebius.ai", "api.studio.nebius.com", "api.tokenfactory.nebius.com")),
    Vendor("ai21", "AI21", ("api.ai21.com",)),
    Vendor("minimax", "MiniMax", ("api.minimax.io", "api.minimaxi.com", "api.minimax.chat")),
    Vendor("siliconflow", "SiliconFlow", ("api.siliconflow.cn", "api.siliconflow.com")),
    Vendor("baidu", "Baidu Qianfan", ("qianfan.baidubce.com", "aip.baidubce.com")),
    Vendor("volcengine", "Volcengine Ark", ("ark.*.volces.com",)),
    Vendor("nvidia", "NVIDIA NIM", ("integrate.api.nvidia.com",)),
    Vendor("github", "GitHub Models", ("models.github.ai", "models.inference.ai.azure.com")),
    Vendor("bedrock", "Amazon Bedrock", ("bedrock-runtime.*.amazonaws.com", "bedrock-runtime-fips.*.amazonaws.com")),
    Vendor("cloudflare", "Cloudflare AI", ("gateway.ai.cloudflare.com",)),
    Vendor("vercel", "Vercel AI Gateway", ("ai-gateway.vercel.sh",)),
    Vendor("poe", "Poe", ("api.poe.com",)),
    Vendor("lambda", "Lambda", ("api.lambda.ai", "api.lambdalabs.com")),
    Vendor("featherless", "Featherless", ("api.featherless.ai",)),
    Vendor("chutes", "Chutes", ("llm.chutes.ai",)),
    Vendor("venice", "Venice", ("api.venice.ai",)),
)
_VENDORS = {vendor.key: vendor for vendor in LLM_APIS}

# Whose API a scaffold talks to; OpenCode's is the provider prefix of agent.model.
SCAFFOLD_VENDORS = {"claude_code": "anthropic", "codex": "openai", "gemini_cli": "google"}
PROVIDER_VENDORS = {
    "opencode": "opencode", "anthropic": "anthropic", "openai": "openai", "google": "google",
    "google-vertex": "google", "openrouter": "openrouter", "togetherai": "together", "groq": "groq",
    "mistral": "mistral", "deepseek": "deepseek", "fireworks-ai": "fireworks", "cohere": "cohere",
    "xai": "xai", "perplexity": "perplexity", "moonshotai": "moonshot", "moonshotai-cn": "moonshot",
    "zai": "zai", "zai-coding-plan": "zai", "zhipuai": "zai", "zhipuai-coding-plan": "zai",
    "alibaba": "alibaba", "alibaba-cn": "alibaba", "huggingface": "huggingface", "cerebras": "cerebras",
    "deepinfra": "deepinfra", "nebius": "nebius", "minimax": "minimax", "azure": "openai",
    "amazon-bedrock": "bedrock", "github-models": "github", "vercel": "vercel", "venice": "venice",
    "chutes": "chutes", "lambda": "lambda",
}  # fmt: skip

_HOST_PATTERN = r"[A-Za-z0-9*][A-Za-z0-9.*-]*"
_REPO_ID = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*"


@dataclass(frozen=True)
class Denial:
    """Why the policy refuses a destination: ``rule`` (forbidden_model, llm_api, denied_host,
    address) for readers that count, ``reason`` for people (recorded and sent to the client)."""

    rule: str
    reason: str


@dataclass(frozen=True)
class DeniedModel:
    repo_id: str  # as configured (for messages); matched lowercased
    why: str  # "the official instruct model", "forbidden for this run", "egress.deny_models"


@dataclass(frozen=True)
class DeniedHost:
    pattern: str  # fnmatch pattern, lowercase
    service: str  # "OpenAI", "egress.deny_hosts"
    rule: str = "llm_api"


@dataclass(frozen=True)
class EgressPolicy:
    """The egress rules of one run (see the module docstring); frozen, pickled to the solve actor."""

    enabled: bool
    denied_models: tuple[DeniedModel, ...] = ()
    denied_hosts: tuple[DeniedHost, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # fnmatch patterns, lowercase: win over denied_hosts
    vendor: str | None = None  # the agent's own vendor's name ("Anthropic"), None if it has none
    hub_hosts: tuple[str, ...] = HUB_HOSTS
    upstream_ca: str | None = None  # extra CAs (PEM) for the Hub's upstream leg, besides the system's

    # --- hosts --------------------------------------------------------------------------

    def deny_host(self, host: str, port: int) -> Denial | None:
        """The denial of a destination by name alone (CONNECT, or any request), or None."""
        if not self.enabled:
            return None
        host = host.lower().rstrip(".")
        if _matches(host, self.allowed_hosts) or host in self.hub_hosts:
            return None
        for rule in self.denied_hosts:
            if fnmatch.fnmatchcase(host, rule.pattern):
                if rule.rule == "llm_api":
                    return Denial("llm_api", f"hosted LLM API {host} ({rule.service}; not this agent's vendor)")
                return Denial(rule.rule, f"{host} is denied ({rule.service})")
        if _is_address(host):
            return Denial(
                "address", f"{host} is a bare IP address: while the egress policy is on, only host names are let through"
            )
        return None

    def intercepts(self, host: str) -> bool:
        """Whether the proxy opens TLS to ``host`` to read its paths (the Hub's hosts only)."""
        return self.enabled and host.lower().rstrip(".") in self.hub_hosts

    # --- paths on the Hub ---------------------------------------------------------------

    def deny_request(self, host: str, path: str) -> Denial | None:
        """The denial of one request's path (origin-form, query allowed), or None; only the Hub's
        hosts have path rules."""
        if not self.enabled or host.lower().rstrip(".") not in self.hub_hosts:
            return None
        for sequence in _path_views(path):
            text = "/" + "/".join(sequence).lower()
            for prefix, service in HUB_LLM_PATHS:
                if text == prefix or text.startswith(prefix + "/"):
                    return Denial("llm_api", f"hosted LLM API {host}{prefix} ({service}; not this agent's vendor)")
            found = self._forbidden_in(sequence)
            if found is not None:
                return found
        return None

    def _forbidden_in(self, segments: Sequence[str]) -> Denial | None:
        names = [_repo_name(segment) for segment in segments]
        slots = _model_slots(names)
        for i in range(len(names) - 1):
            owner, name = names[i], names[i + 1]
            for model in self.denied_models:
                want_owner, _, want_name = model.repo_id.lower().partition("/")
                if (owner, name) == (want_owner, want_name):  # anywhere in the path: fail closed
                    return Denial("forbidden_model", f"forbidden model {model.repo_id} ({model.why})")
                if i in slots and (name == want_name or _is_copy(name, want_name)):
                    return Denial(
                        "forbidden_model",
                        f"forbidden model {model.repo_id} ({model.why}): {segments[i]}/{segments[i + 1]} is a copy of it",
                    )
        return None

    # --- what the agent is told ----------------------------------------------------------

    def prompt_text(self) -> str:
        """One paragraph for the prompt: what the proxy denies ("" when the policy is off)."""
        if not self.enabled:
            return ""
        parts = []
        if self.denied_models:
            ids = ", ".join(model.repo_id for model in self.denied_models)
            parts.append(f"downloading {ids} (or copies of them) from the Hugging Face Hub")
        own = f" other than your own vendor's ({self.vendor})" if self.vendor else ""
        parts.append(f"hosted LLM APIs{own}, such as {', '.join(self._example_apis())}")
        return (
            "Your connections go through the harness's egress proxy, which records every one of them and denies "
            + " and ".join(parts)
            + ". The rest of the internet, the Hub's datasets and the base model are open."
        )

    def _example_apis(self) -> list[str]:
        """A few denied APIs by name, in the table's order (the best known first)."""
        examples: dict[str, str] = {}
        for rule in self.denied_hosts:
            if rule.rule == "llm_api" and "*" not in rule.pattern and rule.service not in examples:
                examples[rule.service] = f"{rule.service} ({rule.pattern})"
        return list(examples.values())[:4]


# --------------------------------------------------------------------------- building it


def egress_policy(spec: RunSpec) -> EgressPolicy:
    """The policy of a run, from its agent, model and ``egress`` config; ConfigError if bad."""
    return build_policy(spec.egress, spec.agent, spec.model)


def build_policy(egress: EgressSpec, agent: AgentSpec, model: ModelSpec) -> EgressPolicy:
    if egress.upstream_ca is not None and not egress.upstream_ca:
        raise ConfigError("egress.upstream_ca='' is invalid: expected the path of a PEM file, or null")
    if not egress.policy:
        return EgressPolicy(enabled=False)
    denied_models = _denied_models(egress, model)
    vendor = agent_vendor(agent)
    allowed = [*(_VENDORS[vendor].hosts if vendor else ()), *egress.resolve, *egress.allow_hosts]
    if agent.base_url:
        allowed.append(urlsplit(agent.base_url).hostname or "")
    allowed_hosts = tuple(dict.fromkeys(host.lower().rstrip(".") for host in allowed if host))
    for pattern in egress.deny_hosts:
        clash = [host for host in allowed_hosts if fnmatch.fnmatchcase(host, pattern.lower()) or host == pattern.lower()]
        if clash:
            raise ConfigError(
                f"egress.deny_hosts names {pattern!r}, which this run must reach ({clash[0]}: the agent's vendor, "
                "agent.base_url, egress.resolve or egress.allow_hosts): remove one of them"
            )
        if pattern.lower().rstrip(".") in HUB_HOSTS:
            raise ConfigError(
                f"egress.deny_hosts={pattern!r} is invalid: the Hub's hosts stay open (the base model and datasets "
                "come from there); deny repositories with egress.deny_models"
            )
    denied_hosts = [DeniedHost(pattern.lower().rstrip("."), "egress.deny_hosts", "denied_host") for pattern in egress.deny_hosts]
    denied_hosts += [DeniedHost(host, v.name) for v in LLM_APIS if v.key != vendor for host in v.hosts]
    if egress.upstream_ca is not None:
        _check_pem(egress.upstream_ca)
    return EgressPolicy(
        enabled=True,
        denied_models=denied_models,
        denied_hosts=tuple(denied_hosts),
        allowed_hosts=allowed_hosts,
        vendor=_VENDORS[vendor].name if vendor else None,
        upstream_ca=egress.upstream_ca,
    )


def agent_vendor(agent: AgentSpec) -> str | None:
    """The key of the agent's own vendor in `LLM_APIS`, or None (offline and unknown agents)."""
    if agent.cli is None:
        return None
    if agent.scaffold in SCAFFOLD_VENDORS:
        return SCAFFOLD_VENDORS[agent.scaffold]
    provider, sep, _ = (agent.model or "").partition("/")
    return PROVIDER_VENDORS.get(provider.lower()) if sep else None


def _denied_models(egress: EgressSpec, model: ModelSpec) -> tuple[DeniedModel, ...]:
    base = (model.hf_id or "").lower()
    found: dict[str, DeniedModel] = {}
    sources = (
        ((model.instruct,) if model.instruct else (), "the official instruct model", f"model.instruct of {model.name}"),
        (model.forbidden, "forbidden for this run", f"model.forbidden of {model.name}"),
        (egress.deny_models, "egress.deny_models", "egress.deny_models"),
    )
    for ids, why, where in sources:
        for repo_id in ids:
            if not re.fullmatch(_REPO_ID, repo_id):
                raise ConfigError(f"{where}: {repo_id!r} is invalid: expected a Hugging Face repo id such as 'Qwen/Qwen3-4B'")
            if repo_id.lower() == base:
                raise ConfigError(f"{where} names the base model {model.hf_id}: the agent must be able to download it")
            found.setdefault(repo_id.lower(), DeniedModel(repo_id, why))
    return tuple(found.values())


def _check_pem(path: str) -> None:
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read(1 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"egress.upstream_ca={path!r} is unreadable: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"egress.upstream_ca={path!r} is invalid: expected a PEM file of CA certificates")


HOST_PATTERN = _HOST_PATTERN  # egress.deny_hosts / allow_hosts items (checked by ptb.plan)
REPO_ID = _REPO_ID  # egress.deny_models items


# --------------------------------------------------------------------------- matching


def _matches(host: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _repo_name(segment: str) -> str:
    segment = segment.lower()
    return segment[:-4] if segment.endswith(".git") else segment


def _model_slots(names: Sequence[str]) -> set[int]:
    """Indices i where names[i]/names[i + 1] sits where a model's repo id goes: the start of a
    repo page or git path (``/<owner>/<name>/...``), or right after ``models/`` (``/api/models/``,
    ``/api/resolve-cache/models/``, ModelScope's ``/api/v1/models/``). A copy's name counts only
    there: a dataset's file or folder may well be named after a model."""
    slots = {i + 1 for i, name in enumerate(names[:-2]) if name == "models"}
    if len(names) >= 2 and names[0] not in _RESERVED_TOP:
        slots.add(0)
    return slots


def _is_copy(name: str, forbidden_name: str) -> bool:
    return name.startswith(forbidden_name + "-") and bool(_COPY_SUFFIX.fullmatch(name[len(forbidden_name) :]))


def _path_views(path: str) -> list[list[str]]:
    """The path's segments as sent (empty and "." segments dropped) and as a normalising server
    resolves them (".." applied), both after %-decoding until nothing changes (%252F → %2F → /)."""
    text = path.split("?", 1)[0].split("#", 1)[0]
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    raw = [segment for segment in text.replace("\\", "/").split("/") if segment not in ("", ".")]
    resolved: list[str] = []
    for segment in raw:
        if segment == "..":
            if resolved:
                resolved.pop()
        else:
            resolved.append(segment)
    views = [raw]
    if resolved != raw:
        views.append(resolved)
    return views
