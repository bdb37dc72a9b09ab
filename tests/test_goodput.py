"""Goodput of one training job under failures and checkpoints (perf.goodput), and `rainier train`'s use of it."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import one_cause, one_job_scenario

from rainier.errors import RainierError
from rainier.fleet import run_fleet
from rainier.fleet.scenario import LLAMA3_CAUSES, scenario_from_dict
from rainier.perf.goodput import (
    Resilience,
    best_interval_s,
    checkpoint_state_bytes,
    expected_segment_s,
    goodput,
)
from rainier.perf.training import estimate_training


def _gp(cat, chips=16384, state=5.7e12, **kw):
    return goodput(chips=chips, state_bytes=state, econ=cat.economics(), res=Resilience(**kw))


@pytest.mark.parametrize("n, mtti_h, tau, delta, restore", [(32, 1.0, 30.0, 1.0, 20.0), (16, 0.5, 20.0, 0.5, 10.0)])
def test_exact_segment_time_matches_the_fleet_simulator(cat, n, mtti_h, tau, delta, restore):
    """The discrete-event fleet (its own failure clock, checkpoint commits and interruptible restores) gives the
    closed form's goodput where the MTTI is close to the checkpoint cycle; the first-order Young/Daly form is
    off by ~0.13 there and a restore that failures cannot interrupt by ~0.025."""
    doc = one_job_scenario(n, 8, "tiny-dense", {"interval": f"{tau}min", "save": f"{delta}min",
                                                "restore": f"{restore}min"}, one_cause(1.0 / (n * mtti_h)))
    got = run_fleet(scenario_from_dict(doc, catalog=cat), catalog=cat).summary["totals"]["goodput"]
    want = tau / expected_segment_s(tau, delta, restore, 1.0 / (mtti_h * 60.0))
    assert abs(got - want) < 0.01, (got, want)
    first_order = (1 - (restore + (tau + delta) / 2) / (mtti_h * 60)) * tau / (tau + delta)
    assert abs(got - first_order) > 0.1


def test_segment_time_limits():
    assert expected_segment_s(100.0, 5.0, 60.0, 0.0) == pytest.approx(105.0, rel=1e-12)
    # rare failures: E[T] ~ (tau + delta) (1 + lam ((tau + delta) / 2 + R))
    lam, a, r = 1e-7, 100.0, 60.0
    assert expected_segment_s(a, 0.0, r, lam) == pytest.approx(a * (1 + lam * (a / 2 + r)), rel=1e-9)
    assert expected_segment_s(1e6, 1.0, 600.0, 1e-3) == math.inf  # a segment of a thousand MTTIs never ends


def test_no_progress_is_reported_not_overflowed(cat):
    g = _gp(cat, chips=1_000_000, failure_scale=10.0, restart_s=3600.0)
    assert g.fraction == 0.0
    r = estimate_training("llama3-8b", "h100", 65536, seq=8192, global_batch=8192, tokens=1e12, catalog=cat,
                          resilience=Resilience(failure_scale=50.0, restart_s=7200.0))
    assert r.goodput["fraction"] == 0.0 and r.goodput["time_to_train_days"] is None
    json.dumps(r.to_dict(), allow_nan=False)


def test_optimal_interval_is_young_when_failures_are_rare(cat):
    g = _gp(cat, chips=1024, checkpoint="sync")
    young = math.sqrt(2 * g.checkpoint_stall_s * g.mtti_hours * 3600)
    assert g.interval_optimal and g.checkpoint_interval_s == pytest.approx(young, rel=0.05)
    # and it is the best interval: nearby ones do worse
    for f in (0.7, 1.4):
        other = _gp(cat, chips=1024, checkpoint="sync", interval_s=g.checkpoint_interval_s * f)
        assert other.fraction < g.fraction


@settings(max_examples=60, deadline=None)
@given(delta=st.floats(0.01, 3600), mtti=st.floats(10, 1e8), restart=st.floats(0, 7200))
def test_best_interval_beats_a_grid(delta, mtti, restart):
    import numpy as np

    lam = 1.0 / mtti
    best = best_interval_s(delta, lam)
    f = lambda t: t / expected_segment_s(t, delta, restart, lam)  # noqa: E731
    grid = np.geomspace(1e-3, 100 * mtti, 400)
    vals = [f(t) for t in grid]
    assert f(best) >= max(vals) * (1 - 1e-9)
    assert f(best) >= f(best * 1.01) and f(best) >= f(best / 1.01)


@settings(max_examples=40, deadline=None)
@given(chips=st.integers(1, 2_000_000), scale=st.floats(0.01, 20), restart=st.floats(0, 7200),
       mode=st.sampled_from(["async", "sync"]), state=st.floats(1e9, 1e14))
def test_goodput_properties(chips, scale, restart, mode, state):
    from rainier.catalog import default_catalog

    cat = default_catalog()
    g = _gp(cat, chips=chips, state=state, failure_scale=scale, restart_s=restart, checkpoint=mode)
    assert 0.0 <= g.fraction <= 1.0
    assert g.mtti_hours == pytest.approx(1.0 / (chips * cat.economics().interruptions_per_chip_hour * scale))
    more = _gp(cat, chips=chips * 2, state=state, failure_scale=scale, restart_s=restart, checkpoint=mode)
    assert more.fraction <= g.fraction + 1e-9  # more chips: more interruptions, never a better share
    slower = _gp(cat, chips=chips, state=state, failure_scale=scale, restart_s=restart + 600, checkpoint=mode)
    assert slower.fraction <= g.fraction + 1e-9
    if mode == "async":
        assert g.checkpoint_interval_s >= g.checkpoint_write_s  # a checkpoint is written before the next starts


def test_no_failures(cat):
    g = _gp(cat, failure_scale=0.0)
    assert g.fraction == 1.0 and g.mtti_hours is None and g.checkpoint_interval_s is None
    g = _gp(cat, failure_scale=0.0, interval_s=1800.0, checkpoint="sync")
    assert g.fraction == pytest.approx(1800.0 / (1800.0 + g.checkpoint_stall_s))


def test_llama3_scale_is_consistent_with_meta(cat):
    """Llama 3 405B on 16,384 H100 reported >90% effective training time with 419 interruptions in 54 days
    (facts.md 2(c)); the catalog's rate is that one, the restart (10 min) and bandwidths are not fitted to it."""
    r = estimate_training("llama3.1-405b", "h100", 16384, seq=8192, global_batch=2048, tokens=15e12, catalog=cat)
    g = r.goodput
    assert g["mtti_hours"] == pytest.approx(54 * 24 / 419, rel=1e-3)
    assert 0.9 < g["fraction"] < 0.97
    # and the synchronous million-chip job the facts call infeasible without fault isolation
    big = _gp(cat, chips=1_048_576, state=checkpoint_state_bytes(405e9, 12.0))
    assert big.fraction < 0.1


