"""Shared hypothesis strategies for fleet tests: small random but valid scenario documents."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

SYSTEMS = ["trn2.48xlarge", "trn2-ultraserver"]
SCHEDULERS = ["fifo", "priority", "fair-share", "easy-backfill"]
# full-load facility watts of one system at PUE 1.15 (power_chain): used to set binding caps
BUSY_W = {"trn2.48xlarge": 11000 * 1.07 * 1.15, "trn2-ultraserver": 44000 * 1.07 * 1.15}
CHIPS = {"trn2.48xlarge": 16, "trn2-ultraserver": 64}


@st.composite
def pools(draw: Any, kind: str) -> dict[str, Any]:
    installed = draw(st.integers(1, 10))
    deliveries = draw(st.lists(st.fixed_dictionaries({"at": st.sampled_from(["6h", "1d", "30h", "2d"]),
                                                      "systems": st.integers(0, 4)}), max_size=2))
    decom = draw(st.lists(st.fixed_dictionaries({"at": st.sampled_from(["12h", "40h"]),
                                                 "systems": st.integers(1, 3)}), max_size=1))
    return {"kind": kind, "installed": installed, "deliveries": deliveries, "decommission": decom}


@st.composite
def scenarios(draw: Any, max_sites: int = 2, services: bool = True, events: bool = True) -> dict[str, Any]:
    """A scenario document (YAML-shaped dict) small enough to simulate in tens of milliseconds."""
    kind = draw(st.sampled_from(SYSTEMS))
    n_sites = draw(st.integers(1, max_sites))
    sites = []
    for i in range(n_sites):
        p = draw(pools(kind))
        total = p["installed"] + sum(d["systems"] for d in p["deliveries"])
        cap_frac = draw(st.sampled_from([0.2, 0.4, 0.7, 1.0, 3.0]))  # < 1: the cap binds; 0.2: deliveries wait
        # never below one system at full load: a cap that runs no system is a scenario error (test_cli_leftovers.py)
        sites.append({"name": f"site{i}", "power_cap": f"{max(total * BUSY_W[kind] * cap_frac, 1.1 * BUSY_W[kind]) / 1e6:.6f}MW",
                      "pue": 1.15, "systems_per_domain": draw(st.integers(1, 4)), "systems": [p]})
    n_t = draw(st.integers(1, 3))
    tenants = [{"name": f"t{i}", "commitment": {"chips": draw(st.integers(0, 400))}, "priority": draw(st.integers(0, 2)),
                "borrow": draw(st.booleans()), "preemptible": draw(st.booleans())} for i in range(n_t)]
    cps = CHIPS[kind]
    gens = []
    for i in range(n_t):
        gens.append({
            "name": f"g{i}", "tenant": f"t{i}", "rate_per_day": draw(st.sampled_from([4, 12, 30])),
            "models": ["tiny-dense"], "system": kind,
            "chips": [{"chips": cps * draw(st.integers(1, 4)), "weight": 1}, {"chips": cps, "weight": 2}],
            "duration": {"dist": draw(st.sampled_from(["exponential", "lognormal"])), "mean": "3h", "median": "2h",
                         "sigma": 0.8},
            "checkpoint": {"interval": draw(st.sampled_from(["10min", "30min", "2h"])), "save": "20s", "restore": "5min"},
            "cross_site": draw(st.booleans()),
        })
    doc: dict[str, Any] = {
        "name": "prop", "horizon": draw(st.sampled_from(["1d", "2d", "3d"])), "seed": draw(st.integers(0, 10_000)),
        "perf": {"backend": "physics"},
        "scheduler": {"name": (sched := draw(st.sampled_from(SCHEDULERS))), "interval": draw(st.sampled_from([0, "10min"])),
                      "params": {"lookahead": draw(st.sampled_from([0, 3]))} if sched == "fair-share" else {}},
        "cross_site": {"allowed": draw(st.booleans())},
        "sites": sites, "tenants": tenants, "generators": gens,
        "failures": {"preset": "llama3", "scale": draw(st.sampled_from([0, 20, 300]))},
    }
    if services and draw(st.booleans()):
        doc["services"] = [{"name": "svc", "tenant": "t0", "model": "tiny-dense", "system": kind,
                            "demand": {"tokens_per_s": f"{draw(st.integers(1, 40))}M", "daily_amplitude": 0.5}}]
    if events and draw(st.booleans()):
        ev = draw(st.sampled_from(["site_outage", "supply_slip"]))
        doc["events"] = [{"at": "20h", "kind": ev, "site": "site0",
                          **({"duration": "5h"} if ev == "site_outage" else {"months": 1})}]
    return doc


def one_job_scenario(n_systems: int, spares: int, model: str, checkpoint: Any, failures: dict[str, Any], *,
                     horizon: str = "120d", power_cap: str = "100MW", name: str = "one-job") -> dict[str, Any]:
    """A site of trn2.48xlarge systems running one endless gang of ``n_systems`` systems (``spares`` more
    installed), for goodput checks of the fleet against closed forms."""
    return {
        "name": name, "horizon": horizon, "seed": 5, "hourly": "1d", "perf": {"backend": "physics"},
        "sites": [{"name": "s", "power_cap": power_cap, "pue": 1.1,
                   "systems": [{"kind": "trn2.48xlarge", "installed": n_systems + spares}]}],
        "tenants": [{"name": "t"}],
        "jobs": [{"name": "long", "tenant": "t", "model": model, "system": "trn2.48xlarge",
                  "chips": CHIPS["trn2.48xlarge"] * n_systems, "tokens": "1e18", "checkpoint": checkpoint}],
        "failures": failures,
    }


def one_cause(rate_per_system_hour: float) -> dict[str, Any]:
    """A single system-wide failure cause with a fixed 1 h repair."""
    return {"preset": "none", "causes": [{"name": "hw", "rate_per_system_hour": rate_per_system_hour,
                                          "radius": "system", "repair": {"dist": "fixed", "mean": "1h"}}]}


def serving_traffic(seed: int, n: int, mode: str, max_input: int) -> tuple[Any, Any, Any, int | None]:
    """Random requests for the serving simulator's property tests: (input lengths below ``max_input``, output
    lengths below 60, arrival times from 0 (Poisson at 20/s, or all at once), closed-loop concurrency or None)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, max_input, n)
    y = rng.integers(1, 60, n)
    t = np.cumsum(rng.exponential(0.05, n)) if mode == "poisson" else np.zeros(n)
    c = int(rng.integers(1, 12)) if mode == "closed" else None
    return x, y, t - t[0], c
