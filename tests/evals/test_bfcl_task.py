"""evals/bfcl/task.py: the exec_simple loader, the BFCL → JSON Schema conversion, the tool-call
scorer (through inspect's mockllm), and a `--limit` smoke evaluation through the pool.

The data is tests/fixtures/hub/gorilla-llm/Berkeley-Function-Calling-Leaderboard/
BFCL_v3_exec_simple.json: invented items in the real file's schema (JSON Lines).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageAssistant, ModelOutput, ModelUsage, get_model
from inspect_ai.tool import ToolCall

from ptb.data import DataUnavailable
from ptb.plugins import load_task_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hub" / "gorilla-llm" / "Berkeley-Function-Calling-Leaderboard" / "BFCL_v3_exec_simple.json"
IDS = [f"exec_simple_{i}" for i in range(8)]


@pytest.fixture(scope="module")
def bfcl():
    from eval_smoke import compose_task

    return load_task_module(compose_task("bfcl"))


def _records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def _write(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "BFCL_v3_exec_simple.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# --------------------------------------------------------------------------- loader


def test_loader_reads_every_item_with_ids_messages_and_parsed_ground_truth(bfcl):
    items = bfcl.items("test")
    assert [i.id for i in items] == IDS
    by_id = {i.id: i for i in items}

    first = by_id["exec_simple_0"]
    assert first.messages == (("user", _records()[0]["question"][0][0]["content"]),)
    assert first.ground_truth == "compute_loan_payment(principal=25000, annual_rate=4.5, years=5)"
    assert first.expected.function == "compute_loan_payment"
    assert first.expected.arguments == {"principal": 25000, "annual_rate": 4.5, "years": 5}
    assert first.execution_result_type == ("exact_match",)

    assert by_id["exec_simple_1"].expected.arguments["value"] == -12.5  # unary minus is a literal
    # a tuple in the ground truth is the JSON array a model sends; nested dicts and lists stay
    assert by_id["exec_simple_3"].expected.arguments == {
        "room": {"building": "North", "floor": 3}, "attendees": ["Ana", "Bo"], "start": [9, 30],
    }
    assert by_id["exec_simple_4"].messages[0] == ("system", "You manage a key-value cache for a web shop.")
    assert by_id["exec_simple_4"].expected.arguments["value"] == {"ttl": 30, "tags": ["a", "b"]}
    assert by_id["exec_simple_5"].expected.arguments["template"] == "Hello, {name}! It's \"{day}\"."
    # a positional argument maps to the schema's parameters in order
    assert by_id["exec_simple_6"].expected.arguments == {"a": 84, "b": 36}
    assert by_id["exec_simple_7"].expected.arguments["waypoints"][1] == {"lat": 47.3, "lon": 8.5}


def test_samples_carry_the_chat_messages_the_tools_and_the_expected_call(bfcl):
    task = bfcl.bfcl(split="test")
    samples = list(task.dataset)
    assert [s.id for s in samples] == IDS
    assert [m.role for m in samples[4].input] == ["system", "user"]
    assert [m.role for m in samples[0].input] == ["user"]
    assert samples[0].target == "compute_loan_payment(principal=25000, annual_rate=4.5, years=5)"
    assert samples[3].metadata["expected"] == {
        "function": "book_meeting_room",
        "arguments": {"room": {"building": "North", "floor": 3}, "attendees": ["Ana", "Bo"], "start": [9, 30]},
    }
    assert [t["name"] for t in samples[7].metadata["tools"]] == ["plot_route"]
    json.dumps([s.metadata for s in samples])  # the log can hold every sample's metadata

    with pytest.raises(ValueError, match="no split 'train'.*accepted: test"):
        bfcl.bfcl(split="train")


# --------------------------------------------------------------------------- schema conversion


def test_bfcl_types_become_json_schema_types_recursively(bfcl):
    tools = {t["name"]: t for i in bfcl.items() for t in i.tools}
    room = tools["book_meeting_room"]["parameters"]
    assert room["type"] == "object" and room["required"] == ["room", "attendees", "start"]
    assert room["properties"]["room"] == {
        "type": "object", "description": "Where the room is.",
        "properties": {"building": {"type": "string", "description": "Building name."},
                       "floor": {"type": "integer", "description": "Floor number."}},
        "required": ["building", "floor"],
    }
    assert room["properties"]["start"]["type"] == "array"  # tuple
    assert room["properties"]["start"]["items"] == {"type": "integer"}
    assert tools["compute_loan_payment"]["parameters"]["properties"]["annual_rate"]["type"] == "number"  # float
    assert tools["cache_put"]["parameters"]["properties"]["value"] == {"description": "The value to store."}  # any
    drop = tools["summarize_scores"]["parameters"]["properties"]["drop_lowest"]
    assert drop == {"type": "boolean", "description": drop["description"], "default": False}  # "optional" dropped
    route = tools["plot_route"]["parameters"]["properties"]
    assert route["waypoints"]["items"]["properties"]["lat"]["type"] == "number"
    assert route["options"]["properties"]["units"]["enum"] == ["km", "mi"]


def test_converted_schemas_are_valid_json_schema_and_accept_the_ground_truth(bfcl):
    """The conversion is faithful: each expected call validates against its tool's schema."""
    for item in bfcl.items():
        [tool] = [t for t in item.tools if t["name"] == item.expected.function]
        jsonschema.Draft202012Validator.check_schema(tool["parameters"])
        jsonschema.validate(item.expected.arguments, tool["parameters"])
    # and the schema says something: a string where a number belongs is rejected
    loan = bfcl.items()[0].tools[0]["parameters"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"principal": "25000", "annual_rate": 4.5, "years": 5}, loan)


