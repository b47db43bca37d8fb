"""agents/noop: submits a real copy of the base model."""

from __future__ import annotations

import filecmp
import os
import shutil
import stat


def test_noop_copies_the_read_only_base_model_into_a_real_final_model(agent_workspace, tiny_model_dir, tmp_path):
    base = tmp_path / "base"  # a read-only base, as the sandbox mounts it
    shutil.copytree(tiny_model_dir, base)
    for path in [base, *base.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        ws = agent_workspace(base_model=base)
        result = ws.solve("noop", timeout=60)
        assert result.returncode == 0, result.stderr
        final = ws.root / "final_model"
        assert final.is_dir() and not final.is_symlink()
        names = sorted(p.name for p in base.iterdir())
        assert sorted(p.name for p in final.iterdir()) == names
        match, mismatch, errors = filecmp.cmpfiles(base, final, names, shallow=False)
        assert mismatch == [] and errors == []
        assert all(os.access(p, os.W_OK) for p in final.iterdir())  # the agent's copy is its own
        assert not (ws.root / "final_model.tmp").exists()
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_noop_fails_clearly_without_a_base_model(agent_workspace):
    ws = agent_workspace()
    env = {k: v for k, v in ws.env.items() if k != "PTB_BASE_MODEL"}
    result = type(ws)(ws.root, env).solve("noop", timeout=60)
    assert result.returncode != 0 and "PTB_BASE_MODEL" in result.stderr
    assert not (ws.root / "final_model").exists()
