"""The held-out split comes from a secret the agent cannot read, not from agent-readable code."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys

import pytest

from ptb.paths import EVALS_DIR, PROJECT_ROOT
from ptb.tasks.heldout import HeldoutUnavailable, fingerprint, heldout_secret, heldout_seed, secret_path


def _questions(items) -> set[str]:
    return {i.question for i in items}


def test_secret_is_made_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PTB_WORKSPACE", raising=False)
    first = heldout_secret("arith")
    assert len(first) == 32 and heldout_secret("arith") == first
    path = secret_path("arith")
    assert path == tmp_path / "ptb" / "heldout" / "arith.key"
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert heldout_seed("arith", "test") != heldout_seed("arith", "dev")
    assert heldout_secret("other") != first  # one secret per task
    path.write_text("not hex\n")
    with pytest.raises(HeldoutUnavailable, match="not a hex secret"):
        heldout_secret("arith")
    with pytest.raises(ValueError):
        secret_path("../escape")


def test_inside_a_sandbox_the_secret_is_never_made(tmp_path, monkeypatch, arith_module):
    # What the agent's sandbox shows: an empty stand-in for the harness files, PTB_WORKSPACE set.
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PTB_WORKSPACE", str(tmp_path / "ws"))
    with pytest.raises(HeldoutUnavailable, match="not readable inside the agent's sandbox"):
        arith_module.items("test")
    assert not (tmp_path / "ptb").exists()
    assert len(arith_module.items("train")) == 2000  # the allowed split stays available


def test_same_secret_same_split_other_secret_other_split(tmp_path, monkeypatch, arith_module):
    real = arith_module.items("test")
    fp = arith_module.split_fingerprint()
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 16
    # a fresh copy of the module with the same secret: the very same items
    spec = importlib.util.spec_from_file_location("arith_heldout_copy", EVALS_DIR / "arith" / "task.py")
    fresh = importlib.util.module_from_spec(spec)
    sys.modules["arith_heldout_copy"] = fresh
    try:
        spec.loader.exec_module(fresh)
        assert [i.question for i in fresh.items("test")] == [i.question for i in real]
        assert fresh.split_fingerprint() == fp
    finally:
        del sys.modules["arith_heldout_copy"]
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))  # another installation: another secret
    monkeypatch.delenv("PTB_WORKSPACE", raising=False)
    other = arith_module.items("test")
    assert len(_questions(other) & _questions(real)) <= 3 and arith_module.split_fingerprint() != fp
    assert not _questions(other) & _questions(arith_module.items("train"))  # still disjoint from train


def test_the_split_cannot_be_generated_from_agent_readable_files(tmp_path, arith_module):
    """An agent holds a copy of the project (evals/arith/task.py included) but not the secret:
    running that code with every public seed, the old fixed-seed layout, or a secret of its own
    never yields the real test split."""
    real = _questions(arith_module.items("test"))
    train = arith_module.items("train")
    # the old layout: the test split was the first 200 items of the public seed's stream
    candidates = [arith_module._unique(random.Random(arith_module.SEED), 200)]
    candidates += [arith_module._unique(random.Random(seed), 200) for seed in range(20)]
    candidates += [arith_module._unique(random.Random(arith_module.SEED + k), 200) for k in (1, 2, 200, 2000)]
    for guess in candidates:
        assert len(_questions(guess) & real) <= 3
    assert not _questions(train) & real
    # the project's own code run as the agent runs it: no secret readable, so no test split
    env = {**os.environ, "PTB_DATA_DIR": str(tmp_path / "empty"), "PTB_WORKSPACE": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    probe = (
        "from ptb.plugins import load_task_module\n"
        "from ptb.records import TaskSpec, LadderStep\n"
        f"spec = TaskSpec(name='arith', benchmark='A', weight=1.0, eval_dir={str(EVALS_DIR / 'arith')!r}, ladder=(LadderStep(8, 1),))\n"
        "m = load_task_module(spec)\n"
        "print(len(m.items('train')))\n"
        "m.items('test')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and done.stdout.strip() == "2000"
    assert "HeldoutUnavailable" in done.stderr and not (tmp_path / "empty" / "ptb").exists()


def test_fingerprint_names_a_sequence_without_holding_it():
    a = fingerprint(["Mia has 3 apples.", "x"])
    assert a == fingerprint(["Mia has 3 apples.", "x"]) and a != fingerprint(["Mia has 3 apples.x"])
    assert "Mia" not in a and len(a) == 23


def test_no_test_question_is_in_the_project_folder(arith_module):
    """Nothing of the project (what a clone holds; the folder is visible read-only in the sandbox)
    holds a test question: not evals/, not the tests, not a fixture."""
    questions = [i.question for i in arith_module.items("test")[:50]]
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(listed) > 50
    for rel in listed:
        path = PROJECT_ROOT / rel
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not any(q in text for q in questions), path