def test_training_result_scales_by_goodput(cat):
    r = estimate_training("llama3-70b", "h100", 4096, seq=8192, global_batch=1024, tokens=2e12, catalog=cat)
    g = r.goodput
    assert g["time_to_train_days"] == pytest.approx(r.time_to_train_days / g["fraction"])
    assert g["cost_usd"] / r.cost_usd == pytest.approx(1 / g["fraction"])
    assert g["energy_mwh"] / r.energy_mwh == pytest.approx(1 / g["fraction"])
    assert g["expected_interruptions"] == pytest.approx(g["interruptions_per_day"] * g["time_to_train_days"])
    assert g["checkpoint_gb"] == pytest.approx(70.6e9 * 14 / 1e9, rel=0.02)
    bf16 = estimate_training("llama3-70b", "h100", 4096, seq=8192, global_batch=1024, catalog=cat,
                             options=_opts(optimizer_dtype="bf16"))
    assert bf16.goodput["checkpoint_gb"] / g["checkpoint_gb"] == pytest.approx(8 / 14)
    assert bf16.goodput["time_to_train_days"] is None  # no tokens, no time


def _opts(**kw):
    from rainier.perf.training import Options
    return Options(**kw)


def test_fleet_default_rate_is_the_catalog_rate(cat):
    """One source for the interruption rate: the fleet's Llama 3 preset and the training goodput."""
    assert sum(c.rate_per_chip_hour for c in LLAMA3_CAUSES) == pytest.approx(
        cat.economics().interruptions_per_chip_hour, rel=1e-3)


def test_bad_resilience_inputs(cat):
    for kw, field in (({"checkpoint": "lazy"}, "--checkpoint"), ({"interval_s": 0.0}, "--checkpoint-interval"),
                      ({"restart_s": -1.0}, "--restart-time"), ({"failure_scale": -1.0}, "--failure-scale"),
                      ({"storage_bytes_per_s": 0.0}, "--checkpoint-bandwidth"),
                      ({"interval_s": math.inf}, "--checkpoint-interval")):
        with pytest.raises(RainierError) as e:
            _gp(cat, **kw)
        assert e.value.field == field
    with pytest.raises(RainierError) as e:  # an async checkpoint must be written before the next one
        _gp(cat, chips=8, state=1e13, interval_s=60.0)
    assert e.value.field == "--checkpoint-interval"


