"""`python -m ptb.cache`: the union of a grid's needs, downloads behind a fake Hub, offline
verification in a child process, gated repositories, failures, sizes, and the Hydra entry point.

The real `HubDownloader` needs the Hub; here `FakeHub` writes fixture repositories into a
temporary HF cache in huggingface_hub's layout (``models--owner--name/snapshots/<commit>/``,
``refs/main``) or raises the Hub's own errors, built the way huggingface_hub builds them from an
HTTP response. Fixture configs, task code and data are in tests/fixtures/cache/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fixture_data import FAKE_COMMIT, add_hub_dataset

from ptb.cache import cache_all, run_cache
from ptb.cache.fetch import HubDownloader, fetch_data
from ptb.cache.plan import plan_cache
from ptb.cache.report import CacheItem, CacheReport, disk_size, human_size
from ptb.data import HubDataset, UrlFile
from ptb.hub import hub_cache_dir
from ptb.paths import CONF_DIR, PROJECT_ROOT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cache"
FIXTURE_CONF = FIXTURES / "conf"
GRADER_KEY = "PTB_TEST_CACHE_GRADER_KEY"  # never set: verification must build graded tasks without it


# --------------------------------------------------------------------------- fixtures


def write_fixture_model(folder: Path, *, vision: bool = False, processor: bool = True, drop_shard: bool = False) -> None:
    """A small checkpoint in the real file layout: config, tokenizer, two safetensors shards + index."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    folder.mkdir(parents=True, exist_ok=True)
    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 8, "vocab_size": 8, "max_position_embeddings": 64}  # fmt: skip
    if vision:
        config = {
            "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
            "text_config": {"model_type": "gemma3_text", **text},
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                              "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        }  # fmt: skip
        if processor:
            (folder / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "Gemma3ImageProcessor", "size": {"height": 32, "width": 32}}))
    else:
        config = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "torch_dtype": "float32", **text}
    (folder / "config.json").write_text(json.dumps(config))
    vocab = {"<unk>": 0, "<eos>": 1, "the": 2, "answer": 3, "is": 4, "1": 5, "2": 6, "3": 7}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<eos>"}))
    shards = {
        "model-00001-of-00002.safetensors": {"model.embed_tokens.weight": np.ones((8, 16), np.float32)},
        "model-00002-of-00002.safetensors": {"lm_head.weight": np.full((8, 16), 0.5, np.float32)},
    }
    weight_map = {}
    for name, tensors in shards.items():
        save_file(tensors, str(folder / name))
        weight_map.update({tensor: name for tensor in tensors})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    if drop_shard:
        (folder / "model-00002-of-00002.safetensors").unlink()


def hub_error(repo_id: str, repo_type: str, error_code: str, status: int = 401) -> Exception:
    """The exception huggingface_hub raises for a Hub answer with this X-Error-Code."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    kind = "datasets" if repo_type == "dataset" else "models"
    url = f"https://huggingface.co/api/{kind}/{repo_id}/revision/main"
    response = httpx2.Response(status, headers={"X-Error-Code": error_code}, request=httpx2.Request("GET", url))
    try:
        hf_raise_for_status(response)
    except Exception as exc:  # noqa: BLE001 (whichever error the library builds)
        return exc
    raise AssertionError("hf_raise_for_status did not raise")


ModelWriter = Callable[[Path], None]


class FakeHub:
    """A `Downloader` serving fixture repositories into the current HF cache, or raising errors."""

    def __init__(self, models: dict[str, ModelWriter | Exception], datasets: dict[str, Path | Exception] | None = None):
        self.models = models
        self.datasets = datasets or {}
        self.calls: list[str] = []
        self.offline = False  # it "downloads" (writes fixture repositories into the cache)

    def model(self, hf_id: str) -> Path:
        self.calls.append(hf_id)
        served = self.models.get(hf_id, hub_error(hf_id, "model", "RepoNotFound", 404))
        if isinstance(served, Exception):
            raise served
        repo = hub_cache_dir() / f"models--{hf_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / FAKE_COMMIT
        if not (repo / "refs" / "main").is_file():  # already cached: nothing to download
            served(snapshot)
            (repo / "refs").mkdir(parents=True, exist_ok=True)
            (repo / "refs" / "main").write_text(FAKE_COMMIT)
        return snapshot

    def data(self, source) -> list[Path]:
        if isinstance(source, HubDataset):
            self.calls.append(source.repo_id)
            served = self.datasets.get(source.repo_id, hub_error(source.repo_id, "dataset", "RepoNotFound", 404))
            if isinstance(served, Exception):
                raise served
            add_hub_dataset(hub_cache_dir(), source.repo_id, served)
            return source.fetch()  # offline here: finds what was just written, as ptb.data reads it
        assert isinstance(source, UrlFile)
        self.calls.append(source.url)
        target = source.cached_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(FIXTURES / "urls" / source.url.split("://", 1)[1], target)
        return [target]


QA_DATA = FIXTURES / "hub" / "ptb-fixtures" / "qa"


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch) -> Path:
    """Fresh, empty HF and URL caches for each test; no token, no grader key."""
    import huggingface_hub.constants

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))  # read at import time
    monkeypatch.setenv("PTB_DATA_DIR", str(home / "files"))
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", GRADER_KEY):
        monkeypatch.delenv(variable, raising=False)
    return home


def job(model: str, task: str, *overrides: str):
    """The composed config `python -m ptb.cache model=<model> task=<task>` would get."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF_DIR), version_base=None):
        return compose(
            "config",
            overrides=[f"hydra.searchpath=[file://{FIXTURE_CONF}]", f"model={model}", f"task={task}",
                       f"grader.api_key_env={GRADER_KEY}", *overrides],
        )  # fmt: skip


