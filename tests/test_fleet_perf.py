"""The fleet's perf cache: physics fallback formulas, caching per instance, fallback on estimator errors."""

from __future__ import annotations

import pytest

from rainier.errors import RainierError
from rainier.fleet.perf import PerfCache
from rainier.fleet.scenario import scenario_from_dict


def test_physics_training_is_6nd(cat):
    pc = PerfCache(cat, "physics", mfu_assumed=0.4)
    m, acc = cat.model("llama3-70b"), cat.accelerator("trn2")
    s = pc.training("llama3-70b", "trn2-ultraserver", 1024)
    assert s.source == "physics"
    assert s.tokens_per_s == pytest.approx(0.4 * acc.peak_flops("bf16") * 1024 / (6 * m.active_params))
    assert pc.training("llama3-70b", "trn2-ultraserver", 1024) is s  # cached
    two = pc.training("llama3-70b", "trn2-ultraserver", 1024, sites=2)
    assert two.tokens_per_s == pytest.approx(0.8 * s.tokens_per_s)


def test_physics_serving_is_bandwidth_bound_and_respects_slo(cat):
    pc = PerfCache(cat, "physics")
    fast = pc.serving("llama3-70b", "trn2-ultraserver", "fp8", 2048, 512, 2.0, 0.05)
    slow = pc.serving("llama3-70b", "trn2-ultraserver", "fp8", 2048, 512, 2.0, 0.5)
    assert fast.chips_per_replica >= 2  # 70 GB of fp8 weights do not fit 60% of one 103 GB chip
    assert slow.output_tokens_per_s >= fast.output_tokens_per_s  # a looser TPOT allows bigger batches
    assert fast.total_tokens_per_s == pytest.approx(fast.output_tokens_per_s * (2048 + 512) / 512)


def test_estimator_errors_fall_back_per_configuration(cat):
    pc = PerfCache(cat, "auto")

    def boom(*a, **k):
        raise RainierError("nothing fits")

    pc._est_train = boom
    s = pc.training("llama3-8b", "trn2-ultraserver", 64)
    assert s.source == "physics" and pc.fallbacks and "nothing fits" in pc.fallbacks[0]
    strict = PerfCache(cat, "physics")
    strict._est_train = boom  # physics backend never asks the estimators
    assert strict.training("llama3-8b", "trn2-ultraserver", 64).source == "physics"


def test_a_gang_without_a_layout_runs_the_largest_power_of_two_inside_it(cat):
    """15 NVL72 racks (1,080 chips) hold no valid layout for Llama 3 70B; the gang runs the 1,024-chip layout
    (the estimator's own figure for 1,024 chips), not the physics fallback; a gang that has a layout is unchanged."""
    from rainier.perf.training import estimate_training

    pc = PerfCache(cat, "auto", seq=8192, global_batch_tokens=2048 * 8192)
    with pytest.raises(RainierError):
        estimate_training("llama3-70b", "gb200", 1080, seq=8192, global_batch=2048, catalog=cat)
    s = pc.training("llama3-70b", "gb200-nvl72", 1080)
    assert s.source == "estimators" and not pc.fallbacks
    ref = estimate_training("llama3-70b", "gb200", 1024, seq=8192, global_batch=2048, catalog=cat,
                            system="gb200-nvl72", cross_site_report=False)
    assert s.tokens_per_s == pytest.approx(ref.tokens_per_s, rel=1e-9)
    own = pc.training("llama3-70b", "trn2-ultraserver", 1024)  # a gang with a layout runs its own
    ref2 = estimate_training("llama3-70b", "trn2", 1024, seq=8192, global_batch=2048, catalog=cat,
                             system="trn2-ultraserver", cross_site_report=False)
    assert own.tokens_per_s == pytest.approx(ref2.tokens_per_s, rel=1e-9)


