"""Scenario files: built-ins load, quantities parse to SI, errors name the field."""

from __future__ import annotations

import copy

import pytest
import yaml

from rainier.errors import RainierError
from rainier.fleet import builtin_scenarios, load_scenario
from rainier.fleet.scenario import SCENARIO_DIR, config_sha256, resolved_yaml, scenario_from_dict


def _doc(name: str = "tiny") -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{name}.yaml").read_text())


def test_builtins_load(cat):
    names = builtin_scenarios()
    assert {"rainier", "tiny", "mmc"} <= set(names)
    for n in names:
        sc = load_scenario(n, catalog=cat)
        assert sc.horizon_s > 0 and sc.sites


def test_rainier_default_is_built_from_public_figures(cat):
    sc = load_scenario("rainier", catalog=cat)
    assert sc.horizon_s == 365 * 86400
    assert {s.catalog for s in sc.sites} == {"new-carlisle", "mississippi"}
    chips0 = sum(p.installed * cat.system(p.kind).chips for s in sc.sites for p in s.systems)
    chips1 = sum((p.installed + sum(d.systems for d in p.deliveries)) * cat.system(p.kind).chips
                 for s in sc.sites for p in s.systems)
    assert 450_000 <= chips0 <= 550_000 and chips1 >= 1_000_000
    assert any(p.kind.startswith("trn3") and p.deliveries[0].at_s > 90 * 86400 for s in sc.sites for p in s.systems)
    assert sorted(t.commitment_w for t in sc.tenants if t.commitment_w)[-2:] == [2e9, 5e9]
    assert sc.services and sc.generators


def test_units_and_dates_resolve_to_si(cat):
    sc = load_scenario("tiny", catalog=cat)
    assert sc.horizon_s == 7 * 86400
    assert sc.sites[0].power_cap_w == 2200e6  # from the catalog site
    assert sc.sites[0].systems[0].deliveries[0].at_s == 2 * 86400
    assert sc.jobs[0].checkpoint.interval_s == 1800
    d = _doc()
    d["sites"][0]["systems"][0]["deliveries"] = [{"month": "2025-11", "chips": 130}]
    sc2 = scenario_from_dict(d, catalog=cat)
    assert sc2.sites[0].systems[0].deliveries[0].at_s == 31 * 86400
    assert sc2.sites[0].systems[0].deliveries[0].systems == 3  # ceil(130 / 64)


def test_monthly_range_expands(cat):
    d = _doc()
    d["sites"][0]["systems"][0]["deliveries"] = [{"from": "2025-11", "to": "2026-02", "systems": 2}]
    sc = scenario_from_dict(d, catalog=cat)
    assert len(sc.sites[0].systems[0].deliveries) == 4


@pytest.mark.parametrize("path,value,field", [
    (("horizon",), "soon", "horizon"),
    (("sites", 0, "systems", 0, "kind"), "trn9-ultra", "sites[0].systems[0].kind"),
    (("jobs", 0, "tenant"), "nobody", "jobs[0].tenant"),
    (("jobs", 0, "model"), "gpt-17", "jobs[0].model"),
    (("jobs", 0, "chips"), -64, "jobs[0].chips"),
    (("generators", 0, "rate_per_day"), -1, "generators[0].rate_per_day"),
    (("tenants", 0, "commitment"), {"power": "lots"}, "tenants[0].commitment"),
    (("scheduler",), {"name": "round-robin"}, "scheduler.name"),
    (("services", 0, "demand", "daily_amplitude"), 2.0, "services[0].demand.daily_amplitude"),
    (("events", 0, "service"), "nope", "events[0].service"),
    (("sites", 0, "bogus"), 1, "sites[0].bogus"),
])
def test_errors_name_the_field(cat, path, value, field):
    d = copy.deepcopy(_doc())
    node = d
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(RainierError) as ei:
        sc = scenario_from_dict(d, catalog=cat)
        from rainier.fleet.policies import make_scheduler

        make_scheduler(sc.scheduler.name, sc.scheduler.params)
    assert field in str(ei.value)


def test_resolved_yaml_round_trips_and_hash_is_stable(cat):
    sc = load_scenario("tiny", catalog=cat)
    again = scenario_from_dict(yaml.safe_load(resolved_yaml(sc)), catalog=cat)
    assert config_sha256(again) == config_sha256(sc)
    assert config_sha256(load_scenario("tiny", seed=5, catalog=cat)) != config_sha256(sc)


def test_unknown_builtin_suggests():
    with pytest.raises(RainierError, match="built-ins"):
        load_scenario("rainer")


def test_docstring_example_is_a_valid_scenario(cat):
    import rainier.fleet.scenario as m

    block = m.__doc__.split("complete ones)::\n\n", 1)[1]
    d = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))
    sc = scenario_from_dict(d, catalog=cat)
    assert len(sc.sites[0].systems[0].deliveries) == 12 and sc.tenants[0].commitment_w == 5e9
