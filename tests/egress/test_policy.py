"""The egress policy's rules: Hub paths for forbidden ids, hosted-LLM hosts by vendor, plan-time errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ptb.egress.policy import EgressPolicy, agent_vendor, build_policy, egress_policy
from ptb.errors import ConfigError
from ptb.paths import CONF_DIR
from ptb.plan import build_agent, build_model, build_plan, resolved_config
from ptb.records import EgressSpec


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


def node(name: str, *overrides: str) -> dict:
    return resolved_config(compose_cfg(*overrides))[name]


def plan_policy(tmp_path: Path, *overrides: str) -> EgressPolicy:
    return egress_policy(build_plan(compose_cfg(f"results_dir={tmp_path}/r", *overrides)).spec)


@pytest.fixture(scope="module")
def qwen_opus() -> EgressPolicy:
    """Claude Code (Anthropic) post-training Qwen3-4B-Base."""
    agent = build_agent(node("agent", "agent=opus"))
    model = build_model(node("model", "model=qwen3-4b"))
    return build_policy(EgressSpec(), agent, model)


# Every Hub URL shape that names a repo, for the official instruct model Qwen/Qwen3-4B.
FORBIDDEN_PATHS = [
    "/Qwen/Qwen3-4B/resolve/main/model-00001-of-00003.safetensors",
    "/Qwen/Qwen3-4B/resolve/1cfa9a7208912126459214e8b04321603b3df60c/config.json",
    "/api/models/Qwen/Qwen3-4B",
    "/api/models/Qwen/Qwen3-4B/revision/main",
    "/api/models/Qwen/Qwen3-4B/tree/main?recursive=1",
    "/api/models/Qwen/Qwen3-4B/paths-info/main",
    "/api/models/Qwen/Qwen3-4B/xet-read-token/main",
    "/api/resolve-cache/models/Qwen/Qwen3-4B/abc123/config.json",
    "/Qwen/Qwen3-4B/tree/main",
    "/Qwen/Qwen3-4B/blob/main/config.json",
    "/Qwen/Qwen3-4B/raw/main/config.json",
    "/Qwen/Qwen3-4B.git/info/refs?service=git-upload-pack",
    "/Qwen/Qwen3-4B/info/refs?service=git-upload-pack",
    "/Qwen/Qwen3-4B.git/git-upload-pack",
    "/Qwen/Qwen3-4B.git/info/lfs/objects/batch",
    "/Qwen/Qwen3-4B-Instruct-2507/resolve/main/config.json",  # the other forbidden id
    # spelling variants
    "/qwen/qwen3-4b/resolve/main/config.json",
    "/QWEN/QWEN3-4B.GIT/info/refs",
    "/api/models/Qwen%2FQwen3-4B",
    "/api/models/Qwen%2fQwen3-4B/revision/main",
    "/api/models/Qwen%252FQwen3-4B",
    "/%51wen/Qwen3-4B/resolve/main/config.json",
    "//Qwen//Qwen3-4B/resolve/main/config.json",
    "/./Qwen/./Qwen3-4B/resolve/main/config.json",
    "/Qwen/x/../Qwen3-4B/resolve/main/config.json",
    "/api/models/Qwen\\Qwen3-4B",
    # copies: the same weights re-uploaded under another owner or in another format
    "/unsloth/Qwen3-4B/resolve/main/model.safetensors",
    "/api/models/lmstudio-community/Qwen3-4B-GGUF/tree/main",
    "/Qwen/Qwen3-4B-AWQ/resolve/main/model.safetensors",
    "/unsloth/Qwen3-4B-unsloth-bnb-4bit/resolve/main/config.json",
    "/Qwen/Qwen3-4B-FP8/resolve/main/config.json",
]

ALLOWED_PATHS = [
    "/Qwen/Qwen3-4B-Base/resolve/main/config.json",  # the base model
    "/api/models/Qwen/Qwen3-4B-Base/revision/main",
    "/Qwen/Qwen3-4B-Base.git/info/refs?service=git-upload-pack",
    "/unsloth/Qwen3-4B-Base/resolve/main/config.json",
    "/api/datasets/openai/gsm8k/revision/main",
    "/datasets/openai/gsm8k/resolve/main/main/train-00000-of-00001.parquet",
    "/datasets/someone/Qwen3-4B/resolve/main/data.jsonl",  # a dataset named after the model is not a copy
    "/datasets/someone/distill/resolve/main/Qwen3-4B/train.jsonl",  # nor a folder named after it
    "/api/models?search=Qwen3-4B&author=Qwen",  # searching is not downloading
    "/api/models/Qwen",
    "/Qwen/Qwen3-4B-Thinking-2507-extra/resolve/main/config.json",
    "/",
]


@pytest.mark.parametrize("path", FORBIDDEN_PATHS)
@pytest.mark.parametrize("host", ["huggingface.co", "hf.co", "HF.co"])
def test_every_hub_url_shape_of_a_forbidden_id_is_denied(qwen_opus: EgressPolicy, host: str, path: str) -> None:
    denial = qwen_opus.deny_request(host, path)
    assert denial is not None and denial.rule == "forbidden_model", (host, path)
    assert "forbidden model Qwen/Qwen3-4B" in denial.reason


def test_the_reason_names_the_model_and_why(qwen_opus: EgressPolicy) -> None:
    denial = qwen_opus.deny_request("huggingface.co", "/Qwen/Qwen3-4B/resolve/main/config.json")
    assert denial is not None and denial.reason == "forbidden model Qwen/Qwen3-4B (the official instruct model)"
    denial = qwen_opus.deny_request("huggingface.co", "/api/models/Qwen/Qwen3-4B-Instruct-2507")
    assert denial is not None and denial.reason == "forbidden model Qwen/Qwen3-4B-Instruct-2507 (forbidden for this run)"
    copy = qwen_opus.deny_request("huggingface.co", "/unsloth/Qwen3-4B/resolve/main/x")
    assert copy is not None and "unsloth/Qwen3-4B is a copy of it" in copy.reason


@pytest.mark.parametrize("path", ALLOWED_PATHS)
def test_other_repos_and_the_base_model_stay_allowed(qwen_opus: EgressPolicy, path: str) -> None:
    assert qwen_opus.deny_request("huggingface.co", path) is None


def test_path_rules_apply_to_hub_hosts_only(qwen_opus: EgressPolicy) -> None:
    assert qwen_opus.deny_request("example.com", "/Qwen/Qwen3-4B/resolve/main/x") is None
    assert qwen_opus.deny_request("hf-mirror.com", "/Qwen/Qwen3-4B/resolve/main/x") is not None
    assert qwen_opus.deny_request("www.modelscope.cn", "/api/v1/models/Qwen/Qwen3-4B/repo?FilePath=config.json") is not None
    assert qwen_opus.intercepts("huggingface.co") and qwen_opus.intercepts("hf.co.")
    assert not qwen_opus.intercepts("cdn-lfs.hf.co") and not qwen_opus.intercepts("pypi.org")


def test_huggingchat_on_the_hub_is_a_hosted_llm_api(qwen_opus: EgressPolicy) -> None:
    denial = qwen_opus.deny_request("huggingface.co", "/chat/conversation")
    assert denial is not None and denial.rule == "llm_api" and "HuggingChat" in denial.reason


def test_the_vendors_own_host_is_allowed_and_the_others_denied(qwen_opus: EgressPolicy) -> None:
    assert qwen_opus.vendor == "Anthropic"
    assert qwen_opus.deny_host("api.anthropic.com", 443) is None
    for host in ("api.openai.com", "generativelanguage.googleapis.com", "us-central1-aiplatform.googleapis.com",
                 "openrouter.ai", "api.together.xyz", "api.groq.com", "api.mistral.ai", "api.deepseek.com",
                 "api.fireworks.ai", "api.cohere.com", "api.cohere.ai", "api.x.ai", "api.perplexity.ai",
                 "api.moonshot.ai", "api.moonshot.cn", "api.z.ai", "open.bigmodel.cn", "dashscope.aliyuncs.com",
                 "dashscope-intl.aliyuncs.com", "router.huggingface.co", "api-inference.huggingface.co",
                 "opencode.ai", "myres.openai.azure.com", "API.OpenAI.com"):  # fmt: skip
        denial = qwen_opus.deny_host(host.lower(), 443)
        assert denial is not None and denial.rule == "llm_api", host
    denial = qwen_opus.deny_host("api.openai.com", 443)
    assert denial is not None and denial.reason == "hosted LLM API api.openai.com (OpenAI; not this agent's vendor)"
    for host in (
        "huggingface.co",
        "pypi.org",
        "files.pythonhosted.org",
        "github.com",
        "cdn-lfs.hf.co",
        "cas-bridge.xethub.hf.co",
    ):
        assert qwen_opus.deny_host(host, 443) is None, host


def test_bare_addresses_are_denied(qwen_opus: EgressPolicy) -> None:
    for address in ("18.244.202.60", "2600:9000:2351::1"):
        denial = qwen_opus.deny_host(address, 443)
        assert denial is not None and denial.rule == "address"


@pytest.mark.parametrize(
    ("agent", "vendor", "own", "other"),
    [
        ("opus", "anthropic", "api.anthropic.com", "api.openai.com"),
        ("gpt52", "openai", "api.openai.com", "api.anthropic.com"),
        ("gemini3pro", "google", "generativelanguage.googleapis.com", "api.openai.com"),
        ("kimi25", "opencode", "opencode.ai", "api.moonshot.ai"),
        ("glm5", "zai", "api.z.ai", "opencode.ai"),
        ("gemini31pro", "opencode", "opencode.ai", "generativelanguage.googleapis.com"),
    ],
)
def test_each_agent_gets_its_own_vendor(tmp_path: Path, agent: str, vendor: str, own: str, other: str) -> None:
    agent_spec = build_agent(node("agent", f"agent={agent}"))
    assert agent_vendor(agent_spec) == vendor
    policy = plan_policy(tmp_path, f"agent={agent}", "model=qwen3-4b")
    assert policy.deny_host(own, 443) is None
    assert policy.deny_host(other, 443) is not None


def test_offline_agents_have_no_vendor_and_base_url_resolve_and_allow_hosts_open_hosts(tmp_path: Path) -> None:
    assert plan_policy(tmp_path, "agent=recipe_sft").vendor is None
    policy = plan_policy(
        tmp_path, "agent=opus", "agent.base_url=https://gateway.example/anthropic",
        "++egress.resolve={api.openai.com:'10.0.0.1:443'}", "egress.allow_hosts=[api.groq.com]",
    )  # fmt: skip
    for host in ("gateway.example", "api.openai.com", "api.groq.com", "api.anthropic.com"):
        assert policy.deny_host(host, 443) is None, host
    assert policy.deny_host("api.mistral.ai", 443) is not None


def test_extra_denied_hosts_and_models(tmp_path: Path) -> None:
    policy = plan_policy(tmp_path, "agent=opus", "model=qwen3-4b", "egress.deny_hosts=['*.llm-relay.example']",
                         "egress.deny_models=[Qwen/Qwen3-8B]")  # fmt: skip
    denial = policy.deny_host("eu.llm-relay.example", 443)
    assert denial is not None and denial.rule == "denied_host" and "egress.deny_hosts" in denial.reason
    denial = policy.deny_request("huggingface.co", "/qwen/qwen3-8b/resolve/main/x")
    assert denial is not None and denial.reason == "forbidden model Qwen/Qwen3-8B (egress.deny_models)"


def test_the_policy_off_switch_allows_everything(tmp_path: Path) -> None:
    policy = plan_policy(tmp_path, "agent=opus", "model=qwen3-4b", "egress.policy=false")
    assert not policy.enabled and policy.prompt_text() == ""
    assert policy.deny_host("api.openai.com", 443) is None and policy.deny_host("1.2.3.4", 443) is None
    assert policy.deny_request("huggingface.co", "/Qwen/Qwen3-4B/resolve/main/x") is None
    assert not policy.intercepts("huggingface.co")


def test_the_prompt_text_says_what_is_denied(qwen_opus: EgressPolicy) -> None:
    text = qwen_opus.prompt_text()
    assert "Qwen/Qwen3-4B, Qwen/Qwen3-4B-Instruct-2507" in text and "Hugging Face Hub" in text
    assert "other than your own vendor's (Anthropic)" in text and "OpenAI (api.openai.com)" in text
    assert "Anthropic (" not in text  # its own vendor is not in the examples
    assert "records every one" in text


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (("egress.deny_hosts=['api openai']",), "egress.deny_hosts[0]='api openai' is invalid: expected a host name"),
        (("egress.allow_hosts=['a/b']",), "egress.allow_hosts[0]='a/b' is invalid: expected a host name"),
        (("egress.deny_models=[gpt2]",), "egress.deny_models[0]='gpt2' is invalid: expected a Hugging Face repo id"),
        (("egress.policy=maybe",), "egress.policy='maybe' is invalid: expected true or false"),
        (
            ("model=qwen3-4b", "egress.deny_models=[qwen/Qwen3-4B-Base]"),
            "egress.deny_models names the base model Qwen/Qwen3-4B-Base",
        ),
        (
            ("agent=opus", "egress.deny_hosts=[api.anthropic.com]"),
            "egress.deny_hosts names 'api.anthropic.com', which this run must reach",
        ),
        (("egress.allow_hosts=[api.groq.com]", "egress.deny_hosts=['*.groq.com']"), "egress.deny_hosts names '*.groq.com'"),
        (("egress.deny_hosts=[huggingface.co]",), "the Hub's hosts stay open"),
        (("egress.upstream_ca=/nonexistent/ca.pem",), "egress.upstream_ca='/nonexistent/ca.pem' is unreadable"),
    ],
)
def test_bad_policy_config_fails_at_plan_time(tmp_path: Path, overrides: tuple[str, ...], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_plan(compose_cfg(f"results_dir={tmp_path}/r", *overrides))
    assert needle in str(err.value)


def test_upstream_ca_must_hold_certificates(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="expected a PEM file of CA certificates"):
        build_plan(compose_cfg(f"results_dir={tmp_path}/r", f"egress.upstream_ca={bad}"))


def test_the_agents_prompt_says_what_is_denied(tmp_path: Path) -> None:
    from ptb.stages.prepare import render_prompt

    def prompt(*overrides: str) -> str:
        spec = build_plan(compose_cfg(f"results_dir={tmp_path}/r", *overrides)).spec
        return render_prompt(spec, tmp_path / "ws", tmp_path / "base")

    text = prompt("agent=gpt52", "model=qwen3-4b")
    assert "You have internet access. Your connections go through the harness's egress proxy" in text
    assert "denies downloading Qwen/Qwen3-4B, Qwen/Qwen3-4B-Instruct-2507 (or copies of them) from the Hugging Face Hub" in text
    assert "hosted LLM APIs other than your own vendor's (OpenAI), such as Anthropic (api.anthropic.com)" in text
    guard_off = prompt("agent=gpt52", "model=qwen3-4b", "egress.policy=false")
    assert "You have internet access." in guard_off and "egress proxy" not in guard_off
    assert "egress proxy" not in prompt()  # the offline default: no network, nothing to deny
