"""Benchmark: the HTML report of a 1M-chip, one-year fleet run: its size, build time and load time.

A synthetic run directory of the default scenario's shape (8760 hourly steps, 5 sites, 10 tenants,
3000 training jobs; docs/contracts.md format) is written, then the report is built from its files and
opened in headless Chromium (if installed), cold, from a file:// URL. Targets (issue 7): under 20 MB,
opens in under 5 s. Also reports the comparison report of two such runs.

    python benchmarks/bench_report.py [--chips 1000000] [--hours 8760] [--sites 5] [--tenants 10] [--jobs 3000]
                                      [--failure-scale 25]
                                      [--run DIR]   # a real run directory instead of the synthetic one
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rainier.report import write_compare_report, write_run_report
from rainier.report.browser import check_report, find_chromium
from rainier.report.synthetic import write_synthetic_run

SIZE_LIMIT_MB = 20.0
LOAD_LIMIT_S = 5.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=1_000_000)
    ap.add_argument("--hours", type=int, default=8760)
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--failure-scale", type=float, default=25.0,
                    help="failures per attempt x; 25 gives ~50k failed attempts, like the real default scenario")
    ap.add_argument("--run", type=Path, default=None, help="report this run directory instead")
    ap.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the loaded report here")
    ap.add_argument("--repeat", type=int, default=3, help="cold opens per report (a fresh browser each); the median counts")
    args = ap.parse_args(argv)

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = Path(tmp)
        if args.run is None:
            t0 = time.perf_counter()
            run = write_synthetic_run(base / "run-a", chips=args.chips, horizon_h=args.hours, sites=args.sites,
                                      tenants=args.tenants, jobs=args.jobs, seed=0,
                                      failure_scale=args.failure_scale)
            run_b = write_synthetic_run(base / "run-b", chips=args.chips, horizon_h=args.hours, sites=args.sites,
                                        tenants=args.tenants, jobs=args.jobs, seed=0, scheduler="fifo",
                                        delivery_slip_h=24 * 90, failure_scale=args.failure_scale)
            gen_s = time.perf_counter() - t0
            ts_mb = (run / "timeseries.parquet").stat().st_size / 1e6
            import pandas as pd

            attempts = pd.read_parquet(run / "jobs.parquet", columns=["status"])["status"]
            print(f"run directory: synthetic {args.chips:,} chips, {args.hours:,} h, {args.sites} sites, "
                  f"{args.tenants} tenants, {args.jobs:,} jobs, {len(attempts):,} attempts "
                  f"({int((attempts == 'failed').sum()):,} failed) (written in {gen_s:.1f} s; timeseries.parquet "
                  f"{ts_mb:.1f} MB)")
        else:
            run, run_b = args.run, None
            print(f"run directory: {run}")

        for label, build in (("run report", lambda: write_run_report(run, base / "report.html")),
                             ("compare report", (lambda: write_compare_report(run, run_b, base / "compare.html"))
                              if run_b is not None else None)):
            if build is None:
                continue
            t0 = time.perf_counter()
            out = build()
            build_s = time.perf_counter() - t0
            mb = out.stat().st_size / 1e6
            line = f"{label}: {mb:.2f} MB (limit {SIZE_LIMIT_MB:g}), built in {build_s:.2f} s"
            ok &= mb < SIZE_LIMIT_MB
            if find_chromium():
                shot = args.screenshot if label == "run report" else None
                checks = [check_report(out, screenshot=shot if i == 0 else None) for i in range(max(1, args.repeat))]
                loads = sorted(c.load_s for c in checks)
                med = statistics.median(loads)
                c = checks[0]
                drawn = len(c.charts) - len(c.empty_charts)
                page_ms = {k: statistics.median(getattr(x, k) or 0 for x in checks) / 1e3
                           for k in ("plotly_ready_ms", "first_screen_ms", "rendered_ms")}
                line += (f"; Chromium cold open to all {drawn}/{c.expected_charts} charts drawn: median {med:.2f} s "
                         f"of {len(loads)} (min {loads[0]:.2f}, max {loads[-1]:.2f}; limit {LOAD_LIMIT_S:g} s; "
                         f"page clock: plotly.js ready {page_ms['plotly_ready_ms']:.2f} s, first screen drawn "
                         f"{page_ms['first_screen_ms']:.2f} s, last chart {page_ms['rendered_ms']:.2f} s), "
                         f"console errors: {sum(len(x.errors) for x in checks)}")
                ok &= med < LOAD_LIMIT_S and not any(x.errors or x.empty_charts for x in checks)
            else:
                line += "; chromium not installed, load time not measured (scripts/install_chromium.sh)"
            print(line)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print("PASS" if ok else "FAIL: over a limit")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
