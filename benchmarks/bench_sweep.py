"""Fleet sweep speed: the same sweep serially and on worker processes (2-core machine: 2 workers).

    python benchmarks/bench_sweep.py [--scenario two-sites --horizon 30d --seeds 4 --workers 2]

Prints the wall time of each, the speed-up, and whether the two gave identical results (they must).
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from rainier.plan.sweep import parse_grid, run_sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="two-sites")
    ap.add_argument("--horizon", default="30d")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    grid = parse_grid(["scheduler.name=fifo,fair-share"])
    seeds = list(range(a.seeds))
    t = time.perf_counter()
    serial = run_sweep(a.scenario, seeds, grid, horizon=a.horizon, engine="serial")
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    pooled = run_sweep(a.scenario, seeds, grid, horizon=a.horizon, engine="process", workers=a.workers)
    t_pool = time.perf_counter() - t
    same = serial.runs.equals(pooled.runs) and serial.summary.equals(pooled.summary)
    n = len(serial.runs)
    print(f"sweep {a.scenario} {a.horizon}, {a.seeds} seeds x 2 schedulers = {n} runs: serial {t_serial:.1f} s "
          f"({t_serial / n:.2f} s per run), {pooled.workers} worker processes {t_pool:.1f} s "
          f"(speed-up {t_serial / t_pool:.2f}x incl. worker start-up); identical results: {same}")
    s = serial.summary
    row = s[(s.point == 1) & (s.metric == "utilization")].iloc[0]
    print(f"  fair-share vs fifo utilization, paired over seeds: {row['diff']:+.2%} ± {row['diff_ci95']:.2%}")
    return 0 if same else 1


if __name__ == "__main__":
    pd.set_option("display.width", 160)
    sys.exit(main())
