"""Reports as a person sees them: opened in headless Chromium from a file:// URL.

Each check asserts no console errors or uncaught exceptions, that every chart element holds a rendered
plotly SVG with traces and data points, and (for the run report) saves a PNG screenshot; one check fails
every non-file request and still finds all charts (the report is self-contained). Chromium is driven
over the DevTools pipe by rainier.report.browser (standard library only). Skipped only when no Chromium
binary is installed (``scripts/install_chromium.sh`` installs Debian's ``chromium``); set
RAINIER_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from rainier.report import write_compare_report, write_run_report, write_serving_report, write_sizing_report
from rainier.report.browser import Chromium, check_report, find_chromium
from rainier.report.synthetic import write_synthetic_run

# Locally the browser tests skip without Chromium; under CI (.ci/run installs it) a missing browser fails.
if find_chromium() is None and os.environ.get("CI"):
    raise RuntimeError("CI: chromium is not installed (scripts/install_chromium.sh should have installed it)")
pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="chromium not installed (scripts/install_chromium.sh installs it)")

RUN_SECTIONS = ["Summary", "Power by site", "Chips by state", "Tenants: usage against commitment", "Training jobs",
                "Inference: demand and service", "Cost and energy", "Events", "Resolved scenario"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("browser")
    a = write_synthetic_run(base / "a", seed=3, sites=3, tenants=4, jobs=60)
    b = write_synthetic_run(base / "b", seed=3, sites=3, tenants=4, jobs=60, scheduler="fifo", delivery_slip_h=100)
    return {"run": write_run_report(a), "compare": write_compare_report(a, b, base / "compare.html")}


@pytest.fixture(scope="module")
def browser():
    with Chromium() as br:  # one browser for the online checks (later pages reuse compiled plotly.js)
        yield br


@pytest.fixture(scope="module")
def offline_browser():
    with Chromium(offline=True) as br:  # every non-file request fails; a dead proxy besides
        yield br


def _shot_dir(tmp_path: Path) -> Path:
    d = os.environ.get("RAINIER_SCREENSHOT_DIR")
    return Path(d) if d else tmp_path


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def _assert_rendered(check) -> None:
    assert check.errors == [], f"console errors: {check.errors}"
    assert check.expected_charts > 0
    assert len(check.charts) == check.expected_charts, "every chart element became a plotly chart"
    assert check.empty_charts == [], f"charts without data: {check.empty_charts}"
    for c in check.charts:
        assert c["svg_paths"] > 0 and c["drawn_traces"] > 0, c
        assert c["width"] > 100 and c["height"] > 100, c


def test_run_report_renders_in_chromium(reports, tmp_path, browser):
    shot = _shot_dir(tmp_path) / "run-report.png"
    check = check_report(reports["run"], screenshot=shot, browser=browser)  # the module's first page: a cold open
    _assert_rendered(check)
    assert check.sections == RUN_SECTIONS
    assert check.title.startswith("Fleet run:")
    w, h = _png_size(shot)
    assert w == 1280 and h > 2000  # the full page, not just the first screen
    assert check.load_s < 20  # generous under a loaded CI; benchmarks/bench_report.py holds the 5 s target


def test_run_report_renders_with_the_network_off(reports, offline_browser):
    check = check_report(reports["run"], browser=offline_browser)
    _assert_rendered(check)
    assert check.blocked == [], f"the report tried to fetch {check.blocked}"
    assert all(u.startswith(("file:", "data:", "about:", "blob:")) for u in check.requests), check.requests


def test_compare_report_renders_in_chromium(reports, tmp_path, browser):
    check = check_report(reports["compare"], screenshot=_shot_dir(tmp_path) / "compare-report.png", browser=browser)
    _assert_rendered(check)
    assert "Headline differences" in check.sections and "Scenario differences" in check.sections


def test_one_page_reports_render_in_chromium(tmp_path, browser, offline_browser):
    from rainier.catalog import default_catalog
    from rainier.plan.sizing import size_fleet

    sizing = write_sizing_report(size_fleet(default_catalog(), ["trn2", "h100", "gb200", "tpu-v6e"], power_w=5e9),
                                 tmp_path / "size.html")
    check = check_report(sizing, screenshot=_shot_dir(tmp_path) / "sizing-report.png", browser=browser)
    _assert_rendered(check)
    serving = write_serving_report({"ttft_s": {"p50": 0.2, "p99": 0.8}, "tpot_s": {"p50": 0.02, "p99": 0.04},
                                    "config": {"model": "m", "chip": "c"}}, tmp_path / "serve.html")
    _assert_rendered(check_report(serving, browser=offline_browser))


def test_report_of_a_real_fleet_run_renders(tmp_path, browser):
    from rainier.fleet import run_fleet

    run_fleet("tiny", out=tmp_path / "tiny")
    check = check_report(write_run_report(tmp_path / "tiny"), browser=browser)
    _assert_rendered(check)
    assert check.sections == RUN_SECTIONS


def test_the_checker_sees_errors_and_network_use(tmp_path, offline_browser):
    """The checks above mean something: a broken page that reaches for the network is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><div class="js-plotly-plot" id="empty"></div>'
                   '<script src="https://cdn.plot.ly/plotly-latest.min.js"></script>'
                   '<script>console.error("boom"); throw new Error("bang");</script></body></html>')
    check = check_report(bad, browser=offline_browser, wait_s=1.0)
    assert any("boom" in e for e in check.errors) and any("bang" in e for e in check.errors)
    assert any("cdn.plot.ly" in u for u in check.blocked)
    assert check.empty_charts == ["empty"]
