"""trajectory.json: a run's agent session in Harbor's Agent Trajectory Interchange Format (ATIF).

    trajectory = build_trajectory(events, agent=spec.agent, cli_version="2.1.197", session_id=spec.run_id)
    write_json_atomic(run_dir / "trajectory.json", trajectory)
    usage = agent_usage(trajectory, spec.agent)        # AgentUsage: tokens and cost for result.json

Why ATIF: it is an existing schema (``schema_version: ATIF-v1.4``; Inspect Scout and Harbor's
tools read it) with exactly what a run needs: steps with timestamps, the model's messages and
reasoning, tool calls with their arguments, the observations (tool results) tied back to their
call, and per-step token and cost metrics with run totals in ``final_metrics``.

The events come from the scaffold's trace parser (`ptb.traces`, its ``agents/<name>/trace.py``):
a message, reasoning or tool call opens an agent step (or joins the open one); a tool result
attaches to the step that made the call; a ``step`` usage closes the step it measures. A
``session`` usage is the CLI's own totals of one session (one per reprompt): when a CLI states
totals they are what ``final_metrics`` sums, else the per-step figures are summed. The harness's
notes and the agent's error lines become ``system`` steps, so the trajectory reads as the whole
story of the run.

Cost: the CLI's own figure where its scaffold says it states one (Claude Code), else the
agent's configured ``price`` applied to the tokens, else unknown (``null``, never 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ptb.records import AgentSpec, AgentUsage
from ptb.traces import TraceEvent, Usage

SCHEMA_VERSION = "ATIF-v1.4"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


@dataclass
class _Step:
    source: str  # agent | system | user
    t: float
    texts: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage | None = None

    def as_atif(self, step_id: int, model: str | None, price_cost: Any) -> dict[str, Any]:
        step: dict[str, Any] = {"step_id": step_id, "timestamp": _iso(self.t), "source": self.source,
                                "message": "\n".join(self.texts)}
        if self.source == "agent" and model:
            step["model_name"] = (self.usage.model if self.usage and self.usage.model else model)
        if self.reasoning:
            step["reasoning_content"] = "\n".join(self.reasoning)
        if self.calls:
            step["tool_calls"] = self.calls
        if self.results:
            step["observation"] = {"results": self.results}
        if self.usage is not None:
            u = self.usage
            cost = price_cost(u)
            step["metrics"] = {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
                               "cached_tokens": u.cached_input_tokens, "cost_usd": cost}
        return step


def _steps(events: Iterable[TraceEvent]) -> tuple[list[_Step], list[Usage]]:
    """The steps, and the usage the run's totals sum: each session's own totals where the CLI
    stated them, else the figures of that session's steps. A session killed at the deadline
    never prints its totals, so the steps after the last stated totals count by themselves."""
    steps: list[_Step] = []
    totals: list[Usage] = []
    unsummed: list[Usage] = []  # step figures since the last session totals
    by_call: dict[str, _Step] = {}
    open_step: _Step | None = None

    def agent_step(t: float) -> _Step:
        nonlocal open_step
        # A step is one model response: anything after its tool results or its usage is the next one.
        if open_step is None or open_step.results or open_step.usage is not None:
            open_step = _Step("agent", t)
            steps.append(open_step)
        return open_step

    for event in events:
        if event.kind == "usage" and event.usage is not None:
            if event.usage.scope == "session":
                totals.append(event.usage)
                unsummed.clear()  # the session's totals cover its steps
                continue
            unsummed.append(event.usage)
            if open_step is not None and open_step.usage is None:
                open_step.usage = event.usage
            else:  # usage with no step of its own (a CLI that reports per turn only)
                step = agent_step(event.t)
                step.usage = event.usage
            continue
        if event.kind == "tool" and event.result_of is not None:
            owner = by_call.get(event.result_of)
            result = {"source_call_id": event.result_of, "content": event.text}
            if owner is None:  # a result of a call we never saw: its own step
                owner = agent_step(event.t)
            owner.results.append(result)
            continue
        if event.kind == "tool" and event.call is not None:
            step = agent_step(event.t)
            step.calls.append({"tool_call_id": event.call.id, "function_name": event.call.name,
                               "arguments": dict(event.call.arguments)})
            by_call[event.call.id] = step
            continue
        if event.kind in ("message", "output", "tool"):
            agent_step(event.t).texts.append(event.text)
        elif event.kind == "thinking":
            agent_step(event.t).reasoning.append(event.text)
        else:  # harness notes, errors: the system's side of the story
            open_step = None
            steps.append(_Step("system", event.t, texts=[f"[{event.kind}] {event.text}"]))
    return steps, totals + unsummed


def build_trajectory(
    events: Iterable[TraceEvent], *, agent: AgentSpec, cli_version: str | None, session_id: str,
    sessions: int | None = None,
) -> dict[str, Any]:
    """The run's ATIF trajectory. ``sessions``: how many CLI sessions ran (the solve stage's
    count); None = the sessions whose totals the CLI stated."""
    events = list(events)
    steps, totals = _steps(events)
    price = agent.price
    cli_states_cost = agent.cli is not None and agent.cli.reports_cost

    def cost(u: Usage) -> tuple[float | None, str]:
        """One response's or session's cost, and where it comes from."""
        if cli_states_cost and u.cost_usd is not None:
            return u.cost_usd, "cli"
        if price is not None:
            return price.cost(u.input_tokens, u.cached_input_tokens, u.output_tokens), "price"
        return None, "unknown"

    final: dict[str, Any] = {
        "total_prompt_tokens": sum(u.input_tokens for u in totals),
        "total_completion_tokens": sum(u.output_tokens for u in totals),
        "total_cached_tokens": sum(u.cached_input_tokens for u in totals),
        "total_steps": sum(1 for s in steps if s.source == "agent"),
    }
    # A session the deadline killed never states its cost: it is priced from its steps' tokens
    # when the agent has a price ("cli+price"), else the run's cost is unknown, never a partial sum.
    costs = [cost(u) for u in totals]
    sources = sorted({src for _, src in costs}, key=("cli", "price", "unknown").index)
    if not totals or "unknown" in sources:
        final["total_cost_usd"], source = None, "unknown"
    else:
        final["total_cost_usd"], source = sum(c for c, _ in costs if c is not None), "+".join(sources)
    stated = sum(1 for e in events if e.kind == "usage" and e.usage is not None and e.usage.scope == "session")
    models_used = sorted({e.usage.model for e in events if e.usage is not None and e.usage.model})
    return {
        "schema_version": SCHEMA_VERSION,
        "session_id": session_id,
        "agent": {"name": agent.scaffold or agent.name, "version": cli_version or "", "model_name": agent.model or ""},
        "steps": [s.as_atif(i, agent.model, lambda u: cost(u)[0]) for i, s in enumerate(steps, start=1)],
        "final_metrics": final,
        "extra": {"ptb": {"agent_config": agent.name, "cost_source": source, "sessions": sessions if sessions is not None else max(1, stated),
                          "models_used": models_used}},
    }


def agent_usage(trajectory: dict[str, Any], agent: AgentSpec) -> AgentUsage | None:
    """Tokens and cost of the run (None for an agent without an LLM: noop, recipe_sft)."""
    if agent.cli is None:
        return None
    final = trajectory["final_metrics"]
    steps = trajectory["steps"]
    return AgentUsage(
        input_tokens=final["total_prompt_tokens"],
        cached_input_tokens=final["total_cached_tokens"],
        output_tokens=final["total_completion_tokens"],
        cost_usd=final["total_cost_usd"],
        cost_source=trajectory["extra"]["ptb"]["cost_source"],
        steps=final["total_steps"],
        tool_calls=sum(len(s.get("tool_calls", ())) for s in steps),
        models_used=tuple(trajectory["extra"]["ptb"].get("models_used", ())),
    )