def grid(models: list[str], tasks: list[str], *overrides: str) -> list:
    return [job(m, t, *overrides) for m in models for t in tasks]


def by_id(report: CacheReport) -> dict[str, CacheItem]:
    return {item.ident: item for item in report.items}


def serve_all_models(plan) -> dict[str, ModelWriter]:
    return {need.hf_id: write_fixture_model for need in plan.models}


# --------------------------------------------------------------------------- planning


def test_plan_of_a_2x2_grid_lists_every_model_and_data_source_once():
    plan = plan_cache(grid(["qwen3-4b", "smollm3-3b"], ["fixture_qa", "fixture_notes"]))

    assert [(m.hf_id, m.needed_by) for m in plan.models] == [
        ("Qwen/Qwen3-4B-Base", ("qwen3-4b (base)",)),
        ("Qwen/Qwen3-4B", ("qwen3-4b (instruct, forbidden)",)),
        ("Qwen/Qwen3-4B-Instruct-2507", ("qwen3-4b (forbidden)",)),
        ("HuggingFaceTB/SmolLM3-3B-Base", ("smollm3-3b (base)",)),
        ("HuggingFaceTB/SmolLM3-3B", ("smollm3-3b (instruct, forbidden)",)),
    ]
    assert [(d.kind, d.ident, d.needed_by) for d in plan.data] == [
        ("dataset", "ptb-fixtures/qa", ("fixture_qa",)),
        ("file", "https://example.org/ptb-fixtures/notes.jsonl", ("fixture_notes",)),
    ]
    assert [(t.name, t.spec.samples, t.problem) for t in plan.tasks] == [("fixture_qa", 5, None), ("fixture_notes", 4, None)]
    assert plan.built == ()
    assert plan.grader_key_envs == (GRADER_KEY,)


def test_plan_options_leave_out_instruct_and_forbidden_and_skip_built_models():
    configs = grid(["fixture_lm", "tiny"], ["arith"], "cache.instruct=false", "cache.forbidden=false")
    plan = plan_cache(configs)
    assert [m.hf_id for m in plan.models] == ["ptb-fixtures/lm-base"]
    assert [(b.name, b.builder) for b in plan.built] == [("tiny", "tiny")]
    assert plan.data == ()  # arith is generated from seeds

    only_forbidden = plan_cache(grid(["fixture_lm"], ["arith"], "cache.instruct=false"))
    assert [m.hf_id for m in only_forbidden.models] == ["ptb-fixtures/lm-base", "ptb-fixtures/lm-instruct", "ptb-fixtures/lm-chat"]


def test_plan_reports_a_task_without_code_and_rejects_bad_options():
    from ptb.plan import ConfigError

    plan = plan_cache([job("tiny", "fixture_nocode")])
    (task,) = plan.tasks
    assert task.spec is None and task.problem.startswith("no task code")

    with pytest.raises(ConfigError, match=r"cache.dry_run='yes' is invalid: expected true or false"):
        plan_cache([job("tiny", "arith", "cache.dry_run=yes")])
    with pytest.raises(ConfigError, match="cache.* differs between jobs"):
        plan_cache([job("tiny", "arith"), job("tiny", "arith", "cache.instruct=false")])


# --------------------------------------------------------------------------- downloading and verifying


