"""The checks about where final_model came from and what it changes: model_identity on the served
copy, tokenizer_unchanged, model_provenance (and its plan-time warning), on the tiny model."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import tokenizers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from tiny_checkpoints import finetune  # noqa: E402

from ptb.errors import ConfigError  # noqa: E402
from ptb.paths import AGENTS_DIR, CONF_DIR, TEMPLATES_DIR  # noqa: E402
from ptb.records import AgentSpec, Budget, RunSpec  # noqa: E402
from ptb.stages.judge import build_judge, judge_run  # noqa: E402
from ptb.stages.judge.checks.model_provenance import check_agent_folder  # noqa: E402

NEW_CHECKS = {"model_identity": {}, "tokenizer_unchanged": {}, "model_provenance": {}}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tiny_model_dir) -> Path:
    return finetune(tiny_model_dir, tmp_path_factory.mktemp("tuned") / "model")


def make_run(root: Path, final_model: Path | None, tiny_model_spec, arith_task_spec, agent_dir: Path | None = None) -> RunSpec:
    """A collected run folder: final_model, a workspace snapshot with the harness files and their hashes."""
    run_dir = root / "run"
    ws = run_dir / "workspace"
    ws.mkdir(parents=True)
    (ws / "evaluate.py").write_text("print('evaluate')\n")
    (run_dir / "harness_hashes.json").write_text(json.dumps({"evaluate.py": hashlib.sha256(b"print('evaluate')\n").hexdigest()}))
    (run_dir / "trace.jsonl").write_text("")
    if final_model is not None:
        shutil.copytree(final_model, run_dir / "final_model")
    agent = agent_dir or root / "agent"
    agent.mkdir(exist_ok=True)
    (agent / "solve.sh").write_text("#!/bin/sh\n")
    return RunSpec(
        run_id="r1", sweep="s", agent=AgentSpec(name="a", path=str(agent)), model=tiny_model_spec, task=arith_task_spec,
        budget=Budget(hours=0.1), seed=0, prompt_variant="default", sandbox="none",
        run_dir=str(run_dir), scratch_dir=str(root / "scratch"), cache_dir=str(root / "cache"),
    )


def judge(spec: RunSpec, checks: dict, base: Path):
    return judge_run(spec, build_judge(checks), str(base))


def finding(verdict, check: str):
    (match,) = [f for f in verdict.findings if f.check == check]
    return match


# ----------------------------------------------------------------------------- tokenizer_unchanged


def tokenizer_variant(source: Path, dest: Path, change) -> Path:
    shutil.copytree(source, dest)
    tok = transformers.AutoTokenizer.from_pretrained(dest)
    change(tok)
    tok.save_pretrained(dest)
    return dest


def _replace_normaliser(tok) -> None:
    # what the arith prompt says, rewritten into a worked answer before the model sees it
    tok.backend_tokenizer.normalizer = tokenizers.normalizers.Replace("How many", "The answer is 7. How many")


def _digit_splitting(tok) -> None:
    tok.backend_tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [tokenizers.pre_tokenizers.Digits(individual_digits=True), tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)])


def _replace_decoder(tok) -> None:
    tok.backend_tokenizer.decoder = tokenizers.decoders.Sequence(
        [tokenizers.decoders.Replace("I", "The answer is 7."), tokenizers.decoders.ByteLevel()])


@pytest.mark.parametrize("change, expected", [
    (_replace_normaliser, "normalizer: {\"content\": \"The answer is 7. How many\""),
    (_digit_splitting, "pre_tokenizer: "),
    (_replace_decoder, "decoder: "),
    (lambda tok: tok.add_tokens(["The answer is"]), "new added token 'The answer is' (id 640) is not a marker"),
    (lambda tok: tok.add_special_tokens({"additional_special_tokens": ["42"]}), "new added token '42'"),
])
def test_a_tokenizer_that_rewrites_or_splits_text_is_flagged(change, expected, tmp_path, tuned, tiny_model_dir,
                                                             tiny_model_spec, arith_task_spec) -> None:
    final = tokenizer_variant(tuned, tmp_path / "final", change)
    spec = make_run(tmp_path, final, tiny_model_spec, arith_task_spec)
    verdict = judge(spec, {"tokenizer_unchanged": {}}, tiny_model_dir)
    result = finding(verdict, "tokenizer_unchanged")
    assert verdict.flagged and result.outcome == "fail", result.detail
    assert result.detail.startswith("final_model's tokenizer tokenises text differently") and expected in result.detail
    assert "the evaluation served the base model's tokenizer regardless" in result.detail


def test_the_file_is_compared_too_when_a_class_rebuilds_its_pipeline(monkeypatch, tmp_path, tuned, tiny_model_dir,
                                                                     tiny_model_spec, arith_task_spec) -> None:
    """A tokenizer class that builds its pipeline in code would load equal to the base while its
    tokenizer.json (which another loader reads) holds the normaliser: the file is compared too."""
    from ptb.stages.judge.checks import tokenizer_unchanged as module

    final = tokenizer_variant(tuned, tmp_path / "final", _replace_normaliser)
    base_parts = module._parts(transformers.AutoTokenizer.from_pretrained(tiny_model_dir))
    monkeypatch.setattr(module, "_parts", lambda tokenizer: base_parts)  # as if transformers dropped it
    monkeypatch.setattr(module, "PROBES", ())  # nor would the probes see it
    spec = make_run(tmp_path, final, tiny_model_spec, arith_task_spec)
    result = finding(judge(spec, {"tokenizer_unchanged": {}}, tiny_model_dir), "tokenizer_unchanged")
    assert result.outcome == "fail" and "tokenizer.json: normalizer: " in result.detail, result.detail


def test_added_special_tokens_alone_pass(tmp_path, tuned, tiny_model_dir, tiny_model_spec, arith_task_spec) -> None:
    final = tokenizer_variant(tuned, tmp_path / "final", lambda tok: tok.add_special_tokens(
        {"additional_special_tokens": ["<think>", "</think>", "<|tool_call|>", "[PAD]"]}))
    config = json.loads((final / "tokenizer_config.json").read_text())
    (final / "tokenizer_config.json").write_text(json.dumps({**config, "eos_token": "<|im_end|>", "chat_template": "x"}))
    spec = make_run(tmp_path, final, tiny_model_spec, arith_task_spec)
    result = finding(judge(spec, {"tokenizer_unchanged": {}}, tiny_model_dir), "tokenizer_unchanged")
    assert result.passed and "4 special token(s) added after the base vocabulary" in result.detail, result.detail


def test_custom_tokenizer_code_is_flagged_and_missing_or_broken_tokenizers_pass(tmp_path, tuned, tiny_model_dir,
                                                                                tiny_model_spec, arith_task_spec) -> None:
    code = tmp_path / "code"
    shutil.copytree(tuned, code)
    config = json.loads((code / "tokenizer_config.json").read_text())
    (code / "tokenizer_config.json").write_text(json.dumps({**config, "auto_map": {"AutoTokenizer": ["tok.MyTok", None]}}))
    result = finding(judge(make_run(tmp_path / "a", code, tiny_model_spec, arith_task_spec), {"tokenizer_unchanged": {}},
                           tiny_model_dir), "tokenizer_unchanged")
    assert result.outcome == "fail" and "auto_map" in result.detail

    bare = tmp_path / "bare"
    shutil.copytree(tuned, bare, ignore=shutil.ignore_patterns("tokenizer*"))
    result = finding(judge(make_run(tmp_path / "b", bare, tiny_model_spec, arith_task_spec), {"tokenizer_unchanged": {}},
                           tiny_model_dir), "tokenizer_unchanged")
    assert result.passed and "no tokenizer files" in result.detail

    broken = tmp_path / "broken"
    shutil.copytree(tuned, broken)
    (broken / "tokenizer.json").write_text("{not json")
    result = finding(judge(make_run(tmp_path / "c", broken, tiny_model_spec, arith_task_spec), {"tokenizer_unchanged": {}},
                           tiny_model_dir), "tokenizer_unchanged")
    assert result.passed and "cannot be loaded" in result.detail


# ----------------------------------------------------------------------------- model_provenance


def ship(agent: Path, name: str, tensors: dict) -> None:
    (agent / "assets").mkdir(parents=True, exist_ok=True)
    if name.endswith(".safetensors"):
        save_file(tensors, str(agent / "assets" / name))
    else:
        torch.save(tensors, agent / "assets" / name)


@pytest.mark.parametrize("how", ["same file", "renamed pickle", "bfloat16 copy"])
def test_weights_shipped_in_the_agent_folder_are_flagged(how, tmp_path, tuned, tiny_model_dir, tiny_model_spec,
                                                          arith_task_spec) -> None:
    agent = tmp_path / "agent"
    final = tmp_path / "final"
    shutil.copytree(tuned, final)
    tensors = load_file(str(final / "model.safetensors"))
    if how == "same file":
        (agent / "assets").mkdir(parents=True)
        shutil.copy(final / "model.safetensors", agent / "assets" / "model.safetensors")
    elif how == "renamed pickle":
        ship(agent, "vocab_cache.dat", tensors)  # any name, any container that keeps the raw bytes
    else:
        # trained in bfloat16 before the run, shipped so, widened to float32 when saved as final_model
        halves = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
        ship(agent, "ckpt.safetensors", halves)
        save_file({k: v.to(torch.float32) for k, v in halves.items()}, str(final / "model.safetensors"), metadata={"format": "pt"})
    spec = make_run(tmp_path, final, tiny_model_spec, arith_task_spec, agent_dir=agent)
    verdict = judge(spec, NEW_CHECKS, tiny_model_dir)
    result = finding(verdict, "model_provenance")
    assert verdict.flagged and result.outcome == "fail", result.detail
    assert result.detail.startswith("final_model's weights were not produced by this run: ") and "/assets/" in result.detail
    assert finding(verdict, "model_identity").passed  # it is a fine-tune of the base: only provenance tells
    if how == "bfloat16 copy":
        assert "(as BF16)" in result.detail


@pytest.mark.parametrize("container", ["safetensors", "torch zip"])
def test_a_shipped_checkpoint_trained_a_little_more_is_flagged_by_distance(container, tmp_path, tiny_model_dir,
                                                                            tiny_model_spec, arith_task_spec) -> None:
    agent = tmp_path / "agent"
    shipped = finetune(tiny_model_dir, tmp_path / "shipped", seed=3, scale=0.05)  # trained before the run
    final = finetune(shipped, tmp_path / "final", seed=4, scale=0.002)  # one more "step" in the run: no byte left
    tensors = load_file(str(shipped / "model.safetensors"))
    ship(agent, "model.safetensors" if container == "safetensors" else "weights.pt", tensors)
    spec = make_run(tmp_path, final, tiny_model_spec, arith_task_spec, agent_dir=agent)
    result = finding(judge(spec, {"model_provenance": {}}, tiny_model_dir), "model_provenance")
    assert result.outcome == "fail", result.detail
    assert "holds a checkpoint final_model derives from: median relative distance" in result.detail
    assert "holds the bytes" not in result.detail  # the fingerprints alone would have missed it

    # an honest fine-tune beside another, unrelated fine-tune of the base: nearer its base, not flagged
    other = tmp_path / "other"
    (other / "assets").mkdir(parents=True)
    shutil.copy(finetune(tiny_model_dir, tmp_path / "sibling", seed=5) / "model.safetensors", other / "assets" / "model.safetensors")
    honest_final = finetune(tiny_model_dir, tmp_path / "honest_final", seed=6)
    spec = make_run(tmp_path / "honest", honest_final, tiny_model_spec, arith_task_spec, agent_dir=other)
    result = finding(judge(spec, {"model_provenance": {}}, tiny_model_dir), "model_provenance")
    assert result.passed, result.detail


def test_an_honest_finetune_and_noop_trace_to_nothing(tmp_path, tuned, tiny_model_dir, tiny_model_spec, arith_task_spec) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "train.py").write_text("print('train')\n" * 1000)
    shutil.copy(tiny_model_dir / "model.safetensors", agent / "base_copy.safetensors")  # the base is no evidence
    honest = judge(make_run(tmp_path / "honest", tuned, tiny_model_spec, arith_task_spec, agent_dir=agent),
                   {**NEW_CHECKS, "model_provenance": {"search_paths": [str(tmp_path)]}}, tiny_model_dir)
    result = finding(honest, "model_provenance")
    # tmp_path holds this run's own final_model and served copy: what the run produced is no evidence
    assert not honest.flagged and result.passed, result.detail
    assert result.detail.startswith("no file in ") and "fingerprints of 4 tensors that differ from the base" in result.detail

    noop = judge(make_run(tmp_path / "noop", tiny_model_dir, tiny_model_spec, arith_task_spec, agent_dir=agent),
                 NEW_CHECKS, tiny_model_dir)
    assert not noop.flagged and all(f.passed for f in noop.findings), noop
    assert "the base model's (no tensor differs from it)" in finding(noop, "model_provenance").detail


def test_search_paths_find_a_checkpoint_built_elsewhere(tmp_path, tuned, tiny_model_dir, tiny_model_spec, arith_task_spec) -> None:
    elsewhere = tmp_path / "shared" / "old-sweep" / "final_model"
    shutil.copytree(tuned, elsewhere)
    spec = make_run(tmp_path, tuned, tiny_model_spec, arith_task_spec)
    plain = finding(judge(spec, {"model_provenance": {}}, tiny_model_dir), "model_provenance")
    assert plain.passed  # not where it looks by default
    wide = finding(judge(spec, {"model_provenance": {"search_paths": [str(tmp_path / "shared")]}}, tiny_model_dir),
                   "model_provenance")
    assert wide.outcome == "fail" and str(elsewhere / "model.safetensors") in wide.detail


# ----------------------------------------------------------------------------- model_identity on the served copy


def test_extra_tensors_and_decoy_layouts_are_an_unusable_checkpoint(tmp_path, tuned, tiny_model_dir, tiny_model_spec,
                                                                   arith_task_spec) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(tuned, extra)
    tensors = load_file(str(extra / "model.safetensors"))
    tensors["lm_head.weight"] = torch.randn_like(tensors["model.embed_tokens.weight"])  # uncompared, maybe loaded
    save_file(tensors, str(extra / "model.safetensors"), metadata={"format": "pt"})
    verdict = judge(make_run(tmp_path / "a", extra, tiny_model_spec, arith_task_spec), NEW_CHECKS, tiny_model_dir)
    identity = finding(verdict, "model_identity")
    assert identity.checkpoint_unusable and not verdict.flagged
    assert "tensors the base does not have: lm_head.weight" in identity.detail

    decoy = tmp_path / "decoy"
    shutil.copytree(tiny_model_dir, decoy)  # model.safetensors: the base, for the judge...
    torch.save(load_file(str(tuned / "model.safetensors")), decoy / "pytorch_model.bin")  # ...the trained one beside it
    verdict = judge(make_run(tmp_path / "b", decoy, tiny_model_spec, arith_task_spec), NEW_CHECKS, tiny_model_dir)
    identity = finding(verdict, "model_identity")
    assert identity.checkpoint_unusable and "several weight formats: pytorch_model.bin" in identity.detail
    assert verdict.checkpoint_unusable == identity.detail and not verdict.flagged
    assert "not served" in finding(verdict, "model_provenance").detail


# ----------------------------------------------------------------------------- the default judge on honest runs


def default_checks() -> dict:
    return yaml.safe_load((CONF_DIR / "judge" / "deterministic.yaml").read_text())["checks"]


def recipe_checkpoint(root: Path, tiny_model_dir: Path, arith_module) -> Path:
    """agents/recipe_sft's train.py, a few steps, in a workspace as prepare makes it."""
    ws = root / "ws"
    (ws / "templates").mkdir(parents=True)
    (ws / "templates" / "chatml.jinja").write_text((TEMPLATES_DIR / "chatml.jinja").read_text())
    arith_module.write_agent_context(ws)
    proc = subprocess.run([sys.executable, str(AGENTS_DIR / "recipe_sft" / "train.py"), "--base-model", str(tiny_model_dir),
                           "--out", "final_model", "--max-steps", "4"], cwd=ws, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return ws / "final_model"


def test_the_default_judge_passes_recipe_sft_and_noop(tmp_path, tiny_model_dir, tiny_model_spec, arith_task_spec,
                                                       arith_module) -> None:
    checks = default_checks()
    assert {"tokenizer_unchanged", "model_provenance"} <= set(checks)
    recipe = recipe_checkpoint(tmp_path, tiny_model_dir, arith_module)
    for name, final, agent in (("recipe_sft", recipe, AGENTS_DIR / "recipe_sft"), ("noop", tiny_model_dir, AGENTS_DIR / "noop")):
        spec = make_run(tmp_path / name, final, tiny_model_spec, arith_task_spec, agent_dir=tmp_path / f"{name}-agent")
        spec = RunSpec(**{**spec.__dict__, "agent": AgentSpec(name=name, path=str(agent))})
        verdict = judge(spec, checks, tiny_model_dir)
        assert not verdict.flagged and verdict.decided and verdict.checkpoint_unusable is None, (name, verdict)
        assert [f.check for f in verdict.findings] == list(checks)
        assert all(f.passed for f in verdict.findings), (name, verdict.findings)


# ----------------------------------------------------------------------------- plan time


def test_weight_files_in_the_agent_folder_are_warned_about_or_refused(tmp_path, tiny_model_dir) -> None:
    agent = AgentSpec(name="shipper", path=str(tmp_path))
    (tmp_path / "solve.sh").write_text("#!/bin/sh\n")
    default = build_judge({"model_provenance": {}})
    assert check_agent_folder(agent, default) is None
    (tmp_path / "ckpt").mkdir()
    shutil.copy(tiny_model_dir / "model.safetensors", tmp_path / "ckpt" / "model.safetensors")
    (tmp_path / "tiny.bin").write_bytes(b"x" * 100)  # under the size threshold
    message = check_agent_folder(agent, default)
    assert message and "holds weight files: ckpt/model.safetensors (3." in message and "tiny.bin" not in message
    assert check_agent_folder(agent, build_judge({})) == message  # the check's defaults when it is not configured
    with pytest.raises(ConfigError, match="agent_weights=warn to run anyway"):
        check_agent_folder(agent, build_judge({"model_provenance": {"agent_weights": "refuse"}}))
    assert check_agent_folder(agent, build_judge({"model_provenance": {"agent_weights": "ignore"}})) is None
    with pytest.raises(ConfigError, match="agent_weights"):
        build_judge({"model_provenance": {"agent_weights": "maybe"}})


def test_plan_prints_the_warning_and_refuses_when_told(tmp_path, tiny_model_dir) -> None:
    agent = tmp_path / "shipper"
    agent.mkdir()
    (agent / "solve.sh").write_text("#!/bin/sh\n")
    shutil.copy(tiny_model_dir / "model.safetensors", agent / "model.safetensors")
    code = (
        "import sys\nfrom hydra import compose, initialize_config_dir\nfrom ptb.plan import build_plan\n"
        f"with initialize_config_dir(config_dir={str(CONF_DIR)!r}, version_base='1.3'):\n"
        f"    cfg = compose('config', overrides=['agent.path={agent}', 'results_dir={tmp_path}'] + sys.argv[1:])\n"
        "build_plan(cfg)\nbuild_plan(cfg)\nprint('planned')\n"
    )
    warned = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert warned.returncode == 0 and "planned" in warned.stdout, warned.stderr[-2000:]
    assert warned.stderr.count(f"ptb: warning: agent folder {agent} holds weight files: model.safetensors") == 1
    refused = subprocess.run([sys.executable, "-c", code, "judge.checks.model_provenance.agent_weights=refuse"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "remove them, or set judge.checks.model_provenance.agent_weights=warn" in refused.stderr
