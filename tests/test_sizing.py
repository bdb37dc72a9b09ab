"""Sizing arithmetic checked against hand calculations, inverse sizing and the budget view."""

from __future__ import annotations

import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainier.catalog import Catalog
from rainier.econ import chip_hour_cost, crf, power_chain
from rainier.errors import RainierError
from rainier.plan.sizing import size_by_chips, size_by_power, size_fleet


@pytest.fixture()
def round_cat(tmp_path):
    """A chip with round numbers so every figure can be worked by hand."""
    (tmp_path / "round.yaml").write_text(textwrap.dedent("""
        accelerators:
          - name: roundchip
            vendor: Test
            family: test
            launch_year: 2025
            peak_tflops: {bf16: 1000, fp8: 2000}
            hbm_gb: 100
            hbm_tbps: 4
            tdp_w: 1000
            capex_usd: 10000
            default_system: roundbox
            source: "hand calculation fixture"
        systems:
          - name: roundbox
            accelerator: roundchip
            chips: 8
            racks_per_system: 0.25
            system_power_w: 10000
            scaleup: [{name: box, chips: 8, gbytes_s_per_chip: 800}]
            scaleout: {network: ib-ndr, gbits_s_per_chip: 400}
            source: "fixture"
        economics:
          - name: default
            network_overhead_fraction: 0.0
            default_pue: 1.25
            default_pue_liquid: 1.1
            load_factor: 0.5
            electricity_usd_per_mwh: 100
            hardware_life_years: 5
            facility_life_years: 15
            cost_of_capital: 0.0
            facility_capex_usd_per_w_it: 10
            om_fraction_per_year: 0.0
            source: "fixture"
    """))
    return Catalog.load([tmp_path])


def test_forward_sizing_by_hand(round_cat):
    r = size_by_power(round_cat, "roundchip", 1e9)
    # 10 kW / 8 chips = 1250 W IT per chip; x PUE 1.25 = 1562.5 W facility; 1 GW / 1562.5 W = 640,000
    assert r.watts_per_chip.it_w == 1250 and r.watts_per_chip.facility_w == 1562.5
    assert r.chips == 640_000 and r.systems == 80_000 and r.racks == 20_000
    assert r.it_power_w == pytest.approx(0.8e9) and r.facility_power_w == pytest.approx(1e9)
    assert r.peak_bf16_flops == pytest.approx(640_000 * 1e15)
    assert r.peak_fp8_flops == pytest.approx(640_000 * 2e15)
    assert r.hardware_capex_usd == pytest.approx(6.4e9)
    assert r.facility_capex_usd == pytest.approx(0.8e9 * 10)
    # energy: 1 GW x 0.5 load x 8760 h = 4.38 TWh = 4,380,000 MWh at $100 -> $438M
    assert r.annual_energy_mwh == pytest.approx(4.38e6)
    assert r.annual_energy_cost_usd == pytest.approx(4.38e8)
    # zero cost of capital: hardware $10k / 5 y / 8760 h; facility 1250 W x $10 / 15 y / 8760 h;
    # power 1.5625 kW x 0.5 x $0.1/kWh
    hw = 10_000 / 5 / 8760
    fac = 1250 * 10 / 15 / 8760
    pw = 1.5625 * 0.5 * 0.1
    assert r.cost_per_chip_hour_usd == pytest.approx(hw + fac + pw)
    assert r.annual_cost_usd == pytest.approx(640_000 * (hw + fac + pw) * 8760)


def test_partial_systems_are_not_bought(round_cat):
    # 1 GW + a bit less than one system: still 80,000 systems
    r = size_by_power(round_cat, "roundchip", 1e9 + 8 * 1562.5 - 1)
    assert r.systems == 80_000


def test_inverse_sizing_by_hand(round_cat):
    r = size_by_chips(round_cat, "roundchip", 1001)
    assert r.systems == 126 and r.chips == 1008  # rounds up to whole systems
    assert r.facility_power_w == pytest.approx(1008 * 1562.5)


def test_pue_override_and_site(round_cat, cat):
    r = size_by_power(round_cat, "roundchip", 1e9, pue=1.0)
    assert r.chips == 800_000
    site = cat.site("new-carlisle")
    r2 = size_fleet(cat, ["trn2"], site="new-carlisle")[0]
    assert r2.pue == site.pue and r2.facility_power_w <= site.power_mw * 1e6