def test_full_run_downloads_everything_then_verifies_it_offline():
    plan = plan_cache(grid(["qwen3-4b", "gemma3-4b"], ["fixture_qa", "fixture_notes"]))
    gemma: ModelWriter = lambda d: write_fixture_model(d, vision=True)
    models = {need.hf_id: gemma if "gemma" in need.hf_id else write_fixture_model for need in plan.models}
    hub = FakeHub(models, {"ptb-fixtures/qa": QA_DATA})

    report = run_cache(plan, hub)

    assert report.ok, report.render()
    items = by_id(report)
    assert len(report.items) == 5 + 2 + 2
    for need in plan.models:
        item = items[need.hf_id]
        assert (item.kind, item.status) == ("model", "downloaded")
        family = "gemma3" if "gemma" in need.hf_id else "qwen3"
        assert item.detail == f"{family} config, tokenizer, 2 weight files"  # what the offline check saw
        assert item.size and item.size > 0
    assert (items["ptb-fixtures/qa"].status, items["ptb-fixtures/qa"].detail) == ("downloaded", "1 files")
    assert items["https://example.org/ptb-fixtures/notes.jsonl"].status == "downloaded"
    # every test split built offline with its configured size; fixture_notes builds its grader at
    # construction without the grader's key being set here
    assert (items["fixture_qa"].status, items["fixture_qa"].detail) == ("ok", "5 test samples")
    assert (items["fixture_notes"].status, items["fixture_notes"].detail) == ("ok", "4 test samples")
    assert sorted(hub.calls) == sorted([m.hf_id for m in plan.models] + ["ptb-fixtures/qa", "https://example.org/ptb-fixtures/notes.jsonl"])
    assert GRADER_KEY not in os.environ  # the placeholder key lived in the child process only

    again = run_cache(plan, hub)  # a second run finds everything cached
    assert again.ok and {item.status for item in again.items} == {"ok"}
    assert [i.size for i in again.items] == [i.size for i in report.items]


def test_offline_verification_catches_incomplete_snapshots_and_wrong_sample_counts():
    configs = grid(["gemma3-4b", "fixture_lm"], ["fixture_qa"], "task.samples=6", "cache.instruct=false", "cache.forbidden=false")
    gemma_without_processor: ModelWriter = lambda d: write_fixture_model(d, vision=True, processor=False)
    shard_missing: ModelWriter = lambda d: write_fixture_model(d, drop_shard=True)
    hub = FakeHub({"google/gemma-3-4b-pt": gemma_without_processor, "ptb-fixtures/lm-base": shard_missing}, {"ptb-fixtures/qa": QA_DATA})

    report = run_cache(plan_cache(configs), hub)

    items = by_id(report)
    assert items["google/gemma-3-4b-pt"].status == "failed"
    assert "lacks preprocessor_config.json (a multimodal checkpoint needs its processor files)" in items["google/gemma-3-4b-pt"].detail
    assert items["ptb-fixtures/lm-base"].status == "failed"
    assert "lacks model-00002-of-00002.safetensors" in items["ptb-fixtures/lm-base"].detail
    assert items["fixture_qa"].status == "failed"
    assert "the test split has 5 samples; conf/task/fixture_qa.yaml expects samples: 6" in items["fixture_qa"].detail
    assert items["ptb-fixtures/qa"].status == "downloaded"
    assert not report.ok


def test_gated_dataset_and_gated_model_fail_with_the_token_to_set(monkeypatch):
    plan = plan_cache([job("gemma3-4b", "fixture_gated", "cache.forbidden=false")])
    hub = FakeHub(
        {"google/gemma-3-4b-pt": lambda d: write_fixture_model(d, vision=True),
         "google/gemma-3-4b-it": hub_error("google/gemma-3-4b-it", "model", "GatedRepo")},
        {"ptb-fixtures/gated-qa": hub_error("ptb-fixtures/gated-qa", "dataset", "GatedRepo")},
    )  # fmt: skip
    report = run_cache(plan, hub)
    items = by_id(report)

    assert items["google/gemma-3-4b-pt"].status == "downloaded"
    assert items["google/gemma-3-4b-it"].status == "failed"
    assert items["google/gemma-3-4b-it"].detail == (
        "google/gemma-3-4b-it is a gated model and no Hugging Face token is set: accept the model's terms at "
        "https://huggingface.co/google/gemma-3-4b-it, then set HF_TOKEN (or run `hf auth login`)"
    )
    assert items["ptb-fixtures/gated-qa"].status == "failed"
    assert "is a gated dataset and no Hugging Face token is set" in items["ptb-fixtures/gated-qa"].detail
    assert "https://huggingface.co/datasets/ptb-fixtures/gated-qa, then set HF_TOKEN" in items["ptb-fixtures/gated-qa"].detail
    assert items["fixture_gated"].detail == "not verified: its data failed (ptb-fixtures/gated-qa)"
    rendered = report.render()
    assert "then set HF_TOKEN" in rendered and "3 of 4 items failed" in rendered  # the task too

    monkeypatch.setenv("HF_TOKEN", "hf_fixture_token_without_access")
    with_token = fetch_data(hub, HubDataset("ptb-fixtures/gated-qa", files=("test.jsonl",), gated=True))
    assert with_token.status == "failed"
    assert with_token.detail.startswith(
        "ptb-fixtures/gated-qa is a gated dataset and the token in HF_TOKEN has no access to it: accept the "
        "dataset's terms at https://huggingface.co/datasets/ptb-fixtures/gated-qa with the account the token belongs to"
    )


