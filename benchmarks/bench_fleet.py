"""Fleet simulator benchmarks; prints figures.

1. The event kernel alone: 2,000 concurrent processes that each reschedule themselves at random delays,
   with one in eight of the scheduled events cancelled (lazy cancellation); events/s processed.
2. The default ``rainier`` scenario (0.5 M -> 1.1 M Trainium chips over one simulated year, Llama 3
   failure rates, ~8,000 jobs, two inference services): wall time, events processed, events/s, failures
   per day at the end of the year, peak resident memory (ru_maxrss of this process), on one core.

Run: ``python benchmarks/bench_fleet.py [--kernel-events N] [--skip-scenario] [--out DIR]``.
Targets (issue 6): scenario < 60 s wall and < 2 GB peak memory; kernel >= 300k events/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def _kernel_once(delays: list[float], n_events: int) -> tuple[int, float]:
    from rainier.fleet.engine import Kernel

    k = Kernel()
    it = iter(delays)
    schedule, cancel = k.schedule, k.cancel
    victim: list = [None]
    count = [0]

    def proc() -> None:
        c = count[0] = count[0] + 1
        if c >= n_events:
            return
        schedule(next(it), proc)
        if c & 7 == 0:  # every eighth event arms a timeout and cancels the previous one (lazy)
            cancel(victim[0])
            victim[0] = schedule(10.0 * next(it), proc)

    for _p in range(2000):
        schedule(next(it), proc)
    t0 = time.perf_counter()
    n = k.run()
    return n, time.perf_counter() - t0


def bench_kernel(n_events: int, repeats: int = 3) -> dict[str, float]:
    """Best of ``repeats``: a shared machine's load only ever slows a run down."""
    import numpy as np

    delays = np.random.default_rng(0).exponential(1.0, size=2 * n_events + 4096).tolist()
    runs = [_kernel_once(delays, n_events) for _ in range(repeats)]
    n, best = min(runs, key=lambda r: r[1])
    return {"kernel_events": n, "kernel_wall_s": best, "kernel_events_per_s": n / best}


def bench_scenario(out: str | None) -> dict[str, float]:
    from rainier.fleet import load_scenario

    t0, c0 = time.perf_counter(), time.process_time()
    sc = load_scenario("rainier")
    from rainier.fleet import Simulation

    sim = Simulation(sc)  # job generation and the perf estimators (cached per configuration)
    c1 = time.process_time()
    r = sim.run()
    c2 = time.process_time()
    if out:
        from rainier.fleet.outputs import write_run_dir

        write_run_dir(r, out, time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    r.wall_s = wall  # type: ignore[attr-defined]
    s = r.summary
    t = s["totals"]
    ev = r.events
    last_day = [k for k, tm in zip(ev["kind"], ev["time_h"], strict=True) if k == "failure" and tm >= s["horizon_h"] - 24 * 30]
    return {
        "scenario_cpu_s": time.process_time() - c0,
        "setup_cpu_s": c1 - c0,
        "run_cpu_s": c2 - c1,
        "scenario_wall_s": wall,
        "events_processed": r.events_processed,
        "chips_installed_end": t["chips_installed_end"],
        "jobs_submitted": t["jobs_submitted"],
        "jobs_finished": t["jobs_finished"],
        "failures": t["failures"],
        "failures_per_day_last_30d": len(last_day) / 30.0,
        "utilization": t["utilization"],
        "goodput": t["goodput"],
        "slo_attainment": t["slo_attainment"],
        "peak_power_mw": t["peak_power_mw"],
        "perf_backend": r.perf_backend,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel-events", type=int, default=1_000_000)
    ap.add_argument("--skip-scenario", action="store_true")
    ap.add_argument("--out", default=None, help="also write the run directory here")
    a = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
        except OSError:
            pass
    k = bench_kernel(a.kernel_events)
    print(f"kernel: {k['kernel_events']:,} events in {k['kernel_wall_s']:.2f} s (best of 3) = "
          f"{k['kernel_events_per_s']:,.0f} events/s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not a.skip_scenario:
        s = bench_scenario(a.out)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(f"scenario rainier: {s['scenario_wall_s']:.1f} s wall, {s['scenario_cpu_s']:.1f} s CPU "
              f"(setup incl. perf estimators {s['setup_cpu_s']:.1f} s, simulation {s['run_cpu_s']:.1f} s); "
              f"{s['events_processed']:,} events = {s['events_processed'] / s['run_cpu_s']:,.0f} events/s of simulation CPU")
        print(f"  chips at end {s['chips_installed_end']:,.0f}; jobs {s['jobs_finished']:,}/{s['jobs_submitted']:,} finished; "
              f"failures {s['failures']:,} ({s['failures_per_day_last_30d']:.0f}/day in the last 30 days)")
        print(f"  utilization {s['utilization']:.1%}, goodput {s['goodput']:.1%}, SLO attainment {s['slo_attainment']:.1%}, "
              f"peak power {s['peak_power_mw']:,.0f} MW; perf {s['perf_backend']}")
        print(f"  peak memory (ru_maxrss) {rss_mb:,.0f} MB")
        ok = s["scenario_wall_s"] < 60 and rss_mb < 2048
        print(f"  targets (<60 s wall, <2 GB): {'met' if ok else 'NOT met'} (wall depends on machine load; CPU does not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
