"""Reports of real fleet runs: the simulator's run directory meets the contract the reports read.

Runs the built-in ``tiny`` scenario (one site, 1,024 chips, a week) through ``rainier.fleet.run_fleet``,
checks the directory against docs/contracts.md, and builds the run report and a comparison of two seeds
(test_report_browser.py opens such a report in Chromium). Skipped only while the fleet simulator
(rainier.fleet.simulation, issue 6) is absent.
"""

from __future__ import annotations

import json

import pytest

from rainier.fleet import run_fleet
from rainier.report import write_compare_report, write_run_report
from rainier.report.run_report import check_run_dir  # noqa: E402


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("fleet")
    run_fleet("tiny", out=base / "seed1", seed=1)
    run_fleet("tiny", out=base / "seed2", seed=2)
    return base / "seed1", base / "seed2"


def test_real_run_dir_meets_the_contract(tiny_runs):
    a, _ = tiny_runs
    assert check_run_dir(a) == []


def test_report_of_a_real_run(tiny_runs, tmp_path):
    a, b = tiny_runs
    summary = json.loads((a / "summary.json").read_text())
    out = write_run_report(a, tmp_path / "tiny.html")
    text = out.read_text()
    assert "Fleet run: tiny" in text
    for t in summary["tenants"]:
        assert t["tenant"] in text
    for s in summary["sites"]:
        assert s["site"] in text
    cmp_ = write_compare_report(a, b, tmp_path / "cmp.html").read_text()
    assert '<span class="del">-seed: 1</span>' in cmp_ and '<span class="add">+seed: 2</span>' in cmp_
