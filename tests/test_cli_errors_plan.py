"""One-line errors (exit 2, the flag named, no traceback) for `rainier size` and `rainier plan` inputs
that used to give an empty answer, leak solver text or be silently rewritten."""

from __future__ import annotations

import json
import re

import pytest

from rainier.cli.plan import parse_demand
from rainier.econ import power_chain
from rainier.errors import RainierError
from rainier.plan.capacity import plan_capacity
from rainier.plan.sizing import size_by_budget, size_by_power, size_fleet


def one_line_error(run_cli, *args: str) -> str:
    rc, out, err = run_cli(*args)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


# --- size: a power or budget below one whole system -------------------------------------------


def test_size_power_below_one_system_is_an_error(run_cli):
    line = one_line_error(run_cli, "size", "--power", "1W", "--chip", "h100")
    assert line.startswith("error: --power: ") and "dgx-h100" in line and "give at least --power" in line


def test_size_power_hint_is_enough(run_cli):
    line = one_line_error(run_cli, "size", "--power", "1kW", "--chip", "h100", "--json")
    hint = re.search(r"give at least --power (\S+)", line)
    assert hint
    rc, out, _ = run_cli("size", "--power", hint.group(1), "--chip", "h100", "--json")
    assert rc == 0 and json.loads(out)[0]["systems"] == 1


def test_size_budget_below_one_system_is_an_error(run_cli):
    line = one_line_error(run_cli, "size", "--budget", "1", "--years", "1", "--chip", "h100")
    assert line.startswith("error: --budget: ") and "dgx-h100" in line and "give at least --budget" in line
    hint = re.search(r"give at least --budget (\S+)", line)
    assert hint
    rc, out, _ = run_cli("size", "--budget", hint.group(1), "--years", "1", "--chip", "h100", "--json")
    assert rc == 0 and json.loads(out)[0]["systems"] == 1


def test_size_several_chips_error_only_when_none_gets_a_system(run_cli):
    line = one_line_error(run_cli, "size", "--power", "1kW", "--chip", "trn2,h100")
    assert "--power" in line and "trn2" in line and "h100" in line
    # 50 kW buys dgx-h100 systems but no trn2 UltraServer: keep the answer, mark the empty row.
    rc, out, err = run_cli("size", "--power", "50kW", "--chip", "trn2,h100", "--json")
    assert rc == 0 and err == ""
    trn2, h100 = json.loads(out)
    assert trn2["chips"] == 0 and "trn2-ultraserver" in trn2["note"]
    assert h100["chips"] > 0 and h100["note"] is None
    rc, out, _ = run_cli("size", "--power", "50kW", "--chip", "trn2,h100")
    assert rc == 0 and "none" in out and "trn2-ultraserver" in out


def test_size_api_below_one_system(cat):
    with pytest.raises(RainierError, match="--power"):
        size_by_power(cat, "h100", 1.0)
    with pytest.raises(RainierError, match="--budget"):
        size_by_budget(cat, "h100", 1.0, 1.0)
    with pytest.raises(RainierError, match="--budget"):
        size_fleet(cat, ["trn2", "h100"], budget_usd=1.0, years=1.0)


def test_size_empty_chip_in_list(run_cli):
    line = one_line_error(run_cli, "size", "--power", "1GW", "--chip", "h100,,trn2")
    assert line.startswith("error: --chip: ") and "empty" in line


# --- plan ----------------------------------------------------------------------------------------


def test_plan_zero_demand_everywhere_is_an_error(run_cli):
    line = one_line_error(run_cli, "plan", "--demand", "2026:0EF", "--json")
    assert "--demand" in line and "nothing to plan" in line
    rc, out, _ = run_cli("plan", "--demand", "2026:0EF,2027:50EF", "--chip", "h100", "--json")
    assert rc == 0 and json.loads(out)["rows"]


def test_plan_bare_number_is_ef_in_help_and_parser(run_cli):
    assert parse_demand("2026:500") == ([2026], [5e20])
    assert parse_demand("2026:1e-3")[1][0] == pytest.approx(1e15)
    rc, out, _ = run_cli("plan", "--help")
    assert rc == 0 and "bare number is EF/s" in " ".join(out.split())


