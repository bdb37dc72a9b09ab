"""Capacity planner (MILP): closed-form single-option plans, caps, launch years, retirement."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainier.econ import power_chain
from rainier.errors import RainierError
from rainier.plan.capacity import plan_capacity


def test_single_option_is_the_ceiling(cat):
    demand = [1e20, 3e20]
    res = plan_capacity(cat, ["h100"], ["new-carlisle"], [2026, 2027], demand, utilization=0.5)
    per_system = 8 * cat.accelerator("h100").peak_flops("bf16") * 0.5
    for year, d in zip([2026, 2027], demand, strict=True):
        (row,) = [r for r in res.rows if r.year == year]
        assert row.systems_installed == math.ceil(d / per_system)
        assert row.delivered_flops >= d


def test_power_caps_are_respected_and_infeasible_is_an_error(cat):
    site = cat.site("mississippi")
    acc = cat.accelerator("trn2")
    fac = power_chain(acc, cat.system_for(acc), cat.economics(), site=site).facility_w
    max_chips = site.power_mw * 1e6 / fac
    too_much = max_chips * acc.peak_flops("bf16") * 0.4 * 1.05
    with pytest.raises(RainierError, match="--demand"):
        plan_capacity(cat, ["trn2"], ["mississippi"], [2026], [too_much])
    ok = plan_capacity(cat, ["trn2"], ["mississippi"], [2026], [too_much * 0.9])
    assert sum(r.facility_power_w for r in ok.rows) <= site.power_mw * 1e6 * (1 + 1e-9)


def test_chip_not_bought_before_launch(cat):
    res = plan_capacity(cat, ["trn2", "trn4"], ["new-carlisle"], [2025, 2026], [1e20, 1e20])
    assert all(r.chip != "trn4" for r in res.rows)  # launch_year 2027


def test_hardware_retires_after_its_life(cat):
    life = cat.economics().hardware_life_years
    years = [2026, 2026 + int(life)]
    res = plan_capacity(cat, ["h100"], ["new-carlisle"], years, [1e20, 1e20])
    later = [r for r in res.rows if r.year == years[1]]
    assert later and later[0].systems_bought == later[0].systems_installed > 0


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(min_value=1e15, max_value=4e20)), min_size=1, max_size=3))
def test_plans_meet_demand_within_caps(demand):
    from rainier.catalog import default_catalog

    cat = default_catalog()
    years = list(range(2026, 2026 + len(demand)))
    res = plan_capacity(cat, ["trn2", "gb200"], ["new-carlisle", "mississippi"], years, demand)
    for y, d in zip(years, demand, strict=True):
        rows = [r for r in res.rows if r.year == y]
        assert sum(r.delivered_flops for r in rows) >= d * (1 - 1e-9)
        for site, by_year in res.power_cap_w_by_year.items():
            assert sum(r.facility_power_w for r in rows if r.site == site) <= by_year[y] * (1 + 1e-9)


def test_plan_cli_json(run_cli):
    import json

    rc, out, _ = run_cli("plan", "--demand", "2026:50EF,2027:100EF", "--chip", "trn2,h100", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["status"] == "optimal" and d["rows"]
    rc, _, err = run_cli("plan", "--demand", "2026-50EF")
    assert rc == 2 and "--demand" in err


def test_years_between_demand_figures_are_planned_and_paid(cat):
    short = plan_capacity(cat, ["h100"], ["new-carlisle"], [2026, 2027], [1e20, 1e20])
    long = plan_capacity(cat, ["h100"], ["new-carlisle"], [2026, 2029], [1e20, 1e20])
    assert sorted({r.year for r in long.rows}) == [2026, 2027, 2028, 2029]
    assert long.total_cost_usd == pytest.approx(2 * short.total_cost_usd, rel=1e-6)


def test_precision_is_checked(cat):
    with pytest.raises(RainierError, match="--precision"):
        plan_capacity(cat, ["trn2"], ["new-carlisle"], [2026], [1e20], precision="bogus")
    with pytest.raises(RainierError, match="fp4"):
        plan_capacity(cat, ["trn2"], ["new-carlisle"], [2026], [1e20], precision="fp4")


def test_per_chip_utilization_sets_each_chips_delivered_flops(cat):
    util = {"h100": 0.45, "trn2": 0.25}
    res = plan_capacity(cat, ["h100", "trn2"], ["new-carlisle"], [2029], [2e20], utilization=util)
    assert res.utilization_by_chip == util
    for r in res.rows:
        acc = cat.accelerator(r.chip)
        assert r.delivered_flops == pytest.approx(r.chips_installed * acc.peak_flops("bf16") * util[r.chip])
    with pytest.raises(RainierError, match="--utilization"):
        plan_capacity(cat, ["h100", "trn2"], ["new-carlisle"], [2026], [2e20], utilization={"h100": 0.4})
    with pytest.raises(RainierError, match="--utilization"):
        plan_capacity(cat, ["h100"], ["new-carlisle"], [2026], [2e20], utilization={"h100": 1.5})


def test_workload_utilization_is_mfu_times_goodput(cat):
    from rainier.perf.training import estimate_training
    from rainier.plan.capacity import workload_utilization

    fits = workload_utilization(cat, ["h100", "trn2"], "llama3-70b", seq=8192, global_batch=1024, job_chips=4096)
    for f in fits:
        r = estimate_training("llama3-70b", f.chip, 4096, seq=8192, global_batch=1024, catalog=cat)
        assert f.mfu == pytest.approx(r.mfu) and f.goodput == pytest.approx(r.goodput["fraction"])
        assert f.utilization == pytest.approx(r.mfu * r.goodput["fraction"])
    no_gp = workload_utilization(cat, ["h100"], "llama3-70b", seq=8192, global_batch=1024, job_chips=4096,
                                 goodput=False)
    assert no_gp[0].utilization == pytest.approx(fits[0].mfu)


def test_plan_cli_workload_in_tokens_per_second(run_cli):
    import json

    from rainier.catalog import default_catalog
    from rainier.perf.training import model_flops_per_token

    cat = default_catalog()
    rc, out, err = run_cli("plan", "--demand", "2026:5Mtok/s,2027:10Mtok/s", "--chip", "h100,gb200",
                           "--workload", "llama3-70b", "--seq", "8192", "--global-batch", "1024",
                           "--job-chips", "4096", "--json")
    assert rc == 0, err
    d = json.loads(out)
    fpt = model_flops_per_token(cat.model("llama3-70b"), 8192)
    assert d["workload"]["flops_per_token"] == pytest.approx(fpt)
    assert d["demand_flops"] == pytest.approx([5e6 * fpt, 10e6 * fpt])
    for year, need in zip(d["years"], d["demand_flops"], strict=True):
        got = sum(r["delivered_flops"] for r in d["rows"] if r["year"] == year)
        assert got >= need * (1 - 1e-9)
    assert set(d["utilization_by_chip"]) == {"h100", "gb200"}
    for f in d["workload"]["chips"]:
        assert d["utilization_by_chip"][f["chip"]] == pytest.approx(f["mfu"] * f["goodput"])
    # tokens/s without a model, and both ways of giving utilization: one-line errors naming the flag
    rc, _, err = run_cli("plan", "--demand", "2026:5Mtok/s", "--chip", "h100")
    assert rc == 2 and "--demand" in err and "--workload" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli("plan", "--demand", "2026:50EF", "--chip", "h100", "--workload", "llama3-70b",
                         "--utilization", "0.4")
    assert rc == 2 and "--utilization" in err and len(err.strip().splitlines()) == 1


def test_plan_cli_workload_leaves_out_a_chip_that_cannot_run_it(run_cli):
    import json

    rc, out, err = run_cli("plan", "--demand", "2026:1Mtok/s", "--chip", "h100,inf2", "--workload", "llama3.1-405b",
                           "--seq", "8192", "--global-batch", "256", "--job-chips", "128", "--no-goodput", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert list(d["utilization_by_chip"]) == ["h100"]
    assert any(n.startswith("inf2: left out") for n in d["notes"])
    assert all(r["chip"] == "h100" for r in d["rows"])


def test_site_build_out_ramp_is_linear_between_years_and_closed_before(cat):
    site = cat.site("new-carlisle")
    ramp = site.power_mw_by_year
    assert ramp and max(ramp.values()) <= site.power_mw
    ys = sorted(ramp)
    assert site.power_w_in(ys[0] - 1) == 0.0
    assert site.power_w_in(ys[-1] + 5) == ramp[ys[-1]] * 1e6
    a, b = ys[-2], ys[-1]
    if b - a > 1:
        mid = site.power_w_in(a + 1)
        assert mid == pytest.approx((ramp[a] + (ramp[b] - ramp[a]) / (b - a)) * 1e6)
    online = cat.site("mississippi")  # no ramp: its full power from the online year on
    year = int(online.online[:4])
    assert online.power_w_in(year - 1) == 0.0 and online.power_w_in(year) == online.power_mw * 1e6


def test_site_ramp_is_validated(tmp_path):
    from pydantic import ValidationError

    from rainier.catalog.schema import Site

    base = {"name": "x", "source": "test", "location": "y", "power_mw": 100, "pue": 1.2, "electricity_usd_per_mwh": 50}
    with pytest.raises(ValidationError, match="power_mw_by_year"):
        Site(**base, power_mw_by_year={2026: 150})
    with pytest.raises(ValidationError, match="online"):
        Site(**base, online="soon")


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(min_value=1e19, max_value=2e20), min_size=2, max_size=3),
       st.floats(min_value=2e4, max_value=3e5))
def test_supply_limits_and_yearly_caps_hold(demand, supply):
    from rainier.catalog import default_catalog

    cat = default_catalog()
    years = list(range(2027, 2027 + len(demand)))
    try:
        res = plan_capacity(cat, ["trn3", "gb200"], ["new-carlisle", "mississippi"], years, demand,
                            supply_chips={"trn3": supply}, power_cap_w={"mississippi": {2028: 100e6}})
    except RainierError as e:  # only a plan that cannot be met may be refused, and it says why
        assert e.field in ("--demand", "--supply")
        return
    for y, d in zip(years, demand, strict=True):
        rows = [r for r in res.rows if r.year == y]
        assert sum(r.delivered_flops for r in rows) >= d * (1 - 1e-9)
        bought = sum(r.systems_bought * cat.system_for(cat.accelerator("trn3")).chips for r in rows if r.chip == "trn3")
        assert bought <= supply
        for site, by_year in res.power_cap_w_by_year.items():
            assert sum(r.facility_power_w for r in rows if r.site == site) <= by_year[y] * (1 + 1e-9)
    assert res.power_cap_w_by_year["mississippi"][2027] == cat.site("mississippi").power_mw * 1e6
    if len(years) > 1:
        assert res.power_cap_w_by_year["mississippi"][2028] == 100e6


def test_marginal_value_of_power_is_the_cost_gap_between_sites(cat):
    """One chip kind, a cheap site capped and a dearer one slack: one MW more at the cheap site moves 1 MW of
    chips off the dear one, saving the difference in their owner cost per chip over the years they run."""
    from rainier.econ import HOURS_PER_YEAR, chip_hour_cost

    acc = cat.accelerator("trn2")
    sy, econ = cat.system_for(acc), cat.economics()
    cheap, dear = cat.site("new-carlisle"), cat.site("generic-colo")
    years = [2027, 2028]
    res = plan_capacity(cat, ["trn2"], ["new-carlisle", "generic-colo"], years, [50e18, 50e18],
                        power_cap_w={"new-carlisle": 100e6})
    used = {s: sum(r.facility_power_w for r in res.rows if r.year == 2027 and r.site == s) for s in ("new-carlisle", "generic-colo")}
    assert used["generic-colo"] > 0 and used["new-carlisle"] > 0.99 * 100e6
    # a MW more from 2027 on moves chips bought in 2027 to the cheap site for both planned years; from 2028 on it
    # is worth nothing: demand is flat and the dear site's chips, bought in 2027, stay
    chips_cheap = 1e6 / power_chain(acc, sy, econ, site=cheap).facility_w
    cost_dear = chip_hour_cost(acc, sy, econ, site=dear).total_usd
    cost_cheap = chip_hour_cost(acc, sy, econ, site=cheap).total_usd
    # one MW at the cheap site replaces chips_cheap chips at the dear one (same FLOP/s per chip)
    expected = chips_cheap * (cost_dear - cost_cheap) * HOURS_PER_YEAR * len(years)
    got = res.power_value_usd_per_mw["new-carlisle"]
    assert got[2027] == pytest.approx(expected, rel=0.02)
    assert got[2028] == 0.0
    assert all(v == 0 for v in res.power_value_usd_per_mw["generic-colo"].values())
    assert any("new-carlisle" in line and "binds" in line for line in res.binding())


def test_marginal_cost_of_demand_is_a_chip_year_per_flop(cat):
    from rainier.econ import HOURS_PER_YEAR, chip_hour_cost

    acc = cat.accelerator("h100")
    sy = cat.system_for(acc)
    site = cat.site("generic-hyperscale")
    res = plan_capacity(cat, ["h100"], ["generic-hyperscale"], [2027], [50e18], utilization=0.5)
    per_ef = 1e18 / (acc.peak_flops("bf16") * 0.5) * chip_hour_cost(acc, sy, cat.economics(), site=site).total_usd
    assert res.demand_cost_usd_per_ef_s[2027] == pytest.approx(per_ef * HOURS_PER_YEAR, rel=1e-6)
    assert res.power_value_usd_per_mw["generic-hyperscale"][2027] == 0.0


def test_plan_cli_power_cap_and_supply(run_cli):
    import json

    rc, out, _ = run_cli("plan", "--demand", "2027:100EF,2028:150EF", "--chip", "trn3,gb200", "--supply", "trn3:2027:50k",
                         "--power-cap", "mississippi:2028:0MW,new-carlisle:800MW", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["power_cap_w_by_year"]["new-carlisle"] == {"2027": 800e6, "2028": 800e6}
    assert d["power_cap_w_by_year"]["mississippi"]["2028"] == 0.0
    assert not [r for r in d["rows"] if r["site"] == "mississippi" and r["year"] == 2028]
    assert sum(r["systems_bought"] for r in d["rows"] if r["chip"] == "trn3" and r["year"] == 2027) * 144 <= 50_000 + 144
    assert set(d["marginal"]) >= {"power_usd_per_mw", "supply_usd_per_chip", "demand_usd_per_ef_s"}
    for bad, field in ((["--power-cap", "new-carlisle"], "--power-cap"), (["--power-cap", "atlantis:1GW"], "--power-cap"),
                       (["--supply", "h100:10k"], "--supply"), (["--supply", "trn3:-5"], "--supply"),
                       (["--supply", "trn3:1k,trn3:2k"], "--supply")):
        rc, _, err = run_cli("plan", "--demand", "2027:100EF", "--chip", "trn3,gb200", *bad)
        assert rc == 2 and field in err and "Traceback" not in err


def test_marginal_cost_of_flat_demand_is_not_a_degenerate_zero(cat):
    """Flat demand over two years made the LP dual of the second year's demand 0 (a degenerate optimum);
    one more EF/s in the last year costs one year of the chips that deliver it, in the first year two."""
    from rainier.econ import HOURS_PER_YEAR, chip_hour_cost

    acc = cat.accelerator("h100")
    site = cat.site("generic-hyperscale")
    res = plan_capacity(cat, ["h100"], ["generic-hyperscale"], [2027, 2028], [50e18, 50e18], utilization=0.5)
    per_ef_year = (1e18 / (acc.peak_flops("bf16") * 0.5) * HOURS_PER_YEAR
                   * chip_hour_cost(acc, cat.system_for(acc), cat.economics(), site=site).total_usd)
    assert res.demand_cost_usd_per_ef_s[2028] == pytest.approx(per_ef_year, rel=1e-6)
    assert res.demand_cost_usd_per_ef_s[2027] == pytest.approx(2 * per_ef_year, rel=1e-6)


def test_plan_cli_keys_are_canonical_and_figures_checked(run_cli):
    import json

    base = ("plan", "--demand", "2027:100EF,2028:150EF", "--chip", "trn3,gb200")
    for bad, words in ((["--power-cap", "new-carlisle:500MW,indiana:600MW"], "given twice"),
                       (["--supply", "trn3:100k,trainium3:50k"], "given twice"),
                       (["--power-cap", "new-carlisle:2031:1GW"], "outside the planned years"),
                       (["--supply", "trn3:1.5"], "whole chips"),
                       (["--power-cap", "mississippi:500MW", "--site", "new-carlisle"], "not among the planned sites")):
        rc, _, err = run_cli(*base, *bad)
        assert rc == 2 and words in err and "Traceback" not in err, (bad, err)
        assert ("--power-cap" if "--power-cap" in bad else "--supply") in err
    rc, out, _ = run_cli(*base, "--power-cap", "new-carlisle:900", "--json")  # a bare number is MW
    assert rc == 0 and json.loads(out)["power_cap_w_by_year"]["new-carlisle"]["2027"] == 900e6


def test_a_demand_beyond_the_supply_limits_names_supply_and_the_most_installable(cat):
    acc = cat.accelerator("trn3")
    most = 100_000 * acc.peak_flops("bf16") * 0.4  # one year of supply, power to spare
    with pytest.raises(RainierError, match="--supply") as e:
        plan_capacity(cat, ["trn3"], ["generic-hyperscale"], [2027], [most * 1.5], supply_chips={"trn3": 100_000})
    assert f"{most / 1e18:.3g} EF/s" in str(e.value)
    ok = plan_capacity(cat, ["trn3"], ["generic-hyperscale"], [2027], [most * 0.99], supply_chips={"trn3": 100_000})
    assert sum(r.chips_installed for r in ok.rows) <= 100_000


def test_workload_plan_flags_chips_fewer_than_one_job(run_cli):
    """With --no-whole-jobs a workload plan meets its demand in FLOP/s, so it may buy a kind's few systems at a
    site: every planned (year, site, chip) with fewer chips than one --job-chips job is named in a note."""
    import json

    rc, out, err = run_cli("plan", "--demand", "2026:20Mtok/s,2027:50Mtok/s", "--chip", "trn2,trn3,gb200,h100",
                           "--workload", "llama3.1-405b", "--job-chips", "16384", "--no-whole-jobs", "--json")
    assert rc == 0, err
    d = json.loads(out)
    small = [r for r in d["rows"] if 0 < r["chips_installed"] < 16384]
    flagged = [n for n in d["notes"] if n.startswith("fewer chips than one --job-chips job")]
    assert small and flagged  # this plan buys three 8-GPU H100 servers in 2027 beside GB200
    for r in small[:6]:
        assert f"{r['year']} {r['site']} {r['chip']} {r['chips_installed']:,}" in flagged[0]


def _check_whole_jobs(cat, res, demand, job):  # noqa: ANN001
    """Every (year, site, chip) runs whole jobs on chips it has, only their chips deliver (job x peak x
    utilization each), nothing is bought that runs no job, and each year's jobs meet its demand."""
    for r in res.rows:
        assert r.jobs is not None and r.jobs * job <= r.chips_installed
        per_chip = cat.accelerator(r.chip).peak_flops("bf16") * res.utilization_by_chip[r.chip]
        assert r.delivered_flops == pytest.approx(r.jobs * job * per_chip)
        if r.systems_bought:
            assert r.jobs >= 1
    for year, need in zip(res.years, demand, strict=True):
        assert sum(r.delivered_flops for r in res.rows if r.year == year) >= need * (1 - 1e-9)


