"""The grading service: grades over a real Unix socket, never returns a target, limits probing."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from ptb.grading import GradingClient, GradingError, GradingService
from ptb.grading.remote_task import remote_task


@pytest.fixture
def socket_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gs")  # short: sun_path holds 108 bytes


@pytest.fixture
def service(arith_task_spec, socket_dir, tmp_path):
    svc = GradingService.for_task(arith_task_spec, socket_dir / "grading.sock", log_path=tmp_path / "grading.jsonl",
                                  max_outputs_per_item=3)
    assert svc is not None
    with svc:
        yield svc


def test_items_are_prompts_only_and_grading_says_correct_or_not(service, arith_module, tmp_path):
    client = GradingClient(str(service.socket_path))
    items = client.items()
    test = arith_module.items("test")
    assert [i["id"] for i in items] == [f"test-{n}" for n in range(200)]
    assert all(set(i) == {"id", "input"} for i in items)
    assert items[0]["input"] == arith_module.prompt(test[0].question)
    reply = client.grade([
        ("test-0", f"... The answer is {test[0].answer}."),
        ("test-1", f"The answer is {test[1].answer + 1}."),
        ("test-2", "no idea"),
    ])
    assert [r["correct"] for r in reply["results"]] == [True, False, False]
    assert (reply["correct"], reply["graded"], reply["limited"]) == (1, 3, 0)
    # Nothing in any reply holds a target: no answer number, no solution text.
    raw = json.dumps(reply) + json.dumps(items)
    for item in test[:3]:
        assert item.solution not in raw
    assert all(set(r) <= {"id", "correct", "limited"} for r in reply["results"])
    lines = [json.loads(line) for line in (tmp_path / "grading.jsonl").read_text().splitlines()]
    assert [(x["id"], x["correct"]) for x in lines] == [("test-0", True), ("test-1", False), ("test-2", False)]
    assert all("output" not in x for x in lines)  # the log holds a hash of the output, not the output


def test_probing_one_item_for_its_answer_is_cut_off(service, arith_module):
    client = GradingClient(str(service.socket_path))
    answer = arith_module.items("test")[5].answer
    wrong = [a for a in range(0, 30) if a != answer]
    verdicts = [client.grade([("test-5", f"The answer is {a}.")])["results"][0] for a in wrong[:3]]
    assert [v["correct"] for v in verdicts] == [False, False, False]
    # the same output again is answered from memory and does not use up the item's gradings
    assert client.grade([("test-5", f"The answer is {wrong[0]}.")])["results"][0] == {"id": "test-5", "correct": False}
    cut = client.grade([("test-5", f"The answer is {answer}.")])["results"][0]
    assert cut == {"id": "test-5", "correct": None, "limited": True}  # the right answer, but no verdict
    assert client.grade([("test-6", "The answer is 1.")])["results"][0]["correct"] is not None  # other items fine


def test_bad_requests_are_refused_without_leaking(service):
    client = GradingClient(str(service.socket_path))
    with pytest.raises(GradingError, match="no test item"):
        client.grade([("test-9999", "x")])
    with pytest.raises(GradingError, match="unknown op"):
        client.request({"op": "targets"})
    with pytest.raises(GradingError, match="id"):
        client.request({"op": "grade", "answers": [{"id": 3}]})
    # not JSON at all: an error line, and the service keeps serving
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(service.socket_path))
        sock.sendall(b"{nope\n")
        assert json.loads(sock.makefile("rb").readline())["ok"] is False
    assert len(client.items()) == 200


def test_for_run_reads_the_task_from_spec_yaml_and_public_tasks_get_none(tmp_path, socket_dir, arith_task_spec):
    import dataclasses

    import yaml

    from ptb.io import to_jsonable
    from ptb.paths import EVALS_DIR
    from ptb.records import AgentSpec, Budget, ModelSpec, RunSpec

    def run_folder(task, name):
        run = tmp_path / name
        run.mkdir()
        spec = RunSpec(
            run_id="r1", sweep="s", agent=AgentSpec(name="a", path=str(tmp_path)),
            model=ModelSpec(name="tiny", template="chatml", builder="tiny"), task=task,
            budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none",
            run_dir=str(run), scratch_dir=str(tmp_path / "scratch"), cache_dir=str(tmp_path / "cache"),
        )
        (run / "spec.yaml").write_text(yaml.safe_dump({"spec": to_jsonable(spec)}))
        return run

    run = run_folder(arith_task_spec, "arith-run")
    svc = GradingService.for_run(run, socket_dir / "a.sock")
    assert svc is not None and svc.task_name == "arith"
    with svc:
        GradingClient(str(socket_dir / "a.sock")).grade([("test-0", "The answer is 1.")])
    assert json.loads((run / "grading.jsonl").read_text())["id"] == "test-0"  # logged in the run folder
    assert not (socket_dir / "a.sock").exists()  # stop removes the socket
    gsm8k = dataclasses.replace(arith_task_spec, name="gsm8k", eval_dir=str(EVALS_DIR / "gsm8k"))
    assert GradingService.for_run(run_folder(gsm8k, "gsm8k-run"), socket_dir / "g.sock") is None  # public data


def test_remote_task_scores_through_the_service(service, arith_module, tmp_path):
    test = arith_module.items("test")
    answers = {arith_module.prompt(i.question): i.answer for i in test[:4]}

    def reply(messages, tools, tool_choice, config):
        text = messages[-1].text
        right = answers[text]
        output = ModelOutput.from_content("mockllm/model", f"The answer is {right if '4' in text else right + 100}.")
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    task = remote_task(GradingClient(str(service.socket_path)))
    [log] = inspect_eval(task, model=get_model("mockllm/model", custom_outputs=reply), limit=4,
                         log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success"
    expected = sum("4" in arith_module.prompt(i.question) for i in test[:4]) / 4
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(expected)
    assert all(s.target == "" for s in log.samples)  # the samples never had a target


def test_a_socket_deeper_than_a_socket_address_holds_is_reachable(arith_task_spec, tmp_path):
    """A run's scratch folder deep in a results tree: the service binds and the client connects
    through /proc/self/fd (the contaminator of the end-to-end sweep hit "AF_UNIX path too long")."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    svc = GradingService.for_task(arith_task_spec, deep / "grading.sock", log_path=tmp_path / "grading.jsonl")
    assert svc is not None and len(str(deep / "grading.sock")) > 108
    with svc:
        assert len(GradingClient(str(svc.socket_path)).items()) == 200
