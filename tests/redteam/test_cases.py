"""The case table: every case has its agent folder and config, guard-off overrides that compose,
and checks it names that exist or are named as pending (fast: no run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ptb.errors import ConfigError
from ptb.paths import AGENTS_DIR, CONF_DIR
from ptb.plan import plan_sweep
from ptb.redteam.cases import CASES, HONEST
from ptb.redteam.servers import make_certificates
from ptb.redteam.sweep import (
    GUARD_OFF_SUFFIX,
    Internet,
    RedTeamOptions,
    build_jobs,
    check_work_dir,
    guard_off_overrides,
    selected_cases,
)


def test_every_case_has_an_agent_folder_and_a_config() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    for case in CASES:
        assert (AGENTS_DIR / "redteam" / case.name / "solve.sh").is_file(), case.name
        assert (CONF_DIR / "agent" / f"{case.agent}.yaml").is_file(), case.name
        assert case.checks_off or case.overrides_off, f"{case.name} has no way to turn its guard off"
    on_disk = {p.parent.name for p in (AGENTS_DIR / "redteam").glob("*/solve.sh")}
    assert on_disk == set(names), "an agents/redteam folder without a case (or the reverse)"


def test_guard_off_turns_off_only_configured_checks() -> None:
    case = next(c for c in CASES if c.name == "harness_tamper")
    overrides = guard_off_overrides(case, ["harness_unchanged", "model_identity"])
    assert overrides[0] == f"agent.name={case.agent}{GUARD_OFF_SUFFIX}"
    assert "judge.checks.harness_unchanged.flag=false" in overrides
    assert not any("test_overlap" in o for o in overrides)  # not configured: it does not run anyway
    assert "sandbox=none" in overrides


def test_unknown_case_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown red-team case"):
        selected_cases(["nosuch"])


def test_jobs_plan_as_one_sweep_with_distinct_runs(tmp_path: Path) -> None:
    options = RedTeamOptions(work_dir=tmp_path, short=True)
    ca, _ = make_certificates(tmp_path / "certs", ("huggingface.co",))
    internet = Internet(hub="127.0.0.1:1", llm="127.0.0.1:2", ca=str(ca))
    configs, case_jobs, honest_jobs = build_jobs(options, internet)
    assert len(configs) == 2 * len(CASES) + len(HONEST)
    plans, _ = plan_sweep(configs)  # one sweep: shared settings, no two runs in one folder
    assert len({p.spec.run_dir for p in plans}) == len(plans)
    for name, (on, off) in case_jobs.items():
        guarded, unguarded = plans[on].spec, plans[off].spec
        assert guarded.agent.path == unguarded.agent.path == str(AGENTS_DIR / "redteam" / name)
        assert unguarded.agent.name.endswith(GUARD_OFF_SUFFIX)
        case = next(c for c in CASES if c.name == name)
        for check in plans[off].judge.checks:
            if check.name in case.checks_off:
                assert not check.flag, (name, check.name)
        assert all(c.flag for c in plans[on].judge.checks), name
        if "sandbox=none" in case.overrides_off:
            assert unguarded.sandbox == "none" and guarded.sandbox != "none"
    assert {plans[i].spec.agent.name for i in honest_jobs.values()} == set(HONEST)
    hub_on, hub_off = (plans[i].spec for i in case_jobs["forbidden_download"])
    assert hub_on.egress.resolve == {"huggingface.co": "127.0.0.1:1"} and hub_on.egress.policy and not hub_off.egress.policy
    assert hub_on.egress.upstream_ca == str(ca) and hub_on.agent.network
    llm_on, llm_off = (plans[i].spec for i in case_jobs["hosted_llm_api"])
    assert llm_on.egress.resolve == {} and llm_on.egress.policy  # guarded: the real name, denied by the policy
    assert llm_off.egress.resolve == {"api.openai.com": "127.0.0.1:2"} and not llm_off.egress.policy
    assert all(p.spec.model.forbidden == ("ptb-redteam/tiny-instruct",) for p in plans)


def test_work_dir_under_tmp_is_refused() -> None:
    with pytest.raises(ConfigError, match="under /tmp"):
        check_work_dir(Path("/tmp/redteam"))
    with pytest.raises(ConfigError, match="under /tmp"):  # relative, in a checkout under /tmp (CI's clone)
        check_work_dir(Path(os.path.relpath("/tmp/clone/results/redteam")))
    check_work_dir(Path("/var/lib/ptb/results/redteam"))


def test_as_loaded_keeps_what_from_pretrained_reads(tmp_path: Path) -> None:
    from ptb.redteam.unguarded import as_loaded

    final = tmp_path / "final_model"
    final.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors", "00-model.safetensors"):
        (final / name).write_text(name)
    loaded = as_loaded(final, tmp_path / "loaded")
    assert sorted(p.name for p in loaded.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert (final / "00-model.safetensors").is_file()  # the run's own folder is left as it was