def test_the_real_downloader_passes_on_ptb_data_gated_message(monkeypatch):
    """HubDownloader reads data through ptb.data, whose gated message comes from the shared helper."""
    import huggingface_hub

    def refuse(**kwargs):
        raise hub_error(kwargs["repo_id"], kwargs.get("repo_type") or "model", "GatedRepo")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    fetched = fetch_data(HubDownloader(), HubDataset("Idavidrein/gpqa", files=("gpqa_main.csv",), gated=True))
    assert fetched.status == "failed"
    assert fetched.detail == (
        "Idavidrein/gpqa is a gated dataset and no Hugging Face token is set: accept the dataset's terms at "
        "https://huggingface.co/datasets/Idavidrein/gpqa, then set HF_TOKEN (or run `hf auth login`)"
    )


def test_a_failed_item_does_not_stop_the_rest_and_the_exit_code_is_non_zero(capsys):
    configs = grid(["fixture_lm"], ["fixture_qa", "fixture_notes", "fixture_nocode"])
    hub = FakeHub(
        {"ptb-fixtures/lm-base": write_fixture_model, "ptb-fixtures/lm-chat": write_fixture_model},  # lm-instruct: not found
        {"ptb-fixtures/qa": QA_DATA},
    )
    codes = cache_all(configs, hub)

    assert codes == [1, 1, 1]
    # every item was attempted, in order, after the failure of the second one
    assert hub.calls == ["ptb-fixtures/lm-base", "ptb-fixtures/lm-instruct", "ptb-fixtures/lm-chat",
                         "ptb-fixtures/qa", "https://example.org/ptb-fixtures/notes.jsonl"]  # fmt: skip
    out = capsys.readouterr().out
    rows = {line.split("|")[2].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "| downloaded" in rows["ptb-fixtures/lm-base"] and "| downloaded" in rows["ptb-fixtures/lm-chat"]
    assert "failed [1]" in rows["ptb-fixtures/lm-instruct"]
    assert "ok: 5 test samples" in rows["fixture_qa"] and "ok: 4 test samples" in rows["fixture_notes"]
    assert "failed [2]" in rows["fixture_nocode"]
    assert "[1] model ptb-fixtures/lm-instruct: model ptb-fixtures/lm-instruct was not found on the Hub" in out
    assert "[2] task fixture_nocode: no task code" in out
    assert "2 of 8 items failed" in out


# --------------------------------------------------------------------------- sizes and the report


def test_sizes_count_each_blob_once_and_the_report_shows_totals_and_locations(tmp_path, empty_caches):
    repo = tmp_path / "models--o--m"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc").write_bytes(b"x" * 3000)
    (repo / "snapshots" / "c1").mkdir(parents=True)
    (repo / "snapshots" / "c1" / "model.safetensors").symlink_to(repo / "blobs" / "abc")
    (repo / "snapshots" / "c1" / "config.json").write_bytes(b"{}")
    assert disk_size(repo) == 3002  # the snapshot's link to the blob is not counted again
    assert disk_size(repo / "blobs" / "abc") == 3000 and disk_size(tmp_path / "absent") == 0
    assert [human_size(n) for n in (None, 999, 3 * 1024**2, int(7.5 * 1024**3))] == ["-", "999 B", "3.0 MiB", "7.5 GiB"]

    plan = plan_cache(grid(["tiny"], ["fixture_qa", "fixture_notes"]))
    report = run_cache(plan, FakeHub({}, {"ptb-fixtures/qa": QA_DATA}))
    items = by_id(report)
    qa_repo = empty_caches / "hub" / "datasets--ptb-fixtures--qa"
    notes_file = empty_caches / "files" / "example.org" / "ptb-fixtures" / "notes.jsonl"
    assert (items["ptb-fixtures/qa"].location, items["ptb-fixtures/qa"].size) == (str(qa_repo), disk_size(qa_repo))
    notes = items["https://example.org/ptb-fixtures/notes.jsonl"]
    assert (notes.location, notes.size) == (str(notes_file), notes_file.stat().st_size)
    assert items["tiny"].size is None and items["fixture_qa"].size is None
    assert report.items_size() == disk_size(qa_repo) + notes_file.stat().st_size > 0

    rendered = report.render()
    lines = rendered.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:-1]] == ["kind", "id", "needed by", "status", "size"]
    assert human_size(disk_size(qa_repo)) in next(line for line in lines if "ptb-fixtures/qa" in line and "dataset" in line)
    assert f"Size of what this grid needs: {human_size(report.items_size())}" in rendered
    hub = empty_caches / "hub"
    assert f"HF cache (HF_HUB_CACHE): {hub} — {human_size(disk_size(hub))} in total" in rendered
    files = empty_caches / "files"
    assert f"URL files (PTB_DATA_DIR): {files} — {human_size(notes_file.stat().st_size)} in total" in rendered
    assert f"HF_HOME: {empty_caches}" in rendered


