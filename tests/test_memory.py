"""rainier.perf.memory against Korthikanti et al. 2022 (activations) and ZeRO (model states)."""

from __future__ import annotations

import pytest

from rainier.perf.memory import activation_bytes_per_layer, model_state_bytes, training_memory


@pytest.fixture()
def gpt(cat):
    return cat.model("gpt3-175b")


@pytest.mark.parametrize("t", [1, 2, 4, 8])
def test_korthikanti_no_recompute(gpt, t):
    s, b, h, a = 2048, 2, gpt.hidden, gpt.heads
    kw = dict(b=b, s=s, tp=t, recompute="none", fused_attention=False)
    if t == 1:
        expect_nosp = s * b * h * (34 + 5 * a * s / h)
    else:
        expect_nosp = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    assert activation_bytes_per_layer(gpt, sp=False, **kw) == pytest.approx(expect_nosp)
    assert activation_bytes_per_layer(gpt, sp=True, **kw) == pytest.approx(s * b * h * (34 / t + 5 * a * s / (h * t)))


def test_korthikanti_selective_and_full(gpt):
    s, b, h, t = 2048, 1, gpt.hidden, 8
    sel = activation_bytes_per_layer(gpt, b=b, s=s, tp=t, sp=True, recompute="selective", fused_attention=False)
    assert sel == pytest.approx(s * b * h * 34 / t)
    full = activation_bytes_per_layer(gpt, b=b, s=s, tp=t, sp=True, recompute="full")
    assert full == pytest.approx(2 * s * b * h / t)
    assert activation_bytes_per_layer(gpt, b=b, s=s, tp=t, sp=False, recompute="full") == pytest.approx(2 * s * b * h)


def test_flash_attention_keeps_no_scores(gpt):
    s, b, h, t = 2048, 1, gpt.hidden, 8
    fl = activation_bytes_per_layer(gpt, b=b, s=s, tp=t, sp=True, recompute="none", fused_attention=True)
    assert fl == pytest.approx(s * b * h * 34 / t + 4 * gpt.heads / t * s * b)


def test_pipeline_in_flight_and_interleaving(gpt):
    kw = dict(b=1, seq=2048, tp=8, cp=1, ep=1, recompute="selective", zero=1, dp=1, fused_attention=False)
    base = training_memory(gpt, pp=8, vp=1, microbatches=64, **kw)
    per_layer = activation_bytes_per_layer(gpt, b=1, s=2048, tp=8, recompute="selective", fused_attention=False)
    # 1F1B: stage 1 holds pp microbatches of its L/pp layers = L layers' worth
    assert base.activations == pytest.approx(per_layer * gpt.layers)
    inter = training_memory(gpt, pp=8, vp=3, microbatches=64, **kw)
    assert inter.activations == pytest.approx(per_layer * gpt.layers * (1 + 7 / 24))
    few = training_memory(gpt, pp=8, vp=1, microbatches=2, **kw)
    assert few.activations == pytest.approx(per_layer * gpt.layers * 2 / 8)
    # interleaved with few microbatches: the warm-up is capped by the m x vp chunks there are
    few_i = training_memory(gpt, pp=8, vp=3, microbatches=2, **kw)
    assert few_i.activations == pytest.approx(per_layer * gpt.layers / 24 * 6)


def test_inflight_layers_matches_megatron_warmup():
    from rainier.perf.memory import inflight_layers

    # Megatron-Core interleaved schedule, first rank: 2 (pp-1) + (vp-1) pp warm-up chunks + 1
    for pp, vp, L in ((4, 2, 32), (8, 3, 96), (16, 4, 128)):
        assert inflight_layers(L, pp, vp, 1000) == pytest.approx(L * (1 + (pp - 1) / (pp * vp)))
        assert inflight_layers(L, pp, 1, 1000) == pytest.approx(L)


def test_zero_stages_shard_states():
    n, d = 1e9, 8
    assert model_state_bytes(n, 0, zero=0, dp_shard=d, ep=1) == (2e9, 4e9, 12e9)
    assert model_state_bytes(n, 0, zero=1, dp_shard=d, ep=1) == (2e9, 4e9, 12e9 / d)
    assert model_state_bytes(n, 0, zero=2, dp_shard=d, ep=1) == (2e9, 4e9 / d, 12e9 / d)
    # ZeRO-3 as PyTorch FSDP: the fp32 shard (inside the 12 B) is the parameter; bf16 only while gathered
    assert model_state_bytes(n, 0, zero=3, dp_shard=d, ep=1) == (0.0, 4e9 / d, 12e9 / d)
    assert model_state_bytes(n, 0, zero=3, dp_shard=d, ep=1, gathered_params=1e8)[0] == 2e8


def test_megatron_distributed_optimizer_bytes_per_param():
    # Megatron-Core's distributed-optimizer table: bf16 params + fp32 grads = 6 + 12/d bytes per parameter
    n, d = 1e9, 64
    w, g, o = model_state_bytes(n, 0, zero=1, dp_shard=d, ep=1)
    assert (w + g + o) / n == pytest.approx(6 + 12 / d)


def test_partial_recompute_interpolates(gpt):
    kw = dict(b=1, seq=2048, tp=8, pp=8, cp=1, ep=1, vp=1, microbatches=64, zero=1, dp=1, fused_attention=True)
    sel = training_memory(gpt, recompute="selective", **kw)
    full = training_memory(gpt, recompute="full", **kw)
    half = training_memory(gpt, recompute="full", recompute_fraction=0.5, **kw)
    assert full.activations < half.activations < sel.activations + 1
    # linear in the share of recomputed layers (the one-layer recompute working set is in both)
    assert half.activations == pytest.approx((full.activations + sel.activations) / 2, rel=0.05)


def test_total_is_sum(gpt):
    m = training_memory(gpt, b=1, seq=2048, tp=8, pp=8, cp=1, ep=1, vp=1, microbatches=16, recompute="full",
                        zero=1, dp=4)
    assert m.total == pytest.approx(m.weights + m.gradients + m.optimizer + m.activations + m.logits)
