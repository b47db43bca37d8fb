"""Which harness chat template (and tool-call format) evaluates a run.

    template = harness_template(spec.model, spec.task)   # evals/templates/<family>.jinja
    parser = tool_parser(spec.model, spec.task)          # "hermes" / "pythonic" / None

The choice comes only from the run's configured model (its ``template``, and its
``tool_template`` for tasks that attach tool schemas, e.g. gemma3 → gemma3_tools on bfcl), never
from the checkpoint's path or its own config.json or tokenizer_config.json: the reference
harness picked templates by substring of the path, and agents exploited that.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptb.paths import template_path
from ptb.records import ModelSpec, TaskSpec

# Each template names the token it ends an assistant turn with in its first line, a Jinja comment
# ``{#- ptb:end_of_turn <token> ... -#}`` (one file per family holds everything about it). A base
# model's own eos is often another token (Qwen3-Base: <|endoftext|>), so a model trained on the
# template stops with this one and would otherwise run on into an invented next turn (whose
# "answer" a scorer could read).
_END_OF_TURN = re.compile(r"\{#-?\s*ptb:end_of_turn\s+(\S+)")


def end_of_turn(template: str | Path) -> str | None:
    """The end-of-turn token a template file declares, or None."""
    try:
        head = Path(template).read_text(encoding="utf-8")[:1000]
    except OSError:
        return None
    found = _END_OF_TURN.search(head)
    return found.group(1) if found else None


def template_family(model: ModelSpec, task: TaskSpec) -> str:
    if task.tools and model.tool_template:
        return model.tool_template
    return model.template


def harness_template(model: ModelSpec, task: TaskSpec) -> Path:
    return template_path(template_family(model, task))


def tool_parser(model: ModelSpec, task: TaskSpec) -> str | None:
    """How the server turns the model's reply into tool calls; only for tasks with tools."""
    return model.tool_parser if task.tools else None


def model_templates(model: ModelSpec) -> list[Path]:
    """Every harness template of the model (what the agent's workspace gets)."""
    families = dict.fromkeys([model.template, *([model.tool_template] if model.tool_template else [])])
    return [template_path(f) for f in families]


def stop_token_ids(model_path: str | Path, template_path: str | Path) -> tuple[int, ...]:
    """The checkpoint's id of its template's end-of-turn token, sent with every request as
    ``stop_token_ids`` (vLLM and ptb's HF server honour it); () when the template declares none or the
    tokenizer does not know the token."""
    token = end_of_turn(template_path)
    if token is None:
        return ()
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    except Exception:  # no readable tokenizer: the server's own start will report the checkpoint
        return ()
    ids = tokenizer.encode(token, add_special_tokens=False)
    return (int(ids[0]),) if len(ids) == 1 else ()  # a token the vocabulary splits is no stop token
