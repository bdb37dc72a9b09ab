"""Closed form: single-site FIFO with Poisson arrivals and exponential run times is an M/M/c queue.

Mean wait in queue (Erlang C): C(c, a) = [a^c/c! * c/(c-a)] / [sum_{k<c} a^k/k! + a^c/c! * c/(c-a)],
W_q = C / (c mu - lambda), with a = lambda / mu. The built-in ``mmc`` scenario has c = 8, lambda = 6/h,
mu = 1/h (rho = 0.75): W_q = 0.1785 h. 300 simulated days (~43k jobs) give the mean within a few
percent; the scenario's seed is fixed, so the test is deterministic.
"""

from __future__ import annotations

import math

from rainier.fleet import run_fleet


def erlang_c_wait_h(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def test_fifo_matches_mmc_waiting_time(cat):
    r = run_fleet("mmc", catalog=cat)
    want = erlang_c_wait_h(6.0, 1.0, 8)
    got = r.summary["tenants"][0]["queue_wait_mean_h"]
    assert abs(got - want) / want < 0.10, (got, want)
    # utilization = rho, and every chip-hour is accounted for
    assert abs(r.summary["totals"]["utilization"] - 0.75) < 0.02
