"""Out-of-sample check of the serving model on MLPerf Inference results that are NOT in the validation table.

Closed-division datacenter results for Llama-2-70B (OpenOrca; output tokens/s of the whole system) in the
Offline and Server scenarios (Server: TTFT p99 <= 2 s, TPOT p99 <= 200 ms), transcribed by a helper from
the mlcommons ``inference_results_v4.0`` .. ``v6.0`` repositories (run logs ``mlperf_log_summary.txt``
and the published results tables; some rounds read from forks of those repositories). Nothing is fitted on
these rows; validation rows (v4.1 H100 x8 offline, B200 x1, MI300X x8 / x1) are among them and marked.

Precision as the submissions state or the hardware implies: fp8 on H100/H200/MI300X/MI325X, fp4 on
B200/GB200 (v5.x submissions state fp4) and MI355X. rainier searches the deployment (TP, replicas, batch)
itself. The same hardware gains 15-44% between rounds (software), so each row is scored against its own
round and the spread is part of the answer.

Measured (2026-11-24): every round, validation rows excluded, MAE 16.2% over 30 rows (bias -15%); the latest
round of each system 17.1% over 16. rainier matches the v4.0 / v4.1 software on H100 (-9% to +7%), GB200 / MI355X
within 4% and B200 within 10%, and is slow against later rounds on the same hardware (H100 v5.0 -29% to -30%,
H200 v5.x -22% to -26%, MI300X v5.1 -26% to -28%: the submissions' software gained 15-44% between rounds). MI325X
is -38% to -44%: measured 24% above MI300X with the same software (v5.1) where rainier gives +2.5% (same peak FLOP/s,
+13% HBM bandwidth, +24% capacity; the higher power limit, 1000 vs 750 W, which may sustain higher clocks, is
not modelled). Run from the repository root (about 75 s)::

    python scripts/check_mlperf_inference.py
"""

from __future__ import annotations

import statistics

from rainier.perf.inference import estimate_serving
from rainier.perf.validate_inference import SERVER, _openorca

# chip, chips, precision, scenario, {round: tokens/s} (validation rows marked with *)
RESULTS = [
    ("h100", 2, "fp8", "offline", {"v4.0": 5539.47}),
    ("h100", 2, "fp8", "server", {"v4.0": 5271.98}),
    ("h100", 8, "fp8", "offline", {"v4.0": 21805.8, "v4.1*": 24524.9, "v5.0": 31306.8}),
    ("h100", 8, "fp8", "server", {"v4.0": 20556.4, "v4.1": 21605.8, "v5.0": 31106.28}),
    ("h200", 8, "fp8", "offline", {"v4.0": 27738.3, "v4.1": 31302.7, "v5.0": 34988.2, "v5.1": 35091.5}),
    ("h200", 8, "fp8", "server", {"v4.0": 26485.43, "v4.1": 29228.22, "v5.0": 31390.23, "v5.1": 33356.2}),
    ("b200", 8, "fp4", "offline", {"v5.0": 98858.0, "v5.1": 101527.0}),
    ("b200", 8, "fp4", "server", {"v5.0": 98443.3, "v5.1": 99123.0}),
    ("gb200", 4, "fp4", "offline", {"v5.1": 51736.9}),
    ("gb200", 4, "fp4", "server", {"v5.1": 49359.6}),
    ("mi300x", 8, "fp8", "offline", {"v4.1*": 23514.8, "v5.1": 27803.9}),
    ("mi300x", 8, "fp8", "server", {"v4.1": 21028.2, "v5.1": 24593.8}),
    ("mi325x", 8, "fp8", "offline", {"v5.0": 33928.1, "v5.1": 34520.4}),
    ("mi325x", 8, "fp8", "server", {"v5.0": 30724.51, "v5.1": 32027.6}),
    ("mi355x", 8, "fp4", "offline", {"v6.0": 103480.0}),
    ("mi355x", 8, "fp4", "server", {"v6.0": 100282.36}),
]


def predict(chip: str, chips: int, precision: str, scenario: str) -> float:
    kw = {"offline": True} if scenario == "offline" else dict(SERVER)
    return estimate_serving("llama2-70b", chip, chips, precision=precision, lengths=_openorca(290),
                            **kw).output_tokens_per_s  # type: ignore[arg-type]


def main() -> None:
    latest: list[float] = []
    every: list[float] = []
    for chip, n, prec, scen, meas in RESULTS:
        p = predict(chip, n, prec, scen)
        errs = {k: 100.0 * (p / v - 1.0) for k, v in meas.items()}
        every += [e for k, e in errs.items() if not k.endswith("*")]
        last = list(errs)[-1]
        if not last.endswith("*"):
            latest.append(errs[last])
        print(f"{chip:7s} x{n:<2d} {prec} {scen:8s} predicted {p:9,.0f} tok/s  "
              + "  ".join(f"{k} {meas[k]:9,.0f} ({e:+.0f}%)" for k, e in errs.items()))
    print(f"latest round per system: MAE {statistics.fmean(abs(e) for e in latest):.1f}% over {len(latest)} rows, "
          f"bias {statistics.fmean(latest):+.1f}%")
    print(f"every round (validation rows excluded): MAE {statistics.fmean(abs(e) for e in every):.1f}% over "
          f"{len(every)} rows, bias {statistics.fmean(every):+.1f}%")


if __name__ == "__main__":
    main()
