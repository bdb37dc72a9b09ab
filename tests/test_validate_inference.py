"""Regression guard on the inference validation: held-out error must not grow past the recorded level."""

from __future__ import annotations

import json

import pytest

from rainier.perf.validate_inference import NOT_REPRODUCIBLE, ROWS, measured_rows, validate_inference

# The targets of issue 5 are a held-out MAPE <= 15% and no row beyond 35%. The model does not meet
# them yet (held-out MAPE 20.1%, three rows beyond 35%: see `rainier validate inference`), so these
# guards sit at the level reached now: a regression fails CI; tighten them as the model improves.
MAPE_GUARD = 0.22
ROW_GUARD = 1.15


@pytest.fixture(scope="module")
def report():
    return validate_inference()


def test_every_row_is_usable_or_explained():
    ids = set(measured_rows())
    assert ids == set(ROWS) | set(NOT_REPRODUCIBLE)
    assert not set(ROWS) & set(NOT_REPRODUCIBLE)
    assert all(len(why) > 20 for why in NOT_REPRODUCIBLE.values())


def test_fitted_rows_excluded_and_mape_guard(report):
    fitted = set(report.fitted_rows)
    assert fitted and fitted <= set(ROWS)
    assert report.held_out == len(ROWS) - len(fitted)
    assert report.held_out >= 2 * len(fitted)  # fit on few, hold out the rest
    assert report.mape <= MAPE_GUARD
    assert report.max_abs_error <= ROW_GUARD
    assert {"nvidia-hopper", "nvidia-blackwell", "amd-cdna3", "aws-neuron-v2"} <= set(report.mape_by_family)


def test_cli_validate_inference_json(run_cli, report):
    rc, out, _ = run_cli("validate", "inference", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["mape"] == pytest.approx(report.mape, rel=1e-6)
    assert {r["id"] for r in d["rows"]} == set(ROWS)
    assert {x["id"] for x in d["not_reproducible"]} == set(NOT_REPRODUCIBLE)
