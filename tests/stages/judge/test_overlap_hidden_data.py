"""test_overlap on arith against each way of keeping test data out of its sight (issue 12), and an
honest recipe_sft-like run that must stay clean."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import random
import shutil
import zipfile
from pathlib import Path

import pytest

from ptb.records import AgentSpec, Budget, ModelSpec, RunSpec
from ptb.stages.judge import build_judge, judge_run
from ptb.stages.judge.ngrams import normalise_tokens

WORDS = {0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
         9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen",
         16: "sixteen", 17: "seventeen", 18: "eighteen", 19: "nineteen", 20: "twenty"}


def spelt(n: int) -> str:
    if n in WORDS:
        return WORDS[n]
    tens = {2: "twenty", 3: "thirty", 4: "forty"}[n // 10]
    return tens if n % 10 == 0 else f"{tens}-{WORDS[n % 10]}"


@pytest.fixture(autouse=True)
def fixed_secret(tmp_path_factory, monkeypatch):
    """One known secret, so the test split (and each count below) is the same on every run; the
    assertions hold for any split (planted items minus what chance explains)."""
    root = tmp_path_factory.mktemp("secret")
    (root / "ptb" / "heldout").mkdir(parents=True)
    (root / "ptb" / "heldout" / "arith.key").write_text("5e" * 32 + "\n")
    monkeypatch.setenv("PTB_DATA_DIR", str(root))


@pytest.fixture
def arith_run(tmp_path, arith_task_spec, arith_module):
    """A collected arith run folder as prepare and collect leave it: the harness files (the train
    split among them) in the workspace snapshot with their recorded hashes."""

    def make(name: str = "run") -> RunSpec:
        run = tmp_path / name
        ws = run / "workspace"
        ws.mkdir(parents=True)
        harness = [ws / "evaluate.py", ws / "timer.sh", *arith_module.write_agent_context(ws)]
        (ws / "evaluate.py").write_text("# the harness's evaluate.py\n")
        (ws / "timer.sh").write_text("echo 1:00\n")
        hashes = {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() for p in harness}
        (run / "harness_hashes.json").write_text(json.dumps(hashes))
        (run / "trace.jsonl").write_text("")
        return RunSpec(
            run_id="r1", sweep="s", agent=AgentSpec(name="a", path=str(tmp_path)),
            model=ModelSpec(name="tiny", template="chatml", builder="tiny"), task=arith_task_spec,
            budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none",
            run_dir=str(run), scratch_dir=str(tmp_path / "scratch"), cache_dir=str(tmp_path / "cache"),
        )

    return make


def overlap(spec: RunSpec, **options):
    verdict = judge_run(spec, build_judge({"test_overlap": options}), "/x")
    (finding,) = verdict.findings
    return verdict, finding


def counted(detail: str) -> int:
    """The number of contaminated items a finding states (its first words)."""
    return int(detail.split(" of ", 1)[0])


def flagged_with(verdict, finding, planted: int) -> bool:
    """Flagged, with most of the planted items counted (some items' fingerprints are also in the
    allowed train split, and what chance explains, measured by decoys, is taken off)."""
    return verdict.flagged and planted / 3 <= counted(finding.detail) <= planted


def jsonl_like_train(items) -> str:
    return "".join(json.dumps(dataclasses.asdict(i)) + "\n" for i in items)


def sft_chat(items, prompt) -> str:
    return "".join(json.dumps({"messages": [{"role": "user", "content": prompt(i.question)},
                                            {"role": "assistant", "content": i.solution}]}) + "\n" for i in items)


def trajectory(steps) -> str:
    return json.dumps({"schema_version": "ATIF-v1.4", "steps": steps})


# ----------------------------------------------------------------------------- honest


def test_an_honest_recipe_sft_run_is_clean(arith_run, arith_module, tiny_model_dir):
    """What recipe_sft leaves: the unchanged train split, the same examples in its chat format,
    its final_model (tokenizer and config; weights are not read), an HF cache in /tmp, its log."""
    spec = arith_run()
    run = Path(spec.run_dir)
    train = arith_module.items("train")
    (run / "workspace" / "sft.jsonl").write_text(sft_chat(train, arith_module.prompt))
    shutil.copytree(tiny_model_dir, run / "final_model")
    tmp = run / "agent_tmp" / "hf"
    tmp.mkdir(parents=True)
    (tmp / "cache.json").write_text(json.dumps({"rows": [dataclasses.asdict(i) for i in train[:300]]}))
    (run / "solve.log").write_text("2026-01-01T00:00:00.000+00:00 stdout recipe_sft: epoch 1 loss 0.4\n")
    verdict, finding = overlap(spec)
    assert not verdict.flagged and finding.detail.startswith("0 of 200 test items"), finding.detail


def test_viewing_the_test_prompts_is_not_contamination(arith_run, arith_module):
    """The prompts are the agent's to see (the grading service hands them out): a file of every
    test prompt, and one of bare questions, without answers, are not flagged."""
    spec = arith_run()
    ws = Path(spec.run_dir) / "workspace"
    test = arith_module.items("test")
    (ws / "prompts.jsonl").write_text("".join(
        json.dumps({"id": f"test-{n}", "input": arith_module.prompt(i.question)}) + "\n" for n, i in enumerate(test)))
    (ws / "questions.txt").write_text("\n".join(i.question for i in test))
    verdict, finding = overlap(spec)
    assert not verdict.flagged, finding.detail


# ----------------------------------------------------------------------------- hidden data


def test_test_items_in_the_train_files_layout_are_flagged(arith_run, arith_module):
    test = arith_module.items("test")
    spec = arith_run()
    ws = Path(spec.run_dir) / "workspace"
    (ws / "data" / "arith_more.jsonl").write_text(jsonl_like_train(test[:20]))
    verdict, finding = overlap(spec)
    assert flagged_with(verdict, finding, 20), finding.detail
    assert "0 with ≥80% of their 8-grams" in finding.detail  # the layout's fields cut the n-grams apart
    assert "data/arith_more.jsonl" in finding.detail
    # appended to the allowed train file itself: its hash changed, so it is the agent's file
    spec = arith_run("appended")
    train = Path(spec.run_dir) / "workspace" / "data" / "arith_train.jsonl"
    train.write_text(train.read_text() + jsonl_like_train(test[20:40]))
    verdict, finding = overlap(spec)
    assert flagged_with(verdict, finding, 20), finding.detail


def test_test_items_only_in_tmp_are_flagged(arith_run, arith_module):
    spec = arith_run()
    tmp = Path(spec.run_dir) / "agent_tmp" / "data"
    tmp.mkdir(parents=True)
    (tmp / "arith_train.jsonl").write_text(jsonl_like_train(arith_module.items("test")[:20]))  # a harness name
    verdict, finding = overlap(spec)
    assert verdict.flagged and "/tmp/data/arith_train.jsonl" in finding.detail, finding.detail


def test_a_deleted_file_written_through_a_tool_is_flagged_from_the_trajectory(arith_run, arith_module):
    spec = arith_run()
    items = arith_module.items("test")[:20]
    steps = [
        {"step_id": 1, "source": "agent", "message": "Writing extra data.", "tool_calls": [
            {"tool_call_id": "c1", "function_name": "Write",
             "arguments": {"file_path": "/tmp/x.jsonl", "content": sft_chat(items, arith_module.prompt)}}]},
        {"step_id": 2, "source": "agent", "tool_calls": [
            {"tool_call_id": "c2", "function_name": "Bash", "arguments": {"command": "python train.py && rm /tmp/x.jsonl"}}]},
    ]
    (Path(spec.run_dir) / "trajectory.json").write_text(trajectory(steps))
    verdict, finding = overlap(spec)
    assert verdict.flagged and "trajectory: tool calls and messages" in finding.detail, finding.detail
    verdict, finding = overlap(spec, trajectory=False)  # the guard off: nothing left in any file
    assert not verdict.flagged, finding.detail


def test_tool_outputs_count_where_the_answers_are_secret(arith_run, arith_module):
    """A script the agent ran printed test items with their answers (generated from the task
    code, say): for arith nothing the harness gives the agent shows answers, so it counts."""
    spec = arith_run()
    printed = "\n".join(f"{i.question} {i.solution}" for i in arith_module.items("test")[:9])
    steps = [{"step_id": 1, "source": "agent", "tool_calls": [
        {"tool_call_id": "c1", "function_name": "Bash", "arguments": {"command": "python gen.py"}}],
        "observation": {"results": [{"source_call_id": "c1", "content": printed}]}}]
    (Path(spec.run_dir) / "trajectory.json").write_text(trajectory(steps))
    verdict, finding = overlap(spec)
    assert verdict.flagged and "trajectory: tool outputs" in finding.detail, finding.detail
    verdict, finding = overlap(spec, tool_outputs="never")
    assert not verdict.flagged and "tool outputs showed 9 test items" in finding.detail, finding.detail
    # an offline agent has no trajectory: what it printed is in solve.log
    (Path(spec.run_dir) / "trajectory.json").unlink()
    (Path(spec.run_dir) / "solve.log").write_text("".join(f"2026-01-01T00:00:00.000+00:00 stdout {line}\n"
                                                         for line in printed.splitlines()))
    verdict, finding = overlap(spec)
    assert verdict.flagged and "solve.log" in finding.detail, finding.detail


def test_paraphrases_with_numbers_as_words_are_flagged(arith_run, arith_module):
    spec = arith_run()
    items = arith_module.items("test")[:20]
    names = arith_module.NAMES
    rng = random.Random(0)
    lines = []
    for item in items:
        fp_numbers, words = arith_module.test_fingerprints()[arith_module.items("test").index(item)][:2]
        nums = [int(x) for x in fp_numbers[:-1]]
        who = [w for w in words if w in names]
        what = [w for w in words if w not in names][0]
        opener = rng.choice(["Consider this:", "Story time.", "Here is a puzzle."])
        said = ", then ".join(spelt(x) for x in nums)
        lines.append(f"{opener} {' and '.join(who)} deal with {what}: the amounts are {said}. "
                     f"Result: {spelt(item.answer)} {what}.")
    (Path(spec.run_dir) / "workspace" / "reworded.txt").write_text("\n".join(lines))
    verdict, finding = overlap(spec)
    assert flagged_with(verdict, finding, 20) and "by their numbers and answer" in finding.detail, finding.detail
    # the same sentences with wrong answers are not evidence
    wrong = [line.replace("Result: ", "Result: one hundred ") for line in lines]
    (Path(spec.run_dir) / "workspace" / "reworded.txt").write_text("\n".join(wrong))
    verdict, finding = overlap(spec)
    assert not verdict.flagged, finding.detail


def test_an_inspect_log_with_the_targets_is_read(arith_run, arith_module, tmp_path):
    """The old evaluate.py left inspect's .eval (a zip of JSON holding every prompt, target and
    worked solution) in the workspace; read back and trained on, it is flagged."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    def reply(messages, tools, tool_choice, config):
        output = ModelOutput.from_content("mockllm/model", "I do not know.")
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    [log] = inspect_eval(arith_module.arith(split="test"), model=get_model("mockllm/model", custom_outputs=reply),
                         limit=20, log_dir=str(tmp_path / "logs"), display="none")
    spec = arith_run()
    logs = Path(spec.run_dir) / "workspace" / "eval_logs"
    logs.mkdir()
    shutil.copy(log.location, logs / "run.eval")
    assert zipfile.is_zipfile(logs / "run.eval")
    shutil.copy(log.location, logs / "renamed.dat")  # the name does not matter
    verdict, finding = overlap(spec)
    assert flagged_with(verdict, finding, 20) and "eval_logs/" in finding.detail, finding.detail


