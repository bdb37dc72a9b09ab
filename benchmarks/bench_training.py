"""Speed of the training model: one estimate, a full search at 16,384 and at 1,000,000 chips.

Targets (issue 4): a single estimate < 1 ms; a full search for a 405B model on 16,384 chips < 1 s;
on 1,000,000 chips < 5 s (2-core machine). Run: ``python benchmarks/bench_training.py``.
"""

from __future__ import annotations

import time

from rainier.catalog import default_catalog
from rainier.perf.training import Parallelism, estimate_training


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    cat = default_catalog()
    model, chip = cat.model("llama3.1-405b"), cat.accelerator("h100")
    estimate_training("llama3-8b", chip, 8, seq=8192, global_batch=8, catalog=cat)  # warm imports and caches
    fixed = Parallelism(tp=8, pp=16, dp=128, vp=4, micro_batch=1, recompute="full", zero=1)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        estimate_training(model, chip, 16384, seq=8192, global_batch=2048, parallelism=fixed, catalog=cat)
    single = (time.perf_counter() - t0) / n
    print(f"single estimate (405B, 16,384 H100, fixed parallelism): {single * 1e3:.3f} ms  (target < 1 ms)")

    def s16k() -> None:
        r = estimate_training(model, chip, 16384, seq=8192, global_batch=2048, catalog=cat, top=5)
        s16k.r = r  # type: ignore[attr-defined]

    t = timed(s16k, 3)
    r = s16k.r  # type: ignore[attr-defined]
    print(f"full search 405B on 16,384 H100: {t:.3f} s  (target < 1 s)  -> {r.parallelism} "
          f"step {r.step_time_s:.2f} s MFU {100 * r.mfu:.1f}%")

    def s1m() -> None:
        r = estimate_training(model, "trn2", 1_000_000, seq=8192, global_batch=62500, catalog=cat, top=5,
                              sites=2, cross_site_gbps=400_000)
        s1m.r = r  # type: ignore[attr-defined]

    t = timed(s1m, 3)
    r = s1m.r  # type: ignore[attr-defined]
    print(f"full search 405B on 1,000,000 Trainium2 over 2 sites: {t:.3f} s  (target < 5 s)  -> {r.parallelism} "
          f"step {r.step_time_s:.2f} s MFU {100 * r.mfu:.1f}%")

    def s1m_moe() -> None:
        r = estimate_training("deepseek-v3", "trn2", 1_048_576, seq=4096, global_batch=65536, catalog=cat, top=5,
                              precision="fp8")
        s1m_moe.r = r  # type: ignore[attr-defined]

    t = timed(s1m_moe, 3)
    r = s1m_moe.r  # type: ignore[attr-defined]
    print(f"full search DeepSeek-V3 (MoE) on 1,048,576 Trainium2: {t:.3f} s  (target < 5 s)  -> {r.parallelism} "
          f"step {r.step_time_s:.2f} s MFU {100 * r.mfu:.1f}%")

    def s1m_h() -> None:
        r = estimate_training(model, chip, 1_048_576, seq=8192, global_batch=16384, catalog=cat, top=5)
        s1m_h.r = r  # type: ignore[attr-defined]

    t = timed(s1m_h, 3)
    r = s1m_h.r  # type: ignore[attr-defined]
    print(f"full search 405B on 1,048,576 H100: {t:.3f} s  (target < 5 s)  -> {r.parallelism} "
          f"step {r.step_time_s:.2f} s MFU {100 * r.mfu:.1f}%")

    from rainier.plan.compare import compare_training

    kinds = ["trn2", "h100", "gb200", "tpu-v6e", "mi300x"]

    def cmp() -> None:
        cmp.r = compare_training(model, kinds, power_w=100e6, seq=8192, global_batch=2048,  # type: ignore[attr-defined]
                                 tokens=15e12, catalog=cat)

    t = timed(cmp, 3)
    rows = cmp.r.rows  # type: ignore[attr-defined]
    print(f"405B compared on {len(kinds)} chip kinds at 100 MW each (sizing + count descent + search per kind): "
          f"{t:.3f} s  -> " + ", ".join(f"{r.chip} {r.chips:,} chips ${r.usd_per_million_tokens:.2f}/Mtok" for r in rows))


if __name__ == "__main__":
    main()