def test_cli_goodput(run_cli):
    rc, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--chips", "1024", "--seq", "8192",
                           "--global-batch", "512", "--tokens", "1T", "--checkpoint", "sync", "--checkpoint-interval",
                           "1h", "--restart-time", "20min", "--failure-scale", "2", "--json")
    assert rc == 0, err
    g = json.loads(out)["goodput"]
    assert g["checkpoint"] == "sync" and g["checkpoint_interval_s"] == 3600 and not g["interval_optimal"]
    assert g["restart_s"] == pytest.approx(1200 + g["checkpoint_write_s"])
    assert g["mtti_hours"] == pytest.approx(1 / (2 * 1024 * 419 / (16384 * 54 * 24)), rel=1e-3)
    for args, field in ((["--checkpoint", "never"], "--checkpoint"), (["--failure-scale", "-1"], "--failure-scale"),
                        (["--checkpoint-interval", "soon"], "--checkpoint-interval"),
                        (["--checkpoint-bandwidth", "fast"], "--checkpoint-bandwidth")):
        rc, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--chips", "64", "--seq", "8192",
                               "--global-batch", "64", *args)
        assert rc == 2 and field in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1


def _simulate_job(work, tau, delta, restart, lam, trials, rng):
    """Monte Carlo wall time of a finite job: segments of tau (+ delta checkpoint), the last the remainder
    without one; Poisson failures at lam, each costing the segment's progress and an interruptible restart."""
    import numpy as np

    k = max(1, math.ceil(work / tau - 1e-9))
    segs = [(tau, delta)] * (k - 1) + [(work - (k - 1) * tau, 0.0)]
    total = np.zeros(trials)
    for w, d in segs:
        a = w + d
        todo = np.ones(trials, dtype=bool)
        while todo.any():
            n = int(todo.sum())
            t_fail = rng.exponential(1 / lam, n)
            ok = t_fail >= a
            spent = np.where(ok, a, t_fail)
            # a failed attempt then restarts: the restart itself can fail and start over
            r_left = ~ok
            while r_left.any():
                tf = rng.exponential(1 / lam, int(r_left.sum()))
                done_r = tf >= restart
                add = np.where(done_r, restart, tf)
                spent[r_left] += add
                idx = np.flatnonzero(r_left)
                r_left[idx[done_r]] = False
            total[todo] += spent
            idx = np.flatnonzero(todo)
            todo[idx[ok]] = False
    return total


@pytest.mark.parametrize("work, tau, delta, restart, mtti", [(1000.0, 2000.0, 5.0, 100.0, 400.0),
                                                           (1000.0, 300.0, 20.0, 60.0, 500.0)])
def test_finite_job_matches_monte_carlo(cat, work, tau, delta, restart, mtti):
    import numpy as np

    from rainier.perf.goodput import _log_job

    sim = _simulate_job(work, tau, delta, restart, 1 / mtti, 20000, np.random.default_rng(3))
    want = math.exp(_log_job(work, tau, delta, restart, 1 / mtti)[0])
    assert abs(sim.mean() - want) < 4 * sim.std() / math.sqrt(len(sim)), (sim.mean(), want)


def test_finite_job_needs_no_checkpoint_after_its_end(cat):
    """A run shorter than its interval takes no checkpoint: its goodput is that of one segment, not an endless
    job's (which an interval of a year would put near zero)."""
    e = cat.economics()
    day = 86400.0
    g = goodput(chips=1024, state_bytes=1.1e11, econ=e, res=Resilience(interval_s=365 * day), work_s=1.3 * day)
    lam = 1024 * e.interruptions_per_chip_hour / 3600
    assert g.checkpoints == 0
    assert g.fraction == pytest.approx(1.3 * day / expected_segment_s(1.3 * day, 0.0, g.restart_s, lam))
    best = goodput(chips=1024, state_bytes=1.1e11, econ=e, work_s=1.3 * day)
    assert best.fraction > g.fraction and best.checkpoints > 0
    # the best even split beats its neighbours
    for k in (best.checkpoints, best.checkpoints + 2):
        other = goodput(chips=1024, state_bytes=1.1e11, econ=e, work_s=1.3 * day,
                        res=Resilience(interval_s=1.3 * day / k))
        assert other.fraction <= best.fraction + 1e-12
    # a job far longer than the interval: the endless job's steady state
    long = goodput(chips=1024, state_bytes=1.1e11, econ=e, work_s=1e4 * day)
    steady = goodput(chips=1024, state_bytes=1.1e11, econ=e)
    assert long.fraction == pytest.approx(steady.fraction, rel=1e-4)