def test_power_chain_ordering_for_every_chip(cat):
    econ = cat.economics()
    for acc in cat.list("accelerators"):
        chain = power_chain(acc, cat.system_for(acc), econ)
        assert chain.chip_w <= chain.system_w <= chain.it_w <= chain.facility_w


def test_trn2_per_gw_matches_public_anchor(cat):
    # facts.md: ~1.0-1.2 M Trainium2 per GW of facility power (0.85-1.0 kW all-in)
    r = size_by_power(cat, "trn2", 1e9)
    assert 0.9e6 <= r.chips <= 1.25e6
    # NVIDIA GB200: ~400-500k per GW
    assert 0.4e6 <= size_by_power(cat, "gb200", 1e9).chips <= 0.5e6
    # H100: 550-670k per GW
    assert 0.55e6 <= size_by_power(cat, "h100", 1e9).chips <= 0.67e6


def test_crf_closed_form():
    assert crf(0.10, 5) == pytest.approx(0.2638, abs=1e-4)  # facts.md: 0.264
    assert crf(0.10, 15) == pytest.approx(0.1315, abs=1e-4)
    assert crf(0.0, 4) == 0.25


def test_cost_components_positive(cat):
    econ = cat.economics()
    acc = cat.accelerator("h100")
    c = chip_hour_cost(acc, cat.system_for(acc), econ)
    assert c.hardware_usd > c.power_usd > 0
    # facts.md worked example: H100 ~$1.6/h owner cost
    assert 1.2 < c.total_usd < 2.0


def test_budget_view(cat):
    r = size_fleet(cat, ["trn2"], budget_usd=100e9, years=10)[0]
    spend = r.cost_per_chip_hour_usd * 8760 * 10
    assert r.chips * spend <= 100e9 < (r.chips + 64) * spend


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=1e6, max_value=1e10), st.sampled_from(["trn2", "h100", "gb200", "tpu-v6e", "mi300x"]))
def test_forward_inverse_consistent(power_w, chip):
    from rainier.catalog import default_catalog

    cat = default_catalog()
    fwd = size_by_power(cat, chip, power_w)
    assert fwd.facility_power_w <= power_w * (1 + 1e-9)
    per_system = fwd.watts_per_chip.facility_w * cat.system_for(chip).chips
    assert power_w - fwd.facility_power_w < per_system + 1e-6
    if fwd.chips:
        inv = size_by_chips(cat, chip, fwd.chips)
        assert inv.chips == fwd.chips
        assert math.isclose(inv.facility_power_w, fwd.facility_power_w, rel_tol=1e-12)


def test_sizing_errors(cat):
    with pytest.raises(RainierError, match="--power"):
        size_by_power(cat, "trn2", -1)
    with pytest.raises(RainierError, match="--pue"):
        size_by_power(cat, "trn2", 1e9, pue=0.9)
    with pytest.raises(RainierError, match="exactly one"):
        size_fleet(cat, ["trn2"], power_w=1e9, chips=10)
    with pytest.raises(RainierError, match="--years"):
        size_fleet(cat, ["trn2"], budget_usd=1e9)
    with pytest.raises(RainierError, match="--system"):
        size_fleet(cat, ["trn2"], power_w=1e9, system="dgx-h100")


def test_fp8_figures_only_for_chips_with_an_fp8_rate(cat):
    from rainier.plan.sizing import size_by_power

    a100 = size_by_power(cat, "a100", 1e9)
    assert a100.peak_fp8_flops == 0.0  # A100 lists int8, not fp8: no FP8 figure borrowed from it
    from rainier.cli.size import _per_pf_hour

    trn2, trn3 = size_by_power(cat, "trn2", 1e9), size_by_power(cat, "trn3", 1e9)
    assert _per_pf_hour(a100, a100.peak_fp8_flops) == "-"
    fp8 = [float(_per_pf_hour(r, r.peak_fp8_flops).lstrip("$")) for r in (trn2, trn3)]
    bf16 = [float(_per_pf_hour(r, r.peak_bf16_flops).lstrip("$")) for r in (trn2, trn3)]
    assert fp8[1] < fp8[0] and bf16[1] > bf16[0]  # Trainium3, bought for fp8: dearer per BF16, cheaper per FP8
