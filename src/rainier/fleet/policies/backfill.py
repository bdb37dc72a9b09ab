"""EASY backfill (Lifka 1995; Mu'alem & Feitelson 2001), one queue per system kind.

The oldest job of a kind that does not fit gets a reservation at the *shadow time*: the earliest time at
which, as running jobs end at their estimated end times, enough systems are free for it. Younger jobs
may start now if they fit and either end before the shadow time or use only the *extra* systems that
the reservation does not need. Runtime estimates are the engine's ideal remaining time (no failures);
free capacity for the reservation is counted per kind across the sites the job may use.
"""

from __future__ import annotations

from rainier.fleet.policies.base import Decision, FleetView, Start, register_scheduler

__all__ = ["EasyBackfill"]


@register_scheduler("easy-backfill")
class EasyBackfill:
    may_preempt = False

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        out: list[Decision] = []
        shadow: dict[int, tuple[float, int]] = {}  # kind -> (shadow time, extra systems)
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
                # reservation for the head of this kind
                free = cap.total(k)
                t_shadow, extra = float("inf"), 0
                for r in sorted((r for r in view.running if r.kind == k), key=lambda r: (r.est_end_s, r.id)):
                    free += r.n_systems
                    if free >= job.n_systems:
                        t_shadow, extra = r.est_end_s, free - job.n_systems
                        break
                shadow[k] = (t_shadow, extra)
                continue
            if plan is None:
                continue
            t_shadow, extra = shadow[k]
            if view.now_s + job.est_runtime_s <= t_shadow:
                cap.take(plan)
                out.append(Start(job.id))
            elif job.n_systems <= extra:
                cap.take(plan)
                shadow[k] = (t_shadow, extra - job.n_systems)
                out.append(Start(job.id))
        return out
