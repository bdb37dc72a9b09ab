"""The public namespace does not change by accident (Mesa's test_import_namespace idea)."""

import rainier

EXPECTED = {
    "Catalog", "RainierError", "SizingResult", "__version__", "check_dir", "chip_hour_cost", "default_catalog",
    "estimate_serving", "estimate_training", "load_scenario", "param_counts", "plan_capacity", "power_chain", "replica_capacity",
    "run_fleet", "size_fleet", "write_run_report",
}


def test_public_names():
    assert set(rainier.__all__) == EXPECTED


def test_foundation_names_resolve():
    for name in ("Catalog", "default_catalog", "size_fleet", "SizingResult", "power_chain", "RainierError"):
        assert getattr(rainier, name) is not None