def test_whole_jobs_plan_runs_only_whole_jobs_and_costs_no_less(cat):
    """With job_chips the demand is met by whole jobs of one kind at one site: each row's jobs fit in its chips,
    its delivered FLOP/s are its jobs' (job x peak x utilization), and the plan costs at least the FLOP/s-only
    plan (a tighter problem); without job_chips rows carry no job count."""
    chips, sites, years, demand = ["trn2", "gb200"], ["new-carlisle", "mississippi"], [2026, 2027], [2e20, 6e20]
    free = plan_capacity(cat, chips, sites, years, demand)
    whole = plan_capacity(cat, chips, sites, years, demand, job_chips=16384)
    assert all(r.jobs is None for r in free.rows) and free.job_chips is None
    assert whole.job_chips == 16384 and whole.to_dict()["job_chips"] == 16384
    _check_whole_jobs(cat, whole, demand, 16384)
    assert whole.total_cost_usd >= free.total_cost_usd * (1 - 1e-4)
    # a job smaller than a system shares it: 8-chip jobs run 9 to an NVL72 rack; a 100-chip job takes 2 racks
    small = plan_capacity(cat, ["gb200"], ["new-carlisle"], [2026], [1e19], job_chips=8)
    assert all(r.jobs == 9 * r.systems_installed for r in small.rows)
    big = plan_capacity(cat, ["gb200"], ["new-carlisle"], [2026], [1e19], job_chips=100)
    assert all(r.systems_installed == 2 * r.jobs for r in big.rows)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job=st.sampled_from([8, 64, 100, 1000, 4096, 20000]), ef=st.floats(1.0, 100.0))