def test_tool_defs_give_inspect_the_converted_schema(bfcl):
    schema = bfcl.items()[6].tools[0]
    info = bfcl.tool_def(schema)
    assert info.name == "gcd_of_pair" and info.description == schema["description"]
    # exactly the converted schema: inspect adds no additionalProperties the source does not have
    assert info.parameters.model_dump(exclude_none=True) == schema["parameters"]


def test_unknown_bfcl_type_is_a_loader_error_naming_item_and_parameter(bfcl, tmp_path):
    records = _records()
    records[2]["function"][0]["parameters"]["properties"]["scores"]["items"]["type"] = "HashMap"
    with pytest.raises(bfcl.BfclDataError, match=r"exec_simple_2: summarize_scores\.scores\[\]: unknown BFCL type 'HashMap'; accepted: dict"):
        bfcl.read_items(_write(tmp_path, records))


# --------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize(
    ("ground_truth", "message"),
    [
        (["compute_loan_payment(principal=25000, annual_rate=4.5"], "is not valid Python"),
        (["principal = 25000"], "is not valid Python"),
        (["25000"], "is not a function call"),
        (["compute_loan_payment(principal=base * 2, annual_rate=4.5, years=5)"], "argument 'principal' .* is not a literal value"),
        (["compute_loan_payment(principal=p, annual_rate=4.5, years=5)"], "argument 'principal' .* is not a literal value"),
        (["compute_loan_payment(**terms)"], r"uses \*\*-unpacking"),
        (["compute_loan_payment(principal={1, 2}, annual_rate=4.5, years=5)"], "set.* has no JSON form"),
        (["compute_loan_payment(1, 2, 3, 4)"], "4 positional argument.* only 3 parameter"),
        (["compute_loan_payment(25000, principal=25000, annual_rate=4.5, years=5)"], "gives argument 'principal' twice"),
        (["pay_loan(principal=25000)"], "calls 'pay_loan', which is not among the item's functions"),
        (["compute_loan_payment(principal=1)", "compute_loan_payment(principal=2)"], "exactly one call string"),
        ([], "exactly one call string"),
        ("compute_loan_payment(principal=1)", "exactly one call string"),
    ],
)
def test_unparseable_ground_truth_is_a_loader_error_naming_the_item(bfcl, tmp_path, ground_truth, message):
    records = _records()
    records[0]["ground_truth"] = ground_truth
    with pytest.raises(bfcl.BfclDataError, match=f"^exec_simple_0: .*{message}"):
        bfcl.read_items(_write(tmp_path, records))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("function"), "^exec_simple_5: missing field.* function"),
        (lambda r: r.update(question=[[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]),
         "^exec_simple_5: 'question' must hold exactly one turn"),
        (lambda r: r.update(question=[[{"role": "tool", "content": "a"}]]), "^exec_simple_5: each message needs a role"),
        (lambda r: r.pop("id"), "line 6: the item has no string 'id'"),
        (lambda r: r.update(id="exec_simple_0"), "line 6: item id 'exec_simple_0' appears twice"),
    ],
)
def test_malformed_items_are_loader_errors_naming_the_item(bfcl, tmp_path, change, message):
    records = _records()
    change(records[5])
    with pytest.raises(bfcl.BfclDataError, match=message):
        bfcl.read_items(_write(tmp_path, records))