def test_chips_auto_aims_at_the_target_time(cat):
    doc = {"name": "a", "horizon": "2d", "perf": {"backend": "physics"},
           "sites": [{"name": "s", "power_cap": "100MW", "pue": 1.1, "systems": [{"kind": "trn2-ultraserver", "installed": 8}]}],
           "tenants": [{"name": "t"}],
           "jobs": [{"name": "j", "tenant": "t", "model": "llama3-8b", "system": "trn2-ultraserver", "tokens": "1e11",
                     "chips": "auto", "target": "1d"}]}
    from rainier.fleet import Simulation

    sim = Simulation(scenario_from_dict(doc, catalog=cat), cat)
    job = sim.jobs[0]
    assert job.chips % 64 == 0
    assert job.tokens_total / job.est_tokens_per_s <= 86400 * 1.0001
    smaller = job.chips - 64
    if smaller > 0:  # one system fewer would miss the target
        per_chip = job.est_tokens_per_s / job.chips
        assert job.tokens_total / (per_chip * smaller) > 86400


def test_estimates_are_shared_by_simulations_of_one_catalog(cat):
    """A second simulation with the same catalog asks the estimator nothing it already answered (a sweep's
    runs in one worker), gets the same speeds, and a refusal is remembered as a refusal."""
    calls = []

    def est(m, acc, chips, **kw):
        calls.append((m.name, chips, kw["global_batch"]))
        if chips == 128:
            raise RainierError("does not fit")
        return type("R", (), {"tokens_per_s": 1000.0 * chips})()

    first, second = PerfCache(cat, "auto"), PerfCache(cat, "auto")
    first._est_train = second._est_train = est
    a = first.training("llama3-8b", "trn2-ultraserver", 64)
    n = len(calls)
    b = second.training("llama3-8b", "trn2-ultraserver", 64)
    assert len(calls) == n == 1 and a == b and a.source == "estimators"
    assert first.training("llama3-8b", "trn2-ultraserver", 128).source == "physics"
    n = len(calls)  # the refusal was tried at three global batches
    assert second.training("llama3-8b", "trn2-ultraserver", 128).source == "physics" and len(calls) == n == 4
    assert "does not fit" in second.fallbacks[0]
    other = PerfCache(cat, "auto", seq=4096)  # another configuration is asked again
    other._est_train = est
    other.training("llama3-8b", "trn2-ultraserver", 64)
    assert len(calls) == 5


def test_training_precision_sets_the_job_speed(cat):
    """perf.training_precision: fp8 jobs run at the fp8 rate where the chip has one (Trainium3: 2,517 vs 671
    TFLOP/s, so its gangs no longer train at Trainium2's bf16 speed) and at bf16 where it has none (A100)."""
    bf16, fp8 = PerfCache(cat, "physics"), PerfCache(cat, "physics", precision="fp8")
    trn3 = cat.accelerator("trn3")
    ratio = fp8.training("llama3-8b", "trn3-ultraserver-gen1", 64).tokens_per_s / \
        bf16.training("llama3-8b", "trn3-ultraserver-gen1", 64).tokens_per_s
    assert ratio == pytest.approx(trn3.peak_flops("fp8") / trn3.peak_flops("bf16"))
    assert fp8.training("llama3-8b", "dgx-a100", 64) == bf16.training("llama3-8b", "dgx-a100", 64)
    # Trainium1 lists fp8 at its bf16 rate: its jobs stay in bf16 (an fp8 step would only add the casts)
    est_b, est_f = PerfCache(cat, "estimators"), PerfCache(cat, "estimators", precision="fp8")
    assert est_f.training("llama3-8b", "trn1.32xlarge", 256) == est_b.training("llama3-8b", "trn1.32xlarge", 256)
    est_bf16, est_fp8 = PerfCache(cat, "estimators"), PerfCache(cat, "estimators", precision="fp8")
    assert est_fp8.training("llama3-8b", "trn3-ultraserver-gen1", 64).tokens_per_s > \
        1.2 * est_bf16.training("llama3-8b", "trn3-ultraserver-gen1", 64).tokens_per_s
    doc = {"name": "a", "horizon": "1d", "perf": {"training_precision": "fp4"},
           "sites": [{"name": "s", "power_cap": "100MW", "pue": 1.1, "systems": [{"kind": "trn2-ultraserver", "installed": 1}]}],
           "tenants": [{"name": "t"}]}
    with pytest.raises(RainierError, match="training_precision"):
        scenario_from_dict(doc, catalog=cat)
