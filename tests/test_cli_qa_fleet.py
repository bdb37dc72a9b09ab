"""Fleet, sweep and report input defects found by a QA audit of the CLI (each test failed before its fix)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from cli_checks import one_error

from rainier.errors import RainierError
from rainier.fleet.scenario import SCENARIO_DIR
from rainier.io import load_yaml


def _tiny() -> dict:
    return yaml.safe_load((SCENARIO_DIR / "tiny.yaml").read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rainier.fleet import load_scenario, run_fleet

    out = tmp_path_factory.mktemp("runs") / "tiny"
    run_fleet(load_scenario("tiny", overrides={"horizon": "12h"}), out)
    return out


@pytest.mark.parametrize("date", ["2026-02-30", "2026-13-01"])
def test_an_impossible_date_is_a_one_line_error(run_cli, tmp_path, date):
    # PyYAML's timestamp constructor raised ValueError: a traceback and exit 1
    doc = {k: v for k, v in _tiny().items() if k != "start"}
    f = tmp_path / "s.yaml"
    f.write_text(f"start: {date}\n" + yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    one_error(*run_cli("fleet", "run", str(f), "--out", str(out)), "s.yaml", "line 1", date, "not a calendar date")
    assert not out.exists()


def test_load_yaml_raises_yaml_errors_only():
    with pytest.raises(yaml.YAMLError):
        load_yaml("at: 2026-02-30\n")
    assert str(load_yaml("at: 2026-03-01\n")["at"]) == "2026-03-01"


def test_absurd_demand_growth_is_refused_at_load(run_cli, tmp_path):
    # growth_per_year 1e100 over 4 years overflowed to inf in the simulation (OverflowError traceback)
    doc = _tiny()
    doc["services"] = [{"name": "chat", "tenant": doc["tenants"][0]["name"], "model": "llama3-8b", "system": doc["sites"][0]["systems"][0]["kind"],
                        "demand": {"tokens_per_s": 1000, "growth_per_year": 1e100}}]
    f = tmp_path / "g.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    one_error(*run_cli("fleet", "run", str(f), "--out", str(tmp_path / "o")), "growth_per_year", "at most")


def test_fleet_run_checks_out_before_simulating(run_cli, tmp_path, monkeypatch):
    import rainier.fleet as fleet

    def boom(*a, **k):  # the simulation must not start
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(fleet, "run_fleet", boom)
    f = tmp_path / "afile"
    f.write_text("mine")
    one_error(*run_cli("fleet", "run", "tiny", "--out", str(f)), "--out", "not a directory")
    assert f.read_text() == "mine"


def test_scheduler_flag_naming_the_files_policy_keeps_its_parameters(monkeypatch):
    import rainier.fleet as fleet
    from rainier.cli.fleet import run_scenario

    seen = {}

    def fake(sc, out, **k):
        seen["sched"] = sc.scheduler
        raise RainierError("stop")

    monkeypatch.setattr(fleet, "run_fleet", fake)
    with pytest.raises(RainierError):
        run_scenario("two-sites", None, None, None, True, True, scheduler="fair-share")
    assert seen["sched"].name == "fair-share" and seen["sched"].params.get("lookahead") == 4
    with pytest.raises(RainierError):
        run_scenario("two-sites", None, None, None, True, True, scheduler="fifo")
    assert seen["sched"].name == "fifo" and seen["sched"].params == {}


def test_sweep_refuses_seed_as_a_grid_path(run_cli, tmp_path):
    out = tmp_path / "sw"
    one_error(*run_cli("fleet", "sweep", "tiny", "--seeds", "2", "--set", "seed=5,6", "--engine", "serial",
                       "--out", str(out)), "--set", "--seeds")
    assert not out.exists()


@pytest.mark.parametrize("name", ["summary.json", "jobs.parquet"])
def test_report_never_overwrites_the_runs_own_files(run_cli, tiny_run, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = (run / name).read_bytes()
    one_error(*run_cli("report", str(run), "--out", str(run / name)), "-o/--out", "own files")
    assert (run / name).read_bytes() == before


def test_report_names_the_second_run_dir(run_cli, tiny_run, tmp_path):
    line = one_error(*run_cli("report", str(tiny_run), str(tmp_path / "nope")), "RUN_DIR_B")
    assert "RUN_DIR:" not in line


@pytest.mark.parametrize("params", [{"lookahead": -5}, {"lookahead": 2.7}, {"reclaim": "false"}])
def test_scheduler_parameters_are_checked_not_coerced(params):
    # -5 behaved as 0, 2.7 as 2, and a quoted "false" left reclaim on
    from rainier.fleet.policies import make_scheduler

    with pytest.raises(RainierError, match="scheduler.params"):
        make_scheduler("fair-share", params)


def test_a_generator_ending_before_it_starts_is_refused(tmp_path):
    from rainier.fleet.scenario import scenario_from_dict

    doc = _tiny()
    doc["generators"] = [{"name": "g", "tenant": doc["tenants"][0]["name"], "rate_per_day": 5, "start": "1d",
                          "end": "2h", "models": ["llama3-8b"], "system": doc["sites"][0]["systems"][0]["kind"],
                          "chips": [64], "duration": {"dist": "exponential", "mean": "1h"}}]
    with pytest.raises(RainierError, match=r"generators\[0\].*after start"):
        scenario_from_dict(doc)


def test_monthly_deliveries_never_come_before_their_from():
    # the day of month was clamped to 28: deliveries from day 30 (Jan 31) began on Jan 28
    from rainier.fleet.scenario import scenario_from_dict

    doc = _tiny()
    doc["start"] = "2026-01-01"
    pool = doc["sites"][0]["systems"][0]
    pool["deliveries"] = [{"from": "30d", "to": "90d", "systems": 2}]
    sc = scenario_from_dict(doc)
    days = [d.at_s / 86400 for d in sc.sites[0].systems[0].deliveries]
    assert days == [30.0, 58.0, 89.0]  # Jan 31, Feb 28, Mar 31


def test_the_run_table_shows_small_energy_and_power(run_cli, tmp_path):
    # a small run printed "0.0 GWh" and "0 MW"
    rc, out, _ = run_cli("fleet", "run", "tiny", "--horizon", "6h", "--out", str(tmp_path / "r"))
    assert rc == 0
    energy = next(line for line in out.splitlines() if "energy" in line)
    power = next(line for line in out.splitlines() if "peak power" in line)
    assert "0.0 GWh" not in energy and "Wh" in energy and " 0 MW" not in power and "W" in power


def _small(**extra) -> dict:
    doc = {"name": "t", "start": "2026-01-05", "horizon": "1d", "seed": 1,
           "sites": [{"name": "s1", "power_cap": "10MW", "pue": 1.2,
                      "systems": [{"kind": "trn2-ultraserver", "installed": 4}]}],
           "tenants": [{"name": "a"}], "failures": {"preset": "none"}}
    doc.update(extra)
    return doc


def test_horizon_flag_beyond_100_years_names_the_flag(run_cli, tmp_path):
    one_error(*run_cli("fleet", "run", "tiny", "--horizon", "200y", "--out", str(tmp_path / "o")), "--horizon",
              "100 years")


def test_a_job_the_estimators_cannot_place_is_named(run_cli, tmp_path):
    # the error suggested --global-batch (a `train` flag) and named no job
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(_small(perf={"backend": "estimators"}, jobs=[
        {"name": "j", "tenant": "a", "model": "llama3.1-405b", "system": "trn2-ultraserver", "tokens": 1e9,
         "chips": 64}])))
    line = one_error(*run_cli("fleet", "run", str(f), "--out", str(tmp_path / "o")), "job 'j'", "more chips")
    assert "--global-batch" not in line


def test_an_impossible_service_slo_names_the_service(run_cli, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(_small(services=[
        {"name": "api", "tenant": "a", "model": "llama3-8b", "system": "trn2-ultraserver",
         "demand": {"tokens_per_s": "1M"}, "slo": {"ttft": "1ms", "tpot": "1ms"}}])))
    one_error(*run_cli("fleet", "run", str(f), "--out", str(tmp_path / "o")), "services[0].slo", "api")


def test_plan_workload_that_fits_no_kind_names_job_chips(run_cli):
    one_error(*run_cli("plan", "--demand", "2026:0.1Mtok/s", "--chip", "trn2,h100", "--workload", "llama3.1-405b",
                       "--job-chips", "64"), "--job-chips")


def test_size_of_a_few_chips_says_what_it_rounded_and_shows_small_figures(run_cli):
    # "What 64 chips take" for --chips 10 (the first kind's rounded count), and 0.0 EF / 0.0 PB / 0.00 TWh
    rc, out, _ = run_cli("size", "--chips", "10", "--chip", "trn2,h100")
    assert rc == 0 and "What 10 chips take (rounded up to whole systems)" in out
    assert "0.0 EF" not in out and "0.0 PB" not in out and "0.00 TWh" not in out


def test_monthly_deliveries_from_the_start_month_keep_the_last_month():
    # a start on Jan 15 with from 2026-01 to 2026-03 stepped Jan 15, Feb 15, Mar 15 and dropped Mar 15 (after Mar 1)
    from rainier.fleet.scenario import scenario_from_dict

    doc = _tiny()
    doc["start"] = "2026-01-15"
    doc["sites"][0]["systems"][0]["deliveries"] = [{"from": "2026-01", "to": "2026-03", "systems": 1}]
    days = [d.at_s / 86400 for d in scenario_from_dict(doc).sites[0].systems[0].deliveries]
    assert days == [0.0, 17.0, 45.0]  # the start, Feb 1, Mar 1


def test_plan_workload_with_an_unknown_chip_keeps_its_own_error(run_cli):
    one_error(*run_cli("plan", "--demand", "2026:1", "--chip", "h100,nosuchchip", "--workload", "llama3-8b",
                       "--job-chips", "64"), "--chip", "nosuchchip")


def test_report_never_overwrites_a_commands_inputs(run_cli, tmp_path):
    # --report replaced the --chip YAML file, a --catalog folder's file, or plan's --scenario-out
    chip = tmp_path / "chip.yaml"
    chip.write_text("name: h100-ours\nextends: h100\ncapex_usd: 30000\n")
    before = chip.read_text()
    one_error(*run_cli("size", "--chips", "1000", "--chip", str(chip), "--report", str(chip)), "--report",
              "own files")
    assert chip.read_text() == before
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "acc.yaml").write_text("accelerators:\n  - name: h100-ours\n    extends: h100\n")
    one_error(*run_cli("size", "--chips", "1000", "--chip", "h100-ours", "--catalog", str(cat), "--report",
                       str(cat / "acc.yaml")), "--report", "catalog folder")
    same = tmp_path / "same.out"
    one_error(*run_cli("plan", "--demand", "2026:50", "--chip", "trn2", "--scenario-out", str(same), "--report",
                       str(same)), "--report")
    assert not same.exists()
