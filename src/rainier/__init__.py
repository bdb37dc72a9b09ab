"""rainier: a digital twin of gigawatt-scale AI accelerator fleets.

The public API (everything the CLI does is available here, returning plain dataclasses):

- catalog: :func:`default_catalog`, :class:`Catalog`, :func:`param_counts`
- sizing:  :func:`size_fleet`, :class:`SizingResult`; planning: :func:`plan_capacity`
- economics: :func:`power_chain`, :func:`chip_hour_cost`
- errors:  :class:`RainierError`

Names of later subsystems (training, serving, fleet, reports) resolve lazily so that importing
``rainier`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Catalog": "rainier.catalog.loader",
    "default_catalog": "rainier.catalog.loader",
    "check_dir": "rainier.catalog.loader",
    "param_counts": "rainier.catalog.params",
    "size_fleet": "rainier.plan.sizing",
    "SizingResult": "rainier.plan.sizing",
    "plan_capacity": "rainier.plan.capacity",
    "power_chain": "rainier.econ",
    "chip_hour_cost": "rainier.econ",
    "RainierError": "rainier.errors",
    "estimate_training": "rainier.perf.training",
    "estimate_serving": "rainier.perf.inference",
    "replica_capacity": "rainier.perf.inference",
    "run_fleet": "rainier.fleet",
    "load_scenario": "rainier.fleet",
    "write_run_report": "rainier.report",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'rainier' has no attribute '{name}'")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