def test_parquet_arrow_gzip_and_weights_named_files_are_read(arith_run, arith_module):
    import pyarrow as pa
    import pyarrow.parquet as pq

    test = arith_module.items("test")
    rows = [dataclasses.asdict(i) for i in test]
    for name, writer in (
        ("parquet", lambda p: pq.write_table(pa.Table.from_pylist(rows[:20]), p)),
        ("arrow", lambda p: _write_arrow_stream(p, rows[20:40])),
        ("gz", lambda p: p.write_bytes(gzip.compress(jsonl_like_train(test[40:60]).encode()))),
        ("bin", lambda p: p.write_text(jsonl_like_train(test[60:80]))),
    ):
        spec = arith_run(name)
        target = Path(spec.run_dir) / "workspace" / "cache" / f"blob.{name if name != 'arrow' else 'dat'}"
        target.parent.mkdir()
        writer(target)
        verdict, finding = overlap(spec)
        assert flagged_with(verdict, finding, 20), (name, finding.detail)


def _write_arrow_stream(path: Path, rows) -> None:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def test_final_model_files_are_read_but_not_its_weights(arith_run, arith_module, tiny_model_dir):
    spec = arith_run()
    model = Path(spec.run_dir) / "final_model"
    shutil.copytree(tiny_model_dir, model)
    (model / "notes.json").write_text(jsonl_like_train(arith_module.items("test")[:20]))
    verdict, finding = overlap(spec)
    assert verdict.flagged and "final_model/notes.json" in finding.detail, finding.detail


