"""A shared prefix (a system prompt every request starts with) in the serving model: cached like a prefix hit,
but its KV held once per replica instead of per request. Closed forms, the simulator's KV accounting against
them (hypothesis), the steady state against the simulation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import serving_traffic

from rainier.errors import RainierError
from rainier.perf import serving as S
from rainier.perf.inference import (
    KV_WATERMARK,
    SharedPrefix,
    _batch_for,
    cascade_terms,
    estimate_serving,
    steady_state,
)
from rainier.perf.workload import Requests


@pytest.fixture(scope="module")
def env(llama70b_tp4):
    return llama70b_tp4


def test_cached_and_shared_tokens():
    x = np.array([1, 10, 100, 5000])
    assert S.shared_tokens(x, 50).tolist() == [0, 9, 50, 50]  # a short prompt keeps its last token to compute
    assert S.cached_tokens(x, 0.0, 50).tolist() == [0, 9, 50, 50]
    assert S.cached_tokens(x, 0.9, 50).tolist() == [0, 9, 90, 4500]  # the larger of the two
    assert S.cached_tokens(x, 0.0, 0).tolist() == [0, 0, 0, 0]
    # the analytic model's means are over the prompts, not of the mean prompt: short ones hold more of their own
    sp = SharedPrefix.of(np.array([100, 1900]), 600, 0.5)
    assert (sp.tokens, sp.mean_shared, sp.mean_cached) == (600, (99 + 600) / 2, (99 + 950) / 2)


def test_a_lone_prompt_prefills_only_what_follows_the_shared_prefix(env):
    """TTFT of one request: the step equation for the tokens after the prefix, attending to all of it: the same
    as a prefix hit of the same tokens (the difference is only where the KV is held)."""
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 8, 8192, mp.kv_capacity_tokens)
    x, n = 3000, 2000
    sim = S.simulate_deployment(pool, Requests(np.zeros(1), np.array([x]), np.array([40])), shared_prefix=n)
    p = x - n
    assert sim.ttft[0] == pytest.approx(float(sm.step_time_s(p, 1, 0.0, p * (p + 1) / 2 + p * n)), rel=1e-12)
    hit = S.simulate_deployment(pool, Requests(np.zeros(1), np.array([x]), np.array([40])), prefix_hit=n / x)
    assert sim.first_token_s[0] == hit.first_token_s[0] and sim.finish_s[0] == hit.finish_s[0]


def test_reserved_kv_admits_what_is_left_after_the_prefix(env):
    """Reserve policy, identical requests: a replica holds floor((C - N) / (x - N + y)) of them at once, where
    per-request KV would hold floor(C / (x + y)); the next waits for the first to finish."""
    cat, m, a, sm, mp = env
    C, x, y, n_sh = 10_000, 1000, 200, 800
    pool = S.Pool(sm, 1, 256, 8192, C, kv_policy="reserve")
    reqs = Requests(np.zeros(60), np.full(60, x), np.full(60, y))
    for shared, want in ((n_sh, (C - n_sh) // (x - n_sh + y)), (0, C // (x + y))):
        sim = S.simulate_deployment(pool, reqs, shared_prefix=shared)
        first_done = float(sim.finish_s.min())
        assert int((sim.first_token_s < first_done).sum()) == want
        assert sim.output_tokens == 60 * y


def test_analytic_batch_holds_the_prefix_once(env):
    cat, m, a, sm, mp = env
    C, x, y, n_sh = 400_000, 6000, 400, 5000
    b, _ = _batch_for(sm, C, x, y, 8192, None, None, "paged", shared=SharedPrefix.of(np.array([x]), n_sh))
    assert b == int((C - n_sh) * (1 - KV_WATERMARK) // (x - n_sh + y / 2))
    b0, _ = _batch_for(sm, C, x, y, 8192, None, None, "paged")
    assert b0 == int(C * (1 - KV_WATERMARK) // (x + y / 2)) and b > 4 * b0


def test_analytic_batch_follows_the_prompts_not_the_mean_prompt(env):
    """openorca's prompts vary (mean ~290 tokens): with a 250-token prefix many are shorter and hold more of
    their own KV than the mean prompt would. The analytic KV-bound batch, from the prompts' own means, stays as
    close to the simulated mean batch as it is without a prefix (the length-biased population in flight makes
    both optimistic by about a fifth); from the mean prompt alone it was 1.5x further off."""
    from rainier.perf.workload import named_dist

    cat, m, a, sm, mp = env
    d = named_dist("openorca")
    x, y = d.sample(np.random.default_rng(0), 5000)
    ratio = []
    for n_sh in (0, 250):
        sp = SharedPrefix.of(x, n_sh) if n_sh else None
        b, _ = _batch_for(sm, 60_000, d.mean_input, d.mean_output, 8192, None, None, "paged",
                          prefix_hit=sp.mean_cached / x.mean() if sp else 0.0, shared=sp)
        sim = S.simulate_deployment(S.Pool(sm, 1, 4000, 8192, 60_000), Requests(np.zeros(len(x)), x, y),
                                    shared_prefix=n_sh)
        ratio.append(b / sim.mean_batch)
    assert 1.0 < ratio[0] < 1.3 and ratio[1] / ratio[0] < 1.15


def test_where_the_cache_does_not_bind_only_where_the_kv_lives_differs(env):
    """With room for every request in flight, a shared prefix and a prefix hit of the same tokens run the same
    iterations (the steady state with a prefix hit is checked against the simulation in test_speculative)."""
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 64, 8192, mp.kv_capacity_tokens)
    n, x, y, n_sh = 600, 1200, 200, 900
    reqs = Requests(np.zeros(n), np.full(n, x), np.full(n, y))
    sh = S.simulate_deployment(pool, reqs, concurrency=32, shared_prefix=n_sh)
    hit = S.simulate_deployment(pool, reqs, concurrency=32, prefix_hit=n_sh / x)
    np.testing.assert_array_equal(sh.finish_s, hit.finish_s)


scenario = st.tuples(st.integers(1, 40), st.integers(1, 3), st.integers(1, 12), st.integers(16, 512),
                     st.integers(0, 2**16), st.sampled_from(["offline", "poisson", "closed"]),
                     st.integers(0, 600), st.floats(0.0, 0.9), st.integers(1500, 6000), st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario)
def test_reserved_kv_never_exceeds_the_cache_left_by_the_prefix(env, sc):
    """Under the reserve policy the requests in flight (at least from their first token to their finish) never
    hold more of their own KV than the cache less the shared prefix; stepping every iteration gives the same
    run; every request finishes once with every output token."""
    n, replicas, slots, budget, seed, mode, n_sh, hit, cap, cascade = sc
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, replicas, slots, max(budget, slots), cap + n_sh, kv_policy="reserve")
    x, y, t, c = serving_traffic(seed, n, mode, 900)
    sh = S.shared_tokens(x, n_sh)
    xp = x - S.cached_tokens(x, hit, n_sh)
    kw = dict(kv_shared=sh, kv_store=n_sh, cascade=cascade)
    fast = S.simulate(pool, t, xp, x, y, concurrency=c, **kw)
    slow = S.simulate(pool, t, xp, x, y, concurrency=c, fast_forward=False, **kw)
    for f in ("first_token_s", "finish_s"):
        np.testing.assert_allclose(getattr(fast, f), getattr(slow, f), rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(fast.finish_s)) and fast.output_tokens == int(y.sum())
    own = np.minimum(x - sh + y, cap)  # a request larger than the cache runs alone with its reservation capped
    for r in range(min(replicas, n if c is None else c)):
        mine = fast.replica == r
        for tt in np.unique(fast.first_token_s[mine]):
            live = mine & (fast.first_token_s <= tt) & (fast.finish_s > tt)
            assert own[live].sum() <= cap


def test_serve_shares_the_prefix():
    """Same cached tokens, so the same TTFT alone; but held once, the KV takes a larger batch where the cache
    binds (8k prompts, 6k of them a system prompt, Llama 3 70B on 8 H100): more throughput, though far less than
    the batch grows, as every request's decode still reads the prefix (no cascade kernel), which then takes a
    larger share of the step."""
    base = dict(input_len=8000, output_len=500, tp=8)
    alone_sh = estimate_serving("llama3-70b", "h100", 8, concurrency=1, requests=3, shared_prefix=6000, **base)
    alone_hit = estimate_serving("llama3-70b", "h100", 8, concurrency=1, requests=3, prefix_hit=0.75, **base)
    assert alone_sh.ttft_s["p50"] == pytest.approx(alone_hit.ttft_s["p50"], rel=1e-9)
    sh = estimate_serving("llama3-70b", "h100", 8, offline=True, shared_prefix=6000, **base)
    hit = estimate_serving("llama3-70b", "h100", 8, offline=True, prefix_hit=0.75, **base)
    assert sh.max_batch > 3 * hit.max_batch
    assert 1.05 * hit.output_tokens_per_s < sh.output_tokens_per_s < hit.output_tokens_per_s * sh.max_batch / hit.max_batch
    share = [r.breakdown["attention_decode_s"] / r.breakdown["step_s"] for r in (hit, sh)]
    assert share[1] > share[0]
    assert sh.config["shared_prefix"] == 6000 and any("shared prefix" in n for n in sh.notes)


def test_disaggregated_pools_share_the_prefix_too(env):
    cat, m, a, sm, mp = env
    pool, pre = S.Pool(sm, 1, 32, 8192, 60_000), S.Pool(sm, 1, 32, 8192, 60_000)
    n = 40
    reqs = Requests(np.cumsum(np.full(n, 0.05)), np.full(n, 4000), np.full(n, 50))
    kvb = 327680.0
    runs = [S.simulate_deployment(pool, reqs, prefill_pool=pre, kv_bytes_per_token=kvb, shared_prefix=s)
            for s in (0, 3000)]
    assert all(r.output_tokens == 50 * n and r.steps >= 50 for r in runs)  # steps: both pools' iterations
    assert float(runs[1].ttft.mean()) < float(runs[0].ttft.mean())


BASE = ("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "8", "--input-len", "1000",
        "--output-len", "200", "--requests", "50")


@pytest.mark.parametrize("extra,match", [
    (("--shared-prefix", "1000"), "not shorter than the mean prompt"),
    (("--shared-prefix", "-5"), "at least 0"),
    (("--shared-prefix", "lots"), "--shared-prefix"),
])
def test_bad_shared_prefix(run_cli, extra, match):
    rc, out, err = run_cli(*BASE, *extra)
    assert rc == 2 and out == "" and "Traceback" not in err
    line = err.strip()
    assert "\n" not in line and line.startswith("error: --shared-prefix:") and match in line, line


def test_bad_shared_prefix_through_the_api(env):
    with pytest.raises(RainierError, match="--shared-prefix"):
        estimate_serving("llama3-8b", "h100", 8, input_len=1000, output_len=200, requests=50, shared_prefix=-1)
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 8, 8192, 1000)
    with pytest.raises(RainierError, match="fills the 1,000-token KV cache"):
        S.simulate(pool, np.zeros(1), np.array([10]), np.array([2000]), np.array([5]),
                   kv_shared=np.array([1990]), kv_store=1990)


def test_cascade_decode_follows_the_step_equation(env):
    """One request alone with cascade attention: each decode iteration costs the step equation on its own context
    plus the prefix's at the prefill kernel's rate (context less N x cut), plus the one read of the prefix."""
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 8, 8192, mp.kv_capacity_tokens)
    x, n, n_sh = 5000, 60, 4000
    sim = S.simulate_deployment(pool, Requests(np.zeros(1), np.array([x]), np.array([n])), shared_prefix=n_sh,
                                cascade=True)
    cut, once = cascade_terms(sm, n_sh)
    assert 0.9 < cut < 1.0 and once > 0
    ctx = x + 1 + np.arange(n - 1) - n_sh * cut
    want = float(sum(sm.step_time_s(1.0, 1.0, c, 0.0) for c in ctx)) + (n - 1) * once
    assert sim.finish_s[0] - sim.first_token_s[0] == pytest.approx(want, rel=1e-9)
    plain = S.simulate_deployment(pool, Requests(np.zeros(1), np.array([x]), np.array([n])), shared_prefix=n_sh)
    assert plain.first_token_s[0] == sim.first_token_s[0]  # the prefill is the same


def test_cascade_pays_with_the_batch(env):
    """Reading the prefix once per iteration saves nothing for one request (it reads it once either way) and
    most of the decode attention for many."""
    cat, m, a, sm, mp = env
    x, y, n_sh = 8000, 300, 6000
    per, cas = (SharedPrefix.of(np.array([x]), n_sh, 0.0, c) for c in (False, True))
    one = [steady_state(sm, 1, x, y, prefix_hit=n_sh / x, shared=sp).step_s for sp in (per, cas)]
    assert one[1] == pytest.approx(one[0], rel=0.02)
    st128 = steady_state(sm, 128, x, y, prefix_hit=n_sh / x, shared=per)
    saved = st128.step_s - steady_state(sm, 128, x, y, prefix_hit=n_sh / x, shared=cas).step_s
    n_dec = st128.requests_per_step * (y - 1)
    assert saved > 0.8 * n_dec * n_sh * sm.c_kv  # most of the decodes' reading of the prefix
    assert saved > 20 * abs(one[0] - one[1])


def test_serve_with_cascade_attention():
    base = dict(input_len=7000, output_len=300, offline=True)
    per = estimate_serving("llama3-8b", "h100", 1, shared_prefix=6000, **base)
    cas = estimate_serving("llama3-8b", "h100", 1, shared_prefix=6000, prefix_attention="cascade", **base)
    assert cas.output_tokens_per_s > 1.5 * per.output_tokens_per_s
    assert cas.breakdown["attention_decode_s"] < 0.5 * per.breakdown["attention_decode_s"]
    assert (per.config["prefix_attention"], cas.config["prefix_attention"]) == ("per-request", "cascade")


@pytest.mark.parametrize("extra,match", [
    (("--prefix-attention", "cascade"), "there is none"),
    (("--prefix-attention", "flash"), "unknown prefix attention"),
    (("--shared-prefix", "500", "--prefix-attention", "cascade", "--draft", "mtp"), "not modelled"),
])
def test_bad_prefix_attention(run_cli, extra, match):
    rc, out, err = run_cli(*BASE, *extra)
    assert rc == 2 and out == "" and "Traceback" not in err
    line = err.strip()
    assert "\n" not in line and line.startswith("error: --prefix-attention:") and match in line, line
