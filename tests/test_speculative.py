"""Speculative decoding and prefix caching in the serving model: closed forms, the simulator against them,
the physics (speculation pays while decoding is bound by weight reads, not once it is compute-bound),
memory, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import serving_traffic

from rainier.catalog.params import param_counts
from rainier.errors import RainierError
from rainier.perf import serving as S
from rainier.perf.inference import estimate_serving, memory_plan, spec_step, steady_state
from rainier.perf.speculative import decode_steps, expected_tokens, make_spec, mtp_head
from rainier.perf.workload import Requests


@pytest.fixture(scope="module")
def env(llama70b_tp4):
    return llama70b_tp4


@given(st.integers(1, 16), st.floats(0.0, 0.999))
def test_expected_tokens_is_the_truncated_geometric_sum(k, a):
    e = expected_tokens(k, a)
    assert e == pytest.approx(sum(a ** i for i in range(k + 1)), rel=1e-9)
    assert 1.0 <= e <= k + 1
    assert expected_tokens(k + 1, a) >= e  # a longer draft never gains fewer tokens


def test_decode_steps():
    n = np.array([1, 2, 3, 11, 12])
    assert decode_steps(n, 1.0).tolist() == [0, 1, 2, 10, 11]
    assert decode_steps(n, 2.5).tolist() == [0, 1, 1, 4, 5]  # ceil((n - 1) / 2.5)


def test_lone_speculative_request_follows_the_step_equation(env):
    """One request alone: its decode time is the sum over ceil((n-1)/E) iterations of the speculative step,
    whose context grows by E tokens per iteration."""
    cat, m, a, sm, mp = env
    spec = make_spec(m, None, 3, 0.7)
    ss = spec_step(sm, spec, cat)
    pool = S.Pool(sm, 1, 8, 8192, mp.kv_capacity_tokens, spec=ss)
    x, n = 1500, 400
    sim = S.simulate(pool, np.zeros(1), np.array([x]), np.array([x]), np.array([n]))
    D = int(decode_steps(np.array([n]), spec.gain)[0])
    ctx = x + 1 + spec.gain * np.arange(D)
    want = float(sum(ss.step_time_s(1.0, 0.0, 0.0, c, 0.0) for c in ctx))
    assert sim.finish_s[0] - sim.first_token_s[0] == pytest.approx(want, rel=1e-9)
    assert sim.first_token_s[0] == pytest.approx(float(ss.step_time_s(0.0, x, 1, 0.0, x * (x + 1) / 2)), rel=1e-9)
    assert sim.output_tokens == n


def test_speculation_pays_when_weight_bound_not_when_compute_bound(env):
    """At batch 1 a step reads every weight for one token, so verifying k + 1 tokens costs little more and the
    tokens per second rise by nearly E; at a batch that makes the GEMMs compute-bound, the k extra positions
    cost what they add and the draft's passes come on top: speculation serves less."""
    cat, m, a, sm, mp = env
    ss = spec_step(sm, make_spec(m, None, 3, 0.7), cat)
    plain1, spec1 = steady_state(sm, 1, 1000, 300), steady_state(sm, 1, 1000, 300, spec=ss)
    gain1 = spec1.output_tokens_per_s / plain1.output_tokens_per_s
    assert 1.6 < gain1 <= ss.spec.gain
    big = 1024
    plain, spec = steady_state(sm, big, 100, 300), steady_state(sm, big, 100, 300, spec=ss)
    assert spec.output_tokens_per_s < plain.output_tokens_per_s
    # no acceptance: pure cost at any batch
    ss0 = spec_step(sm, make_spec(m, None, 3, 0.0), cat)
    for b in (1, 64, 1024):
        assert steady_state(sm, b, 1000, 300, spec=ss0).output_tokens_per_s < steady_state(sm, b, 1000, 300).output_tokens_per_s


def test_simulation_agrees_with_the_steady_state(env):
    """The request-level simulation at a fixed concurrency against the analytic steady state, with a draft
    and a prefix cache (two implementations of the same equations)."""
    cat, m, a, sm, mp = env
    ss = spec_step(sm, make_spec(m, None, 4, 0.8), cat)
    pool = S.Pool(sm, 1, 64, 8192, mp.kv_capacity_tokens, spec=ss)
    n = 600
    reqs = Requests(np.zeros(n), np.full(n, 800), np.full(n, 200))
    sim = S.simulate_deployment(pool, reqs, concurrency=32, prefix_hit=0.5)
    st_ = steady_state(sm, 32, 800, 200, spec=ss, prefix_hit=0.5)
    assert sim.saturated_rates()[0] == pytest.approx(st_.output_tokens_per_s, rel=0.08)


