"""Gang placement: all-or-nothing, topology-aware (system -> rack -> network domain -> site).

A job asks for ``n`` systems of one kind. Site choice (:func:`plan_sites`):

1. best fit in one site: the pool (site) with the fewest startable systems that still holds ``n``
   (keeps big holes for big gangs; ties go to the lower site index);
2. otherwise, only if the job and the scenario allow crossing sites, an even split over the fewest sites that
   hold it: for k = 2, 3, ... the k pools with the most startable systems, ``n / k`` each (the first ``n mod k``
   one more), as the capacity planner sizes a split job (``rainier.plan.capacity``: a job split evenly, each site
   with its share of the spares); a greedy fill would take every free system of the emptiest site and leave a
   one-site job there without its spares (a plan with jobs over two sites, run as a fleet, queued 11% of its
   chip-hours so). Where no even split fits, the pools with the most startable systems first, until ``n`` is
   covered. The job then runs at the cross-site speed;
3. otherwise the gang does not start (all-or-nothing).

A gang restarting after a failure first goes back to the sites of its last attempt, in the same shares, when they
still hold it (``Simulation._try_restart``), so restarts keep the fleet's layout; only otherwise does this rule place it.

"Startable" = idle systems the site's power cap can also feed at full load (see
:mod:`rainier.fleet.policies.power`). Within a pool (:func:`pick_systems`): the smallest network domain
that holds the whole remainder, else domains with the most idle systems first; inside a domain the
lowest-numbered idle systems, which keeps a gang on adjacent racks.

:class:`Capacity` is the scratch copy of startable counts that schedulers plan against; it applies the
same site rule, so a plan a policy makes is the plan the engine executes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rainier.fleet.state import Pool

__all__ = ["Capacity", "plan_sites", "pick_systems"]


def plan_sites(startable: Sequence[int], pools: Sequence[int], n: int, cross_ok: bool) -> list[tuple[int, int]] | None:
    """Choose (pool, systems) pairs for a gang of ``n`` systems among ``pools`` (one per site)."""
    best = -1
    best_free = -1
    for p in pools:
        f = startable[p]
        if f >= n and (best < 0 or f < best_free):
            best, best_free = p, f
    if best >= 0:
        return [(best, n)]
    if not cross_ok or len(pools) < 2:
        return None
    order = sorted(pools, key=lambda p: (-startable[p], p))
    if sum(startable[p] for p in order) < n:
        return None
    for k in range(2, len(order) + 1):  # an even split over the fewest sites that hold it
        q, r = divmod(n, k)
        even = [(p, q + (1 if i < r else 0)) for i, p in enumerate(order[:k])]
        if all(startable[p] >= m for p, m in even):
            return [(p, m) for p, m in even if m > 0]
    out, need = [], n
    for p in order:
        take = min(need, startable[p])
        if take > 0:
            out.append((p, take))
            need -= take
        if need == 0:
            break
    return out


def pick_systems(pool: Pool, m: int) -> np.ndarray:
    """Indices of ``m`` idle systems in ``pool``, domain best-fit first (see module docstring)."""
    fb = pool.free_by_domain
    spd = pool.spd
    fits = np.flatnonzero(fb >= m)
    if fits.size:
        d = int(fits[np.argmin(fb[fits])])  # argmin returns the first (lowest domain) on ties
        return pool.idle_in(d * spd, min(pool.n, (d + 1) * spd), m)
    order = np.argsort(-fb, kind="stable")
    parts = []
    need = m
    for d in order:
        if need <= 0 or fb[d] <= 0:
            break
        d = int(d)
        take = min(need, int(fb[d]))
        parts.append(pool.idle_in(d * spd, min(pool.n, (d + 1) * spd), take))
        need -= take
    if need > 0:
        raise AssertionError("pick_systems: not enough idle systems (capacity plan out of step)")
    return np.concatenate(parts)


class Capacity:
    """Scratch startable counts for one scheduler pass (a policy's plan; nothing real changes)."""

    def __init__(self, startable: list[int], pools_of_kind: dict[int, list[int]], pool_site: list[int],
                 headroom_w: list[float], delta_w: list[float], free: list[int], cross_ok: bool) -> None:
        self.startable = startable
        self.pools_of_kind = pools_of_kind
        self.pool_site = pool_site
        self.headroom_w = headroom_w
        self.delta_w = delta_w
        self.free = free
        self.cross_ok = cross_ok

    def copy(self) -> Capacity:
        return Capacity(list(self.startable), self.pools_of_kind, self.pool_site, list(self.headroom_w),
                        self.delta_w, list(self.free), self.cross_ok)

    def total(self, kind: int) -> int:
        return sum(self.startable[p] for p in self.pools_of_kind.get(kind, ()))

    def fit(self, kind: int, n: int, cross_site: bool) -> list[tuple[int, int]] | None:
        return plan_sites(self.startable, self.pools_of_kind.get(kind, ()), n, cross_site and self.cross_ok)

    def _refresh_site(self, site: int) -> None:
        for p, s in enumerate(self.pool_site):
            if s == site:
                d = self.delta_w[p]
                by_power = int((self.headroom_w[site] + 1e-6) // d) if d > 0 else self.free[p]
                self.startable[p] = max(0, min(self.free[p], by_power))

    def take(self, plan: list[tuple[int, int]]) -> None:
        for p, m in plan:
            self.free[p] -= m
            s = self.pool_site[p]
            self.headroom_w[s] -= m * self.delta_w[p]
            self._refresh_site(s)

    def give(self, counts: dict[int, int]) -> None:
        """Systems a preemption would return (busy -> idle)."""
        sites = set()
        for p, m in counts.items():
            self.free[p] += m
            s = self.pool_site[p]
            self.headroom_w[s] += m * self.delta_w[p]
            sites.add(s)
        for s in sorted(sites):
            self._refresh_site(s)
