"""First-in first-out, one queue per system kind: the oldest pending job of a kind starts when its gang
fits; until it does, younger jobs of that kind wait behind it (no backfill, no preemption)."""

from __future__ import annotations

from rainier.fleet.policies.base import Decision, FleetView, Start, register_scheduler

__all__ = ["Fifo"]


@register_scheduler("fifo")
class Fifo:
    may_preempt = False

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        blocked: set[int] = set()
        out: list[Decision] = []
        kinds = view.n_kinds
        for job in view.pending:
            if job.kind in blocked:
                if len(blocked) >= kinds:
                    break
                continue
            plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None:
                blocked.add(job.kind)
                continue
            cap.take(plan)
            out.append(Start(job.id))
        return out
