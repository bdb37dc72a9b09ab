"""Commitment-based fair share with borrowing and reclaim.

Each tenant is entitled to ``entitlement_chips`` (its commitment's share of the installed fleet, see the
engine). Pending jobs are taken tenant by tenant, always from the tenant with the lowest usage /
entitlement (ties: higher tenant priority, then tenant order), head of line within a tenant. A job that
keeps its tenant within its entitlement starts when it fits; a job beyond the entitlement starts only if
the tenant may borrow, and is then marked *borrowed*. When a within-entitlement job does not fit, the
policy reclaims: it preempts borrowed, preemptible jobs of tenants above their entitlement (most over
first, newest first) if that makes the job fit. A tenant whose head job cannot start waits this pass.
"""

from __future__ import annotations

from rainier.fleet.policies.base import (
    Decision,
    FleetView,
    JobView,
    Preempt,
    Start,
    register_scheduler,
    victims_for,
)

__all__ = ["FairShare"]


@register_scheduler("fair-share")
class FairShare:
    def __init__(self, reclaim: bool = True) -> None:
        self.reclaim = reclaim

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        out: list[Decision] = []
        tenants = list(view.tenants)
        usage = [t.usage_chips for t in tenants]
        ent = [t.entitlement_chips for t in tenants]
        queues: dict[int, list[JobView]] = {}
        for j in view.pending:
            queues.setdefault(j.tenant, []).append(j)
        heads = {t: 0 for t in queues}
        running = list(view.running)
        gone: set[int] = set()

        def ratio(t: int) -> tuple[float, int, int]:
            r = usage[t] / ent[t] if ent[t] > 0 else float("inf")
            return (r, -tenants[t].priority, t)

        while heads:
            t = min(heads, key=ratio)
            q = queues[t]
            job = q[heads[t]]
            within = usage[t] + job.chips <= ent[t] + 1e-9
            if not within and not tenants[t].borrow:
                del heads[t]
                continue
            plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None and within and self.reclaim:
                over = {i for i in range(len(tenants)) if usage[i] > ent[i] + 1e-9 and i != t}
                vs = victims_for(job, running, cap,
                                 lambda r, over=over: r.id not in gone and r.borrowed and r.preemptible and r.tenant in over,
                                 lambda r: (-(usage[r.tenant] - ent[r.tenant]), -r.start_s, -r.id))
                if vs is not None:
                    for v in vs:
                        gone.add(v.id)
                        usage[v.tenant] -= v.chips
                        out.append(Preempt(v.id, "reclaim"))
                    running = [r for r in running if r.id not in gone]
                    plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None:
                del heads[t]
                continue
            cap.take(plan)
            usage[t] += job.chips
            out.append(Start(job.id, borrowed=not within))
            heads[t] += 1
            if heads[t] >= len(q):
                del heads[t]
        return out
