"""Benchmark: the capacity planner (MILP, HiGHS) on planning questions of the brief's size.

1. 5 GW by 2030: four chip kinds, four sites (New Carlisle's build-out ramp, Mississippi, two generic
   campuses), five years of growing demand, Trainium3 supply limited per year: the solve, its duals, and
   which caps bind.
2. The same demand in training tokens/s of Llama 3.1 405B (--workload: each kind's MFU x goodput from the
   training estimator's search on a 16,384-chip job), met by whole 16,384-chip jobs (the CLI's default) and in
   FLOP/s with any job size (--no-whole-jobs).
3. Training and serving together: three quarters of the first plan's demand (the full one leaves no power) plus
   serving Llama 3 70B (--serve, saturated 64-chip deployments of each kind simulated, 2 workers), 200M output
   tokens/s by 2030.
4. Whole 262,144-chip jobs that may span two of the sites (--job-sites 2, a 100 Tbit/s link), the sites capped so
   that each holds at most one Trainium2 job.

    python benchmarks/bench_plan.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from rainier.catalog import default_catalog
from rainier.plan.capacity import fmt_ef, plan_capacity, serving_rates, workload_utilization
from rainier.units import fmt_money

CHIPS = ["trn2", "trn3", "gb200", "h100"]
SITES = ["new-carlisle", "mississippi", "generic-hyperscale", "generic-colo"]
YEARS = [2026, 2027, 2028, 2029, 2030]
DEMAND = [150e18, 400e18, 800e18, 1200e18, 1600e18]  # delivered bf16 FLOP/s
SPAN_DEMAND = [12e18, 24e18, 36e18, 48e18, 48e18]  # 1-4 Trainium2 jobs of 262,144 chips
SUPPLY = {"trn3": {2026: 100_000, 2027: 400_000, 2028: 800_000}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    cat = default_catalog()
    times = []
    res = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = plan_capacity(cat, CHIPS, SITES, YEARS, DEMAND, supply_chips=SUPPLY)
        times.append(time.perf_counter() - t0)
    assert res is not None
    n_var = len(CHIPS) * len(SITES) * len(YEARS)
    print(f"plan {len(CHIPS)} chips x {len(SITES)} sites x {len(YEARS)} years ({n_var} integer variables, supply "
          f"limits, duals): median {statistics.median(times):.3f} s over {args.repeat}  -> {res.status}, "
          f"{fmt_money(res.total_cost_usd)}; peak demand {fmt_ef(max(DEMAND))} EF/s")
    for line in res.binding()[:6]:
        print(f"  binding: {line}")
    t0 = time.perf_counter()
    fits = workload_utilization(cat, CHIPS, "llama3.1-405b", seq=8192, global_batch=2048, job_chips=16384)
    util = {f.chip: f.utilization for f in fits if f.utilization}
    res2 = plan_capacity(cat, list(util), SITES, YEARS, DEMAND, utilization=util, supply_chips=SUPPLY,
                         job_chips=16384)
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    res3 = plan_capacity(cat, list(util), SITES, YEARS, DEMAND, utilization=util, supply_chips=SUPPLY)
    dt3 = time.perf_counter() - t0
    jobs = sum(r.jobs or 0 for r in res2.rows if r.year == YEARS[-1])
    print(f"plan with --workload llama3.1-405b (4 training searches + goodput + the plan in whole 16,384-chip jobs, "
          f"{n_var} integer variables, one job's systems each): {dt:.3f} s  -> " + ", ".join(f"{c} {u:.1%}" for c, u in util.items())
          + f"; {res2.status}, {fmt_money(res2.total_cost_usd)}, {jobs} jobs in {YEARS[-1]}")
    print(f"  the same plan in FLOP/s, any job size (--no-whole-jobs): {dt3:.3f} s -> {fmt_money(res3.total_cost_usd)} "
          f"({res2.total_cost_usd / res3.total_cost_usd - 1:+.2%} for whole jobs)")
    t0 = time.perf_counter()
    fits_s = serving_rates(cat, CHIPS, "llama3-70b", deployment_chips=64, workers=2)
    rate = {f.chip: f.tokens_per_s_per_chip or 0.0 for f in fits_s}
    t_sim = time.perf_counter() - t0
    serve = [20e6, 50e6, 100e6, 150e6, 200e6]
    train = [0.75 * d for d in DEMAND]
    res3q = plan_capacity(cat, CHIPS, SITES, YEARS, train, supply_chips=SUPPLY)
    t1 = time.perf_counter()
    res4 = plan_capacity(cat, CHIPS, SITES, YEARS, train, supply_chips=SUPPLY, serve_tokens_per_s=serve,
                         serve_rate=rate)
    t2 = time.perf_counter()
    chips_s = sum(r.chips_installed for r in res4.rows if r.year == YEARS[-1] and r.use == "serving")
    print(f"plan with --serve llama3-70b ({2 * n_var} integer variables): serving simulations {t_sim:.3f} s + plan "
          f"{t2 - t1:.3f} s -> {res4.status}, {fmt_money(res4.total_cost_usd)} "
          f"({res4.total_cost_usd / res3q.total_cost_usd - 1:+.1%} over training alone); {chips_s:,} serving chips in "
          f"{YEARS[-1]}; tokens/s per chip " + ", ".join(f"{c} {v:,.0f}" for c, v in rate.items()))
    # 4. Whole jobs that may span two sites (--job-sites 2): 262,144-chip jobs (~220 MW of Trainium2), sites capped
    #    at 400 / 300 / 400 / 100 MW, so a site holds one Trainium2 job at most and further jobs need two sites'
    #    leftovers; each kind's rate across two sites over a 100 Tbit/s link from the estimator.
    big, link = 262144, 100000.0
    caps = {"new-carlisle": 400e6, "mississippi": 300e6, "generic-hyperscale": 400e6, "generic-colo": 100e6}
    t0 = time.perf_counter()
    one = {f.chip: f.utilization for f in workload_utilization(cat, CHIPS, "llama3.1-405b", seq=8192, global_batch=2048,
                                                               job_chips=big) if f.utilization}
    two = {f.chip: f.utilization for f in workload_utilization(cat, list(one), "llama3.1-405b", seq=8192,
                                                               global_batch=2048, job_chips=big, sites=2,
                                                               cross_site_gbps=link) if f.utilization}
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res5 = plan_capacity(cat, list(one), SITES, YEARS, SPAN_DEMAND, utilization=one, power_cap_w=caps, job_chips=big,
                         job_sites=2, split_utilization=two, cross_site_gbps=link)
    t_plan = time.perf_counter() - t0
    n5 = len(one) * (len(SITES) + len(SITES) * (len(SITES) - 1) // 2) * len(YEARS)
    spans = sum(r.jobs or 0 for r in res5.rows if r.spans and r.year == YEARS[-1] and r.site == r.spans[0])
    print(f"plan with whole {big:,}-chip jobs that may span 2 sites ({n5} integer variables; caps 400/300/400/100 MW): "
          f"8 training searches {t_fit:.3f} s + plan {t_plan:.3f} s -> {res5.status}, {fmt_money(res5.total_cost_usd)}, "
          f"{res5.jobs_in(YEARS[-1])} jobs in {YEARS[-1]}, {spans} of them across two sites; utilization one site / "
          "two: " + ", ".join(f"{c} {one[c]:.1%} / {two.get(c, 0.0):.1%}" for c in one))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
