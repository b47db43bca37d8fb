"""bfcl: Berkeley Function Calling Leaderboard, the ``exec_simple`` category (100 items).

Data: the Hub dataset ``gorilla-llm/Berkeley-Function-Calling-Leaderboard``, file
``BFCL_v3_exec_simple.json`` at the repository root. Despite the suffix it is JSON Lines, one
item per line::

    {"id": "exec_simple_0",
     "question": [[{"role": "user", "content": "..."}]],          # turns, each a list of messages
     "function": [{"name": "...", "description": "...",
                   "parameters": {"type": "dict", "properties": {...}, "required": [...]}}],
     "execution_result_type": ["exact_match"],
     "ground_truth": ["some_function(n=20, p=0.6)"]}                # Python call strings

The repository's HF "train" split *is* this evaluation data; the only split here is ``test``.

Prompt: the item's single turn as chat messages (the user question, and a system message where
the item has one), with no extra instruction; the item's function schemas are attached to the
request as OpenAI ``tools``, converted from BFCL's type names to JSON Schema ("dict" → "object",
"float" → "number", "tuple" → "array", "any" → no type constraint). The harness chat template
renders them (Hermes-style ``<tools>`` block, or the family's own tool format) and the inference
server turns the model's reply back into OpenAI ``tool_calls`` (the run's ``tool_parser``). The
tools are never executed: the solver is ``generate(tool_calls="none")``.

Scorer (`tool_call_match`): CORRECT iff the reply holds exactly one tool call, its function name
equals the ground truth's and its argument dict equals the ground truth's, value by value
(literal values parsed with `ast`; 5 == 5.0, but "5" != 5 and True != 1; a tuple in the ground
truth equals a JSON array). Metric: accuracy (with stderr). Each score records the call made and
the call expected.

This file is loaded by path (``ptb.tasks.load_task_module``). Run it with inspect directly::

    inspect eval evals/bfcl/task.py@bfcl --model openai-api/ptb/final_model \\
        --model-base-url http://127.0.0.1:8000/v1 --limit 5
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Target,
    accuracy,
    scorer,
    stderr,
)
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver
from inspect_ai.tool import ToolCall, ToolDef, ToolParams
from inspect_ai.util import JSONSchema

from ptb.tasks import HubDataset

REPO_ID = "gorilla-llm/Berkeley-Function-Calling-Leaderboard"
DATA_FILE = "BFCL_v3_exec_simple.json"
BFCL = HubDataset(REPO_ID, files=(DATA_FILE,))
DATA: tuple = (BFCL,)
SPLITS = ("test",)


class BfclDataError(ValueError):
    """An item of the BFCL file cannot be turned into a sample (the message names the item)."""


# --------------------------------------------------------------------------- schema conversion

# BFCL's Python type names → JSON Schema types; None = no type constraint ("any").
BFCL_TYPES: dict[str, str | None] = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "number": "number",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
    "array": "array",
    "tuple": "array",
    "any": None,
}
# JSON Schema keywords carried over as they are (BFCL's own "optional" flag is not JSON Schema:
# "required" already says it).
_KEPT_KEYWORDS = ("description", "enum", "default", "format", "pattern", "minimum", "maximum",
                  "minLength", "maxLength", "examples")  # fmt: skip


def to_json_schema(schema: Any, where: str) -> dict[str, Any]:
    """One BFCL parameter schema as JSON Schema (recursively through properties and items).

    `where` names the place for error messages, e.g. "exec_simple_3: plot_route.options".
    """
    if not isinstance(schema, dict):
        raise BfclDataError(f"{where}: a parameter schema must be a JSON object, got {schema!r}")
    out: dict[str, Any] = {}
    if "type" in schema:
        bfcl_type = schema["type"]
        if not isinstance(bfcl_type, str) or bfcl_type not in BFCL_TYPES:
            raise BfclDataError(
                f"{where}: unknown BFCL type {bfcl_type!r}; accepted: {', '.join(BFCL_TYPES)}"
            )
        if BFCL_TYPES[bfcl_type] is not None:
            out["type"] = BFCL_TYPES[bfcl_type]
    for key in _KEPT_KEYWORDS:
        if schema.get(key) is not None:
            out[key] = schema[key]
    if "properties" in schema:
        properties = schema["properties"]
        if not isinstance(properties, dict):
            raise BfclDataError(f"{where}: 'properties' must be a JSON object, got {properties!r}")
        out["properties"] = {name: to_json_schema(sub, f"{where}.{name}") for name, sub in properties.items()}
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise BfclDataError(f"{where}: 'required' must be a list of parameter names, got {required!r}")
        out["required"] = list(required)
    if "items" in schema:
        items = schema["items"]
        if isinstance(items, list):  # a tuple's per-position schemas: any of them
            converted = [to_json_schema(sub, f"{where}[]") for sub in items]
            out["items"] = converted[0] if len(converted) == 1 else {"anyOf": converted}
        else:
            out["items"] = to_json_schema(items, f"{where}[]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif isinstance(extra, dict):
        out["additionalProperties"] = to_json_schema(extra, f"{where}.*")
    return out


def to_tool_schema(function: Any, item_id: str) -> dict[str, Any]:
    """A BFCL function document as an OpenAI function schema {name, description, parameters}."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise BfclDataError(f"{item_id}: every entry of 'function' needs a non-empty 'name', got {function!r}")
    name = function["name"]
    parameters = to_json_schema(function.get("parameters") or {"type": "dict", "properties": {}}, f"{item_id}: {name}")
    if parameters.get("type", "object") != "object":
        raise BfclDataError(f"{item_id}: {name}'s parameters must be of type 'dict', got {function['parameters']!r}")
    return {
        "name": name,
        "description": str(function.get("description") or ""),
        "parameters": {
            "type": "object",
            "properties": parameters.get("properties", {}),
            "required": parameters.get("required", []),
        },
    }


