"""Closed form for checkpoint/restart goodput (the Young/Daly first-order model).

One gang of n systems, failures Poisson at rate n*r (MTTI M = 1/(n r)), spares always available so a
restart is immediate, checkpoints every tau of compute costing delta, restore R. Per failure the job
loses R plus on average half a checkpoint cycle, (tau + delta) / 2; between failures it spends
delta / (tau + delta) of its time saving. So

    goodput ~= (1 - (R + (tau + delta) / 2) / M) * tau / (tau + delta)

to first order in (tau + R) / M. With M = 5 h, tau = 30 min, delta = 1 min, R = 10 min: 0.8855.
"""

from __future__ import annotations

from strategies import one_cause, one_job_scenario

from rainier.fleet import run_fleet
from rainier.fleet.scenario import scenario_from_dict


def test_goodput_matches_young_daly(cat):
    n, mtti_h, tau, delta, restore = 32, 5.0, 30.0, 1.0, 10.0  # minutes
    doc = one_job_scenario(n, 8, "tiny-dense", {"interval": f"{tau}min", "save": f"{delta}min",
                                                "restore": f"{restore}min"}, one_cause(1.0 / (n * mtti_h)),
                           horizon="60d")
    r = run_fleet(scenario_from_dict(doc, catalog=cat), catalog=cat)
    m = mtti_h * 60.0
    want = (1 - (restore + (tau + delta) / 2) / m) * tau / (tau + delta)
    got = r.summary["totals"]["goodput"]
    assert abs(got - want) < 0.015, (got, want)
    assert r.summary["restart_wait_chip_hours_by_cause"].get("hw", 0.0) == 0.0  # spares: no waiting
