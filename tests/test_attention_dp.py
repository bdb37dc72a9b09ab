"""Data-parallel attention in serving (SGLang --enable-dp-attention, TensorRT-LLM attention DP): memory, step
physics, search and bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainier.catalog.params import param_counts
from rainier.errors import RainierError
from rainier.perf.inference import (
    WEIGHT_BYTES,
    _prefill_alone_s,
    attention_dp_problem,
    estimate_serving,
    memory_plan,
    step_model,
)

DS = dict(input_len=1000, output_len=1000)


def _sm(cat, model: str, chip: str, tp: int, ep: int, adp: int, precision: str = "fp8"):
    m, a = cat.model(model), cat.accelerator(chip)
    return step_model(m, a, cat.system(a.default_system), cat, tp=tp, ep=ep, precision=precision, attention_dp=adp)


def test_memory_holds_mla_latent_once_and_attention_weights_per_group(cat):
    m, a = cat.model("deepseek-v3"), cat.accelerator("h200")
    tp = 8
    mp1 = memory_plan(m, a, "fp8", tp, 1)
    mp8 = memory_plan(m, a, "fp8", tp, 1, attention_dp=tp)
    # the latent is replicated on every TP rank, so one token costs each chip the same bytes either way ...
    assert mp8.kv_bytes_per_token_chip == pytest.approx(mp1.kv_bytes_per_token_chip)
    # ... but each group holds only its own requests: the replica holds tp times what the room per chip allows
    assert mp8.kv_capacity_tokens == tp * int(mp8.kv_bytes // mp8.kv_bytes_per_token_chip)
    assert mp8.group_capacity_tokens == mp8.kv_capacity_tokens // tp
    # each group holds the attention weights whole: (1 - 1/tp) of them more per chip
    attn = m.layers * param_counts(m).attention_per_layer * WEIGHT_BYTES["fp8"]
    assert mp8.weights_bytes - mp1.weights_bytes == pytest.approx(attn * (1 - 1 / tp), rel=1e-9)
    assert mp8.kv_capacity_tokens > 5 * mp1.kv_capacity_tokens


def test_decode_kv_reads_fall_by_the_groups_only_where_tp_replicates_kv(cat):
    # MLA: every rank of a TP attention reads the whole latent of every request; a group of one reads its own
    s1, s8 = _sm(cat, "deepseek-v3", "h200", 8, 8, 1), _sm(cat, "deepseek-v3", "h200", 8, 8, 8)
    assert s8._kv_read_s == pytest.approx(s1._kv_read_s / 8)
    # absorbed MLA decode FLOPs: 16 heads over every request or 128 heads over an eighth of them: the same
    assert s8._kv_flop_s == pytest.approx(s1._kv_flop_s)
    # GQA with as many KV heads as ranks (Mixtral: 8 at tp 8) has nothing replicated to save
    g1, g8 = _sm(cat, "mixtral-8x7b", "h100", 8, 8, 1, "bf16"), _sm(cat, "mixtral-8x7b", "h100", 8, 8, 8, "bf16")
    assert g8._kv_read_s == pytest.approx(g1._kv_read_s)


def test_attention_all_reduce_goes_and_lone_prefill_pays_one_group(cat):
    s1, s8 = _sm(cat, "deepseek-v3", "h200", 8, 8, 1), _sm(cat, "deepseek-v3", "h200", 8, 8, 8)
    # groups of one rank: no attention all-reduce, the experts' all-to-alls remain
    assert (s8.t_comm < s1.t_comm).all()
    assert (s8.t_comm > 0).all()
    u = 4096 * 4097 / 2
    assert s1.dp_imbalance_s(0.0, 4096, 1, u) == 0.0
    extra = float(s8.dp_imbalance_s(0.0, 4096, 1, u))
    assert extra > 0
    # prefills spread over every group (eight requests of 512 tokens) are as balanced as step_time_s has them
    assert float(s8.dp_imbalance_s(0.0, 4096, 8, 8 * 512 * 513 / 2)) == pytest.approx(0.0, abs=1e-12)
    # decodes spread over all groups: a prefill beside them is less of a hot spot than alone, never negative
    beside = float(s8.dp_imbalance_s(800.0, 4096, 1, u))
    assert 0 < beside <= extra * (1 + 1e-9)
    # a lone 4k prompt's prefill: the balanced step plus what one group does alone
    balanced = float(s8.step_time_s(4096, 1, 0.0, 4096 * 4097 / 2))
    assert _prefill_alone_s(s8, None, 4096, 0.0, 8192) == pytest.approx(balanced + extra)
    # one group does all the prompt's attention: the core costs what it costs a TP replica's rank x the heads' share
    assert s8.c_attn * 8 == pytest.approx(s1.c_attn * 8, rel=1e-9)


def test_search_picks_dp_attention_for_a_kv_bound_deepseek_and_it_serves_more(cat):
    dp = estimate_serving("deepseek-v3", "h200", 8, precision="fp8", offline=True, requests=2000, **DS)
    tp = estimate_serving("deepseek-v3", "h200", 8, precision="fp8", offline=True, requests=2000, attention_dp=1, **DS)
    assert dp.config["attention_dp"] == 8 and not dp.config["mla_replicated"]
    assert tp.config["attention_dp"] == 1 and tp.config["mla_replicated"]
    assert dp.memory["kv_capacity_tokens"] > 5 * tp.memory["kv_capacity_tokens"]
    assert dp.output_tokens_per_s > 1.2 * tp.output_tokens_per_s
    chosen = [a for a in dp.alternatives if a["chosen"]]
    assert len(chosen) == 1 and chosen[0]["attention_dp"] == 8
    assert any(a["attention_dp"] == 1 for a in dp.alternatives)


def test_at_one_request_tp_attention_decodes_faster(cat):
    # a lone request: every group reads the whole attention weights per token, so data-parallel attention is slower
    # (SGLang: "the latency is higher than TP")
    kw = dict(precision="fp8", concurrency=1, requests=4, tp=8, ep=8, **DS)
    tp = estimate_serving("deepseek-v3", "h200", 8, attention_dp=1, **kw)
    dp = estimate_serving("deepseek-v3", "h200", 8, attention_dp=8, **kw)
    assert dp.tpot_s["p50"] > tp.tpot_s["p50"]
    assert dp.ttft_s["p50"] > tp.ttft_s["p50"]


def test_dense_models_keep_tensor_parallel_attention(cat):
    r = estimate_serving("llama3-8b", "h100", 8, offline=True, requests=200, **DS)
    assert r.config["attention_dp"] == 1
    assert all(a["attention_dp"] == 1 for a in r.alternatives)


@settings(max_examples=25, deadline=None)
@given(tp=st.sampled_from([2, 4, 8]), k=st.integers(0, 3), chip=st.sampled_from(["h100", "h200", "b200"]))
def test_more_groups_never_read_more_kv_per_context_token(tp, k, chip):
    from rainier.catalog import default_catalog

    cat = default_catalog()
    adp = min(2 ** k, tp)
    m = cat.model("deepseek-v3")
    a = cat.accelerator(chip)
    assert attention_dp_problem(m, tp, 1, adp) is None
    lo = step_model(m, a, cat.system(a.default_system), cat, tp=tp, ep=tp, precision="fp8", attention_dp=1)
    hi = step_model(m, a, cat.system(a.default_system), cat, tp=tp, ep=tp, precision="fp8", attention_dp=adp)
    assert hi._kv_read_s <= lo._kv_read_s * (1 + 1e-12)
    assert hi._kv_read_s * adp == pytest.approx(lo._kv_read_s)
    mp_lo = memory_plan(m, a, "fp8", tp, 1)
    mp_hi = memory_plan(m, a, "fp8", tp, 1, attention_dp=adp)
    assert mp_hi.weights_bytes >= mp_lo.weights_bytes
    assert math.isclose(mp_hi.kv_bytes_per_token_chip, mp_lo.kv_bytes_per_token_chip)


BASE = ("serve", "--model", "deepseek-v3", "--chip", "h200", "--chips", "8", "--precision", "fp8",
        "--input-len", "1000", "--output-len", "200", "--requests", "50")


@pytest.mark.parametrize("extra, match", [
    (("--tp", "8", "--attention-dp", "3"), "does not divide tp=8"),
    (("--attention-dp", "0"), "at least 1"),
    (("--attention-dp", "4", "--pp", "2"), "one pipeline stage"),
])
def test_bad_attention_dp_is_one_line_naming_the_flag(run_cli, extra, match):
    for args in (extra, (*extra, "--json")):
        rc, out, err = run_cli(*BASE, *args)
        assert rc == 2, (args, rc, err)
        assert "Traceback" not in err and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --attention-dp:"), lines
        assert match in lines[0], lines[0]


def test_attention_dp_on_a_dense_model_is_refused(cat):
    with pytest.raises(RainierError, match="--attention-dp: .*dense"):
        estimate_serving("llama3-8b", "h100", 8, attention_dp=8, requests=20, **DS)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(2, 24), slots=st.sampled_from([1, 4, 16, 64]), budget=st.sampled_from([64, 512, 2048]),
       conc=st.sampled_from([1, 2, 8, None]), seed=st.integers(0, 50))
def test_fast_forward_equals_iteration_by_iteration_with_groups(n, slots, budget, conc, seed):
    """With data-parallel attention the stretches run as one event (decodes whose busiest group holds a whole
    request's context; a lone prompt's chunks on one group) give the run that stepping every iteration gives."""
    import numpy as np

    from rainier.catalog import default_catalog
    from rainier.perf import serving as S

    cat = default_catalog()
    sm = _sm(cat, "deepseek-v3", "h200", 8, 8, 8)
    pool = S.Pool(sm, 1, slots, max(budget, slots), 2_000_000)
    rng = np.random.default_rng(seed)
    x = rng.integers(16, 6000, n)
    y = rng.integers(1, 300, n)
    t = np.zeros(n) if conc else np.cumsum(rng.exponential(0.5, n)) - 0.0
    fast = S.simulate(pool, t - t[0], x, x, y, concurrency=conc)
    slow = S.simulate(pool, t - t[0], x, x, y, concurrency=conc, fast_forward=False)
    for f in ("first_token_s", "finish_s"):
        np.testing.assert_allclose(getattr(fast, f), getattr(slow, f), rtol=1e-9, atol=1e-12)
    assert fast.steps == slow.steps


def test_a_lone_long_decode_pays_its_whole_context_on_one_group(cat):
    # one request of 100k context: the group holding it reads all of it, not 1/adp
    sm = _sm(cat, "deepseek-v3", "h200", 8, 8, 8)
    assert float(sm.dp_ctx_factor(1)) == 8.0 and float(sm.dp_ctx_factor(64)) == 1.0
    kw = dict(precision="fp8", concurrency=1, requests=3, tp=8, ep=8, input_len=100_000, output_len=64)
    dp = estimate_serving("deepseek-v3", "h200", 8, attention_dp=8, **kw)
    tp = estimate_serving("deepseek-v3", "h200", 8, attention_dp=1, **kw)
    assert dp.tpot_s["p50"] > tp.tpot_s["p50"]


def test_a_busy_group_never_speeds_a_step_up(cat):
    # a 6,000-token chunk beside small prompts: the group holding the chunk still takes its time
    sm = _sm(cat, "deepseek-v3", "h200", 8, 8, 8)

    def step(chunks):
        tok = sum(chunks)
        units = sum(c * (c + 1) / 2 for c in chunks)
        extra = sm.dp_imbalance_s(64, tok, len(chunks), units, max(chunks), max(c * (c + 1) / 2 for c in chunks))
        return float(sm.step_time_s(64 + tok, 64 + len(chunks), 0.0, units) + extra)

    one = step([6000])
    assert step([6000, 300]) >= one
    assert step([6000] + [300] * 7) >= one


# --- fp8 prefill attention (--attention-dtype) -----------------------------------------------------------------
@pytest.mark.parametrize("chip", ["h100", "h200", "b200"])
def test_fp8_attention_doubles_the_matmuls_against_the_same_exponentials(cat, chip):
    from rainier.perf import compute as C

    a = cat.accelerator(chip)
    ratio = {}
    for d in (64, 128, 256):
        t16 = C.flash_attention_time_s(a, 1e12, 0.0, 4096, d)
        t8 = C.flash_attention_time_s(a, 1e12, 0.0, 4096, d, precision="fp8")
        ratio[d] = t16 / t8
        # the fp8 rate doubles the matmuls; the exponential units do not speed up, so the gain is below 2x ...
        assert 1.0 < ratio[d] < a.peak_flops("fp8") / a.peak_flops("bf16")
    # ... and smaller where the exponentials weigh more (small heads: fewer matmul FLOPs per score)
    assert ratio[64] < ratio[128] < ratio[256]
    m = cat.model("llama3.1-405b")
    sys_ = cat.system(a.default_system)
    s16 = step_model(m, a, sys_, cat, tp=8, precision="fp8")
    s8 = step_model(m, a, sys_, cat, tp=8, precision="fp8", attention_dtype="fp8")
    assert s16.c_attn / s8.c_attn == pytest.approx(ratio[128], rel=1e-9)
    assert s8.c_kv == s16.c_kv  # decode attention streams the KV cache either way


def test_fp8_attention_shortens_a_long_prefill_and_is_refused_without_an_fp8_rate(cat, run_cli):
    kw = dict(tp=8, precision="fp8", input_len=60_000, output_len=16, concurrency=1, requests=2)
    b = estimate_serving("llama3.1-405b", "h200", 8, **kw)
    f = estimate_serving("llama3.1-405b", "h200", 8, attention_dtype="fp8", **kw)
    assert f.config["attention_dtype"] == "fp8" and b.config["attention_dtype"] == "bf16"
    assert f.ttft_s["p50"] < 0.95 * b.ttft_s["p50"]
    rc, out, err = run_cli("serve", "--model", "llama3-8b", "--chip", "a100", "--chips", "1", "--attention-dtype",
                           "fp8", "--requests", "5", "--input-len", "100", "--output-len", "10")
    assert rc == 2 and out == "" and "Traceback" not in err
    assert err.strip().startswith("error: --attention-dtype:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad", [True, 2.0, "8", float("nan")])
def test_attention_dp_must_be_a_whole_number(bad):
    with pytest.raises(RainierError, match="--attention-dp: must be a whole number"):
        estimate_serving("deepseek-v3", "h200", 8, precision="fp8", attention_dp=bad, requests=20, **DS)