def tool_def(schema: dict[str, Any]) -> ToolDef:
    """An inspect ToolDef carrying a converted function schema; its callable is never run."""
    name = schema["name"]

    async def never_executed(**arguments: Any) -> str:  # a fresh function per tool: as_tool() tags it
        raise RuntimeError(f"bfcl tool '{name}' was executed, but bfcl only scores the call (tool_calls='none')")

    parameters = schema["parameters"]
    return ToolDef(
        never_executed,
        name=name,
        description=schema["description"],
        parameters=ToolParams(
            properties={k: JSONSchema.model_validate(v) for k, v in parameters["properties"].items()},
            required=list(parameters["required"]),
            additionalProperties=None,  # BFCL's schemas do not close their objects; nor do we
        ),
    )


# --------------------------------------------------------------------------- calls and values


@dataclass(frozen=True)
class Call:
    """A function call with literal arguments (JSON values: tuples become lists)."""

    function: str
    arguments: dict[str, Any]

    def render(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.function}({args})"

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "arguments": self.arguments}


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _json_value(value: Any, where: str) -> Any:
    """A literal as the JSON value a model's arguments could hold (tuples → lists)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise BfclDataError(f"{where}: {value!r} has no JSON form")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            # JSON object keys are strings: a model can only ever send {"1": ...} for {1: ...}
            if not isinstance(key, (str, int, float, bool)):
                raise BfclDataError(f"{where}: dict key {key!r} has no JSON form")
            out[key if isinstance(key, str) else json.dumps(key)] = _json_value(sub, where)
        return out
    raise BfclDataError(f"{where}: {value!r} ({type(value).__name__}) has no JSON form; accepted: "
                        "numbers, strings, booleans, None, lists, tuples and dicts of those")


def _parse_expression(text: Any, where: str) -> ast.Call:
    if not isinstance(text, str):
        raise BfclDataError(f"{where}: ground truth must be a call string, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise BfclDataError(f"{where}: ground truth {text!r} is not valid Python ({exc.msg})") from exc
    if not isinstance(tree.body, ast.Call):
        raise BfclDataError(f"{where}: ground truth {text!r} is not a function call")
    return tree.body


def _function_name(call: ast.Call, text: str, where: str) -> str:
    name = _dotted_name(call.func)
    if name is None:
        raise BfclDataError(f"{where}: ground truth {text!r} does not call a plain function name")
    return name


def called_function(text: str, where: str) -> str:
    """The (dotted) function name a ground-truth call string calls."""
    return _function_name(_parse_expression(text, where), text, where)


def parse_call(text: str, where: str, parameter_order: Sequence[str] = ()) -> Call:
    """Parse a ground-truth call string such as ``f(a=1, b=[2, 3])``; literal values only.

    Positional arguments are mapped to `parameter_order` (the schema's properties, in order).
    """
    call = _parse_expression(text, where)
    name = _function_name(call, text, where)
    if len(call.args) > len(parameter_order):
        raise BfclDataError(
            f"{where}: ground truth {text!r} has {len(call.args)} positional argument(s) but the schema "
            f"names only {len(parameter_order)} parameter(s) to map them to"
        )
    arguments: dict[str, Any] = {}
    named = list(zip(parameter_order, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise BfclDataError(f"{where}: ground truth {text!r} uses **-unpacking; only literal arguments are accepted")
        named.append((keyword.arg, keyword.value))
    for param, node in named:
        if isinstance(node, ast.Starred):
            raise BfclDataError(f"{where}: ground truth {text!r} uses *-unpacking; only literal arguments are accepted")
        if param in arguments:
            raise BfclDataError(f"{where}: ground truth {text!r} gives argument '{param}' twice")
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            raise BfclDataError(
                f"{where}: argument '{param}' of ground truth {text!r} is not a literal value "
                f"({ast.unparse(node)}); only literals (numbers, strings, booleans, None, lists, tuples, dicts) are accepted"
            ) from exc
        arguments[param] = _json_value(value, f"{where}: argument '{param}'")
    return Call(name, arguments)


def same_value(expected: Any, actual: Any) -> bool:
    """Whether a model's argument value equals the ground truth's.

    Numbers compare by value across int/float (5 == 5.0) but never with strings ("5" != 5) or
    booleans (True != 1); lists and dicts compare element by element.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and expected == actual
    if isinstance(expected, str):
        return isinstance(actual, str) and expected == actual
    if expected is None:
        return actual is None
    if isinstance(expected, list):
        return (isinstance(actual, (list, tuple)) and len(expected) == len(actual)
                and all(same_value(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and set(expected) == set(actual)
                and all(same_value(expected[k], actual[k]) for k in expected))
    return False


def argument_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between two argument dicts, one line per argument (empty when equal)."""
    lines = [f"missing argument '{k}' (expected {expected[k]!r})" for k in expected if k not in actual]
    lines += [f"unexpected argument '{k}'={actual[k]!r}" for k in actual if k not in expected]
    lines += [f"argument '{k}' is {actual[k]!r}, expected {expected[k]!r}"
              for k in expected if k in actual and not same_value(expected[k], actual[k])]
    return lines


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Item:
    id: str
    messages: tuple[tuple[str, str], ...]  # (role, content) of the item's single turn
    tools: tuple[dict[str, Any], ...]  # OpenAI function schemas (JSON Schema parameters)
    ground_truth: str  # the call string as the file has it
    expected: Call  # the ground truth, parsed
    execution_result_type: tuple[str, ...]


_ROLES = ("system", "user")


def _messages(question: Any, item_id: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(question, list) or len(question) != 1 or not isinstance(question[0], list) or not question[0]:
        raise BfclDataError(
            f"{item_id}: 'question' must hold exactly one turn (a list with one non-empty list of messages); "
            f"exec_simple is single-turn, got {question!r}"
        )
    messages = []
    for message in question[0]:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES or not isinstance(message.get("content"), str):
            raise BfclDataError(
                f"{item_id}: each message needs a role ({' or '.join(_ROLES)}) and a string content, got {message!r}"
            )
        messages.append((role, message["content"]))
    if messages[-1][0] != "user":
        raise BfclDataError(f"{item_id}: the turn must end with the user's message, got {question[0]!r}")
    return tuple(messages)


def parse_item(record: Any, where: str) -> Item:
    """One line of the BFCL file as an Item; BfclDataError (naming the item) when it does not fit."""
    if not isinstance(record, dict):
        raise BfclDataError(f"{where}: each line must be a JSON object, got {type(record).__name__}")
    item_id = record.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise BfclDataError(f"{where}: the item has no string 'id'")
    missing = [k for k in ("question", "function", "ground_truth") if k not in record]
    if missing:
        raise BfclDataError(f"{item_id}: missing field(s) {', '.join(missing)}")
    functions = record["function"]
    if not isinstance(functions, list) or not functions:
        raise BfclDataError(f"{item_id}: 'function' must be a non-empty list of function documents")
    tools = tuple(to_tool_schema(f, item_id) for f in functions)
    ground_truth = record["ground_truth"]
    if not isinstance(ground_truth, list) or len(ground_truth) != 1:
        raise BfclDataError(
            f"{item_id}: 'ground_truth' must be a list with exactly one call string (exec_simple), got {ground_truth!r}"
        )
    by_name = {t["name"]: t for t in tools}
    name = called_function(ground_truth[0], item_id)
    if name not in by_name:
        raise BfclDataError(
            f"{item_id}: ground truth {ground_truth[0]!r} calls '{name}', which is not among the item's "
            f"functions ({', '.join(by_name)})"
        )
    expected = parse_call(ground_truth[0], item_id, list(by_name[name]["parameters"]["properties"]))
    result_type = record.get("execution_result_type") or []
    return Item(
        id=item_id,
        messages=_messages(record["question"], item_id),
        tools=tools,
        ground_truth=ground_truth[0],
        expected=expected,
        execution_result_type=tuple(str(t) for t in result_type),
    )


def read_items(path: str | Path) -> tuple[Item, ...]:
    """Every item of a BFCL JSON Lines file, in file order."""
    path = Path(path)
    items: list[Item] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BfclDataError(f"{where}: not a JSON object ({exc.msg}); the file must be JSON Lines") from exc
        item = parse_item(record, where)
        if item.id in seen:
            raise BfclDataError(f"{where}: item id '{item.id}' appears twice")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise BfclDataError(f"{path} holds no items")
    return tuple(items)


@lru_cache(maxsize=4)
def _cached_items(path: str, mtime_ns: int) -> tuple[Item, ...]:
    return read_items(path)


def items(split: str = "test") -> tuple[Item, ...]:
    """The items of a split (only "test": the whole exec_simple file), from the local HF cache."""
    if split not in SPLITS:
        raise ValueError(f"bfcl has no split '{split}'; accepted: {', '.join(SPLITS)}")
    path = BFCL.file(DATA_FILE)
    return _cached_items(str(path), path.stat().st_mtime_ns)


def chat_messages(item: Item) -> list[ChatMessage]:
    """The item's turn as inspect chat messages (the model's input; the tools go separately)."""
    return [ChatMessageSystem(content=text) if role == "system" else ChatMessageUser(content=text)
            for role, text in item.messages]


def to_sample(item: Item) -> Sample:
    return Sample(
        id=item.id,
        input=chat_messages(item),
        target=item.ground_truth,
        metadata={
            "tools": [dict(t) for t in item.tools],
            "expected": item.expected.as_dict(),
            "execution_result_type": list(item.execution_result_type),
        },
    )


# --------------------------------------------------------------------------- solver and scorer


@solver
def attach_item_tools() -> Solver:
    """Attach the sample's own function schemas (from its metadata) as the request's tools."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.tools = [tool_def(schema).as_tool() for schema in state.metadata["tools"]]
        state.tool_choice = "auto"
        return state

    return solve


def _call_record(call: ToolCall) -> dict[str, Any]:
    record: dict[str, Any] = {"function": call.function, "arguments": call.arguments}
    if call.parse_error:
        record["parse_error"] = call.parse_error
    return record


def judge_calls(calls: Sequence[ToolCall], expected: Call) -> tuple[bool, str]:
    """(correct, why) for the tool calls of one reply against the expected call."""
    if not calls:
        return False, "no tool call"
    if len(calls) > 1:
        return False, f"{len(calls)} tool calls, exactly one expected"
    [call] = calls
    if call.parse_error:
        return False, f"the tool call's arguments could not be parsed: {call.parse_error}"
    if call.function != expected.function:
        return False, f"called '{call.function}', expected '{expected.function}'"
    differences = argument_differences(expected.arguments, call.arguments)
    if differences:
        return False, "; ".join(differences)
    return True, "the call matches"


@scorer(metrics=[accuracy(), stderr()])
def tool_call_match():
    """CORRECT iff exactly one tool call whose name and argument dict equal the ground truth's."""

    async def score(state: TaskState, target: Target) -> Score:
        expected = Call(state.metadata["expected"]["function"], state.metadata["expected"]["arguments"])
        message = state.output.message if state.output.choices else None
        calls = list(message.tool_calls or []) if message is not None else []
        correct, why = judge_calls(calls, expected)
        made = [Call(c.function, c.arguments).render() for c in calls]
        return Score(
            value=CORRECT if correct else INCORRECT,
            answer="; ".join(made) if made else None,
            explanation=f"{why}. Called: {'; '.join(made) or 'nothing'}. Expected: {expected.render()}.",
            metadata={
                "calls": [_call_record(c) for c in calls],
                "expected": expected.as_dict(),
                "reason": why,
                "completion": state.output.completion,
            },
        )

    return score


# --------------------------------------------------------------------------- the contract


@task
def bfcl(split: str = "test") -> Task:
    return Task(
        dataset=MemoryDataset([to_sample(item) for item in items(split)], name=f"bfcl-exec_simple-{split}"),
        solver=[attach_item_tools(), generate(tool_calls="none")],
        scorer=tool_call_match(),
        name="bfcl",
    )


def test_texts() -> list[str]:
    """Each test item as text (its messages and its ground-truth call), for the overlap check."""
    return [" ".join([*(text for _, text in item.messages), item.ground_truth]) for item in items("test")]


def write_agent_context(workspace: Path) -> list[Path]:
    """bfcl ships no context files: its only data is the test set itself."""
    return []
