"""Benchmark: the HTML report of a 1M-chip, one-year fleet run: its size, build time and load time.

A synthetic run directory of the default scenario's shape (8760 hourly steps, 5 sites, 10 tenants,
3000 training jobs; docs/contracts.md format) is written, then the report is built from its files and
opened in headless Chromium (if installed), cold, from a file:// URL. Targets (issue 7): under 20 MB,
opens in under 5 s. Also reports the comparison report of two such runs.

    python benchmarks/bench_report.py [--chips 1000000] [--hours 8760] [--sites 5] [--tenants 10] [--jobs 3000]
                                      [--run DIR]   # a real run directory instead of the synthetic one
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--run", type=Path, default=None, help="report this run directory instead")
    ap.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the loaded report here")
    args = ap.parse_args(argv)

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = Path(tmp)
        if args.run is None:
            t0 = time.perf_counter()
            run = write_synthetic_run(base / "run-a", chips=args.chips, horizon_h=args.hours, sites=args.sites,
                                      tenants=args.tenants, jobs=args.jobs, seed=0)
            run_b = write_synthetic_run(base / "run-b", chips=args.chips, horizon_h=args.hours, sites=args.sites,
                                        tenants=args.tenants, jobs=args.jobs, seed=0, scheduler="fifo",
                                        delivery_slip_h=24 * 90)
            gen_s = time.perf_counter() - t0
            ts_mb = (run / "timeseries.parquet").stat().st_size / 1e6
            print(f"run directory: synthetic {args.chips:,} chips, {args.hours:,} h, {args.sites} sites, "
                  f"{args.tenants} tenants, {args.jobs:,} jobs (written in {gen_s:.1f} s; timeseries.parquet "
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
                c = check_report(out, screenshot=shot)
                drawn = len(c.charts) - len(c.empty_charts)
                line += (f"; Chromium cold open to all {drawn}/{c.expected_charts} charts drawn: {c.load_s:.2f} s "
                         f"(plotly.js ready at {(c.plotly_ready_ms or 0) / 1e3:.2f} s, last chart drawn at "
                         f"{(c.rendered_ms or 0) / 1e3:.2f} s page time; limit {LOAD_LIMIT_S:g} s), "
                         f"console errors: {len(c.errors)}")
                ok &= c.load_s < LOAD_LIMIT_S and not c.errors and not c.empty_charts
            else:
                line += "; chromium not installed, load time not measured (scripts/install_chromium.sh)"
            print(line)
    print("PASS" if ok else "FAIL: over a limit")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
