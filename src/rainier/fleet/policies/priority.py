"""Strict priority with preemption: pending jobs in (priority high first, submit time) order; when the
head of a kind does not fit, running preemptible jobs of strictly lower priority are preempted (lowest
priority first, most recently started first) if that makes it fit; otherwise the kind blocks."""

from __future__ import annotations

from rainier.fleet.policies.base import (
    Decision,
    FleetView,
    JobView,
    Preempt,
    Start,
    bool_param,
    register_scheduler,
    victims_for,
)

__all__ = ["PriorityPreempt"]


@register_scheduler("priority")
class PriorityPreempt:
    def __init__(self, preempt: bool = True) -> None:
        self.preempt = bool_param(preempt, "preempt")

    def decide(self, view: FleetView) -> list[Decision]:
        cap = view.scratch()
        out: list[Decision] = []
        blocked: set[int] = set()
        gone: set[int] = set()
        running = list(view.running)
        kinds = view.n_kinds
        for job in sorted(view.pending, key=lambda j: (-j.priority, j.submit_s, j.id)):
            if job.kind in blocked:
                if len(blocked) >= kinds:
                    break
                continue
            plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None and self.preempt:
                def eligible(r: JobView, j: JobView = job) -> bool:
                    return r.id not in gone and r.preemptible and r.priority < j.priority

                vs = victims_for(job, running, cap, eligible, lambda r: (r.priority, -r.start_s, -r.id))
                if vs is not None:
                    for v in vs:
                        gone.add(v.id)
                        out.append(Preempt(v.id, "priority"))
                    running = [r for r in running if r.id not in gone]
                    plan = cap.fit(job.kind, job.n_systems, job.cross_site)
            if plan is None:
                blocked.add(job.kind)
                continue
            cap.take(plan)
            out.append(Start(job.id))
        return out