def test_prefix_cache_prefills_only_the_rest_and_attends_to_all(env):
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 8, 8192, mp.kv_capacity_tokens)
    x = 3000
    ttft = []
    for h in (0.0, 0.5, 0.9):
        sim = S.simulate_deployment(pool, Requests(np.zeros(1), np.array([x]), np.array([50])), prefix_hit=h)
        c = int(np.floor(h * x))
        p = x - c
        assert sim.ttft[0] == pytest.approx(float(sm.step_time_s(p, 1, 0.0, p * (p + 1) / 2 + p * c)), rel=1e-12)
        ttft.append(sim.ttft[0])
    assert ttft[0] > ttft[1] > ttft[2]
    # a whole prompt cached still computes its last token
    assert S.cached_tokens(np.array([1, 10, 100]), 0.999).tolist() == [0, 9, 99]


scenario = st.tuples(st.integers(1, 40), st.integers(1, 3), st.integers(1, 12), st.integers(16, 512),
                     st.integers(0, 2**16), st.sampled_from(["offline", "poisson", "closed"]),
                     st.integers(1, 4), st.floats(0.0, 0.95), st.floats(0.0, 0.9), st.sampled_from(["paged", "reserve"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario)
def test_fast_forward_and_conservation_with_speculation_and_prefix(env, sc):
    """The stretches run as one event equal stepping every iteration when requests gain E tokens per step
    and prompts are partly cached; every request finishes once and every output token is counted."""
    n, replicas, slots, budget, seed, mode, k, acc, hit, policy = sc
    cat, m, a, sm, mp = env
    ss = spec_step(sm, make_spec(m, None, k, acc), cat)
    pool = S.Pool(sm, replicas, slots, max(budget, slots), min(mp.kv_capacity_tokens, 6000), kv_policy=policy, spec=ss)
    x, y, t, c = serving_traffic(seed, n, mode, 700)
    xp = x - S.cached_tokens(x, hit)
    fast = S.simulate(pool, t, xp, x, y, concurrency=c)
    slow = S.simulate(pool, t, xp, x, y, concurrency=c, fast_forward=False)
    for f in ("first_token_s", "finish_s"):
        np.testing.assert_allclose(getattr(fast, f), getattr(slow, f), rtol=1e-9, atol=1e-12)
    assert fast.steps == slow.steps
    assert np.all(np.isfinite(fast.finish_s)) and fast.output_tokens == int(y.sum())
    assert np.all(fast.finish_s >= fast.first_token_s) and np.all(fast.first_token_s >= fast.arrival_s)
    # decode iterations: a request of n tokens takes ceil((n - 1) / E) after its first token
    assert fast.steps >= int(decode_steps(y, ss.spec.gain).max())


def test_draft_memory(env):
    """The MTP head holds one layer and a 2h x h projection (embedding and output shared); a draft model holds
    its own weights; both hold their own KV per token, so the target's KV capacity falls."""
    cat, m, a, sm, mp = env
    spec = make_spec(m, None, 3, 0.7)
    with_head = memory_plan(m, a, "bf16", 4, 1, spec=spec)
    pc = param_counts(m)
    layer = (pc.total - pc.embedding - pc.output) / m.layers
    assert with_head.weights_bytes - mp.weights_bytes == pytest.approx((layer + 2 * m.hidden ** 2) * 2 / 4, rel=0.01)
    assert with_head.kv_bytes_per_token_chip == pytest.approx(mp.kv_bytes_per_token_chip * (m.layers + 1) / m.layers)
    d = cat.model("llama3-8b")
    with_8b = memory_plan(m, a, "bf16", 4, 1, spec=make_spec(m, d, 3, 0.7))
    assert with_8b.weights_bytes - mp.weights_bytes == pytest.approx(param_counts(d).total * 2 / 4, rel=1e-6)
    assert with_8b.kv_capacity_tokens < with_head.kv_capacity_tokens < mp.kv_capacity_tokens
    head = mtp_head(cat.model("deepseek-v3"))
    assert head.layers == 1 and head.moe is not None and param_counts(head).moe_layers == 1


def test_serve_with_a_draft_and_a_prefix_cache():
    base = dict(input_len=1500, output_len=300, requests=200, tp=8)
    plain = estimate_serving("llama3-70b", "h100", 8, concurrency=4, **base)
    spec = estimate_serving("llama3-70b", "h100", 8, concurrency=4, draft="mtp", spec_accept=0.8, **base)
    assert spec.tpot_s["p50"] < 0.6 * plain.tpot_s["p50"]
    assert spec.config["speculative"]["tokens_per_step"] == pytest.approx(expected_tokens(3, 0.8))
    assert spec.breakdown["draft_s"] > 0 and any("speculative decoding" in n for n in spec.notes)
    cached = estimate_serving("llama3-70b", "h100", 8, concurrency=4, prefix_hit=0.8, **base)
    assert cached.ttft_s["p50"] < 0.5 * plain.ttft_s["p50"] and cached.config["prefix_hit"] == 0.8


BASE = ("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "8", "--input-len", "1000",
        "--output-len", "200", "--requests", "50")


@pytest.mark.parametrize("extra,flag,match", [
    (("--spec-tokens", "3"), "--spec-tokens", "needs a draft"),
    (("--draft", "mtp", "--spec-accept", "1.2"), "--spec-accept", "[0, 1)"),
    (("--draft", "mtp", "--spec-tokens", "40"), "--spec-tokens", "1 to 16"),
    (("--draft", "llama2-7b"), "--draft", "vocabulary"),
    (("--draft", "llama3-70b"), "--draft", "not smaller"),
    (("--draft", "nosuch"), "--draft", "unknown model"),
    (("--draft", "mtp", "--pp", "2"), "--pp", "one pipeline stage"),
    (("--prefix-hit", "1"), "--prefix-hit", "[0, 1)"),
    (("--prefix-hit", "half"), "--prefix-hit", "not a share"),
])
def test_bad_speculation_and_prefix_flags(run_cli, extra, flag, match):
    rc, out, err = run_cli(*BASE, *extra)
    assert rc == 2 and out == "" and "Traceback" not in err
    line = err.strip()
    assert "\n" not in line and line.startswith(f"error: {flag}:") and match in line, line


def test_bad_speculation_through_the_api():
    with pytest.raises(RainierError, match="--spec-accept"):
        estimate_serving("llama3-8b", "h100", 8, input_len=1000, output_len=200, requests=50, spec_accept=0.5)
    with pytest.raises(RainierError, match="--prefix-hit"):
        estimate_serving("llama3-8b", "h100", 8, input_len=1000, output_len=200, requests=50, prefix_hit=-0.1)


def test_a_request_as_large_as_the_cache_is_admitted_after_speculative_ones(env):
    """Speculative decodes grow the paged KV by E tokens per step, a non-integer: what they leave on release is
    a rounding residue, which must not keep a request capped at the whole cache waiting forever."""
    cat, m, a, sm, mp = env
    pool = S.Pool(sm, 1, 8, 512, 2000, spec=spec_step(sm, make_spec(m, None, 3, 0.7), cat))
    x = np.array([20, 51, 248, 285, 5000])
    sim = S.simulate(pool, np.array([0.0, 0, 0, 0, 100]), x, x, np.array([48, 52, 76, 95, 5]))
    assert np.all(np.isfinite(sim.finish_s)) and sim.finish_s[-1] > 100


def test_verification_tokens_count_against_the_token_budget(env):
    """A decoding request takes k + 1 positions of the iteration's token budget (vLLM counts them so): the
    simulation stays within the budget and agrees with the steady state, which counts them the same way."""
    cat, m, a, sm, mp = env
    ss = spec_step(sm, make_spec(m, None, 3, 0.7), cat)
    budget = 512
    pool = S.Pool(sm, 1, budget // 4, budget, mp.kv_capacity_tokens, spec=ss)
    n = 800
    sim = S.simulate_deployment(pool, Requests(np.zeros(n), np.full(n, 100), np.full(n, 300)), concurrency=256)
    st_ = steady_state(sm, 256, 100, 300, budget, spec=ss)
    assert sim.saturated_rates()[0] == pytest.approx(st_.output_tokens_per_s, rel=0.05)
    r = estimate_serving("llama3-8b", "h100", 1, input_len=100, output_len=300, concurrency=64, requests=200,
                         token_budget=512, draft="mtp", spec_tokens=3)
    assert r.max_batch * 4 <= 512
    with pytest.raises(RainierError, match="--max-batch: .*4 tokens of it"):
        estimate_serving("llama3-8b", "h100", 1, input_len=100, output_len=300, concurrency=64, requests=200,
                         token_budget=512, max_batch=200, draft="mtp", spec_tokens=3)
