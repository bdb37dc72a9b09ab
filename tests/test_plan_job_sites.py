"""Capacity planner: whole jobs split over several sites (``job_sites``, ``rainier plan --job-sites``)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainier.econ import power_chain
from rainier.errors import RainierError
from rainier.plan.capacity import plan_capacity
from rainier.plan.scenario_out import plan_scenario

SITES = ["new-carlisle", "mississippi"]


def _block_w(cat, chip: str, site: str, chips: int) -> float:  # noqa: ANN001
    acc = cat.accelerator(chip)
    return chips * power_chain(acc, cat.system_for(acc), cat.economics(), site=cat.site(site)).facility_w


def _check_spans(cat, res, job: int, k: int, split_util: dict[str, float]) -> None:  # noqa: ANN001
    """Every spanning block holds the same systems at each of its k sites (together at least the job's), lists its
    jobs at every site it spans, and delivers jobs x job x peak x the split utilization, shared over its sites;
    no site draws more than its cap; the year's jobs are counted once."""
    for year in res.years:
        rows = [r for r in res.rows if r.year == year]
        for site in SITES:
            used = sum(r.facility_power_w for r in rows if r.site == site)
            assert used <= res.power_cap_w_by_year[site][year] * (1 + 1e-9)
        spanning = [r for r in rows if r.spans]
        for r in spanning:
            assert len(r.spans) == k and r.site in r.spans
            group = [q for q in spanning if q.spans == r.spans and q.chip == r.chip]
            assert {q.site for q in group} == set(r.spans)
            assert len({(q.chips_installed, q.jobs, q.systems_installed) for q in group}) == 1  # split evenly
            assert r.jobs >= 1 and k * r.chips_installed >= r.jobs * job
            peak = cat.accelerator(r.chip).peak_flops("bf16")
            assert sum(q.delivered_flops for q in group) == pytest.approx(r.jobs * job * peak * split_util[r.chip])
        whole = sum(r.jobs or 0 for r in rows if not r.spans)
        split = sum(r.jobs for r in spanning if r.site == r.spans[0])
        assert res.jobs_in(year) == whole + split


def test_a_job_larger_than_any_site_is_planned_across_two(cat):
    """A 262,144-chip Trainium2 job draws ~222 MW: under a 200 MW cap at each of two sites no plan runs it at one
    site (the error says --job-sites would), while with job_sites=2 each site holds half of it, within its cap,
    and the job delivers at the utilization given for the split."""
    job = 262144
    caps = {s: 200e6 for s in SITES}
    assert _block_w(cat, "trn2", "new-carlisle", job) > 200e6 > _block_w(cat, "trn2", "new-carlisle", job // 2)
    with pytest.raises(RainierError, match="--job-sites 2") as e:
        plan_capacity(cat, ["trn2"], SITES, [2026], [5e18], utilization=0.3, power_cap_w=caps, job_chips=job)
    assert e.value.field == "--demand"
    res = plan_capacity(cat, ["trn2"], SITES, [2026], [5e18], utilization=0.3, power_cap_w=caps, job_chips=job,
                        job_sites=2, split_utilization={"trn2": 0.25}, cross_site_gbps=100000.0)
    assert res.rows and all(r.spans == tuple(SITES) for r in res.rows)
    assert res.jobs_in(2026) == 1 and res.job_sites == 2 and res.cross_site_gbps == 100000.0
    assert res.split_utilization_by_chip == {"trn2": 0.25}
    _check_spans(cat, res, job, 2, {"trn2": 0.25})
    d = res.to_dict()
    assert d["job_sites"] == 2 and d["rows"][0]["spans"] == tuple(SITES)
    # the split block: ceil(4,096 UltraServers / 2) at each site
    assert all(r.systems_installed == math.ceil(math.ceil(job / 64) / 2) for r in res.rows)


def test_with_room_at_one_site_no_job_spans(cat):
    """Splitting a job buys the same systems (or one more) for less speed: where one site holds the job, the
    least-cost plan never splits it, and costs what the one-site plan costs."""
    kw = dict(utilization={"trn2": 0.3, "gb200": 0.35}, job_chips=16384)
    one = plan_capacity(cat, ["trn2", "gb200"], SITES, [2026, 2027], [1e20, 3e20], **kw)
    two = plan_capacity(cat, ["trn2", "gb200"], SITES, [2026, 2027], [1e20, 3e20], job_sites=2,
                        split_utilization={"trn2": 0.28, "gb200": 0.33}, cross_site_gbps=50000.0, **kw)
    assert not any(r.spans for r in two.rows)
    assert two.total_cost_usd == pytest.approx(one.total_cost_usd, rel=1e-4)


def test_a_kind_without_a_split_rate_does_not_span(cat):
    caps = {s: 120e6 for s in SITES}
    with pytest.raises(RainierError, match="--demand"):  # only gb200 could span, and it has no rate across
        plan_capacity(cat, ["gb200"], SITES, [2026], [1e18], utilization=0.3, power_cap_w=caps, job_chips=131072,
                      job_sites=2, split_utilization={"gb200": 0.0}, cross_site_gbps=1e5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job=st.sampled_from([1024, 4096, 16384, 65536]), room=st.floats(0.55, 2.2), jobs=st.integers(1, 2),
       split=st.floats(0.5, 1.0))
def test_job_sites_property(cat, job, room, jobs, split):
    """Whatever the job size, the room at each site (``room`` x one job's power: below 1 no site holds a job)
    and the speed across sites: if a plan exists, spanning blocks are split evenly and counted once, each site
    stays within its cap, the demand is met, and allowing spans never costs more than one-site jobs."""
    caps = {s: room * _block_w(cat, "trn2", s, job) for s in SITES}
    util = {"trn2": 0.3, "gb200": 0.35}
    split_util = {c: u * split for c, u in util.items()}
    demand = [jobs * job * cat.accelerator("trn2").peak_flops("bf16") * split_util["trn2"] * 0.9]
    try:
        two = plan_capacity(cat, ["trn2", "gb200"], SITES, [2026], demand, utilization=util, power_cap_w=caps,
                            job_chips=job, job_sites=2, split_utilization=split_util, cross_site_gbps=1e5)
    except RainierError as e:
        assert e.field == "--demand"
        return
    _check_spans(cat, two, job, 2, split_util)
    assert sum(r.delivered_flops for r in two.rows) >= demand[0] * (1 - 1e-9)
    if room < 0.9:  # no site holds a trn2 job, nor a gb200 one (more watts per chip): every job spans
        assert all(r.spans for r in two.rows)
    try:
        one = plan_capacity(cat, ["trn2", "gb200"], SITES, [2026], demand, utilization=util, power_cap_w=caps,
                            job_chips=job)
    except RainierError:
        return
    assert two.total_cost_usd <= one.total_cost_usd * (1 + 1e-4)


def test_job_sites_bad_input(cat):
    base = dict(utilization=0.3, job_chips=1024)
    for kwargs, field in (({"job_sites": 0}, "--job-sites"), ({"job_sites": 1.5}, "--job-sites"),
                          ({"job_sites": True}, "--job-sites"), ({"job_sites": 3, "split_utilization": 0.2}, "--job-sites"),
                          ({"job_sites": 2}, "--cross-site-gbps"), ({"job_sites": 2, "cross_site_gbps": 1e4}, "--job-sites"),
                          ({"cross_site_gbps": 1e4}, "--cross-site-gbps"),
                          ({"job_sites": 2, "split_utilization": {"h100": 0.2}, "cross_site_gbps": 1e4}, "--job-sites"),
                          ({"job_sites": 2, "split_utilization": 1.5, "cross_site_gbps": 1e4}, "--job-sites")):
        with pytest.raises(RainierError) as e:
            plan_capacity(cat, ["trn2"], SITES, [2026], [1e19], **{**base, **kwargs})  # type: ignore[arg-type]
        assert e.value.field == field, kwargs
    with pytest.raises(RainierError, match="whole jobs") as e:
        plan_capacity(cat, ["trn2"], SITES, [2026], [1e19], utilization=0.3, job_sites=2, split_utilization=0.2)
    assert e.value.field == "--job-sites"


def test_spanning_jobs_go_to_the_fleet_as_cross_site_jobs(cat):
    """The scenario of a plan with spanning jobs allows cross-site gangs over the plan's link, marks the spanning
    slots' jobs cross_site, runs them at the split rate, and loads in the fleet."""
    from rainier.fleet.scenario import scenario_from_dict

    caps = {s: 0.6e6 for s in SITES}
    res = plan_capacity(cat, ["trn2"], SITES, [2026], [4e16], utilization=0.3, power_cap_w=caps, job_chips=1024,
                        job_sites=2, split_utilization=0.25, cross_site_gbps=3200.0)
    assert all(r.spans for r in res.rows)
    doc = plan_scenario(res, cat, workload="llama3-70b", tokens_per_s_per_chip={"trn2": 100.0}, job_chips=1024,
                        split_tokens_per_s_per_chip={"trn2": 80.0}, seq=8192, global_batch=256)
    assert doc["cross_site"] == {"allowed": True, "gbps": 3200.0}
    assert doc["jobs"] and all(j["cross_site"] for j in doc["jobs"])
    first = doc["jobs"][0]
    assert first["tokens"] == pytest.approx(80.0 * 1024 * 90 * 86400.0, rel=1e-5)
    pools = {s["name"]: s["systems"][0]["installed"] for s in doc["sites"]}
    assert pools == {s: r.systems_installed for s in SITES for r in res.rows if r.site == s}
    sc = scenario_from_dict(doc, catalog=cat)
    assert sc.cross_site.allowed and all(j.cross_site for j in sc.jobs)


def test_cli_job_sites(run_cli):
    rc, out, err = run_cli("plan", "--demand", "2026:100ktok/s", "--chip", "trn2", "--workload", "llama3-70b",
                           "--job-chips", "1024", "--site", ",".join(SITES), "--power-cap",
                           "new-carlisle:0.6MW,mississippi:0.6MW", "--job-sites", "2", "--cross-site-gbps", "3200",
                           "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["job_sites"] == 2 and d["cross_site_gbps"] == 3200
    assert d["rows"] and all(r["spans"] == SITES for r in d["rows"])
    assert 0 < d["split_utilization_by_chip"]["trn2"] <= d["utilization_by_chip"]["trn2"] * 1.0001
    assert any(n.startswith("jobs across 2 sites") for n in d["notes"])
    for args, field in ((["--job-sites", "2"], "--cross-site-gbps"), (["--cross-site-gbps", "100"], "--cross-site-gbps"),
                        (["--job-sites", "3", "--cross-site-gbps", "100"], "--job-sites"),
                        (["--job-sites", "2", "--cross-site-gbps", "-5"], "--cross-site-gbps"),
                        (["--job-sites", "0"], "--job-sites")):
        rc, _, err = run_cli("plan", "--demand", "2026:100ktok/s", "--chip", "trn2", "--workload", "llama3-70b",
                             "--job-chips", "1024", "--site", ",".join(SITES), *args)
        assert rc == 2 and err.startswith(f"error: {field}") and len(err.strip().splitlines()) == 1, (args, err)


def test_one_site_wins_a_cost_tie(cat, tmp_path):
    """Three 1,024-chip Trainium2 jobs under 1.35 MW at each of two sites: one job fits at each site and the third
    spans their leftovers; splitting all three costs the same systems but runs slower, so the plan splits one. The
    plan report counts 3 jobs, not one per site of each spanning job."""
    from rainier.report import write_plan_report

    caps = {s: 1.35e6 for s in SITES}
    per_job = 1024 * cat.accelerator("trn2").peak_flops("bf16")
    res = plan_capacity(cat, ["trn2"], SITES, [2026], [2.5 * per_job * 0.29], utilization=0.3, power_cap_w=caps,
                        job_chips=1024, job_sites=2, split_utilization=0.29, cross_site_gbps=200.0)
    assert res.jobs_in(2026) == 3
    assert sum(r.jobs for r in res.rows if r.spans and r.site == r.spans[0]) == 1
    assert sum(r.jobs for r in res.rows if not r.spans) == 2
    _check_spans(cat, res, 1024, 2, {"trn2": 0.29})
    html = write_plan_report(res.to_dict(), tmp_path / "plan.html", []).read_text()
    i = html.index("jobs in 2026")
    assert ">3<" in html[i - 300:i + 300] and ">5<" not in html[i - 300:i + 300]


def test_split_blocks_hold_their_share_of_the_job_and_of_the_spares(cat):
    """A 1,024-chip job on NVL72 racks split over two sites: each site holds the racks for 512 chips (8) and, with
    auto spares, half the job's spares rounded up; a block without spares reports none."""
    from rainier.plan.capacity import spares_for

    caps = {s: 1.5e6 for s in SITES}  # a 1,024-chip GB200 job (15 racks, ~2.3 MW) fits at no site
    sy = cat.system_for(cat.accelerator("gb200"))
    kw = dict(utilization=0.3, power_cap_w=caps, job_chips=1024, job_sites=2, split_utilization=0.28,
              cross_site_gbps=3200.0)
    plain = plan_capacity(cat, ["gb200"], SITES, [2026], [1e17], **kw)
    assert plain.rows and all(r.spans and r.systems_installed == 8 and r.spare_systems == 0 for r in plain.rows)
    spare = plan_capacity(cat, ["gb200"], SITES, [2026], [1e17], job_spares="auto", **kw)
    k = spares_for(sy, 15)
    assert k >= 1
    assert all(r.systems_installed == 8 + math.ceil(k / 2) and r.spare_systems == math.ceil(k / 2) for r in spare.rows)


def test_job_sites_api_input_is_checked(cat):
    base = dict(utilization=0.3, job_chips=1024, job_sites=2, split_utilization=0.2, cross_site_gbps=1e4)
    for kwargs, field in (({"job_sites": "2"}, "--job-sites"), ({"job_sites": None}, "--job-sites"),
                          ({"split_utilization": "abc"}, "--job-sites"), ({"split_utilization": float("nan")}, "--job-sites"),
                          ({"split_utilization": {"trn2": -0.1}}, "--job-sites"),
                          ({"cross_site_gbps": None}, "--cross-site-gbps"), ({"cross_site_gbps": -5.0}, "--cross-site-gbps"),
                          ({"cross_site_gbps": float("nan")}, "--cross-site-gbps")):
        with pytest.raises(RainierError) as e:
            plan_capacity(cat, ["trn2"], SITES, [2026], [1e19], **{**base, **kwargs})  # type: ignore[arg-type]
        assert e.value.field == field, kwargs


def test_the_fleet_runs_a_gang_over_three_sites_on_the_estimator(cat):
    """A gang over an odd number of sites needs a batch and a layout that split over them: the fleet tries those
    before its physics fallback."""
    from rainier.fleet.perf import PerfCache

    pc = PerfCache(cat, seq=8192, global_batch_tokens=1152 * 8192.0, cross_site_gbps=3200.0)
    speed = pc.training("llama3-70b", "trn2-ultraserver", 1152, 3)
    assert speed.source == "estimators" and speed.tokens_per_s > 0 and not pc.fallbacks
