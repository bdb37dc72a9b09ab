"""Discrete-event simulation of an accelerator fleet (issue 6).

``load_scenario(name_or_path, seed=None)`` validates a scenario; ``run_fleet(scenario, out=None)``
simulates it and, with ``out``, writes the run directory described in docs/contracts.md. Modules:
``engine`` (the event kernel), ``scenario`` (schema), ``state`` (pools, jobs, ledger), ``placement``,
``policies`` (schedulers, failures, supply, power), ``perf`` (job speed / serving capacity cache),
``simulation`` (the model), ``outputs`` (run directory).
"""

from __future__ import annotations

import numbers
import time
from pathlib import Path
from typing import Any

from rainier.errors import RainierError
from rainier.fleet.scenario import Scenario, builtin_scenarios, load_scenario
from rainier.fleet.simulation import RunResult, Simulation

__all__ = ["load_scenario", "run_fleet", "Scenario", "RunResult", "Simulation", "builtin_scenarios"]


def run_fleet(scenario: Scenario | str | Path, out: str | Path | None = None, *, seed: int | None = None,
              catalog: Any = None, progress: Any = None, audit: bool = False) -> RunResult:
    """Simulate ``scenario`` (a Scenario, a built-in name or a YAML path); write ``out`` if given."""
    from rainier.fleet.outputs import write_run_dir

    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise RainierError(f"must be a whole number of at least 0 (got {seed!r})", field="seed",
                           fix="give a non-negative integer seed")
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, seed=seed, catalog=catalog)
    elif seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    t0 = time.perf_counter()
    result = Simulation(scenario, catalog, audit=audit, progress=progress).run()
    wall = time.perf_counter() - t0
    result.wall_s = wall  # type: ignore[attr-defined]
    if out is not None:
        result.run_dir = write_run_dir(result, out, wall)  # type: ignore[attr-defined]
    return result
