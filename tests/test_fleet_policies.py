"""Behaviour of schedulers, failures, power cap, supply, outages, inference and cross-site placement."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rainier.errors import RainierError
from rainier.fleet import run_fleet
from rainier.fleet.policies import scheduler_names
from rainier.fleet.scenario import scenario_from_dict

SYS = "trn2.48xlarge"  # 16 chips per system


def doc(jobs: list[dict[str, Any]], *, systems: int = 4, scheduler: str = "fifo", tenants: Any = None,
        horizon: str = "3d", failures: Any = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "t", "horizon": horizon, "seed": 3, "perf": {"backend": "physics"},
        "scheduler": {"name": scheduler},
        "sites": [{"name": "s", "power_cap": "100MW", "pue": 1.15, "systems_per_domain": 2,
                   "systems": [{"kind": SYS, "installed": systems}]}],
        "tenants": tenants or [{"name": "a"}],
        "jobs": jobs,
        "failures": failures or {"preset": "none"},
    }
    d.update(extra)
    return d


def job(name: str, chips: int, hours: float, at: str = "0h", tenant: str = "a", **kw: Any) -> dict[str, Any]:
    # tiny-dense on trn2 at the physics speed: tokens chosen for the wanted duration below
    return {"name": name, "tenant": tenant, "model": "tiny-dense", "system": SYS, "chips": chips,
            "tokens": f"{hours}", "arrival": at, "checkpoint": {"interval": "1000d", "save": "0s", "restore": "0s"},
            **kw}


def run(d: dict[str, Any], cat: Any, hours_jobs: bool = True):
    sc = scenario_from_dict(d, catalog=cat)
    if hours_jobs:  # "tokens" above hold hours: turn them into tokens at the job's speed
        from rainier.fleet.perf import PerfCache

        pc = PerfCache(cat, "physics")
        jobs = [j.model_copy(update={"tokens": j.tokens * 3600 * pc.training(j.model, j.system, j.chips).tokens_per_s})
                if isinstance(j.chips, int) else j for j in sc.jobs]
        sc = sc.model_copy(update={"jobs": tuple(jobs)})
    return run_fleet(sc, catalog=cat, audit=True)


def rows(r, name: str) -> list[dict[str, Any]]:
    j = r.jobs
    return [{c: j[c][k] for c in j} for k in range(len(j["job_id"])) if j["name"][k] == name]


def test_registry_has_the_four_policies():
    assert {"fifo", "priority", "fair-share", "easy-backfill"} <= set(scheduler_names())


def test_fifo_blocks_and_easy_backfill_fills(cat):
    jobs = [job("big1", 64, 10), job("big2", 64, 10, at="1h"), job("small", 16, 2, at="2h")]
    fifo = run(doc(jobs, scheduler="fifo"), cat)
    assert rows(fifo, "small")[0]["start_h"] == pytest.approx(20.0)  # behind big2
    # one system free: give big1 three systems so small can backfill before big2's reservation
    jobs = [job("big1", 48, 10), job("big2", 64, 10, at="1h"), job("small", 16, 2, at="2h"),
            job("long", 16, 30, at="3h")]
    bf = run(doc(jobs, scheduler="easy-backfill"), cat)
    assert rows(bf, "small")[0]["start_h"] == pytest.approx(2.0)   # ends by the shadow time (10 h)
    assert rows(bf, "big2")[0]["start_h"] == pytest.approx(10.0)   # reservation honoured
    assert rows(bf, "long")[0]["start_h"] >= 20.0 - 1e-9           # would delay big2: not backfilled
    ff = run(doc(jobs, scheduler="fifo"), cat)
    assert rows(ff, "small")[0]["start_h"] == pytest.approx(20.0)


def test_priority_preempts_lower_priority(cat):
    tenants = [{"name": "lo", "priority": 0}, {"name": "hi", "priority": 5}]
    jobs = [job("low", 64, 10, tenant="lo"), job("high", 32, 2, at="3h", tenant="hi")]
    r = run(doc(jobs, scheduler="priority", tenants=tenants), cat)
    low, high = rows(r, "low"), rows(r, "high")
    assert high[0]["start_h"] == pytest.approx(3.0)
    assert low[0]["status"] == "preempted" and low[0]["end_h"] == pytest.approx(3.0)
    assert low[-1]["status"] == "finished" and low[-1]["tokens_done"] == low[-1]["tokens_total"]
    assert r.summary["goodput_loss_by_cause_chip_hours"]["preempt"] > 0
    fifo = run(doc(jobs, scheduler="fifo", tenants=tenants), cat)
    assert rows(fifo, "high")[0]["start_h"] == pytest.approx(10.0)


def test_fair_share_borrows_then_reclaims(cat):
    tenants = [{"name": "a", "commitment": {"chips": 32}, "borrow": True},
               {"name": "b", "commitment": {"chips": 32}, "borrow": True}]
    jobs = [job("a1", 32, 20, tenant="a"), job("a2", 32, 20, tenant="a"), job("b1", 32, 5, at="4h", tenant="b")]
    r = run(doc(jobs, scheduler="fair-share", tenants=tenants), cat)
    a_rows = rows(r, "a1") + rows(r, "a2")
    assert all(x["start_h"] == 0.0 for x in a_rows[:1])
    assert rows(r, "b1")[0]["start_h"] == pytest.approx(4.0)          # reclaimed at once
    assert any(x["status"] == "preempted" for x in a_rows)            # the borrowed gang gave way
    no_borrow = [dict(t, borrow=False) for t in tenants]
    r2 = run(doc(jobs, scheduler="fair-share", tenants=no_borrow), cat)
    assert rows(r2, "a2")[0]["start_h"] >= 20.0 - 1e-9                # not allowed past its share


def test_failures_lose_work_restart_and_cost_goodput(cat):
    d = doc([{"name": "long", "tenant": "a", "model": "tiny-dense", "system": SYS, "chips": 48, "tokens": "1",
              "checkpoint": {"interval": "30min", "save": "30s", "restore": "10min"}}],
            failures={"preset": "llama3", "scale": 400}, horizon="5d")
    sc = scenario_from_dict(d, catalog=cat)
    from rainier.fleet.perf import PerfCache

    tps = PerfCache(cat, "physics").training("tiny-dense", SYS, 48).tokens_per_s
    sc = sc.model_copy(update={"jobs": (sc.jobs[0].model_copy(update={"tokens": 40 * 3600 * tps}),)})
    r = run_fleet(sc, catalog=cat)
    att = rows(r, "long")
    assert len(att) > 1 and att[0]["status"] == "failed" and att[0]["failure_cause"]
    assert att[-1]["status"] == "finished"
    assert sum(a["lost_chip_hours"] for a in att) > 0
    assert r.summary["totals"]["goodput"] < 1.0
    loss = r.summary["goodput_loss_by_cause_chip_hours"]
    assert loss["checkpoint"] > 0 and any(k in loss for k in ("accelerator", "hbm", "software", "host", "network"))
    # wall time exceeds the ideal 40 h by restores, saves and lost work
    assert att[-1]["end_h"] > 40.0


def test_power_cap_limits_busy_systems(cat):
    # cap fits 4 systems idle + 2 busy: at most 2 systems (32 chips) run at once
    busy_w = 11000 * 1.07 * 1.15
    cap_w = 4 * busy_w * 0.3 + 2 * busy_w * 0.7 + 1.0
    d = doc([job(f"j{i}", 16, 3, at=f"{i}h") for i in range(6)])
    d["sites"][0]["power_cap"] = f"{cap_w}W"
    r = run(d, cat)
    site = np.asarray(r.timeseries["tenant"], dtype=object) == "*"
    assert np.asarray(r.timeseries["chips_busy"])[site].max() <= 32 + 1e-9
    assert r.summary["sites"][0]["peak_power_mw"] <= cap_w / 1e6 + 1e-12
    assert r.summary["totals"]["jobs_finished"] == 6


def test_supply_slip_and_decommission(cat):
    d = doc([], systems=2)
    d["sites"][0]["systems"][0]["deliveries"] = [{"at": "2d", "systems": 2}]
    d["sites"][0]["systems"][0]["decommission"] = [{"at": "1d", "systems": 1}]
    d["events"] = [{"at": "1h", "kind": "supply_slip", "site": "s", "months": 1}]
    d["horizon"] = "40d"
    d["hourly"] = "1d"
    r = run(d, cat)
    deliveries = [(t, c) for t, k, c in zip(r.events["time_h"], r.events["kind"], r.events["chips"], strict=True)
                  if k == "delivery"]
    assert deliveries[0] == (0.0, 32.0)
    assert deliveries[1][0] == pytest.approx(48 + 30.436875 * 24)
    assert r.summary["totals"]["chips_installed_end"] == 16 + 32


def test_site_outage_interrupts_and_fails_everything(cat):
    d = doc([job("j", 64, 20)], events=[{"at": "5h", "kind": "site_outage", "site": "s", "duration": "6h"}])
    r = run(d, cat)
    att = rows(r, "j")
    assert att[0]["status"] == "failed" and att[0]["failure_cause"] == "site_outage"
    assert att[1]["start_h"] == pytest.approx(11.0)
    ts = r.timeseries
    site = np.asarray(ts["tenant"], dtype=object) == "*"
    failed = np.asarray(ts["chips_failed"])[site]
    assert failed[6] == pytest.approx(64.0) and failed[12] == 0.0


def test_inference_follows_diurnal_demand(cat):
    d = doc([], systems=8, services=[{"name": "svc", "tenant": "a", "model": "tiny-dense", "system": SYS,
                                      "demand": {"tokens_per_s": "2M", "daily_amplitude": 0.5, "peak_hour": 12}}])
    r = run(d, cat)
    ts = r.timeseries
    site = np.asarray(ts["tenant"], dtype=object) == "*"
    dem = np.asarray(ts["tokens_per_s_demanded"])[site][:24]
    srv = np.asarray(ts["tokens_per_s_served"])[site][:24]
    assert dem.argmax() in (11, 12) and dem.max() / dem.min() > 2.5
    assert (srv <= dem * (1 + 1e-9)).all()
    assert r.summary["totals"]["slo_attainment"] > 0.99
    # too little capacity: attainment drops below one
    d["services"][0]["demand"]["tokens_per_s"] = "1T"
    r2 = run(d, cat)
    assert r2.summary["totals"]["slo_attainment"] < 0.5


def test_cross_site_only_when_allowed(cat):
    sites = [{"name": f"s{i}", "power_cap": "100MW", "pue": 1.15, "systems": [{"kind": SYS, "installed": 2}]}
             for i in range(2)]
    d = doc([job("wide", 64, 2, cross_site=True)], sites=sites)
    # 4 systems, no site holds more than 2, crossing not allowed: the job could never start (rejected up front)
    with pytest.raises(RainierError, match=r"jobs\[0\]\.chips.*cross_site"):
        run(d, cat)
    d["cross_site"] = {"allowed": True, "efficiency": 0.5}
    r = run(d, cat)
    w = rows(r, "wide")[0]
    assert w["site"] == "s0+s1" and w["status"] == "finished"
    assert w["end_h"] == pytest.approx(4.0)  # half speed across sites


def test_fair_share_lookahead_lets_small_jobs_pass_a_blocked_head(cat):
    tenants = [{"name": "a", "commitment": {"chips": 64}}]
    jobs = [job("first", 32, 10), job("huge", 64, 2, at="1h"), job("small", 16, 2, at="2h")]
    strict = run(doc(jobs, scheduler="fair-share", tenants=tenants), cat)
    assert rows(strict, "small")[0]["start_h"] >= 10.0 - 1e-9        # waits behind the blocked head
    d = doc(jobs, tenants=tenants)
    d["scheduler"] = {"name": "fair-share", "params": {"lookahead": 2}}
    la = run(d, cat)
    assert rows(la, "small")[0]["start_h"] == pytest.approx(2.0)


def test_a_gang_larger_than_the_fleet_does_not_block_fifo(cat):
    # an explicit size larger than the fleet is rejected when the scenario is validated
    with pytest.raises(RainierError, match=r"jobs\[0\]\.chips"):
        run(doc([job("monster", 16 * 99, 1), job("after", 16, 1, at="1h")]), cat)
    # chips: auto is sized at run time (here far past the fleet): recorded unplaceable, the queue moves on
    monster = {**job("monster", 16, 1), "chips": "auto", "tokens": "1e18", "target": "1h"}
    r = run(doc([monster, job("after", 16, 1, at="1h")]), cat)
    assert rows(r, "monster")[0]["status"] == "queued"
    assert rows(r, "after")[0]["start_h"] == pytest.approx(1.0)
    assert "job_unplaceable" in r.events["kind"]


def test_service_reclaims_borrowed_capacity(cat):
    # 5 systems (80 chips); entitlements a = 48, svc = 32 chips. The service holds one system from the start
    # (tiny demand); the borrower takes the other four (64 > 48 chips: borrowed). At 3 h demand needs a second
    # system: the service is within its entitlement, so it reclaims the borrowed gang.
    tenants = [{"name": "a", "commitment": {"chips": 48}}, {"name": "svc", "commitment": {"chips": 32}}]
    d = doc([job("borrower", 64, 30, tenant="a", at="10min")], systems=5, scheduler="fair-share", tenants=tenants,
            horizon="1d")
    d["services"] = [{"name": "api", "tenant": "svc", "model": "tiny-dense", "system": SYS, "headroom": 0.0,
                      "demand": {"tokens_per_s": "1"}}]
    from rainier.fleet.perf import PerfCache

    cap = PerfCache(cat, "physics").serving("tiny-dense", SYS, "bf16", 2048, 512, 2.0, 0.05)
    per_system = cap.total_tokens_per_s / cap.chips_per_replica * 16
    d["events"] = [{"at": "3h", "kind": "demand_spike", "service": "api", "factor": 1.5 * per_system, "duration": "1d"}]
    r = run(d, cat)
    b = rows(r, "borrower")
    assert b[0]["status"] == "preempted" and b[0]["end_h"] == pytest.approx(3.0)
    assert r.summary["goodput_loss_by_cause_chip_hours"]["reclaim"] > 0
    d["services"][0]["reclaim"] = False
    r2 = run(d, cat)
    assert rows(r2, "borrower")[0]["status"] != "preempted"
    assert r2.summary["totals"]["slo_attainment"] < r.summary["totals"]["slo_attainment"]


def test_rack_blast_radius_takes_the_whole_rack(cat):
    # trn2.48xlarge: racks_per_system 0.5 -> two systems per rack; a rack fault downs both
    f = {"preset": "none", "causes": [{"name": "tor-switch", "rate_per_system_hour": 0.05, "radius": "rack",
                                       "repair": {"dist": "fixed", "mean": "1h"}}]}
    r = run(doc([], systems=4, failures=f, horizon="2d"), cat)
    chips = [c for k, c in zip(r.events["kind"], r.events["chips"], strict=True) if k == "failure"]
    assert chips and set(chips) <= {16.0, 32.0} and 32.0 in chips
    assert set(r.summary["failures_by_cause"]) == {"tor-switch"}


def test_saturated_serving_draws_what_training_draws(cat):
    """A system at work draws the economics load factor of full load whether it trains or serves at full
    utilization (as `rainier train` and `rainier serve` price energy); idle systems draw idle power. A service
    whose demand exceeds the whole site and a training job that holds it give the same site power."""
    from rainier.fleet.simulation import Simulation

    def site_power(d: dict[str, Any]) -> float:
        r = run(d, cat)
        ts = r.timeseries
        site = np.asarray(ts["tenant"], dtype=object) == "*"
        return float(np.asarray(ts["power_mw"])[site][6])

    serving = doc([], systems=4, services=[{"name": "svc", "tenant": "a", "model": "tiny-dense", "system": SYS,
                                            "headroom": 0.0, "demand": {"tokens_per_s": "1T"}}])
    training = doc([job("all", 64, 48)])
    p_serve, p_train = site_power(serving), site_power(training)
    pool = Simulation(scenario_from_dict(training, catalog=cat), cat).pools[0]
    assert pool.idle_w < pool.work_w < pool.busy_w
    assert p_serve == pytest.approx(p_train, rel=1e-6)
    assert p_train == pytest.approx(4 * pool.work_w / 1e6, rel=1e-6)


def test_a_restart_goes_back_to_its_sites_and_keeps_a_planned_split_fleet_busy(tmp_path, run_cli, cat):
    # A plan with jobs split over two sites, run as a fleet (an audit's reproduction): the split job, restarting
    # after a failure on a whole site another job had just freed, stranded that job (two fragments no one-site job
    # could use): utilization 0.79, 40% of the installed chip-hours queued. Restarts now go back where they ran.
    scen = tmp_path / "split.yaml"
    rc, _, err = run_cli("plan", "--demand", "2026:5,2027:12", "--workload", "llama3-70b", "--job-sites", "2",
                         "--cross-site-gbps", "100000", "--power-cap",
                         "new-carlisle:25MW,mississippi:25MW,generic-colo:25MW", "--site",
                         "new-carlisle,mississippi,generic-colo", "--spares", "5%", "--scenario-out", str(scen), "--json")
    assert rc == 0, err
    from rainier.fleet.scenario import load_scenario

    r = run_fleet(load_scenario(scen, catalog=cat), catalog=cat)
    j = r.jobs
    split = {j["name"][k] for k in range(len(j["name"])) if "+" in str(j["site"][k])}
    assert split
    for name in split:
        sites = {str(j["site"][k]) for k in range(len(j["name"])) if j["name"][k] == name}
        assert len(sites) == 1, (name, sites)  # every attempt on the split it started on
    assert r.summary["totals"]["utilization"] > 0.85
    # ... and a split gang takes even shares, as the plan sized it: a greedy fill took every free system of the
    # emptier site, the one-site job there lost its spares and waited for repairs (utilization 0.88, 11% of the
    # chip-hours queued); evenly split, 0.95
    assert r.summary["totals"]["utilization"] > 0.93
    queued = sum(sum(t["queue_wait_chip_hours_by_reason"].values()) for t in r.summary["tenants"])
    assert queued < 0.02 * r.summary["totals"]["chip_hours_capacity"]


def test_a_split_gang_takes_even_shares_of_the_fewest_sites():
    from rainier.fleet.placement import plan_sites

    assert plan_sites([148, 140, 0], [0, 1, 2], 256, True) == [(0, 128), (1, 128)]
    assert plan_sites([148, 140, 0], [0, 1, 2], 257, True) == [(0, 129), (1, 128)]
    # two sites cannot hold halves of 270: three thirds
    assert plan_sites([100, 100, 100], [0, 1, 2], 270, True) == [(0, 90), (1, 90), (2, 90)]
    # only an uneven split fits: the fullest first, as before (a gang that fits is never left waiting)
    assert plan_sites([200, 60], [0, 1], 250, True) == [(0, 200), (1, 50)]
    assert plan_sites([200, 60], [0, 1], 261, True) is None
    assert plan_sites([300, 60], [0, 1], 250, True) == [(0, 250)]  # one site holds it: best fit, no split
    assert plan_sites([200, 60], [0, 1], 250, False) is None


def test_easy_backfill_reserves_in_the_site_that_frees_the_head_job_first(cat):
    # Two sites, no cross-site gangs. H (5 systems) can only start at site x, when A ends at 1 h. The
    # reservation counted free systems of both sites together, so J (2 systems, 10 h) was backfilled onto x
    # and H waited 10 h; now J goes to y (no system of x's reservation) or waits, and H starts at 1 h.
    d = doc([job("A", 48, 1), job("B", 64, 20), job("H", 80, 5, at="15min"), job("J", 32, 10, at="30min")],
            scheduler="easy-backfill", horizon="2d", cross_site={"allowed": False})
    d["sites"] = [{"name": "x", "power_cap": "100MW", "pue": 1.15, "systems": [{"kind": SYS, "installed": 5}]},
                  {"name": "y", "power_cap": "100MW", "pue": 1.15, "systems": [{"kind": SYS, "installed": 6}]}]
    bf = run(d, cat)
    ff = run({**d, "scheduler": {"name": "fifo"}}, cat)
    assert rows(ff, "H")[0]["start_h"] == pytest.approx(1.0)
    assert rows(bf, "H")[0]["start_h"] == pytest.approx(1.0)   # reservation honoured: EASY never later than FIFO
    assert rows(bf, "J")[0]["site"] == "y"


def test_jobs_that_never_start_count_their_wait_so_far(cat):
    # one job holds the fleet for the whole run; the two behind it never start: their waits (censored at the
    # horizon) are in the mean and p95 (they read 0.0 h before), and they are counted
    r = run(doc([job("long", 64, 1000), job("b", 64, 1, at="1h"), job("c", 64, 1, at="2h")], horizon="2d"), cat)
    t = r.summary["tenants"][0]
    assert t["jobs_never_started"] == 2
    assert t["queue_wait_mean_h"] == pytest.approx((0.0 + 47.0 + 46.0) / 3)
    assert t["queue_wait_p95_h"] > 46.0


def _svc(model: str = "tiny-dense", tps: str = "2M", **demand: Any) -> dict[str, Any]:
    return {"name": "svc", "tenant": "a", "model": model, "system": SYS, "demand": {"tokens_per_s": tps, **demand}}


def test_a_service_holds_whole_replicas(cat):
    # Llama 3.1 405B needs more chips per replica than one 8-GPU DGX H100 holds: capacity was counted per chip,
    # so one system "served" the demand; now the service holds a whole replica (two systems)
    from rainier.fleet.perf import PerfCache

    d = doc([], systems=8, horizon="1d", services=[{**_svc("llama3.1-405b", "100"), "system": "dgx-h100"}])
    d["sites"][0]["systems"] = [{"kind": "dgx-h100", "installed": 8}]
    sc = scenario_from_dict(d, catalog=cat)
    sv = sc.services[0]
    cpr = PerfCache(cat, "physics").serving(sv.model, "dgx-h100", "bf16", sv.input_len, sv.output_len,
                                            sv.slo.ttft_s, sv.slo.tpot_s).chips_per_replica
    assert cpr > 8
    r = run(d, cat)
    assert r.summary["totals"]["chip_hours_busy"] == pytest.approx(24 * 8 * -(-cpr // 8))  # the replica's systems
    assert r.summary["totals"]["slo_attainment"] == pytest.approx(1.0)


def test_a_mid_step_outage_cuts_what_a_service_serves(cat):
    # the only site is down from 1 h to 23 h inside a 24 h accounting step: the service's systems fail at 1 h,
    # so it serves 1 h of day one (it re-plans at the next step), not the whole day
    base = doc([], systems=8, horizon="3d", hourly="24h", services=[_svc(tps="200k")])
    out = {**base, "events": [{"at": "1h", "kind": "site_outage", "site": "s", "duration": "22h"}]}
    full, cut = run(base, cat), run(out, cat)
    assert full.summary["totals"]["slo_attainment"] == pytest.approx(1.0)
    assert cut.summary["totals"]["slo_attainment"] == pytest.approx((1 + 48) / 72, rel=1e-6)


def test_demand_is_the_steps_mean_whatever_the_accounting_step(cat):
    # the demand was sampled at each step's midpoint: daily steps booked every day's noon peak (1.5x)
    dem = {}
    for hourly in ("1h", "24h"):
        d = doc([], systems=8, horizon="2d", hourly=hourly,
                services=[_svc(tps="100k", daily_amplitude=0.5, peak_hour=12)])
        dem[hourly] = run(d, cat).summary["totals"]["tokens_demanded"]
    assert dem["24h"] == pytest.approx(dem["1h"], rel=1e-3)
    assert dem["1h"] == pytest.approx(100e3 * 2 * 86400, rel=1e-3)


@pytest.mark.parametrize("at", ["10h", "620min"])
def test_a_short_spike_adds_its_overlap(cat, at):
    # a 20-minute 10x spike inside an hour added nothing (midpoint sampling; or booked after the step began)
    base = doc([], systems=8, horizon="1d", services=[_svc(tps="100k")])
    spiked = {**base, "events": [{"at": at, "kind": "demand_spike", "service": "svc", "factor": 10,
                                  "duration": "20min"}]}
    extra = run(spiked, cat).summary["totals"]["tokens_demanded"] - run(base, cat).summary["totals"]["tokens_demanded"]
    assert extra == pytest.approx(9 * 100e3 * 1200, rel=1e-6)


@pytest.mark.parametrize("event, word", [
    ({"kind": "site_outage", "site": "s", "system": SYS, "duration": "2h"}, "system"),
    ({"kind": "supply_slip", "site": "s", "duration": "2h", "months": 1}, "duration"),
    ({"kind": "demand_spike", "service": "svc", "site": "s", "factor": 2}, "site"),
    ({"kind": "demand_spike", "service": "svc", "duration": "0s", "factor": 2}, "positive"),
])
def test_event_fields_the_kind_does_not_use_are_refused(cat, event, word):
    d = doc([], services=[_svc()], events=[{"at": "1h", **event}])
    with pytest.raises(RainierError, match=word):
        scenario_from_dict(d, catalog=cat)


def test_a_service_held_to_sites_without_its_system_is_refused(cat):
    d = doc([], services=[{**_svc(), "sites": ["elsewhere"]}])
    d["sites"].append({"name": "elsewhere", "power_cap": "10MW", "pue": 1.2,
                       "systems": [{"kind": "trn2-ultraserver", "installed": 1}]})
    with pytest.raises(RainierError, match=r"services\[0\]\.sites"):
        scenario_from_dict(d, catalog=cat)


def test_a_decommission_beyond_the_pool_never_retires_later_deliveries(cat):
    # 10 of 4 systems: the 6 beyond the pool were kept as "drain" and retired 6 of the systems delivered a day later
    # when an unrelated job ended
    d = doc([job("j", 16, 1, at="60h")], horizon="4d")
    d["sites"][0]["systems"] = [{"kind": SYS, "installed": 4, "deliveries": [{"at": "2d", "systems": 8}],
                                 "decommission": [{"at": "1d", "systems": 10}]}]
    r = run(d, cat)
    assert r.summary["totals"]["chips_installed_end"] == pytest.approx(8 * 16)


def test_a_deferred_delivery_is_counted_once(cat):
    # the power cap defers a delivery hour after hour: each retry counted its systems again (384 for 16)
    d = doc([], systems=1, horizon="3d")
    d["sites"][0]["power_cap"] = "60kW"
    d["sites"][0]["systems"] = [{"kind": SYS, "installed": 1, "deliveries": [{"at": "1d", "systems": 16}]}]
    r = run(d, cat)
    assert 0 < r.summary["deliveries_deferred_by_power_systems"] <= 16


def test_priority_preempts_only_jobs_whose_systems_the_waiting_job_needs(cat):
    # H (4 systems, one site) needs only L2's site freed; the newest-first victim list also took L1, at the other
    # site, which lost its work for nothing
    d = doc([job("L4", 48, 10, tenant="lo"), job("L2", 32, 10, at="6min", tenant="lo"),
             job("L1", 16, 10, at="42min", tenant="lo"), job("H", 64, 2, at="1h", tenant="hi")],
            scheduler="priority", horizon="1d", tenants=[{"name": "lo", "priority": 0}, {"name": "hi", "priority": 9}])
    d["sites"] = [{"name": n, "power_cap": "100MW", "pue": 1.15, "systems": [{"kind": SYS, "installed": 4}]}
                  for n in ("s1", "s2")]
    r = run(d, cat)
    assert rows(r, "H")[0]["start_h"] == pytest.approx(1.0)
    assert [x["status"] for x in rows(r, "L1")] == ["finished"]
    assert rows(r, "L2")[0]["status"] == "preempted"


def test_overlapping_demand_dips_multiply_and_never_go_negative(cat):
    # two overlapping 0.1x dips were added (1 - 0.9 - 0.9 < 0): negative demand and served tokens
    base = doc([], systems=8, horizon="1d", services=[_svc(tps="100k")])
    ev = [{"at": "10h", "kind": "demand_spike", "service": "svc", "factor": 0.1, "duration": "2h"},
          {"at": "10h", "kind": "demand_spike", "service": "svc", "factor": 0.1, "duration": "2h"}]
    r = run({**base, "events": ev}, cat)
    dem = r.summary["totals"]["tokens_demanded"]
    assert dem == pytest.approx(100e3 * (22 * 3600 + 0.01 * 2 * 3600), rel=1e-6)
    assert r.summary["totals"]["tokens_served"] >= 0


def test_replicas_left_after_a_loss_take_up_the_demand_they_can(cat, monkeypatch):
    # 100% headroom over two sites (2 replicas each); one site fails inside a 24 h step: the 2 replicas left could
    # serve all of the demand, but stayed at the step's utilization (half the demand unserved for 23 h)
    from rainier.fleet import perf as fperf

    tpr = 1e6
    monkeypatch.setattr(fperf.PerfCache, "serving", lambda self, *a, **k: fperf.ServingCapacity(16, tpr, tpr, "physics"))
    d = doc([], horizon="2d", hourly="24h",
            services=[{**_svc(tps=str(2 * tpr * 0.95)), "headroom": 1.0}],
            events=[{"at": "1h", "kind": "site_outage", "site": "s2", "duration": "2h"}])
    d["sites"] = [{"name": n, "power_cap": "100MW", "pue": 1.15, "systems": [{"kind": SYS, "installed": 2}]}
                  for n in ("s", "s2")]
    assert run(d, cat, hours_jobs=False).summary["totals"]["slo_attainment"] == pytest.approx(1.0)


def test_easy_backfill_counts_a_sites_other_pools_against_its_reservation(cat):
    # a site listing the kind twice: its pools share the site's power, so a backfill into the other pool took the
    # power the head job needed at its reservation (10.5 h against FIFO's 1 h)
    from rainier.fleet.policies.power import system_power

    pw = system_power(cat, SYS, 1.15, None)
    cap_w = 8 * pw.idle_w + 5 * (pw.busy_w - pw.idle_w) + 1.0  # idle draw of 8 systems + 5 at full load
    d = doc([job("A", 48, 1), job("H", 64, 2, at="15min"), job("J", 32, 10, at="30min")],
            scheduler="easy-backfill", horizon="2d")
    d["sites"] = [{"name": "s", "power_cap": f"{cap_w / 1e6:.9f}MW", "pue": 1.15,
                   "systems": [{"kind": SYS, "installed": 4}, {"kind": SYS, "installed": 4}]}]
    bf = run(d, cat)
    ff = run({**d, "scheduler": {"name": "fifo"}}, cat)
    assert rows(bf, "H")[0]["start_h"] == pytest.approx(rows(ff, "H")[0]["start_h"])
