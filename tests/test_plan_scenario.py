"""A capacity plan exported as a fleet scenario (`rainier plan --scenario-out`): the planned hardware, the
workload's jobs and the served model's services, loadable and runnable by the fleet simulator."""

from __future__ import annotations

import json

import pytest
import yaml

from rainier.errors import RainierError
from rainier.fleet import run_fleet
from rainier.fleet.scenario import scenario_from_dict
from rainier.plan.capacity import plan_capacity
from rainier.plan.scenario_out import plan_scenario


@pytest.fixture(scope="module")
def planned():
    from rainier.catalog import default_catalog

    cat = default_catalog()
    years = [2026, 2027, 2028]
    return plan_capacity(cat, ["trn2", "gb200"], ["new-carlisle"], years, [2e18, 4e18, 4e18], job_chips=512,
                         serve_tokens_per_s=[1e6, 2e6, 4e6], serve_rate={"trn2": 600.0, "gb200": 3000.0})


def test_the_scenario_holds_the_plans_hardware_jobs_and_services(cat, planned):
    rate = {"trn2": 500.0, "gb200": 2500.0}
    doc = plan_scenario(planned, cat, workload="llama3-8b", tokens_per_s_per_chip=rate, job_chips=512,
                        serve_model="llama3-8b", seq=8192, global_batch=256, job_days=120)
    sc = scenario_from_dict(yaml.safe_load(yaml.safe_dump(doc)), catalog=cat)
    assert sc.horizon_s == pytest.approx(3 * 365 * 86400.0)
    systems = {r.chip: r.system for r in planned.rows}
    for pool in sc.sites[0].systems:
        chip = next(c for c, s in systems.items() if s == pool.kind)
        bought = sum(r.systems_bought for r in planned.rows if r.chip == chip)
        assert pool.systems_ever == bought  # every purchase arrives once
        first = sum(r.systems_bought for r in planned.rows if r.chip == chip and r.year == 2026)
        assert pool.installed == first
    # every planned job slot runs back-to-back jobs of 120 failure-free days at the planned rate
    slots = {}
    for r in planned.rows:
        if r.use == "training":
            slots[(r.chip, r.year)] = r.jobs
    jobs = sc.jobs
    assert jobs and all(j.chips == 512 and j.model == "llama3-8b" for j in jobs)
    for j in jobs:
        chip = next(c for c, s in systems.items() if s == j.system)
        assert j.tokens <= rate[chip] * 512 * 120 * 86400 * (1 + 1e-5)
    total_tokens = sum(j.tokens for j in jobs)
    planned_tokens = sum(rate[r.chip] * 512 * (r.jobs or 0) * 365 * 86400 for r in planned.rows if r.use == "training")
    assert total_tokens == pytest.approx(planned_tokens, rel=1e-4)
    # one service per kind serving in the first year, the first year's demand in input + output tokens/s
    first = [r for r in planned.rows if r.year == 2026 and r.use == "serving"]
    assert {s.system for s in sc.services} == {r.system for r in first}
    assert sum(s.demand.tokens_per_s for s in sc.services) == pytest.approx(1e6 * (294 + 290) / 290, rel=1e-4)
    assert all(s.demand.growth_per_year == pytest.approx(2.0) for s in sc.services)
    assert sc.perf.seq == 8192 and sc.perf.global_batch_tokens == 256 * 8192
    # and the fleet runs it (a fortnight here)
    short = scenario_from_dict({**yaml.safe_load(yaml.safe_dump(doc)), "horizon": "14d"}, catalog=cat)
    res = run_fleet(short, catalog=cat)
    assert res.summary["totals"]["jobs_submitted"] > 0


def test_a_plan_without_work_or_with_a_bad_job_length_is_refused(cat, planned):
    with pytest.raises(RainierError, match="--scenario-out"):
        plan_scenario(planned, cat)
    with pytest.raises(RainierError, match="job_days"):
        plan_scenario(planned, cat, workload="llama3-8b", tokens_per_s_per_chip={"trn2": 1.0, "gb200": 1.0},
                      job_chips=512, job_days=0)


def test_plan_cli_writes_a_scenario_the_fleet_loads(run_cli, tmp_path, cat):
    out = tmp_path / "plan.yaml"
    rc, stdout, err = run_cli("plan", "--demand", "2026:2Mtok/s", "--chip", "trn2", "--site", "new-carlisle",
                              "--workload", "llama3-8b", "--job-chips", "512", "--seq", "8192", "--global-batch", "256",
                              "--scenario-out", str(out), "--json")
    assert rc == 0, err
    d = json.loads(stdout)
    assert any(n.startswith("scenario:") for n in d["notes"])
    sc = scenario_from_dict(yaml.safe_load(out.read_text()), catalog=cat)
    assert sc.jobs and sc.sites[0].systems[0].kind == "trn2-ultraserver"
    bad = tmp_path / "none.yaml"
    rc, _, err = run_cli("plan", "--demand", "2026:2EF", "--chip", "trn2", "--scenario-out", str(bad))
    assert rc == 2 and "--scenario-out" in err and len(err.strip().splitlines()) == 1 and not bad.exists()