def test_plan_absurd_demand_is_plain(run_cli):
    line = one_line_error(run_cli, "plan", "--demand", "2026:1e20")
    assert line.startswith("error: --demand: ") and "HiGHS" not in line and "Status" not in line
    assert "at most" in line and "EF/s" in line


def test_plan_year_before_any_chip(run_cli):
    line = one_line_error(run_cli, "plan", "--demand", "1999:100EF", "--chip", "h100,trn2")
    assert line.startswith("error: --demand: ") and "1999" in line and "from 2022 on" in line
    assert "add sites" not in line


def test_plan_empty_entry_in_lists(run_cli):
    line = one_line_error(run_cli, "plan", "--demand", "2026:100EF", "--chip", "h100,,trn2")
    assert line.startswith("error: --chip: ")


def test_plan_solver_failure_is_plain(cat):
    # 1.5 systems' worth of power but demand for 1.2 systems: the LP bound allows it, whole systems do not.
    acc = cat.accelerator("h100")
    system = cat.system_for(acc)
    site = cat.site("mississippi")
    per_system_w = power_chain(acc, system, cat.economics(), site=site).facility_w * system.chips
    per_system_flops = system.chips * acc.peak_flops("bf16") * 0.4
    with pytest.raises(RainierError, match="--demand") as exc:
        plan_capacity(cat, ["h100"], ["mississippi"], [2026], [1.2 * per_system_flops],
                      power_cap_w={"mississippi": 1.5 * per_system_w})
    assert "HiGHS" not in str(exc.value)


def test_plan_tiny_demand_is_met_and_infinite_is_rejected(cat):
    res = plan_capacity(cat, ["h100"], ["new-carlisle"], [2026], [1e6])
    assert sum(r.delivered_flops for r in res.rows) >= 1e6
    with pytest.raises(RainierError, match="--demand"):
        plan_capacity(cat, ["h100"], ["new-carlisle"], [2026], [float("inf")])


def test_plan_refuses_a_site_listed_twice(run_cli):
    """Listed twice, a site's power cap was counted twice: the plan put 476 MW at a 300 MW site."""
    rc, out, err = run_cli("plan", "--demand", "2026:150EF", "--chip", "trn2", "--site", "mississippi,Mississippi")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "--site" in err and "twice" in err


def test_plan_api_checks_its_optional_inputs(cat):
    """The sweep's API leftovers: a short hbm_bytes list raised zip()'s ValueError; a negative or NaN cap,
    or one keyed by a site not planned, went into HiGHS (or was ignored)."""
    with pytest.raises(RainierError, match="hbm_bytes"):
        plan_capacity(cat, ["h100"], ["mississippi"], [2026, 2027], [1e18, 2e18], hbm_bytes=[1e15])
    for cap in (-1.0, float("nan")):
        with pytest.raises(RainierError, match="power_cap_w"):
            plan_capacity(cat, ["h100"], ["mississippi"], [2026], [1e18], power_cap_w={"mississippi": cap})
    for bad in ([1e15, "x"], [1e15, float("nan")]):
        with pytest.raises(RainierError, match="finite number of bytes"):
            plan_capacity(cat, ["h100"], ["mississippi"], [2026, 2027], [1e18, 2e18], hbm_bytes=bad)
    with pytest.raises(RainierError, match="power_cap_w"):
        plan_capacity(cat, ["h100"], ["mississippi"], [2026], [1e18], power_cap_w={"mississippi": True})
    with pytest.raises(RainierError, match="must map site names"):
        plan_capacity(cat, ["h100"], ["mississippi"], [2026], [1e18], power_cap_w=["x"])  # type: ignore[arg-type]
    with pytest.raises(RainierError, match="not among the planned sites"):
        plan_capacity(cat, ["h100"], ["mississippi"], [2026], [1e18], power_cap_w={"new-carlisle": 1e8})


def test_precision_flags_are_case_blind(run_cli):
    rc, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100", "--chips", "8", "--seq", "4096",
                           "--global-batch", "32", "--precision", "BF16", "--json")
    assert rc == 0, err
    assert json.loads(out)["precision"] == "bf16"
