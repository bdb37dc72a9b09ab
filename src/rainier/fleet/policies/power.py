"""Power per system and the site cap.

Full-load facility watts per system come from the one power chain (``rainier.econ.power_chain``: system
share per chip x (1 + network overhead) x site PUE, times chips per system); idle draw is the catalog's
``idle_power_fraction`` of that. Failed and undelivered systems draw nothing (powered off for repair).

Cap rule (enforced at admission, so it can never be exceeded): the site's *counted* power — busy
systems at full load, idle systems at idle draw — stays at or under the cap. A start is admitted only
if ``counted + n x (busy_w - idle_w) <= cap``; a delivery only if ``counted + n x idle_w <= cap``
(otherwise it waits, power-limited). Reported power is <= counted: a training system draws the
scenario's ``training_draw_fraction`` of full load (default: the economics ``load_factor``, 0.75 after
Epoch AI), an inference system ``idle + (busy - idle) x utilization``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rainier.econ import chip_hour_cost, power_chain

__all__ = ["SystemPower", "system_power", "startable"]


@dataclass(frozen=True)
class SystemPower:
    busy_w: float          # facility watts of one system at full load
    idle_w: float          # facility watts of one idle system
    cost_usd_per_s: float  # owner's cost of one system-second (chip_hour_cost x chips / 3600)

    @property
    def delta_w(self) -> float:
        return self.busy_w - self.idle_w


def system_power(catalog: Any, system_name: str, pue: float, site_name: str | None) -> SystemPower:
    system = catalog.system(system_name)
    acc = catalog.accelerator(system.accelerator)
    econ = catalog.economics()
    site = catalog.site(site_name) if site_name else None
    chain = power_chain(acc, system, econ, pue=pue, site=site)
    busy = chain.facility_w * system.chips
    cost = chip_hour_cost(acc, system, econ, pue=pue, site=site).total_usd * system.chips / 3600.0
    return SystemPower(busy_w=busy, idle_w=busy * system.idle_power_fraction, cost_usd_per_s=cost)


def startable(free: int, headroom_w: float, delta_w: float) -> int:
    """Idle systems that can start at full load under the remaining cap headroom."""
    if delta_w <= 0:
        return max(0, free)
    return max(0, min(free, int((headroom_w + 1e-6) // delta_w)))
