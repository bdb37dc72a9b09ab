"""Speed of the inference model: analytic estimate, 1M-request serving simulation, configuration search.

    python benchmarks/bench_inference.py [--requests 1000000] [--replicas 64]

Targets (issue 5): an analytic estimate under 1 ms; 1,000,000 requests of Llama-2-70B on 64 replicas
simulated in under 10 s on one core; a full configuration search under 10 s. Times are CPU seconds of
this process (``time.process_time``), so other load on the machine does not inflate them; wall
seconds are printed beside them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from rainier.catalog import default_catalog
from rainier.perf import serving as S
from rainier.perf.inference import (
    estimate_serving,
    memory_plan,
    search_configs,
    steady_state,
    step_model,
)
from rainier.perf.workload import make_requests, named_dist


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(t: tuple[float, float]) -> tuple[float, float]:
    return time.process_time() - t[0], time.perf_counter() - t[1]


def _variant(label: str, sim: Any, cpu: float, wall: float) -> None:
    """One line for a variant of the 1M-request stream."""
    print(f"  {label}: {cpu:.2f} s CPU ({wall:.2f} s wall); {sim.steps:,} iterations; "
          f"TTFT p99 {np.percentile(sim.ttft, 99) * 1e3:.0f} ms, TPOT p99 {np.percentile(sim.tpot, 99) * 1e3:.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--replicas", type=int, default=64)
    ap.add_argument("--load", type=float, default=0.8, help="offered load / analytic capacity")
    args = ap.parse_args()
    cat = default_catalog()
    m, a = cat.model("llama2-70b"), cat.accelerator("h100")
    s = cat.system_for(a)

    # 1. analytic estimate: steady-state throughput/latency of one configuration.
    t = _clock()
    sm = step_model(m, a, s, cat, tp=2, pp=1, ep=1, precision="fp8")
    build = _since(t)
    n = 2000
    t = _clock()
    for _ in range(n):
        st = steady_state(sm, 700, 294.0, 290.0)
    per = _since(t)[0] / n
    print(f"analytic estimate (Llama-2-70B, tp2 fp8 H100, steady state): {per * 1e6:.0f} us per call "
          f"[target < 1 ms]; step-model build (GEMM/collective tables, once per config): {build[0] * 1e3:.1f} ms")

    # 2. serving simulation.
    mp = memory_plan(m, a, "fp8", 2, 1)
    pool = S.Pool(sm, args.replicas, 1024, 8192, mp.kv_capacity_tokens)
    rate = args.load * st.requests_per_s * args.replicas
    reqs = make_requests(named_dist("openorca"), args.requests, np.random.default_rng(0), qps=rate)
    t = _clock()
    sim = S.simulate_deployment(pool, reqs)
    cpu, wall = _since(t)
    q = sim.queue_stats()
    print(f"serving simulation: {args.requests:,} requests, Llama-2-70B on {args.replicas} replicas (tp2 fp8 H100), "
          f"Poisson {rate:,.0f} req/s: {cpu:.2f} s CPU ({wall:.2f} s wall) [target < 10 s]; "
          f"{int(q['events']):,} events, {int(q['iterations']):,} replica iterations; "
          f"{sim.output_tokens_per_s:,.0f} output tok/s, TTFT p99 {np.percentile(sim.ttft, 99) * 1e3:.0f} ms, "
          f"TPOT p99 {np.percentile(sim.tpot, 99) * 1e3:.1f} ms")

    # 2b. the same stream decoded speculatively (MTP head, 3 proposals, acceptance 0.7) with half of each prompt
    # in the prefix cache: the same requests finish in fewer, costlier iterations.
    from rainier.perf.inference import spec_step
    from rainier.perf.speculative import make_spec

    spec = make_spec(m, None, 3, 0.7)
    mp_s = memory_plan(m, a, "fp8", 2, 1, spec=spec)
    pool_s = S.Pool(sm, args.replicas, 1024, 8192, mp_s.kv_capacity_tokens, spec=spec_step(sm, spec, cat))
    t = _clock()
    sim_s = S.simulate_deployment(pool_s, reqs, prefix_hit=0.5)
    cpu, wall = _since(t)
    _variant("speculative (mtp, k=3, a=0.7) + prefix cache 50%", sim_s, cpu, wall)

    # 2c. the same stream with a 200-token system prompt every request starts with, its KV held once per replica
    # and read once per iteration by the decodes (cascade attention).
    t = _clock()
    sim_c = S.simulate_deployment(pool, reqs, shared_prefix=200, cascade=True)
    cpu, wall = _since(t)
    _variant("shared prefix 200 tokens, cascade attention", sim_c, cpu, wall)

    # 3. configuration search.
    t = _clock()
    cands = search_configs(m, a, s, cat, 64, precision="fp8", mean_in=294, mean_out=290, slo_ttft_s=2.0, slo_tpot_s=0.2)
    cpu, wall = _since(t)
    c0 = cands[0]
    print(f"configuration search (analytic, {len(cands)} feasible tp/pp/ep/batch on 64 H100): {cpu:.2f} s CPU "
          f"({wall:.2f} s wall); best tp{c0.tp} pp{c0.pp} x{c0.replicas} batch {c0.max_batch}")
    t = _clock()
    r = estimate_serving("llama2-70b", "h100", 64, precision="fp8", slo_ttft_s=2.0, slo_tpot_s=0.2, catalog=cat)
    cpu, wall = _since(t)
    print(f"full search + MLPerf-server max-QPS simulation (rainier serve --chips 64 --slo-ttft 2s --slo-tpot 200ms): "
          f"{cpu:.2f} s CPU ({wall:.2f} s wall) [target < 10 s]; max_qps {r.max_qps:,.1f}, "
          f"{r.output_tokens_per_s:,.0f} output tok/s, tp{r.config['tp']} pp{r.config['pp']} x{r.config['replicas']}")

    # 4. long prompts in small chunks: ~128 iterations per 8k prompt, which the prefill fast-forward runs
    # as a few events (one numpy pass per iteration would take minutes).
    m8 = cat.model("llama3-8b")
    sm8 = step_model(m8, a, s, cat, tp=1, precision="bf16")
    pool8 = S.Pool(sm8, 1, 64, 64, memory_plan(m8, a, "bf16", 1, 1).kv_capacity_tokens)
    nreq = 3000
    arr = np.cumsum(np.random.default_rng(1).exponential(1.0, nreq))
    t = _clock()
    sim = S.simulate(pool8, arr - arr[0], np.full(nreq, 8192), np.full(nreq, 8192), np.full(nreq, 128))
    cpu, wall = _since(t)
    print(f"chunked prefill: {nreq:,} requests of 8,192 + 128 tokens, 64-token budget, Llama-3-8B on 1 H100: "
          f"{cpu:.2f} s CPU ({wall:.2f} s wall) [target < 10 s]; {sim.steps:,} iterations in "
          f"{sim.iterations:,} events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