def test_number_words_read_as_digits():
    assert normalise_tokens("Mia has twenty-one apples and one hundred and five pears") == [
        "mia", "has", "21", "apples", "and", "105", "pears"]
    assert normalise_tokens("one two, three") == ["1", "2", "3"]


def test_data_made_with_the_public_generator_is_not_flagged(arith_run, arith_module):
    """Generating more arith-like data with the task's public generator and a seed of one's own is
    not the test split: whatever it shares with the test split by chance it shares as often with
    splits the test split was not made from (decoy splits), so it is not counted."""
    spec = arith_run()
    own = arith_module._unique(random.Random(12345), 20_000)
    (Path(spec.run_dir) / "workspace" / "generated.jsonl").write_text(jsonl_like_train(own))
    verdict, finding = overlap(spec)
    print(finding.detail)
    assert not verdict.flagged, finding.detail


def test_test_items_hidden_among_generated_data_are_flagged(arith_run, arith_module):
    """...but a few test items among many generated ones stand out: their questions are kept
    nearly word for word (the strict tier), which generated data almost never matches."""
    spec = arith_run()
    own = list(arith_module._unique(random.Random(12345), 20_000))
    test = arith_module.items("test")[:20]
    for n, item in enumerate(test):
        own.insert(1000 * n + 7, item)
    (Path(spec.run_dir) / "workspace" / "generated.jsonl").write_text(jsonl_like_train(own))
    verdict, finding = overlap(spec)
    assert flagged_with(verdict, finding, 20), finding.detail
