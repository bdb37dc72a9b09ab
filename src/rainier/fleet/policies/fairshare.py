"""Commitment-based fair share with borrowing and reclaim.

Each tenant is entitled to ``entitlement_chips`` (its commitment's share of the installed fleet, see the
engine). Pending jobs are taken tenant by tenant, always from the tenant with the lowest usage /
entitlement (ties: higher tenant priority, then tenant order), head of line within a tenant and system
kind (a tenant's blocked Trn3 job does not hold back its Trn2 jobs). A job that
keeps its tenant within its entitlement starts when it fits; a job beyond the entitlement starts only if
the tenant may borrow, and is then marked *borrowed*. When a within-entitlement job does not fit, the
policy reclaims: it preempts borrowed, preemptible jobs of tenants above their entitlement (most over
first, newest first) if that makes the job fit. A group whose head job cannot start waits this pass,
unless ``lookahead`` > 0: then up to that many younger jobs of the group that fit may start around it
(no reservation: a large head job can be overtaken while small jobs keep fitting). Within a group, jobs
go by job priority, then submit time; tenants' priorities break ties between equal usage ratios.
"""

from __future__ import annotations

from rainier.fleet.policies.base import (
    Decision,
    FleetView,
    JobView,
    Preempt,
    Start,
    bool_param,
    count_param,
    register_scheduler,
    victims_for,
)

__all__ = ["FairShare"]


@register_scheduler("fair-share")
class FairShare:
    def __init__(self, reclaim: bool = True, lookahead: int = 0) -> None:
        self.reclaim = bool_param(reclaim, "reclaim")
        self.lookahead = count_param(lookahead, "lookahead")

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        out: list[Decision] = []
        tenants = list(view.tenants)
        usage = [t.usage_chips for t in tenants]
        ent = [t.entitlement_chips for t in tenants]
        queues = {g: q for g, q in view.pending_groups.items() if len(q)}
        heads = {g: 0 for g in sorted(queues)}
        running = list(view.running)
        gone: set[int] = set()
        skipped: dict[tuple[int, int], list[int]] = {}

        def ratio(g: tuple[int, int]) -> tuple[float, int, int, int]:
            t = g[0]
            r = usage[t] / ent[t] if ent[t] > 0 else float("inf")
            return (r, -tenants[t].priority, t, g[1])

        while heads:
            g = min(heads, key=ratio)
            t = g[0]
            q = queues[g]
            job = q[heads[g]]
            within = usage[t] + job.chips <= ent[t] + 1e-9
            if not within and not tenants[t].borrow:
                del heads[g]
                continue
            plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None and within and self.reclaim:
                over = {i for i in range(len(tenants)) if usage[i] > ent[i] + 1e-9 and i != t}

                def eligible(r: JobView, over: set[int] = over) -> bool:
                    return r.id not in gone and r.borrowed and r.preemptible and r.tenant in over

                vs = victims_for(job, running, cap, eligible,
                                 lambda r: (-(usage[r.tenant] - ent[r.tenant]), -r.start_s, -r.id))
                if vs is not None:
                    for v in vs:
                        gone.add(v.id)
                        usage[v.tenant] -= v.chips
                        out.append(Preempt(v.id, "reclaim"))
                    running = [r for r in running if r.id not in gone]
                    plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None:
                skipped.setdefault(g, []).append(heads[g])
                if len(skipped[g]) > self.lookahead:
                    del heads[g]
                    continue
                heads[g] += 1
                if heads[g] >= len(q):
                    del heads[g]
                continue
            cap.take(plan)
            usage[t] += job.chips
            out.append(Start(job.id, borrowed=not within))
            heads[g] += 1
            if heads[g] >= len(q):
                del heads[g]
        return out
