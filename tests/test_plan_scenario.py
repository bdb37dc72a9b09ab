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
    # one service per kind that serves in any year, its demand stepping each 1 January to its share of that
    # year's demand (input + output tokens/s), no headroom; the steps sum to each year's planned demand
    serving = [r for r in planned.rows if r.use == "serving"]
    assert {s.system for s in sc.services} == {r.system for r in serving}
    for i, need in enumerate([1e6, 2e6, 4e6]):
        at = i * 365 * 86400.0
        got = sum(next(st.tokens_per_s for st in s.demand.steps if st.at_s == at) for s in sc.services)
        assert got == pytest.approx(need * (294 + 290) / 290, rel=1e-4)
    assert all(s.demand.growth_per_year == 1.0 and s.headroom == 0.0 for s in sc.services)
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


def test_replacement_hardware_gets_jobs_and_a_late_service_starts_late(cat):
    """Hardware bought when the first cohort retires runs new job slots (the plan keeps its jobs every year), and a
    kind that serves only from a later year gets a service whose demand is 0 until then."""
    years = [2026, 2027, 2028, 2029, 2030, 2031, 2032]
    res = plan_capacity(cat, ["gb200"], ["new-carlisle"], years, [4e18] * 7, job_chips=1024,
                        serve_tokens_per_s=[0, 0, 1e6, 1e6, 1e6, 1e6, 1e6], serve_rate={"gb200": 3000.0})
    life = int(round(cat.economics().hardware_life_years))
    doc = plan_scenario(res, cat, workload="llama3-8b", tokens_per_s_per_chip={"gb200": 1000.0}, job_chips=1024,
                        serve_model="llama3-8b")
    sc = scenario_from_dict(yaml.safe_load(yaml.safe_dump(doc)), catalog=cat)
    jobs_per_year = [r.jobs for r in res.rows if r.use == "training"]
    for i, n in enumerate(jobs_per_year):  # every year's job slots run: jobs in flight on 1 July of that year
        mid = (i * 365 + 182) * 86400.0
        running = [j for j in sc.jobs if j.arrival_s <= mid < j.arrival_s + 90 * 86400.0]
        assert len(running) == n, (years[i], len(running), n)
    assert any(j.arrival_s >= life * 365 * 86400.0 for j in sc.jobs)
    (svc,) = sc.services
    steps = {round(st.at_s / 86400.0 / 365): st.tokens_per_s for st in svc.demand.steps}
    assert steps[0] == 0.0 and steps[1] == 0.0 and steps[2] > 0


def test_the_fleet_follows_a_stepped_demand(cat):
    """A service's demand steps: the fleet's demand is the step's figure from its time on (0 before a service
    starts), before the daily shape (flat here)."""
    from rainier.fleet import Simulation

    doc = {"name": "s", "horizon": "3d", "perf": {"backend": "physics"},
           "sites": [{"name": "x", "power_cap": "100MW", "pue": 1.1, "systems": [{"kind": "trn2-ultraserver", "installed": 8}]}],
           "tenants": [{"name": "t"}],
           "services": [{"name": "api", "tenant": "t", "model": "llama3-8b", "system": "trn2-ultraserver",
                         "demand": {"tokens_per_s": "1M", "steps": [{"at": "0d", "tokens_per_s": 0},
                                                                    {"at": "1d", "tokens_per_s": "2M"}]}}]}
    sim = Simulation(scenario_from_dict(doc, catalog=cat), cat)
    sv = sim.services[0]
    assert sim._demand(sv, 3600.0) == 0.0
    assert sim._demand(sv, 86400.0 * 1.5) == pytest.approx(2e6)
    with pytest.raises(RainierError, match="steps"):
        bad = {**doc, "services": [{**doc["services"][0], "demand": {"tokens_per_s": "1M", "steps": [
            {"at": "1d", "tokens_per_s": 1}, {"at": "0d", "tokens_per_s": 1}]}}]}
        scenario_from_dict(bad, catalog=cat)


def test_scenario_out_cli_names_kinds_as_the_catalog_and_refuses_model_files(run_cli, tmp_path, cat):
    out = tmp_path / "u.yaml"
    rc, _, err = run_cli("plan", "--chip", "TRN2,GB200", "--demand", "2026:2Mtok/s", "--workload", "llama3-8b",
                         "--job-chips", "1024", "--scenario-out", str(out))
    assert rc == 0, err
    assert scenario_from_dict(yaml.safe_load(out.read_text()), catalog=cat).jobs
    model = tmp_path / "m.yaml"
    model.write_text("name: m\n")
    bad = tmp_path / "mm.yaml"
    rc, _, err = run_cli("plan", "--chip", "gb200", "--serve", str(model), "--serve-demand", "2026:5Mtok/s",
                         "--scenario-out", str(bad))
    assert rc == 2 and "--scenario-out" in err and len(err.strip().splitlines()) == 1 and not bad.exists()
    rc, _, err = run_cli("plan", "--chip", "gb200", "--serve", "llama3-8b", "--serve-demand", "2026:100Gtok/s")
    assert rc == 2 and err.startswith("error: --serve-demand") and "tokens/s" in err