def test_a_json_array_file_is_refused_with_the_expected_format(bfcl, tmp_path):
    path = tmp_path / "BFCL_v3_exec_simple.json"
    path.write_text(json.dumps(_records(), indent=1))
    with pytest.raises(bfcl.BfclDataError, match="line 1: .*JSON Lines"):
        bfcl.read_items(path)


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (5, 5.0, True),
        (4.5, 4.5, True),
        (5, "5", False),
        ("5", 5, False),
        (True, 1, False),
        (1, True, False),
        (False, False, True),
        (None, None, True),
        (None, "None", False),
        ([9, 30], [9, 30.0], True),
        ([9, 30], [30, 9], False),
        ([9, 30], [9, 30, 0], False),
        ({"a": [1, {"b": "x"}]}, {"a": [1.0, {"b": "x"}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": 1}, {"A": 1}, False),
        ("North", "north", False),
    ],
)
def test_same_value(bfcl, expected, actual, same):
    assert bfcl.same_value(expected, actual) is same


def test_judge_calls_explains_each_kind_of_miss(bfcl):
    expected = bfcl.Call("f", {"a": 1, "b": [2, 3]})

    def call(function="f", arguments=None, parse_error=None):
        return ToolCall(id="c", function=function, arguments=arguments if arguments is not None else {"a": 1, "b": [2, 3]},
                        parse_error=parse_error)

    assert bfcl.judge_calls([call()], expected) == (True, "the call matches")
    assert bfcl.judge_calls([], expected) == (False, "no tool call")
    assert bfcl.judge_calls([call(), call()], expected) == (False, "2 tool calls, exactly one expected")
    assert bfcl.judge_calls([call("g")], expected) == (False, "called 'g', expected 'f'")
    ok, why = bfcl.judge_calls([call(arguments={"b": [2], "c": 0})], expected)
    assert not ok and why == "missing argument 'a' (expected 1); unexpected argument 'c'=0; argument 'b' is [2], expected [2, 3]"
    ok, why = bfcl.judge_calls([call(arguments={}, parse_error="Expecting value: line 1")], expected)
    assert not ok and why.startswith("the tool call's arguments could not be parsed: Expecting value")


def _reply(calls: list[ToolCall] | None, text: str = "") -> ModelOutput:
    output = ModelOutput.from_message(ChatMessageAssistant(content=text, tool_calls=calls, model="mockllm/model"))
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tiktoken download
    return output


def _call(function: str, **arguments) -> ToolCall:
    return ToolCall(id=f"call-{function}", function=function, arguments=arguments)


# per item: the reply the mock model gives and whether it is right
SCRIPT = {
    "exec_simple_0": ([_call("compute_loan_payment", principal=25000.0, annual_rate=4.5, years=5)], "C"),  # 25000.0 == 25000
    "exec_simple_1": ([_call("convert_temperature", value="-12.5", from_unit="celsius", to_unit="kelvin")], "I"),  # "-12.5" != -12.5
    "exec_simple_2": ([_call("summarize_scores", scores=[88, 92.5, 79], drop_lowest=1)], "I"),  # 1 != True
    "exec_simple_3": ([_call("book_meeting_room", room={"floor": 3, "building": "North"}, attendees=["Ana", "Bo"], start=[9, 30])], "C"),
    "exec_simple_4": ([_call("cache_put", key="session", value={"ttl": 30, "tags": ["a", "b"]})] * 2, "I"),  # two calls
    "exec_simple_5": (None, "I"),  # no call: text only
    "exec_simple_6": ([_call("gcd", a=84, b=36)], "I"),  # wrong name
    "exec_simple_7": ([ToolCall(id="bad", function="plot_route", arguments={}, parse_error="Expecting ',' delimiter")], "I"),  # malformed
}


def test_inspect_eval_scores_right_wrong_and_malformed_tool_calls(bfcl, tmp_path):
    questions = {item.messages[-1][1]: item for item in bfcl.items()}
    seen_tools: dict[str, list] = {}
    generations: dict[str, int] = {}

    def reply(messages, tools, tool_choice, config):
        item = questions[messages[-1].text]
        seen_tools[item.id] = tools
        generations[item.id] = generations.get(item.id, 0) + 1
        calls, _ = SCRIPT[item.id]
        return _reply(calls, "I would rather just chat." if calls is None else "")

    [log] = inspect_eval(
        bfcl.bfcl(split="test"), model=get_model("mockllm/model", custom_outputs=reply),
        log_dir=str(tmp_path), display="none",
    )
    assert log.status == "success"
    values = {s.id: s.scores["tool_call_match"].value for s in log.samples}
    assert values == {item_id: verdict for item_id, (_, verdict) in SCRIPT.items()}
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(2 / 8)

    # the item's own converted schema reached the model, with tool choice auto ...
    for item in bfcl.items():
        [info] = seen_tools[item.id]
        assert info.name == item.tools[0]["name"]
        assert info.parameters.model_dump(exclude_none=True)["properties"] == item.tools[0]["parameters"]["properties"]
    # ... and no tool was executed: one generation per sample, no tool message in the log
    assert set(generations.values()) == {1}
    assert all([m.role for m in s.messages] == [m.role for m in s.input] + ["assistant"] for s in log.samples)

    samples = {s.id: s for s in log.samples}
    right = samples["exec_simple_3"].scores["tool_call_match"]
    assert right.metadata["expected"] == {
        "function": "book_meeting_room",
        "arguments": {"room": {"building": "North", "floor": 3}, "attendees": ["Ana", "Bo"], "start": [9, 30]},
    }
    assert right.metadata["calls"] == [{"function": "book_meeting_room",
                                        "arguments": {"room": {"floor": 3, "building": "North"}, "attendees": ["Ana", "Bo"], "start": [9, 30]}}]
    wrong = samples["exec_simple_1"].scores["tool_call_match"]
    assert wrong.answer == "convert_temperature(value='-12.5', from_unit='celsius', to_unit='kelvin')"
    assert "argument 'value' is '-12.5', expected -12.5" in wrong.explanation
    assert "Expected: convert_temperature(value=-12.5, from_unit='celsius', to_unit='kelvin')" in wrong.explanation
    none = samples["exec_simple_5"].scores["tool_call_match"]
    assert none.metadata["reason"] == "no tool call" and none.metadata["completion"] == "I would rather just chat."
    malformed = samples["exec_simple_7"].scores["tool_call_match"]
    assert malformed.metadata["calls"][0]["parse_error"] == "Expecting ',' delimiter"
    assert samples["exec_simple_4"].scores["tool_call_match"].metadata["reason"] == "2 tool calls, exactly one expected"
    assert samples["exec_simple_6"].scores["tool_call_match"].metadata["reason"] == "called 'gcd', expected 'gcd_of_pair'"


def test_the_attached_tools_are_never_run(bfcl):
    tool = bfcl.tool_def(bfcl.items()[0].tools[0]).as_tool()
    import asyncio

    with pytest.raises(RuntimeError, match="was executed, but bfcl only scores the call"):
        asyncio.run(tool(principal=1, annual_rate=1.0, years=1))


# --------------------------------------------------------------------------- the contract


def test_test_texts_hold_each_question_and_its_ground_truth(bfcl):
    texts = bfcl.test_texts()
    assert len(texts) == 8
    for text, record in zip(texts, _records(), strict=True):
        assert all(m["content"] in text for m in record["question"][0])
        assert record["ground_truth"][0] in text


def test_no_agent_context_files(bfcl, tmp_path):
    assert bfcl.write_agent_context(tmp_path) == []
    assert not any(tmp_path.iterdir())


def test_data_declares_the_one_file_it_reads(bfcl):
    [source] = bfcl.DATA
    assert source.repo_id == "gorilla-llm/Berkeley-Function-Calling-Leaderboard"
    assert source.files == ("BFCL_v3_exec_simple.json",)


def test_missing_data_is_a_clear_data_unavailable_error(bfcl, empty_data_caches):
    with pytest.raises(DataUnavailable, match="gorilla-llm/Berkeley-Function-Calling-Leaderboard is not in the HF cache.*HF_HUB_OFFLINE=1"):
        bfcl.bfcl(split="test")


# --------------------------------------------------------------------------- through the real pool


@pytest.mark.slow
def test_bfcl_limit_smoke_through_the_pool_renders_the_tools_into_the_prompt(bfcl, eval_pool, tiny_model_dir, tmp_path):
    from eval_smoke import TINY, compose_task, smoke_evaluate
    from inspect_ai.log import read_eval_log
    from transformers import AutoTokenizer

    from ptb.chat_templates import harness_template

    task = compose_task("bfcl")
    assert task.tools
    metrics = smoke_evaluate(eval_pool, task, tiny_model_dir, tmp_path / "eval", limit=3)
    assert metrics.score is not None and metrics.samples == 3, metrics
    [log_file] = (tmp_path / "eval").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert [s.id for s in log.samples] == IDS[:3]

    # What inspect sent: the item's converted schema as the request's tools, tool choice auto.
    requests = [next(e for e in sample.events if e.event == "model").call.request for sample in log.samples]
    for request, item in zip(requests, bfcl.items(), strict=False):
        [sent] = request["tools"]
        assert sent["type"] == "function" and sent["function"]["name"] == item.tools[0]["name"]
        assert sent["function"]["parameters"] == item.tools[0]["parameters"]  # exactly the converted schema
        assert request.get("tool_choice", "auto") == "auto"

    # The server's prompt_tokens (inspect's input_tokens) equal the length of the harness template
    # rendered with the request's tools, far more than the messages alone: the schema was in the prompt.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    template = harness_template(TINY, task).read_text()
    def length(request: dict, **extra) -> int:
        text = tokenizer.apply_chat_template(request["messages"], chat_template=template, add_generation_prompt=True,
                                             tokenize=False, **extra)
        return len(tokenizer.encode(text, add_special_tokens=False))

    for sample, request in zip(log.samples, requests, strict=True):
        [usage] = sample.model_usage.values()
        assert usage.input_tokens == length(request, tools=request["tools"]) > length(request) + 300, sample.id