def test_whole_jobs_property(cat, job, ef):
    """Whatever the job size and demand (up to half what the site can hold, so that whole jobs fit): whole jobs
    fit their chips, meet the demand, and cost no less."""
    demand = [ef * 1e18]
    whole = plan_capacity(cat, ["trn2", "gb200"], ["new-carlisle"], [2026], demand, job_chips=job)
    _check_whole_jobs(cat, whole, demand, job)
    free = plan_capacity(cat, ["trn2", "gb200"], ["new-carlisle"], [2026], demand)
    assert whole.total_cost_usd >= free.total_cost_usd * (1 - 1e-4)


def test_whole_jobs_refuses_a_bad_job_size_and_plans_by_default_with_a_workload(cat, run_cli):
    import json

    for bad in (0, -5, 2.5, True):
        with pytest.raises(RainierError, match="--job-chips"):
            plan_capacity(cat, ["trn2"], ["new-carlisle"], [2026], [1e20], job_chips=bad)  # type: ignore[arg-type]
    rc, out, err = run_cli("plan", "--demand", "2026:20Mtok/s", "--chip", "trn2,gb200", "--workload", "llama3.1-405b",
                           "--job-chips", "16384", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["job_chips"] == 16384 and all(r["jobs"] >= 1 for r in d["rows"])
    assert any(n.startswith("whole jobs:") for n in d["notes"])
    assert not any(n.startswith("fewer chips than one") for n in d["notes"])
    rc, _, err = run_cli("plan", "--demand", "2026:50EF", "--chip", "h100", "--no-whole-jobs")
    assert rc == 2 and "--no-whole-jobs" in err and len(err.strip().splitlines()) == 1


def test_serving_demand_is_met_by_chips_bought_for_it(cat):
    """A serving demand is met by serving rows (chips x rate each, no training FLOP/s), the training demand by
    training rows, both within each site's power cap; serving costs extra; serving alone plans too."""
    chips, sites, years = ["h100", "trn2", "gb200"], ["new-carlisle", "mississippi"], [2026, 2027]
    train, serve = [1e20, 3e20], [50e6, 200e6]
    rate = {"h100": 1300.0, "trn2": 640.0, "gb200": 3400.0}
    res = plan_capacity(cat, chips, sites, years, train, serve_tokens_per_s=serve, serve_rate=rate)
    base = plan_capacity(cat, chips, sites, years, train)
    assert res.total_cost_usd > base.total_cost_usd
    assert res.serve_tokens_per_s == serve and res.serve_rate_by_chip == rate
    for i, year in enumerate(years):
        rows = [r for r in res.rows if r.year == year]
        assert sum(r.delivered_flops for r in rows) >= train[i] * (1 - 1e-9)
        assert sum(r.served_tokens_per_s or 0.0 for r in rows) >= serve[i] * (1 - 1e-9)
        for site in sites:
            used = sum(r.facility_power_w for r in rows if r.site == site)
            assert used <= res.power_cap_w_by_year[site][year] * (1 + 1e-9)
        for r in rows:
            if r.use == "serving":
                assert r.delivered_flops == 0.0 and r.served_tokens_per_s == pytest.approx(r.chips_installed * rate[r.chip])
            else:
                assert r.use == "training" and r.served_tokens_per_s is None
        assert res.serve_cost_usd_per_mtok_s[year] is not None and res.serve_cost_usd_per_mtok_s[year] > 0
    alone = plan_capacity(cat, chips, ["new-carlisle"], years, [0.0, 0.0], serve_tokens_per_s=serve, serve_rate=rate)
    assert alone.rows and all(r.use == "serving" for r in alone.rows)
    # a kind with no rate serves nothing
    no_h100 = plan_capacity(cat, chips, ["new-carlisle"], years, [0.0, 0.0], serve_tokens_per_s=serve,
                            serve_rate={**rate, "h100": 0.0})
    assert not any(r.chip == "h100" for r in no_h100.rows)


def test_serving_is_bought_in_whole_replicas(cat):
    """A 16-chip replica on 8-GPU H100 systems: the plan bought one system (8 chips) and counted 8 x the per-chip
    rate as served, a deployment that cannot hold the model; now it buys whole replicas. A 4-chip replica packs two
    to a system; a 3-chip one two (two chips idle), served at 6/8 of the per-chip rate."""
    for replica, per_block_chips, served_share in ((16, 16, 1.0), (4, 8, 1.0), (3, 8, 6 / 8)):
        res = plan_capacity(cat, ["h100"], ["new-carlisle"], [2026], [0.0], serve_tokens_per_s=[1000.0],
                            serve_rate={"h100": 231.0}, serve_replica_chips={"h100": replica})
        (row,) = res.rows
        assert row.chips_installed % per_block_chips == 0
        assert row.served_tokens_per_s == pytest.approx(row.chips_installed * 231.0 * served_share)
        assert row.served_tokens_per_s >= 1000.0


def test_serving_demand_bad_input(cat):
    rate = {"trn2": 640.0}
    for kwargs in ({"serve_tokens_per_s": [1e6]}, {"serve_rate": rate},
                   {"serve_tokens_per_s": [1e6, 2e6], "serve_rate": rate},
                   {"serve_tokens_per_s": [-1.0], "serve_rate": rate},
                   {"serve_tokens_per_s": [1e6], "serve_rate": {"h100": 10.0}},
                   {"serve_tokens_per_s": [1e6], "serve_rate": {"trn2": -5.0}},
                   {"serve_tokens_per_s": [1e6], "serve_rate": {"trn2": 0.0}}):
        with pytest.raises(RainierError) as e:
            plan_capacity(cat, ["trn2"], ["new-carlisle"], [2026], [0.0], **kwargs)
        assert e.value.field in ("--serve-demand", "--serve")


def test_plan_cli_serves_a_model_beside_training(run_cli):
    import json

    rc, out, err = run_cli("plan", "--demand", "2026:20EF", "--chip", "h100,gb200", "--serve", "llama3-8b",
                           "--serve-demand", "2026:5Mtok/s,2027:10Mtok/s", "--serve-chips", "8", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["years"] == [2026, 2027] and d["demand_flops"] == [20e18, 20e18]
    assert d["serve_tokens_per_s"] == [5e6, 1e7]
    rates = {f["chip"]: f["tokens_per_s_per_chip"] for f in d["serving"]["chips"]}
    assert d["serve_rate_by_chip"] == pytest.approx(rates) and all(v > 0 for v in rates.values())
    for year, need in zip(d["years"], d["serve_tokens_per_s"], strict=True):
        assert sum(r["served_tokens_per_s"] or 0 for r in d["rows"] if r["year"] == year) >= need * (1 - 1e-9)
    assert {r["use"] for r in d["rows"]} == {"training", "serving"}
    for args, flag in ((("--serve", "llama3-8b"), "--serve-demand"), (("--serve-demand", "2026:5Mtok/s"), "--serve"),
                       (("--demand", "2026:5EF", "--slo-tpot", "50ms"), "--slo-tpot"),
                       (("--serve", "llama3-8b", "--serve-demand", "2026:5EF"), "--serve-demand"), ((), "--demand")):
        rc, _, err = run_cli("plan", "--chip", "h100", *args)
        assert rc == 2 and flag in err and len(err.strip().splitlines()) == 1, (args, err)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=st.lists(st.floats(0.0, 150.0), min_size=2, max_size=2),
       serve=st.lists(st.floats(0.0, 400.0), min_size=2, max_size=2),
       trn2_rate=st.floats(100.0, 2000.0), job=st.sampled_from([None, 512, 4096]))
def test_training_and_serving_property(cat, train, serve, trn2_rate, job):
    """Whatever the two demands (EF/s, M tokens/s) and job size: the plan meets both with whole systems, never
    draws more than a site's cap in a year, and each serving row serves chips x its kind's rate; or it says
    (one RainierError naming a field) that no plan can."""
    rate = {"trn2": trn2_rate, "gb200": 3000.0}
    years = [2026, 2027]
    try:
        res = plan_capacity(cat, ["trn2", "gb200"], ["new-carlisle", "mississippi"], years, [t * 1e18 for t in train],
                            serve_tokens_per_s=[v * 1e6 for v in serve], serve_rate=rate, job_chips=job)
    except RainierError as e:
        assert e.field in ("--demand", "--serve-demand")
        return
    for i, year in enumerate(years):
        rows = [r for r in res.rows if r.year == year]
        assert sum(r.delivered_flops for r in rows) >= train[i] * 1e18 * (1 - 1e-9)
        assert sum(r.served_tokens_per_s or 0.0 for r in rows) >= serve[i] * 1e6 * (1 - 1e-9)
        for site, by in res.power_cap_w_by_year.items():
            assert sum(r.facility_power_w for r in rows if r.site == site) <= by[year] * (1 + 1e-9)
        for r in rows:
            assert r.chips_installed % cat.system(r.system).chips == 0
            if r.use == "serving":
                assert r.served_tokens_per_s == pytest.approx(r.chips_installed * rate[r.chip])


def test_spares_are_bought_with_each_job_and_deliver_nothing(cat):
    """--spares: each job's block carries ceil(share x its systems) spare systems (at least one for any share > 0);
    they cost and draw power but deliver nothing, so the plan costs more and delivers the same jobs."""
    years, demand = [2026], [1e19]
    plain = plan_capacity(cat, ["gb200"], ["new-carlisle"], years, demand, job_chips=1024)
    spared = plan_capacity(cat, ["gb200"], ["new-carlisle"], years, demand, job_chips=1024, job_spares=0.05)
    assert spared.spare_systems_per_job == {"gb200": 1} and plain.spare_systems_per_job == {"gb200": 0}
    a, b = plain.rows[0], spared.rows[0]
    assert a.jobs == b.jobs and a.delivered_flops == pytest.approx(b.delivered_flops)
    assert b.systems_installed == a.systems_installed + b.jobs  # 15 racks per job, plus one spare
    assert spared.total_cost_usd > plain.total_cost_usd
    assert plan_capacity(cat, ["gb200"], ["new-carlisle"], years, demand, job_chips=16384,
                         job_spares=0.05).spare_systems_per_job == {"gb200": 12}  # ceil(0.05 x 228)
    for bad, kwargs in ((-0.1, {"job_chips": 1024}), (1.5, {"job_chips": 1024}), (0.05, {})):
        with pytest.raises(RainierError, match="--spares"):
            plan_capacity(cat, ["gb200"], ["new-carlisle"], years, demand, job_spares=bad, **kwargs)


def test_plan_cli_spares(run_cli):
    import json

    rc, out, err = run_cli("plan", "--demand", "2026:2Mtok/s", "--chip", "gb200", "--site", "new-carlisle",
                           "--workload", "llama3-8b", "--job-chips", "1024", "--spares", "5%", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["spare_systems_per_job"] == {"gb200": 1} and any(n.startswith("spares:") for n in d["notes"])
    (row,) = d["rows"]  # one job: 15 racks (1,080 chips, 56 past the job) + 1 spare rack
    assert (row["jobs"], row["chips_installed"], row["spare_systems"]) == (1, 1152, 1)
    assert any(n.startswith("chips past whole jobs") and "gb200 56 " in n for n in d["notes"])
    rc, out, err = run_cli("plan", "--demand", "2026:2Mtok/s", "--chip", "gb200", "--site", "new-carlisle",
                           "--workload", "llama3-8b", "--job-chips", "1024", "--spares", "auto", "--json")
    assert rc == 0, err
    assert json.loads(out)["spare_systems_per_job"]["gb200"] >= 1
    for args in (("--spares", "5%"), ("--workload", "llama3-8b", "--spares", "abc"),
                 ("--workload", "llama3-8b", "--spares", "150%"),
                 ("--workload", "llama3-8b", "--no-whole-jobs", "--spares", "5%")):
        rc, _, err = run_cli("plan", "--demand", "2026:2EF" if args[0] == "--spares" else "2026:2Mtok/s",
                             "--chip", "gb200", *args)
        assert rc == 2 and "--spares" in err and len(err.strip().splitlines()) == 1, (args, err)


def test_auto_spares_follow_the_failure_model(cat):
    """--spares auto: the fewest spares that leave a job short under 1% of the time, each system down a share u of
    the time (the fleet's default causes: rate x mean repair). Checked against the Poisson tail directly; more
    systems need no fewer spares; a plan with auto spares buys them."""
    from scipy.stats import poisson

    from rainier.fleet.scenario import LLAMA3_CAUSES
    from rainier.plan.capacity import spares_for

    sy = cat.system("gb200-nvl72")
    u = sum((c.rate_per_chip_hour * sy.chips + c.rate_per_system_hour) * c.repair.mean / 3600 for c in LLAMA3_CAUSES)
    last = 0
    for n in (1, 15, 60, 228, 1000):
        k = spares_for(sy, n)
        assert poisson.sf(k, n * u) < 0.01 and (k == 0 or poisson.sf(k - 1, n * u) >= 0.01)
        assert k >= last
        last = k
    res = plan_capacity(cat, ["gb200"], ["new-carlisle"], [2026], [1e19], job_chips=16384, job_spares="auto")
    assert res.spare_systems_per_job == {"gb200": spares_for(sy, 228)}
    assert res.rows[0].systems_installed == res.rows[0].jobs * (228 + spares_for(sy, 228))