def test_dry_run_lists_the_grid_and_downloads_nothing(empty_caches):
    plan = plan_cache(grid(["fixture_lm", "tiny"], ["fixture_qa"], "cache.dry_run=true"))
    hub = FakeHub({})
    report = run_cache(plan, hub)
    assert hub.calls == [] and not (empty_caches / "hub").exists()
    assert report.ok and report.dry_run
    assert {(i.ident, i.status, i.detail) for i in report.items} == {
        ("ptb-fixtures/lm-base", "planned", "not in cache"),
        ("ptb-fixtures/lm-instruct", "planned", "not in cache"),
        ("ptb-fixtures/lm-chat", "planned", "not in cache"),
        ("tiny", "skipped", "built locally by ptb (builder tiny), not downloaded"),
        ("ptb-fixtures/qa", "planned", "not in cache"),
        ("fixture_qa", "planned", "reads ptb-fixtures/qa"),
    }
    assert "Dry run (cache.dry_run=true): 6 items listed" in report.render()


# --------------------------------------------------------------------------- the command


def run_command(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ptb.cache", *args, f"results_dir={tmp_path / 'results'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_command_tiny_arith_exits_0_with_a_report(tmp_path):
    proc = run_command(["model=tiny", "task=arith", f"hydra.run.dir={tmp_path / 'hydra'}"], tmp_path, dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "| model | tiny  | tiny (base) | skipped: built locally by ptb (builder tiny), not downloaded |" in proc.stdout
    assert "| task  | arith | -           | ok: 200 test samples" in proc.stdout
    assert "All 2 items are ok: compute nodes can run with HF_HUB_OFFLINE=1." in proc.stdout
    assert (tmp_path / "hydra").is_dir() and not (PROJECT_ROOT / "tmp").exists()


@pytest.mark.slow  # two sweeps through ptb's launcher (which imports Ray), each with its check process
def test_command_sweep_checks_a_prefilled_cache_offline(tmp_path, empty_caches):
    """`-m` over two tasks and a Hub model: the real HubDownloader, offline, finds a cache filled
    beforehand (as on a compute node), and the offline check passes; a task without code fails."""
    hub = empty_caches / "hub"
    FakeHub({"ptb-fixtures/lm-base": write_fixture_model}).model("ptb-fixtures/lm-base")
    add_hub_dataset(hub, "ptb-fixtures/qa", QA_DATA)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    common = ["-m", f"hydra.searchpath=[file://{FIXTURE_CONF}]", "model=fixture_lm", "cache.instruct=false",
              "cache.forbidden=false", f"hydra.sweep.dir={tmp_path / 'hydra'}"]  # fmt: skip

    proc = run_command([*common, "task=arith,fixture_qa"], tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split("|")[2].strip(): line for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert "ok: qwen3 config, tokenizer, 2 weight files" in rows["ptb-fixtures/lm-base"]
    assert "ok: 1 files" in rows["ptb-fixtures/qa"]
    assert "ok: 200 test samples" in rows["arith"] and "ok: 5 test samples" in rows["fixture_qa"]
    assert "HF_HUB_OFFLINE=1 is set here: nothing was downloaded" in proc.stdout
    assert f"HF cache (HF_HUB_CACHE): {hub} — {human_size(disk_size(hub))} in total" in proc.stdout

    common = [c if c != "model=fixture_lm" else "model=tiny" for c in common]
    proc = run_command([*common, "task=fixture_qa,fixture_nocode"], tmp_path, env)
    assert proc.returncode == 1
    assert "[1] task fixture_nocode: no task code" in proc.stdout
