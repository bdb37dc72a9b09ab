"""Why queued jobs waited: the reasons add up to every queued chip-second, and each reason is the one named."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import BUSY_W, CHIPS, scenarios

from rainier.fleet import Simulation
from rainier.fleet.scenario import scenario_from_dict
from rainier.fleet.state import WAIT_REASONS

SYS = "trn2.48xlarge"
CPS = CHIPS[SYS]


def _sim(doc: dict[str, Any], cat: Any) -> tuple[Simulation, Any]:
    sim = Simulation(scenario_from_dict(doc, catalog=cat), cat)
    return sim, sim.run()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=scenarios(max_sites=2))
def test_wait_reasons_add_up_to_every_queued_chip_second(cat, doc):
    sim, r = _sim(doc, cat)
    horizon = sim.horizon_s
    queued_now = {jid for _, jid in sim.pending}
    want = [0.0] * len(sim.tenants)
    for job in sim.jobs:
        s = sum(job.waits_s)
        if job.id in queued_now:
            s += horizon - job.queued_since_s
        want[job.tenant] += s * job.chips / 3600.0
    for tn, w in zip(r.summary["tenants"], want, strict=True):
        got = tn["queue_wait_chip_hours_by_reason"]
        assert set(got) == set(WAIT_REASONS)
        assert all(v >= 0 for v in got.values())
        assert sum(got.values()) == pytest.approx(w, rel=1e-9, abs=1e-6)
    fleet = r.summary["queue_wait_chip_hours_by_reason"]
    assert sum(fleet.values()) == pytest.approx(sum(want), rel=1e-9, abs=1e-6)


def _doc(installed: int, jobs: list[dict[str, Any]], *, deliveries: list[dict[str, Any]] | None = None,
         cap_systems: float = 100.0, horizon: str = "3d") -> dict[str, Any]:
    return {
        "name": "waits", "horizon": horizon, "seed": 1, "perf": {"backend": "physics"},
        "sites": [{"name": "s", "power_cap": f"{cap_systems * BUSY_W[SYS] / 1e6:.6f}MW", "pue": 1.15,
                   "systems": [{"kind": SYS, "installed": installed, "deliveries": deliveries or []}]}],
        "tenants": [{"name": "t"}],
        "jobs": [{"name": f"j{i}", "tenant": "t", "model": "tiny-dense", "system": SYS, "chips": CPS * n,
                  "tokens": tok, "arrival": at, "checkpoint": {"interval": "1h", "save": "1s", "restore": "1s"}}
                 for i, (n, tok, at) in enumerate((j["systems"], j["tokens"], j["at"]) for j in jobs)],
        "failures": {"preset": "none"},
    }


def _by_reason(r: Any) -> dict[str, float]:
    return r.summary["tenants"][0]["queue_wait_chip_hours_by_reason"]


def test_a_gang_larger_than_the_installed_systems_waits_for_supply(cat):
    # 2 systems installed, 4 more delivered at 1 day: a 4-system job submitted at 0 waits a day for supply
    _, r = _sim(_doc(2, [{"systems": 4, "tokens": "1e9", "at": "0h"}], deliveries=[{"at": "1d", "systems": 4}]), cat)
    w = _by_reason(r)
    assert w["supply"] == pytest.approx(24 * 4 * CPS, rel=1e-6)
    assert sum(w.values()) == pytest.approx(w["supply"], rel=1e-9)


def test_idle_systems_the_power_cap_cannot_start_are_a_power_wait(cat):
    _, r = _sim(_doc(4, [{"systems": 4, "tokens": "1e12", "at": "0h"}], cap_systems=2.5, horizon="1d"), cat)
    w = _by_reason(r)
    assert w["power"] == pytest.approx(24 * 4 * CPS, rel=1e-6)


def test_a_gang_behind_a_running_one_waits_for_training(cat):
    sim, r = _sim(_doc(4, [{"systems": 4, "tokens": "2e12", "at": "0h"}, {"systems": 2, "tokens": "1e9", "at": "1h"}]), cat)
    first, second = sim.jobs
    assert first.waits_s == [0.0] and second.waits_s[0] > 3600  # the second started when the first finished
    w = _by_reason(r)
    assert w["training"] == pytest.approx(second.waits_s[0] * 2 * CPS / 3600, rel=1e-6)
    assert w["supply"] == w["power"] == 0.0


def test_commitments_beyond_the_fleet_are_warned(cat):
    doc = _doc(4, [{"systems": 1, "tokens": "1e9", "at": "0h"}], horizon="1d")
    doc["tenants"] = [{"name": "t", "commitment": {"power": "1GW"}}]
    _, r = _sim(doc, cat)
    c = r.summary["commitments"]
    assert c["committed_power_w"] == 1e9 and c["site_caps_w"] < 1e9
    assert c["hours_oversubscribed"] == pytest.approx(24.0) and 0 < c["worst_cover"] < 1
    assert any("cannot all be met" in w for w in c["warnings"])
    doc["tenants"] = [{"name": "t", "commitment": {"chips": 2 * CPS}}]
    _, r = _sim(doc, cat)
    assert r.summary["commitments"]["warnings"] == [] and r.summary["commitments"]["hours_oversubscribed"] == 0


def test_a_site_outage_is_its_own_reason(cat):
    # the outage fails the site's systems until it ends: that is not a repair
    doc = _doc(4, [{"systems": 4, "tokens": "1e9", "at": "2h"}], horizon="1d")
    doc["events"] = [{"at": "1h", "kind": "site_outage", "site": "s", "duration": "5h"}]
    _, r = _sim(doc, cat)
    w = _by_reason(r)
    assert w["site_outage"] == pytest.approx(4 * 4 * CPS, rel=1e-6) and w["repairs"] == 0.0


def test_a_gang_behind_a_gang_waits_for_training_though_a_service_holds_systems(cat):
    # 10 systems: a 6-system gang runs, a service holds 3, a 4-system gang waits. The first gang's end frees
    # enough: the wait is behind training, not inference.
    doc = _doc(10, [{"systems": 6, "tokens": "1e13", "at": "0h"}, {"systems": 4, "tokens": "1e9", "at": "3h"}], horizon="2d")
    doc["tenants"].append({"name": "u"})
    doc["services"] = [{"name": "api", "tenant": "u", "model": "tiny-dense", "system": SYS,
                        "demand": {"tokens_per_s": "30M", "daily_amplitude": 0.0, "weekend_factor": 1.0}}]
    sim, r = _sim(doc, cat)
    assert any(sv.alloc for sv in sim.services)
    w = _by_reason(r)
    assert w["training"] == pytest.approx(sum(w.values()), rel=1e-9) and w["training"] > 0


def test_a_gang_that_repairs_alone_would_make_up_waits_for_repairs(cat):
    # 5 systems: a 4-system gang lost one to a failure (3 idle, 1 under repair) while a 1-system gang runs. The
    # repair alone lets it restart, so the wait is "repairs", not "training" (the other gang) as it was labelled
    sim = Simulation(scenario_from_dict(_doc(5, [{"systems": 1, "tokens": "1e9", "at": "0h"}], horizon="1d"),
                                        catalog=cat), cat)
    pool = sim.pools[0]
    pool.n_idle, pool.n_busy, pool.n_failed = 3, 1, 1
    st, svc = [3], [0]
    assert WAIT_REASONS[sim._wait_reason(pool.kind, 4, False, st, svc, 0.0)] == "repairs"
    # with the failed system healthy but held by the other gang instead, it is a wait behind training
    pool.n_idle, pool.n_busy, pool.n_failed = 3, 2, 0
    assert WAIT_REASONS[sim._wait_reason(pool.kind, 4, False, st, svc, 0.0)] == "training"
