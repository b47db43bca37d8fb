"""The data that flows between the stages of a run, and the plans the stages run from.

Every record is a frozen dataclass, written to the run folder as JSON by `ptb.io.write_record`
and read back with `ptb.io.read_record`. Stages talk to each other only through these. `ptb.plan`
builds `RunPlan` and `SweepSettings` from the composed Hydra config, with every value checked,
so no loosely typed mapping crosses a stage boundary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ptb.options import option

# --------------------------------------------------------------------------- what to run
#
# `ptb.plan` builds these from the config nodes of the same name with `ptb.options`: a key the
# dataclass lacks, a value of the wrong type, or one outside a field's bounds is a ConfigError
# naming it. Field metadata (`option(...)`) holds those bounds.

SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
SAFE_NAME_HINT = "use letters, digits, '.', '_' or '-'"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def _names(kind: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from ptb import registry  # the registry imports plug-ins; records stay import-light

        return registry.names(kind)  # type: ignore[arg-type]

    return names


@dataclass(frozen=True)
class Budget:
    hours: float = option(gt=0)
    gpus: int = option(0, ge=0)
    cpus: float = option(1.0, gt=0)
    grace_seconds: float = option(30.0, ge=0)

    @property
    def seconds(self) -> float:
        return self.hours * 3600.0


@dataclass(frozen=True)
class AgentCli:
    """The npm package of an agent CLI that ptb installs into its toolchain folder."""

    package: str = option(pattern=r"(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*", hint="expected an npm package name")
    version: str = option(pattern=r"[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.+-]*", hint="expected an exact version such as 1.2.3")
    bin: str = option(pattern=SAFE_NAME, hint="expected the name of the package's executable")
    reasoning_effort: bool = False  # whether the CLI takes agent.reasoning_effort
    reports_cost: bool = False  # whether the CLI's own output states the cost in USD


@dataclass(frozen=True)
class Price:
    """List price of a model in USD per million tokens (the cost of a run when the CLI states none)."""

    input: float = option(ge=0)
    output: float = option(ge=0)
    cached_input: float | None = option(None, ge=0)  # None: cached input costs as much as input

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        cached_rate = self.input if self.cached_input is None else self.cached_input
        fresh = max(0, input_tokens - cached_input_tokens)
        return (fresh * self.input + cached_input_tokens * cached_rate + output_tokens * self.output) / 1e6


ReasoningEffort = Literal["medium", "high", "xhigh"]


@dataclass(frozen=True)
class AgentSpec:
    """An agent folder (``solve.sh`` inside) and what its sandbox may let through.

    Offline agents (noop, recipe_sft) are just a folder. A real agent is a scaffold folder
    (agents/claude_code/, ...) with a CLI ptb installs (``cli``), a vendor ``model``, and the
    one secret it may see: its own vendor key (``key_env``).
    """

    name: str = option(pattern=SAFE_NAME, hint=SAFE_NAME_HINT)
    scaffold: str = option("", pattern=f"({SAFE_NAME}(/{SAFE_NAME})?)?", hint=SAFE_NAME_HINT)  # agents/<scaffold>/, or a group's agents/<group>/<name>/ (config: null = name)
    path: str = ""  # absolute path of the agent folder (config: null = agents/<scaffold>/)
    model: str | None = option(None, pattern=r"\S+", hint="expected a model id without spaces")  # the vendor's model id
    cli: AgentCli | None = None  # the CLI solve.sh launches (None: the folder needs none)
    key_env: str | None = option(None, pattern=ENV_NAME, hint="expected the name of an environment variable")
    base_url: str | None = option(None, pattern=r"https?://\S+", hint="expected an http(s) URL")  # a gateway or proxy
    reasoning_effort: ReasoningEffort | None = None  # CLIs with cli.reasoning_effort only
    reprompt: bool = False  # continue the session while reprompt_min_minutes are left
    reprompt_min_minutes: float = option(30.0, gt=0)
    price: Price | None = None  # None: the CLI's own cost where it states one, else unknown
    network: bool = False  # true: the internet, through ptb's egress proxy only
    env: Mapping[str, str] = field(default_factory=dict)  # fixed variables for the agent
    env_passthrough: tuple[str, ...] = option(  # host variables handed through (key_env is added)
        (), pattern=r"[A-Za-z_][A-Za-z0-9_]*", hint="expected the name of an environment variable"
    )
    trace_format: str = "plain"  # a trace_parser plug-in (config: null = the folder's own, else plain)

    @property
    def secret_vars(self) -> tuple[str, ...]:
        """The host variables whose values reach the sandbox: redacted from every log ptb writes."""
        return tuple(dict.fromkeys((*((self.key_env,) if self.key_env else ()), *self.env_passthrough)))


@dataclass(frozen=True)
class ModelSpec:
    name: str = option(pattern=SAFE_NAME, hint=SAFE_NAME_HINT)
    template: str = option()  # harness chat template family: evals/templates/<template>.jinja
    hf_id: str | None = None  # Hugging Face id of the base model
    builder: str | None = option(None, choices=_names("model_builder"))  # or: a model ptb builds itself
    forbidden: tuple[str, ...] = ()  # instruct models that must not be submitted
    instruct: str | None = None  # the lab's official instruct model (the instruct baseline)
    tool_template: str | None = None  # template for tasks with tools (gemma3_tools); None = template
    tool_parser: str | None = option(None, choices=_names("tool_parser"))  # how tool calls are written


@dataclass(frozen=True)
class LadderStep:
    max_tokens: int = option(ge=1)
    attempts: int = option(ge=1)


TaskParam = str | int | float | bool | None


@dataclass(frozen=True)
class TaskSpec:
    name: str = option(pattern=SAFE_NAME, hint=SAFE_NAME_HINT)
    benchmark: str = ""  # the name the prompt uses ("" = name)
    weight: float = option(1.0, gt=0)
    eval_dir: str = ""  # absolute path of evals/<task>/ (the pristine copy; config: a folder name)
    ladder: tuple[LadderStep, ...] = ()
    default_limit: int | None = option(None, ge=1)  # agent-facing evaluate.py default --limit
    final_limit: int | None = option(None, ge=1)  # samples of the final evaluation (None = all)
    max_connections: int = option(16, ge=1)
    samples: int | None = option(None, ge=1)  # size of the test split (checked by `ptb.cache`)
    tools: bool = False  # the task attaches tool schemas (the model's tool template is used)
    params: Mapping[str, TaskParam] = field(default_factory=dict)  # arguments of the @task function
    allowed_data: tuple[str, ...] = ()  # training data the agent may use (stated in the prompt)
    disallowed_data: tuple[str, ...] = ()  # data that is the benchmark itself (never train on it)


@dataclass(frozen=True)
class EgressSpec:
    """conf egress: the per-run egress proxy through which a networked agent reaches the internet."""

    # host → "address:port" the proxy dials instead (a gateway for a vendor name; the tests' stand-in)
    resolve: Mapping[str, str] = field(default_factory=dict)
    # the egress policy (ptb.egress.policy): false lets everything through (still recorded), as the
    # red team's guard-off runs need
    policy: bool = True
    deny_models: tuple[str, ...] = ()  # Hub repo ids denied besides model.instruct and model.forbidden
    deny_hosts: tuple[str, ...] = ()  # hosts denied besides the hosted-LLM table ("*" matches any characters)
    allow_hosts: tuple[str, ...] = ()  # hosts allowed despite the table (the vendor's and resolve's always are)
    upstream_ca: str | None = None  # PEM file of CAs trusted for the Hub's upstream TLS besides the system's


@dataclass(frozen=True)
class RunSpec:
    """One run: agent × model × task × budget × seed (× prompt variant), fully resolved."""

    run_id: str
    sweep: str
    agent: AgentSpec
    model: ModelSpec
    task: TaskSpec
    budget: Budget
    seed: int
    prompt_variant: str
    sandbox: str  # auto | bwrap | none
    run_dir: str  # <results_dir>/<sweep>/<run_id>; verdicts and metrics live here
    scratch_dir: str  # the agent's live workspace and home, deleted after collect
    cache_dir: str  # built models (tiny) and other harness caches
    toolchain_dir: str = ""  # installed agent CLIs (`ptb.agents.toolchain`)
    monitor_interval_s: float = 5.0
    infra_retries: int = 2
    egress: EgressSpec = field(default_factory=lambda: EgressSpec())


# --------------------------------------------------------------------------- how to run it


@dataclass(frozen=True)
class CheckConfig:
    """One judge check of the judge config: its name, whether its failure flags, its options."""

    name: str  # a judge_check plug-in
    flag: bool = True
    options: object | None = None  # the check's own frozen options dataclass (None: it takes none)


# The questions an LLM judge answers (SPEC §5), in the order its JSON answer gives them.
LlmQuestion = Literal["contamination", "disallowed_model", "hosted_llm_api", "harness_tampering", "other_anomaly"]
LLM_QUESTIONS: tuple[LlmQuestion, ...] = ("contamination", "disallowed_model", "hosted_llm_api", "harness_tampering", "other_anomaly")


@dataclass(frozen=True)
class LlmJudgeConfig:
    """One LLM judge of the judge config (``judge.llm.<name>``), see `ptb.stages.judge.llm`."""

    name: str = option(pattern=SAFE_NAME, hint=SAFE_NAME_HINT)  # the key under judge.llm
    model: str = option("openai/gpt-5-mini", pattern=r"[^/\s]+/\S+", hint="expected an inspect-ai model name such as 'openai/gpt-5-mini'")
    base_url: str | None = option(None, pattern=r"https?://\S+", hint="expected an http(s) URL")  # OpenAI-compatible
    api_key_env: str | None = option(  # the variable holding its key (None: the provider's own variable)
        "OPENAI_API_KEY", pattern=ENV_NAME, hint="expected the name of an environment variable"
    )
    model_args: Mapping[str, str | int | float | bool] = field(default_factory=dict)  # more get_model() arguments (responses_api: false)
    votes: int = option(1, ge=1, le=15)  # independent answers; majority per question
    temperature: float | None = option(None, ge=0, le=2)  # None: the provider's default
    max_tokens: int | None = option(None, ge=1)  # of one answer (None: the provider's default)
    max_evidence_chars: int = option(200_000, ge=4000)  # what one request may carry about the run
    flag: tuple[LlmQuestion, ...] = ("contamination", "disallowed_model", "hosted_llm_api", "harness_tampering")
    format_retries: int = option(2, ge=0, le=10)  # asks again after an answer that is not the schema
    max_retries: int = option(3, ge=0, le=20)  # inspect's retries of a failed API call (then: undecided)
    timeout_s: int = option(600, ge=1)  # one API call


@dataclass(frozen=True)
class JudgeConfig:
    checks: tuple[CheckConfig, ...] = ()
    llm: tuple[LlmJudgeConfig, ...] = ()  # LLM judges, each its own Ray task after the checks


@dataclass(frozen=True)
class EvalPoolConfig:
    """conf/eval: the shared pool of evaluation actors."""

    backend: str = option("hf", choices=_names("serve_backend"))  # hf (CPU) | vllm (GPU)
    workers: int = option(1, ge=1)  # evaluation actors kept alive across checkpoints
    gpus_per_worker: float = option(0.0, ge=0)
    cpus_per_worker: float = option(0.5, gt=0)


@dataclass(frozen=True)
class TrackingConfig:
    kind: str = "none"  # a tracker plug-in
    options: object | None = None  # the tracker's own frozen options dataclass (None: it takes none)


@dataclass(frozen=True)
class ClusterConfig:
    """conf/cluster: which Ray to start or join."""

    address: str | None = None  # None: start a local Ray; "auto" or ray://host:port joins one
    num_cpus: int | None = option(None, ge=1)  # a local Ray's CPUs (None: this machine's)
    num_gpus: int | None = option(None, ge=0)  # a local Ray's GPUs (None: detected)
    temp_dir: str | None = None  # Ray's session folder (None: Ray's default)


@dataclass(frozen=True)
class GraderConfig:
    """The LLM grader of the LLM-graded tasks."""

    model: str = option("openai/gpt-5-mini", pattern=r"[^/\s]+/\S+", hint="expected an inspect-ai model name such as 'openai/gpt-5-mini'")
    base_url: str | None = option(None, pattern=r"https?://\S+", hint="expected an http(s) URL")  # OpenAI-compatible
    api_key_env: str | None = option(  # the variable holding its key (read by evaluation workers only)
        "OPENAI_API_KEY", pattern=ENV_NAME, hint="expected the name of an environment variable"
    )


@dataclass(frozen=True)
class RunPlan:
    """A run spec plus the per-run settings that are not part of its identity."""

    spec: RunSpec
    judge: JudgeConfig
    config_json: str  # the whole resolved config as JSON: recorded in spec.yaml and in wandb
    keep_workspace: bool = False

    def config(self) -> dict[str, Any]:
        """A fresh copy of the resolved config (a record of what was asked, never interpreted)."""
        return json.loads(self.config_json)


@dataclass(frozen=True)
class SweepSettings:
    """Settings shared by every run of one driver: one Ray, one eval pool, one tracker."""

    eval: EvalPoolConfig
    tracking: TrackingConfig
    cluster: ClusterConfig
    results_dir: str
    progress_interval_s: float = 10.0
    grader_key_env: str | None = None  # the LLM grader's key variable: evaluation workers get it


# --------------------------------------------------------------------------- what happened


Status = Literal["finished", "timeout", "crashed"]
# What an agent's CLI said when it gave up: its key ran dry (quota), it was throttled, its
# context overflowed, its key was refused, or it could not reach its API.
FailureKind = Literal["rate_limit", "quota", "context_overflow", "auth", "network"]


@dataclass(frozen=True)
class Outcome:
    """How the solve stage ended (outcome.json)."""

    status: Status
    started_at: float  # epoch seconds; the budget clock starts here
    ended_at: float
    exit_code: int | None
    reason: str | None = None  # human-readable, for crashed/timeout
    failure: FailureKind | None = None  # why the agent's CLI gave up, where its output says so
    failure_detail: str | None = None  # the line that said so (keys redacted)
    sessions: int = 1  # CLI sessions: 1 + the reprompts (agent.reprompt)
    attempt: int = 1  # which solve attempt this is: the earlier ones' logs are in attempts/<n>/

    @property
    def seconds_used(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the workspace
    bytes: int
    reason: str


@dataclass(frozen=True)
class CollectReport:
    """collect.json: what collect took from the workspace (`ptb.stages.collect`)."""

    has_final_model: bool
    final_model_reason: str | None  # why there is none (missing, refused link, empty)
    final_model_files: int
    final_model_bytes: int
    snapshot_files: int
    snapshot_bytes: int
    skipped: tuple[SkippedFile, ...]  # left out of the snapshot, and why
    trace_format: str
    trace_events: int
    usage: AgentUsage | None = None  # tokens and cost from the trajectory (None: no LLM agent)
    agent_tmp_files: int = 0  # files of the agent's /tmp (<scratch>/tmp) snapshotted into agent_tmp/
    agent_tmp_bytes: int = 0


@dataclass(frozen=True)
class AgentUsage:
    """Tokens and cost of a run's agent, summed over its trajectory (trajectory.json)."""

    input_tokens: int  # prompt tokens, cached ones included
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: unknown (the CLI states no cost and no price is configured)
    cost_source: Literal["cli", "price", "cli+price", "unknown"]  # cli+price: a killed session priced
    steps: int  # agent steps (model responses)
    tool_calls: int
    models_used: tuple[str, ...] = ()  # the models the CLI says answered (where its output names them)


