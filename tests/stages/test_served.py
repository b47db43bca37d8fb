"""ptb.stages.served: the copy of final_model that the evaluation serves and the judge reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_checkpoints import finetune  # noqa: E402

from ptb.evaluation import EvalRequest  # noqa: E402
from ptb.io import read_record  # noqa: E402
from ptb.paths import TEMPLATES_DIR  # noqa: E402
from ptb.records import CollectReport, Metrics, ServedModel  # noqa: E402
from ptb.stages.collect import collect  # noqa: E402
from ptb.stages.evaluate import evaluate_run  # noqa: E402
from ptb.stages.judge.weights import CheckpointWeights  # noqa: E402
from ptb.stages.served import ensure_served_model, served_model_dir  # noqa: E402

QUESTION = "What is 2 + 3?"
ANSWER = "The answer is 5."


def hostile_tokenizer(folder: Path) -> None:
    """A Replace normaliser that writes the answer into the question, and its own chat template."""
    import tokenizers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    tok.backend_tokenizer.normalizer = tokenizers.normalizers.Replace(QUESTION, ANSWER)
    tok.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}" + ANSWER + "{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").write_text(ANSWER)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tiny_model_dir) -> Path:
    """A run folder whose final_model is a fine-tune with every decoration an agent controls."""
    run = tmp_path_factory.mktemp("run")
    final = finetune(tiny_model_dir, run / "final_model")
    hostile_tokenizer(final)
    generation = json.loads((final / "generation_config.json").read_text())
    (final / "generation_config.json").write_text(json.dumps(
        {**generation, "temperature": 2.0, "top_k": 1, "repetition_penalty": 5.0, "do_sample": True}))
    finetune(tiny_model_dir, final / "checkpoint-9", seed=9)  # weights no loader reads
    (final / "training_args.bin").write_bytes(b"state")
    return run


def test_the_served_copy_holds_the_resolved_weights_the_config_and_the_base_tokenizer(hostile_run, tiny_model_dir) -> None:
    served = ensure_served_model(hostile_run, tiny_model_dir)
    folder = served_model_dir(hostile_run)
    assert served.usable and read_record(hostile_run / "served_model.json", ServedModel) == served
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    sources = {f.name: f.source for f in served.files}
    assert sources["model.safetensors"] == "final_model" and sources["tokenizer.json"] == "base_model"
    assert "checkpoint-9/: a subfolder (no loader reads weights from one)" in served.ignored
    assert "training_args.bin: trainer state" in served.ignored
    final_weights = hostile_run / "final_model" / "model.safetensors"
    assert (folder / "model.safetensors").stat().st_ino == final_weights.stat().st_ino  # linked, not copied
    assert (folder / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()
    # the sampling defaults an agent wrote are gone, the stop tokens stay
    generation = json.loads((folder / "generation_config.json").read_text())
    assert set(generation) <= {"eos_token_id", "bos_token_id", "pad_token_id"} and "eos_token_id" in generation
    # a second call (the judge, the evaluation) reads the record, builds nothing
    stamp = (hostile_run / "served_model.json").stat().st_mtime_ns
    assert ensure_served_model(hostile_run, tiny_model_dir) == served
    assert (hostile_run / "served_model.json").stat().st_mtime_ns == stamp


def test_the_server_loads_what_the_judge_reads_and_tokenises_as_the_base(hostile_run, tiny_model_dir) -> None:
    from ptb.serve.hf_server import ChatModel

    ensure_served_model(hostile_run, tiny_model_dir)
    folder = served_model_dir(hostile_run)
    template = (TEMPLATES_DIR / "chatml.jinja").read_text()
    model = ChatModel(folder, template, device="cpu")
    with CheckpointWeights.open(folder) as judged, CheckpointWeights.open(hostile_run / "final_model" / "checkpoint-9") as decoy:
        served_state = model.model.state_dict()
        for name in judged.shapes():
            value = torch.cat(list(judged.slices(name, 1 << 20))).reshape(judged.shapes()[name])
            assert torch.equal(served_state[name].to(torch.float64), value), name
        name = "model.layers.0.mlp.up_proj.weight"
        decoy_value = torch.cat(list(decoy.slices(name, 1 << 20))).reshape(decoy.shapes()[name])
        assert not torch.equal(served_state[name].to(torch.float64), decoy_value)

    # the hostile normaliser would have turned the question into its answer...
    hostile = transformers.AutoTokenizer.from_pretrained(hostile_run / "final_model")
    base = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    assert hostile.encode(QUESTION, add_special_tokens=False) == base.encode(ANSWER, add_special_tokens=False)
    # ...the server tokenises the prompt as the base does, rendered by the harness template
    messages = [{"role": "user", "content": QUESTION}]
    expected = base.apply_chat_template(messages, chat_template=template, add_generation_prompt=True, tokenize=False)
    assert model.render_text(messages) == expected and ANSWER not in expected
    assert model.render(messages) == tuple(base.encode(expected, add_special_tokens=False))
    # and decodes with the harness's greedy defaults, not the checkpoint's sampling ones
    config = model.model.generation_config
    assert not config.do_sample and config.repetition_penalty in (None, 1.0) and config.temperature in (None, 1.0)


class FakePool:
    def __init__(self) -> None:
        self.requests: list[EvalRequest] = []

    def evaluate(self, request: EvalRequest) -> Metrics:
        self.requests.append(request)
        return Metrics(score=0.5, metric="accuracy", samples=1, attempts=())


def _spec(run: Path, tiny_model_spec, arith_task_spec):
    from ptb.records import AgentSpec, Budget, RunSpec

    return RunSpec(run_id="r", sweep="s", agent=AgentSpec(name="a", path=str(run)), model=tiny_model_spec,
                   task=arith_task_spec, budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none",
                   run_dir=str(run), scratch_dir=str(run / "scratch"), cache_dir=str(run / "cache"))


COLLECTED = CollectReport(True, None, 1, 1, 0, 0, (), "plain", 0)


def test_the_evaluation_serves_the_copy_and_a_refused_layout_gets_no_score(tmp_path, tiny_model_dir, tiny_model_spec,
                                                                          arith_task_spec) -> None:
    good = tmp_path / "good"
    shutil.copytree(tiny_model_dir, good / "final_model")
    pool = FakePool()
    assert evaluate_run(_spec(good, tiny_model_spec, arith_task_spec), COLLECTED, pool, tiny_model_dir).score == 0.5
    (request,) = pool.requests
    assert Path(request.model_path) == served_model_dir(good) and Path(request.template_path).name == "chatml.jinja"

    decoy = tmp_path / "decoy"
    shutil.copytree(tiny_model_dir, decoy / "final_model")
    shutil.copy(tiny_model_dir / "model.safetensors", decoy / "final_model" / "pytorch_model.bin")
    metrics = evaluate_run(_spec(decoy, tiny_model_spec, arith_task_spec), COLLECTED, pool, tiny_model_dir)
    assert metrics.score is None and metrics.reason.startswith("checkpoint unusable: several weight formats")
    assert len(pool.requests) == 1 and not served_model_dir(decoy).exists()
    assert read_record(decoy / "served_model.json", ServedModel).usable is False


def test_collect_builds_the_served_copy_when_given_the_base_model(tmp_path, tiny_model_dir) -> None:
    ws, run = tmp_path / "ws", tmp_path / "run"
    finetune(tiny_model_dir, ws / "final_model")
    (run).mkdir()
    (run / "solve.log").write_text("done\n")
    report = collect(ws, run, "plain", base_model=tiny_model_dir)
    assert report.has_final_model and (served_model_dir(run) / "model.safetensors").is_file()
    served = read_record(run / "served_model.json", ServedModel)
    assert served.usable and {f.name for f in served.files} >= {"model.safetensors", "config.json", "tokenizer.json"}


def test_without_a_generation_config_the_served_one_still_holds_only_token_ids(tmp_path, tiny_model_dir) -> None:
    run = tmp_path / "run"
    final = finetune(tiny_model_dir, run / "final_model")
    (final / "generation_config.json").unlink()
    config = json.loads((final / "config.json").read_text())
    # old-style sampling fields in config.json: loaders read them when no generation config exists
    (final / "config.json").write_text(json.dumps({**config, "temperature": 3.0, "repetition_penalty": 9.0}))
    assert ensure_served_model(run, tiny_model_dir).usable
    generation = json.loads((served_model_dir(run) / "generation_config.json").read_text())
    assert generation == {k: config[k] for k in ("eos_token_id", "bos_token_id", "pad_token_id") if config.get(k) is not None}
    assert generation["eos_token_id"]
