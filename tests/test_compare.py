"""One training job on several chip kinds (rainier.plan.compare, `rainier train --chip a,b`)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rainier.econ import chip_hour_cost
from rainier.errors import RainierError
from rainier.perf.training import estimate_training
from rainier.plan.compare import chip_counts_below, compare_training
from rainier.plan.sizing import size_by_power

JOB = dict(seq=4096, global_batch=256)


@given(st.integers(1, 5_000_000), st.sampled_from([1, 4, 8, 16, 64, 72]))
def test_chip_counts_below_are_usable_counts(available, system_chips):
    counts = chip_counts_below(available, system_chips)
    assert counts[0] == available
    assert counts == sorted(set(counts), reverse=True)
    assert all(0 < n <= available for n in counts)
    # every power of two, and every whole number of systems times a power of two, down to one chip
    assert all(1 << j in counts for j in range(available.bit_length()))
    assert all(available // (system_chips << j) * (system_chips << j) in counts
               for j in range(available.bit_length()) if system_chips << j <= available)


def test_same_chip_count_matches_single_estimates(cat):
    cmp = compare_training("llama3-8b", ["h100", "trn2", "mi300x"], chips=64, catalog=cat, tokens=1e12, **JOB)
    assert cmp.basis == "chips" and [r.chip for r in cmp.rows] == ["h100", "trn2", "mi300x"]
    base = cmp.rows[0].result
    for row in cmp.rows:
        res = row.result
        alone = estimate_training("llama3-8b", row.chip, 64, catalog=cat, tokens=1e12, **JOB)
        assert res.step_time_s == alone.step_time_s and res.parallelism == alone.parallelism
        assert row.chips == row.chips_available == 64
        assert row.speed_vs_first == pytest.approx(res.tokens_per_s / base.tokens_per_s)
        acc, sys_ = cat.accelerator(row.chip), cat.system(res.system)
        usd = chip_hour_cost(acc, sys_, cat.economics()).total_usd * 64 / (res.tokens_per_s * 3600) * 1e6
        assert row.usd_per_million_tokens == pytest.approx(usd)
        # the per-token figures agree with the time / energy / cost to train the 1T tokens
        assert row.usd_per_million_tokens == pytest.approx(res.cost_usd / 1e6)
        assert row.kwh_per_million_tokens == pytest.approx(res.energy_mwh * 1e3 / 1e6)
        assert row.cost_vs_first == pytest.approx(row.usd_per_million_tokens / cmp.rows[0].usd_per_million_tokens)
    assert cmp.rows[0].speed_vs_first == cmp.rows[0].cost_vs_first == cmp.rows[0].energy_vs_first == 1.0


def test_same_power_stays_under_the_power_and_uses_the_largest_valid_count(cat):
    power = 5e6
    cmp = compare_training("llama3-8b", ["h100", "gb200", "trn2"], power_w=power, catalog=cat, **JOB)
    assert cmp.basis == "power" and cmp.power_w == power
    for row in cmp.rows:
        bought = size_by_power(cat, row.chip, power)
        assert row.chips_available == bought.chips
        assert 0 < row.chips <= bought.chips
        assert row.facility_power_mw * 1e6 <= power * (1 + 1e-12)
        # every larger count tried first has no valid layout for this job
        for n in chip_counts_below(bought.chips, cat.system_for(cat.accelerator(row.chip), None).chips):
            if n <= row.chips:
                break
            with pytest.raises(RainierError):
                estimate_training("llama3-8b", row.chip, n, catalog=cat, **JOB)


def test_a_kind_that_cannot_run_the_job_keeps_a_row(cat):
    # a100 has no fp8 rate: its row says so, the others are compared
    cmp = compare_training("llama3-8b", ["a100", "h100"], chips=16, precision="fp8", catalog=cat, **JOB)
    bad, good = cmp.rows
    assert bad.result is None and "fp8" in bad.error and bad.speed_vs_first is None
    assert good.result is not None and good.speed_vs_first == 1.0  # the first kind that runs is the base
    with pytest.raises(RainierError, match="no chip kind can run") as e:
        compare_training("llama3.1-405b", ["h100", "a100-40gb"], chips=8, catalog=cat, **JOB)
    assert e.value.field == "parallelism"  # the field every kind refused, each kind's reason in the line
    assert "h100: " in str(e.value) and "a100-40gb: " in str(e.value)


def test_an_input_every_kind_refuses_is_named_as_alone(cat):
    """A mistake that is not the chips' (a negative rate, an EP size on a dense model) reads as it does
    for one kind, not as 'no chip kind can' under --chip."""
    from rainier.plan.compare import compare_serving

    with pytest.raises(RainierError) as e:
        compare_serving("llama3-8b", ["h100", "trn2", "mi300x"], chips=8, qps=-1.0, catalog=cat)
    assert e.value.field == "--qps" and "no chip kind" not in str(e.value)
    with pytest.raises(RainierError) as e:
        compare_training("llama3-8b", ["h100", "trn2"], chips=64, parallelism={"ep": 4}, catalog=cat, **JOB)
    assert e.value.field == "--ep"


@pytest.mark.parametrize("kw, field", [
    (dict(chips=8, power_w=1e6), "--chips/--power"),
    (dict(), "--chips/--power"),
    (dict(power_w=-5.0), "--power"),
    (dict(power_w=float("inf")), "--power"),
])
def test_basis_errors(cat, kw, field):
    with pytest.raises(RainierError) as e:
        compare_training("llama3-8b", ["h100"], catalog=cat, **JOB, **kw)
    assert e.value.field == field


def test_unknown_or_repeated_kind(cat):
    with pytest.raises(RainierError, match="nosuch"):
        compare_training("llama3-8b", ["h100", "nosuch"], chips=8, catalog=cat, **JOB)
    for pair in (["h100", "h100"], ["h100", "H100"], ["h100", "hopper"]):  # names, case, aliases
        with pytest.raises(RainierError, match="twice"):
            compare_training("llama3-8b", pair, chips=8, catalog=cat, **JOB)
    with pytest.raises(RainierError, match="list of chip kinds"):
        compare_training("llama3-8b", "h100", chips=8, catalog=cat, **JOB)
    for bad in (64.5, 0, True):
        with pytest.raises(RainierError) as e:
            compare_training("llama3-8b", ["h100"], chips=bad, catalog=cat, **JOB)
        assert e.value.field == "--chips"


def test_power_below_one_system_names_the_power(cat):
    with pytest.raises(RainierError) as e:
        compare_training("llama3-8b", ["h100"], power_w=1e3, catalog=cat, **JOB)
    assert e.value.field == "--power" and "one needs" in str(e.value)


def test_a_chip_file_compares_like_a_catalog_name(cat, tmp_path):
    f = tmp_path / "mychip.yaml"
    f.write_text("name: mychip\nextends: h100\n")
    cmp = compare_training("llama3-8b", ["h100", str(f)], chips=64, catalog=cat, **JOB)
    a, b = cmp.rows
    assert b.result.chip == "mychip" and b.result.step_time_s == a.result.step_time_s
    assert b.usd_per_million_tokens == pytest.approx(a.usd_per_million_tokens)


def test_large_power_finds_a_count_the_batch_can_use(cat):
    """1 GW buys ~640k H100; a 256-sequence batch cannot spread over them, but it can over a power of two
    further down: the search goes down until a count has a layout."""
    cmp = compare_training("llama3-8b", ["h100"], power_w=1e9, catalog=cat, **JOB)
    row = cmp.rows[0]
    assert row.result is not None and row.chips < row.chips_available
    assert row.chips & (row.chips - 1) == 0 or row.chips % 8 == 0


def test_cli_compare_json_contract(run_cli):
    rc, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100,trn2", "--chips", "64", "--seq", "4096",
                           "--global-batch", "256", "--tokens", "1T", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["basis"] == "chips" and d["chips"] == 64 and [r["chip"] for r in d["rows"]] == ["h100", "trn2"]
    for r in d["rows"]:
        for key in ("chips", "chips_available", "facility_power_mw", "usd_per_million_tokens",
                    "kwh_per_million_tokens", "speed_vs_first", "cost_vs_first", "energy_vs_first", "error"):
            assert key in r
        assert r["result"]["chips"] == 64 and r["result"]["time_to_train_days"] > 0
    h100, trn2 = d["rows"]
    assert trn2["speed_vs_first"] == pytest.approx(trn2["result"]["tokens_per_s"] / h100["result"]["tokens_per_s"])


def test_cli_power_for_one_kind_is_a_training_result(run_cli, cat):
    rc, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "gb200", "--power", "5MW", "--seq", "4096",
                           "--global-batch", "256", "--json")
    assert rc == 0, err
    d = json.loads(out)
    bought = size_by_power(cat, "gb200", 5e6).chips
    assert 0 < d["chips"] <= bought and "step_time_s" in d
    assert any(f"of the {bought:,}" in n for n in d["notes"])
    assert math.isfinite(d["mfu"])


@pytest.mark.parametrize("args, needle", [
    (("--chip", "h100", "--chips", "8", "--power", "1MW"), "--chips"),
    (("--chip", "h100"), "--chips"),
    (("--chip", "h100,,trn2", "--chips", "8"), "--chip"),
    (("--chip", "h100,trn2", "--chips", "8", "--system", "dgx-h100"), "--system"),
    (("--chip", "h100,trn2", "--chips", "8", "--report", "x.html"), "--report"),
    (("--chip", "h100", "--power", "-1MW"), "--power"),
])
def test_cli_compare_errors_are_one_line(run_cli, args, needle):
    rc, out, err = run_cli("train", "--model", "llama3-8b", "--seq", "4096", "--global-batch", "256", *args)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err


SERVE = dict(offline=True, input_len=512, output_len=64, requests=400)


def test_serving_same_chips_matches_single_deployments(cat):
    from rainier.perf.inference import estimate_serving
    from rainier.plan.compare import compare_serving

    cmp = compare_serving("llama3-8b", ["h100", "mi300x"], chips=8, catalog=cat, **SERVE)
    assert cmp.basis == "chips" and [r.chip for r in cmp.rows] == ["h100", "mi300x"]
    for row in cmp.rows:
        alone = estimate_serving("llama3-8b", row.chip, 8, catalog=cat, **SERVE)
        assert row.output_tokens_per_s == alone.output_tokens_per_s
        assert row.usd_per_million_tokens == alone.cost_per_mtok_usd
        assert row.joules_per_token == alone.joules_per_token
        assert row.speed_vs_first == pytest.approx(row.output_tokens_per_s / cmp.rows[0].output_tokens_per_s)
        assert row.cost_vs_first == pytest.approx(row.usd_per_million_tokens / cmp.rows[0].usd_per_million_tokens)


def test_serving_same_power_uses_every_chip_bought(cat):
    from rainier.plan.compare import compare_serving

    cmp = compare_serving("llama3-8b", ["h100", "trn2"], power_w=300e3, catalog=cat, **SERVE)
    for row in cmp.rows:
        assert row.chips == row.chips_available == size_by_power(cat, row.chip, 300e3).chips
        assert 0 < row.facility_power_mw * 1e6 <= 300e3
        assert row.result.config["chips"] == row.chips


def test_serving_kind_that_cannot_serve_keeps_a_row(cat):
    from rainier.plan.compare import compare_serving

    cmp = compare_serving("llama3.1-405b", ["a100", "h200"], chips=8, catalog=cat, **SERVE)
    bad, good = cmp.rows
    assert bad.result is None and "does not fit" in bad.error
    assert good.speed_vs_first == 1.0
    with pytest.raises(RainierError, match="does not fit") as e:  # one kind: its own error
        compare_serving("llama3.1-405b", ["a100"], chips=4, catalog=cat, **SERVE)
    assert "no chip kind" not in str(e.value)
    with pytest.raises(RainierError, match="no chip kind can serve"):
        compare_serving("llama3.1-405b", ["a100", "h100"], chips=4, catalog=cat, **SERVE)


def test_cli_serve_compare_json_and_errors(run_cli):
    rc, out, err = run_cli("serve", "--model", "llama3-8b", "--chip", "h100,trn2", "--chips", "8", "--offline",
                           "--input-len", "512", "--output-len", "64", "--requests", "400", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["basis"] == "chips" and [r["chip"] for r in d["rows"]] == ["h100", "trn2"]
    for r in d["rows"]:
        for key in ("chips", "chips_available", "facility_power_mw", "output_tokens_per_s", "max_qps",
                    "usd_per_million_tokens", "joules_per_token", "speed_vs_first", "cost_vs_first", "error"):
            assert key in r
        assert r["result"]["config"]["chips"] == 8
    for args, needle in ((("--chip", "h100", "--chips", "8", "--power", "1MW"), "--chips"),
                         (("--chip", "h100"), "--chips"),
                         (("--chip", "h100,trn2", "--chips", "8", "--system", "dgx-h100"), "--system")):
        rc, out, err = run_cli("serve", "--model", "llama3-8b", "--offline", *args)
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_serving_kinds_in_worker_processes_give_the_same_comparison(cat):
    from rainier.plan.compare import compare_serving

    kw = dict(chips=8, catalog=cat, **SERVE)
    one = compare_serving("llama3-8b", ["h100", "trn2", "a100-40gb"], **kw).to_dict()
    two = compare_serving("llama3-8b", ["h100", "trn2", "a100-40gb"], workers=2, **kw).to_dict()
    for a, b in zip(one["rows"], two["rows"], strict=True):
        a["result"].pop("wall_s"), b["result"].pop("wall_s")  # the only timing in a result
    assert one == two
    with pytest.raises(RainierError) as e:
        compare_serving("llama3-8b", ["h100"], workers=0, **kw)
    assert e.value.field == "--workers"
    # errors come back from the workers whole: text, field and fix
    errs = []
    for w in (1, 2):
        with pytest.raises(RainierError) as e:
            compare_serving("llama3.1-405b", ["a100", "h100"], chips=4, workers=w, catalog=cat, **SERVE)
        errs.append((str(e.value), e.value.field, e.value.fix))
    assert errs[0] == errs[1] and errs[0][1] == "--chips"  # the layout was searched: more chips is the fix


def test_a_model_that_does_not_fit_stops_the_descent_at_a_power_of_two(cat, monkeypatch):
    """The descent stops at the first power of two where the model does not fit (fewer chips cannot hold
    it), not at the count the power buys, which may only allow layouts that shard less."""
    import rainier.plan.compare as cmpmod

    tried = []
    real = cmpmod.estimate_training

    def spy(model, acc, n, **kw):
        tried.append(n)
        return real(model, acc, n, **kw)

    monkeypatch.setattr(cmpmod, "estimate_training", spy)
    with pytest.raises(RainierError, match="does not fit on the .* chips that .* buys, nor on fewer") as e:
        compare_training("llama3.1-405b", ["h100"], power_w=60e3, catalog=cat, **JOB)  # 32 H100: too few
    assert e.value.field == "--power"
    assert tried and tried[-1] & (tried[-1] - 1) == 0
    assert all(n & (n - 1) for n in tried[:-1])  # no power of two before the last


def test_a_kind_whose_speed_or_energy_rests_on_estimates_is_starred(run_cli):
    import json

    args = ("train", "--model", "llama3-8b", "--chip", "h100,trn2", "--chips", "64", "--seq", "4096",
            "--global-batch", "256")
    rc, out, _ = run_cli(*args, "--json")
    assert rc == 0
    rows = {r["chip"]: r for r in json.loads(out)["rows"]}
    assert "tdp_w" in rows["trn2"]["estimated"]  # Trainium2's TDP is an estimate in the catalog
    assert not {"tdp_w", "peak_tflops", "hbm_tbps"} & set(rows["h100"]["estimated"])
    rc, out, _ = run_cli(*args)
    header = next(line for line in out.splitlines() if "h100" in line and "trn2" in line)
    assert "trn2 *" in header and "h100 *" not in header
    note = " ".join(out.split())
    assert "* speed or energy rests on estimated catalog figures: trn2 (tdp_w, system.system_power_w)" in note