@dataclass(frozen=True)
class ServedFile:
    name: str  # file name inside served_model/
    source: Literal["final_model", "base_model"]  # tokenizer files always come from the base model
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ServedModel:
    """served_model.json: the folder the final evaluation serves and the judge reads
    (`ptb.stages.served`): final_model's resolved weights and config, the base model's tokenizer."""

    usable: bool
    reason: str | None = None  # why final_model cannot be served (usable false): checkpoint unusable
    files: tuple[ServedFile, ...] = ()
    ignored: tuple[str, ...] = ()  # files of final_model no loader reads, left out ("name: why")


LlmAnswerValue = Literal["yes", "no", "unclear"]


@dataclass(frozen=True)
class JudgeCost:
    """What the LLM judges of one verdict spent (ModelOutput.usage, summed over every call)."""

    calls: int = 0  # API calls answered (format retries included; failed calls not)
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: JudgeCost) -> JudgeCost:
        return JudgeCost(self.calls + other.calls, self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class LlmAnswer:
    """One question of an LLM judge: the majority over its votes, and the evidence it cites."""

    question: str  # an LlmQuestion
    verdict: LlmAnswerValue  # the majority answer ("unclear" on a tie); only "yes" can flag
    votes: tuple[LlmAnswerValue, ...]  # each vote's answer, in order
    justification: str  # of the first vote that gave the majority answer
    evidence: tuple[str, ...]  # what it cites: "step 12", "workspace/train.py", "egress line 3"
    flag: bool  # whether this judge's "yes" to this question flags the run


@dataclass(frozen=True)
class LlmJudgement:
    """What one LLM judge decided about one run (judge.json ``llm``)."""

    judge: str  # its name under judge.llm
    model: str
    answers: tuple[LlmAnswer, ...]  # empty when undecided
    cost: JudgeCost
    evidence_chars: int  # characters of evidence sent per request
    evidence_notes: tuple[str, ...] = ()  # what the character budget cut or left out
    error: str | None = None  # why it could not decide (API failure, answers never valid)


@dataclass(frozen=True)
class Finding:
    check: str
    outcome: Literal["pass", "fail", "undecided"]  # undecided: the harness's side failed
    flag: bool  # a failed check with flag=True flags the run
    detail: str
    checkpoint_unusable: bool = False  # passed, but final_model cannot be used (not cheating)

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass(frozen=True)
class Verdict:
    """The judge's decision (judge.json). A verdict with an undecided finding is never written:
    the judge is infrastructure then, and runs again."""

    flagged: bool
    findings: tuple[Finding, ...]
    reason: str | None = None  # one line: why it was flagged
    checkpoint_unusable: str | None = None  # why final_model cannot be used, when a check says so
    llm: tuple[LlmJudgement, ...] = ()  # each LLM judge's answers, votes and cost
    cost: JudgeCost = field(default_factory=lambda: JudgeCost())  # all LLM judges together
    version: int = 1  # 1: judge.json; N: judge.vN.json (python -m ptb.judge), see ptb.stages.judge.versions
    judged_at: float | None = None  # epoch seconds

    @property
    def undecided(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.outcome == "undecided")

    @property
    def decided(self) -> bool:
        return not self.undecided


@dataclass(frozen=True)
class Attempt:
    max_tokens: int
    ok: bool
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Metrics:
    """The final evaluation of one checkpoint (metrics.json)."""

    score: float | None  # 0..1; None when every attempt failed
    metric: str
    samples: int
    attempts: tuple[Attempt, ...]
    log_dir: str | None = None  # inspect logs (inspect view works on them)
    reason: str | None = None  # why there is no score
    # names the test split evaluated on (a hash, not the items; ptb.tasks.heldout): None for a
    # task whose test split is public and fixed
    split_fingerprint: str | None = None


@dataclass(frozen=True)
class Result:
    """The scored run (result.json): what the leaderboard reads."""

    run_id: str
    sweep: str
    agent: str
    model: str
    task: str
    seed: int
    hours: float
    weight: float
    status: Status
    raw_score: float | None
    base_score: float | None
    score: float | None
    flagged: bool
    fallback_reason: str | None
    seconds_used: float
    budget_seconds: float
    base_source: str | None = None  # where base_score came from: measured | reference
    input_tokens: int | None = None  # the agent's tokens and cost (None: not an LLM agent)
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # None with tokens known: unknown cost (no price)
    failure: str | None = None  # outcome.failure: why the agent's CLI gave up
    agent_model: str | None = None  # the vendor model the agent config asks for
    models_used: tuple[str, ...] = ()  # the models the CLI says it used (Claude Code, Gemini CLI state them)
    verdict_version: int = 1  # the judge verdict it was scored with: 1 = judge.json, N = judge.vN.json

    @property
    def model_substituted(self) -> bool:
        """The CLI ran another model than the config asks for: Gemini CLI 0.61 sends
        gemini-3-pro-preview requests as gemini-3.1-pro-preview, and a leaderboard row must not
        silently stand for a model that never ran."""
        if not self.agent_model or not self.models_used:
            return False
        wanted = self.agent_model.rsplit("/", 1)[-1]  # opencode/kimi-k2.5: the provider's own id
        return not any(m.rsplit("/", 1)[-1] == wanted for m in self.models_used)
