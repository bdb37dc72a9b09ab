"""EASY backfill (Lifka 1995; Mu'alem & Feitelson 2001), one queue per system kind.

The oldest job of a kind that does not fit gets a reservation at the *shadow time*: the earliest time at
which, as running jobs end at their estimated end times, enough systems are free for it. Younger jobs
may start now if they fit and either end before the shadow time or use only the *extra* systems that
the reservation does not need. Runtime estimates are the engine's ideal remaining time (no failures);
free capacity for the reservation is counted in the one pool (site) that frees enough systems first for a
job held to one site, and over every pool of the kind for a job that may span sites. A start that takes no
system at the reservation's site (whose pools share its power headroom) never delays it.
"""

from __future__ import annotations

from rainier.fleet.placement import Capacity
from rainier.fleet.policies.base import Decision, FleetView, JobView, Start, register_scheduler

__all__ = ["EasyBackfill"]


@register_scheduler("easy-backfill")
class EasyBackfill:
    may_preempt = False

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        out: list[Decision] = []
        shadow: dict[int, tuple[float, int, int | None]] = {}  # kind -> (shadow time, extra systems, pool)
        kinds = list(cap.pools_of_kind)
        for job in view.pending:
            k = job.kind
            if cap.total(k) == 0:
                if all(cap.total(x) == 0 for x in kinds):
                    break
                continue
            plan = cap.fit(k, job.n_systems, job.cross_site)
            if k not in shadow:
                if plan is not None:
                    cap.take(plan)
                    out.append(Start(job.id))
                    continue
                shadow[k] = _reservation(view, cap, job)
                continue
            if plan is None:
                continue
            t_shadow, extra, pool = shadow[k]
            # systems the start would take at the reservation's site (its pool's systems, or its power headroom
            # through another pool of that site; all of them for a cross-site reservation)
            site = None if pool is None else cap.pool_site[pool]
            used = sum(m for p, m in plan if pool is None or cap.pool_site[p] == site)
            if view.now_s + job.est_runtime_s <= t_shadow or used == 0:
                cap.take(plan)
                out.append(Start(job.id))
            elif used <= extra:
                cap.take(plan)
                shadow[k] = (t_shadow, extra - used, pool)
                out.append(Start(job.id))
        return out


def _reservation(view: FleetView, cap: Capacity, job: JobView) -> tuple[float, int, int | None]:
    """(shadow time, extra systems, pool) of the head job's reservation: the earliest time enough systems are
    free, as running jobs end at their estimated ends, in one pool for a one-site job (the pool that frees them
    first; pool None: counted over every pool of the kind, for a job that may span sites)."""
    k, n = job.kind, job.n_systems
    ending = sorted((r for r in view.running if r.kind == k), key=lambda r: (r.est_end_s, r.id))
    if job.cross_site and cap.cross_ok:
        free = cap.total(k)
        for r in ending:
            free += r.n_systems
            if free >= n:
                return r.est_end_s, free - n, None
        return float("inf"), 0, None
    best: tuple[float, int, int | None] = (float("inf"), 0, None)
    for p in cap.pools_of_kind.get(k, ()):
        free = cap.startable[p]
        for r in ending:
            free += r.pool_counts().get(p, 0)
            if free >= n:
                if (r.est_end_s, -(free - n)) < (best[0], -best[1]):
                    best = (r.est_end_s, free - n, p)
                break
    return best
