"""Supply: systems delivered month by month, slips, and decommissioning.

The schedule is data from the scenario (per site and system kind: systems installed at the start, a
list of deliveries and retirements at given times). A ``supply_slip`` scenario event at time t moves
every delivery of that site (and system kind, if named) that is still due after t later by ``months``
(30.44 days each). Deliveries install systems in index order; a delivery that the site's power cap cannot
feed at idle waits and retries every hour (counted as power-limited). Decommissioning retires idle
systems (oldest first); busy ones are drained and retire when their job lets go.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SupplyItem", "MONTH_S", "apply_slip"]

MONTH_S = 30.436875 * 86400.0


@dataclass(frozen=True)
class SupplyItem:
    at_s: float
    pool: int
    systems: int
    kind: str  # "delivery" | "decommission" | "delivery_retry" (a delivery the power cap deferred)


def apply_slip(items: list[SupplyItem], t_s: float, pools: set[int], months: int) -> list[SupplyItem]:
    """Deliveries of ``pools`` still due after ``t_s`` move ``months`` later (decommissioning does not)."""
    out = []
    for it in items:
        if it.kind == "delivery" and it.pool in pools and it.at_s > t_s:
            out.append(SupplyItem(it.at_s + months * MONTH_S, it.pool, it.systems, it.kind))
        else:
            out.append(it)
    return out
