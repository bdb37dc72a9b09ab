"""rainier.perf.compute: roofline GEMM time with the shape-dependent efficiency curve."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainier.perf import compute as C


@pytest.fixture()
def h100(cat):
    return cat.accelerator("h100")


def test_large_gemm_is_compute_bound_at_fitted_efficiency(h100):
    m = n = k = 16384
    t = C.gemm_time_s(h100, m, n, k)
    eff = C.gemm_efficiency(h100, m, n, k)
    assert t == pytest.approx(2 * m * n * k / (h100.peak_flops("bf16") * eff))
    p = C.efficiency_params(h100.family)
    assert 0.9 * p.gemm_peak_eff < eff <= p.gemm_peak_eff


def test_skinny_gemm_is_memory_bound(h100):
    m, n, k = 1, 16384, 16384  # a GEMV: bytes ~ k*n*2
    t = C.gemm_time_s(h100, m, n, k)
    p = C.efficiency_params(h100.family)
    assert t == pytest.approx((k * n * 2 + m * k * 2 + m * n * 2) / (h100.hbm_bw_bytes_s * p.mem_eff))


def test_fp8_faster_than_bf16_on_hopper(h100):
    assert C.gemm_time_s(h100, 8192, 8192, 8192, "fp8") < C.gemm_time_s(h100, 8192, 8192, 8192, "bf16")


@given(st.integers(16, 8192), st.integers(16, 8192), st.integers(16, 8192))
@settings(max_examples=50, deadline=None)
def test_efficiency_grows_with_every_dimension(m, n, k):
    from rainier.catalog import default_catalog

    acc = default_catalog().accelerator("a100")
    e = C.gemm_efficiency(acc, m, n, k)
    assert 0 < e < 1
    assert C.gemm_efficiency(acc, 2 * m, n, k) > e
    assert C.gemm_efficiency(acc, m, 2 * n, k) > e
    assert C.gemm_efficiency(acc, m, n, 2 * k) > e


def test_batched_gemm_scales_linearly(h100):
    assert C.gemm_time_s(h100, 512, 512, 128, batch=64) == pytest.approx(64 * C.gemm_time_s(h100, 512, 512, 128))


def test_unfitted_family_uses_default_prior(cat):
    acc = cat.accelerator("mi300x")
    p = C.efficiency_params(acc.family)
    assert p.family == "default" and not p.fitted
    assert C.efficiency_params("no-such-family") == p


def test_fitted_families_have_params():
    fits = C.load_fits()
    assert fits["fit_rows"], "efficiency.json lists the rows used for fitting"
    for fam in ("nvidia-ampere", "nvidia-hopper", "nvidia-blackwell"):
        p = C.efficiency_params(fam)
        assert p.fitted and 0.2 <= p.gemm_peak_eff <= 0.95


def test_nvidia_families_share_fp8_ratio_and_dim_half():
    """fp8_ratio (the FP8 recipe's) and dim_half (tile quantisation) are one value for all NVIDIA families."""
    fits = C.load_fits()
    shared = fits["parameters"]["shared_values"]
    for fam in ("nvidia-ampere", "nvidia-hopper", "nvidia-blackwell"):
        p = C.efficiency_params(fam)
        for name, v in shared.items():
            assert getattr(p, name) == pytest.approx(v)
    assert 0.3 <= C.efficiency_params("nvidia-hopper").fp8_ratio <= 1.0


def test_memory_and_elementwise_time(h100):
    p = C.efficiency_params(h100.family)
    assert C.memory_time_s(h100, 1e9) == pytest.approx(1e9 / (h100.hbm_bw_bytes_s * p.mem_eff))
    assert C.elementwise_time_s(h100, 1e9) == C.memory_time_s(h100, 1e9)
    assert C.memory_time_s(h100, 0) == 0.0