def test_vanishing_failure_rates(cat):
    for scale in (1e-25, 1e-300, 5e-324, -0.0):
        g = _gp(cat, chips=1, failure_scale=scale)
        assert 0.0 <= g.fraction <= 1.0 and math.copysign(1.0, g.interruptions_per_day) == 1.0
        assert (g.mtti_hours is None) == (g.interruptions_per_day == 0.0)
    with pytest.raises(RainierError, match="1e6"):
        _gp(cat, failure_scale=math.inf)


def test_series_meets_lambert_w_at_the_switch():
    from scipy.special import lambertw

    for c in (1e-8, 2e-8):
        exact = 1 + lambertw(-math.exp(-1 - c)).real
        assert (math.sqrt(2 * c) - 2 * c / 3) == pytest.approx(exact, rel=1e-5)


def test_power_descent_names_the_checkpoint_flag(run_cli):
    rc, _, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--power", "1MW", "--seq", "8192",
                         "--global-batch", "512", "--checkpoint-interval", "1s")
    assert rc == 2 and "--checkpoint-interval" in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--chips", "64", "--seq", "8192",
                         "--global-batch", "64", "--checkpoint-interval", "")
    assert rc == 2 and "--checkpoint-interval" in err, err


def test_fleet_auto_checkpoint_gives_the_single_job_goodput(cat):
    """`checkpoint: auto` in a scenario takes perf.goodput's save, restore and interval for the job; the fleet,
    with the Llama 3 causes (rack-wide network failures, repairs, spares) event by event, then loses what the
    single-job formula says."""
    from rainier.catalog.params import param_counts

    n, scale = 64, 50.0
    doc = one_job_scenario(n, 32, "llama3-70b", "auto", {"preset": "llama3", "scale": scale}, power_cap="1GW")
    got = run_fleet(scenario_from_dict(doc, catalog=cat), catalog=cat).summary["totals"]["goodput"]
    want = goodput(chips=16 * n, state_bytes=checkpoint_state_bytes(param_counts(cat.model("llama3-70b")).total, 12.0),
                   econ=cat.economics(), res=Resilience(failure_scale=scale)).fraction
    assert want < 0.9  # failures matter here
    assert abs(got - want) < 0.01, (got, want)


def test_time_budget_gives_the_tokens_trained_with_failures(cat, run_cli):
    r = estimate_training("llama3-70b", "h100", 8192, seq=8192, global_batch=1024, time_s=30 * 86400.0, catalog=cat)
    g = r.goodput
    assert r.time_budget_days == 30.0
    assert g["time_to_train_days"] == pytest.approx(30.0, rel=1e-9)  # the fixed point: the budget, failures in
    assert r.tokens == pytest.approx(r.tokens_per_s * 30 * 86400 * g["fraction"], rel=1e-9)
    assert r.time_to_train_days == pytest.approx(30.0 * g["fraction"], rel=1e-9)
    with pytest.raises(RainierError) as e:
        estimate_training("llama3-70b", "h100", 8192, seq=8192, global_batch=1024, time_s=86400.0, tokens=1e12,
                          catalog=cat)
    assert e.value.field == "--time"
    rc, _, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--chips", "64", "--seq", "8192",
                         "--global-batch", "64", "--time", "soon")
    assert rc == 2 and "--time" in err and len(err.strip().splitlines()) == 1


def test_a_count_without_a_layout_names_the_nearest_one(run_cli):
    rc, _, err = run_cli("train", "--model", "llama3-70b", "--chip", "gb200", "--chips", "2304", "--seq", "8192",
                         "--global-batch", "1024")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    near = int(err.split("try --chips ")[1].split(" ")[0].replace(",", ""))
    assert near < 2304
    rc, out, err = run_cli("train", "--model", "llama3-70b", "--chip", "gb200", "--chips", str(near), "--seq", "8192",
                           "--global-batch", "1024", "--json")
    assert rc == 0, err


@settings(max_examples=30, deadline=None)
@given(work=st.floats(1e3, 1e300), chips=st.integers(1, 2_000_000))
def test_any_job_length_gives_a_share(work, chips):
    """A job trained over a link of 1 bit/s lasts ~1e30 s: splitting it into segments lost the last one to
    rounding (log of 0, a traceback)."""
    from rainier.catalog import default_catalog

    cat = default_catalog()
    g = goodput(chips=chips, econ=cat.economics(), res=Resilience(), work_s=work, state_bytes=1e12)
    assert 0.0 <= g.fraction <= 1.0
