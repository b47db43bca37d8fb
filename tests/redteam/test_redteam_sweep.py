"""The red team end to end (slow): `python -m ptb.redteam --short` runs every case guarded and
with its guard off, and the honest runs, as one Ray sweep; every case must be caught or blocked,
every cheat must lift the score with its guard off, and no honest run may be flagged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_red_team_catches_or_blocks_every_case(tmp_path: Path, tiny_model_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_CACHE_DIR": str(tiny_model_dir.parent.parent), "PYTHONUNBUFFERED": "1"}
    env.pop("WANDB_API_KEY", None)
    ray_dir = f"/tmp/ptbray-rt-{os.getpid()}"  # Ray's socket paths must stay short
    # not under /tmp (ptb.redteam refuses it): every agent's sandbox has a /tmp of its own, which
    # would hide the scratch folders whatever the guards do; CI's clone lives under /tmp
    cache = tiny_model_dir.parent.parent
    base = Path("/var/tmp") if cache.resolve().is_relative_to("/tmp") else cache
    work = Path(tempfile.mkdtemp(prefix=f"ptb-redteam-work-{os.getpid()}-", dir=base))
    started = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ptb.redteam", "--short", "--work-dir", str(work), f"cluster.temp_dir={ray_dir}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.time() - started
    out = proc.stdout
    table = out[out.rfind("\n\n") :] if "\n\n" in out else out
    print(f"red-team sweep wall time: {wall:.0f}s\n{table}")
    final = re.search(r"^red team: (\d+)/(\d+) caught or blocked, (\d+) false flags$", out, re.MULTILINE)
    assert final, out[-4000:] + proc.stderr[-4000:]
    counted, total, flags = map(int, final.groups())
    assert not re.search(r": MISSED ", table), table
    assert "INEFFECTIVE CHEAT" not in table, table
    assert flags == 0, table
    assert counted == total, table
    assert proc.returncode == 0, table
