"""The scheduler interface: one method, a read-only view in, decisions out as data.

A policy is any object with ``decide(view) -> list[Decision]`` (a ``typing.Protocol``). The view holds
the pending jobs in submit order, the running jobs in start order, the tenants (entitlement and usage in
chips) and a scratch :class:`~rainier.fleet.placement.Capacity` to plan against. Decisions are applied
in order by the engine: ``Preempt`` stops a running job (it loses the work since its last checkpoint
and goes back to the queue), ``Start`` places a pending job with the same site rule the scratch used.

Policies register themselves by name with ``@register_scheduler("name")`` in their own module; the name
is the string scenario files and the CLI use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rainier.errors import RainierError, closest
from rainier.fleet.placement import Capacity

__all__ = ["Start", "Preempt", "Decision", "Scheduler", "FleetView", "register_scheduler", "make_scheduler",
           "scheduler_names", "JobView", "TenantView", "JobSeq", "bool_param", "count_param"]


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    borrowed: bool = False


@dataclass(frozen=True, slots=True)
class Preempt:
    job_id: int
    reason: str = "preempt"


Decision = Start | Preempt


class JobView(Protocol):
    """What a policy may read of a job (policies never write to it)."""

    id: int
    tenant: int
    kind: int
    chips: int
    n_systems: int
    priority: int
    submit_s: float
    start_s: float
    est_end_s: float
    preemptible: bool
    cross_site: bool
    borrowed: bool

    @property
    def est_runtime_s(self) -> float: ...

    def pool_counts(self) -> dict[int, int]: ...


class TenantView(Protocol):
    index: int
    name: str
    priority: int
    borrow: bool
    preemptible: bool
    entitlement_chips: float
    usage_chips: float


class JobSeq(Sequence[JobView]):
    """A lazy read-only sequence of jobs given sorted keys whose last item is the job id (no copying)."""

    __slots__ = ("_jobs", "_keys")

    def __init__(self, jobs: Sequence[Any], keys: Sequence[tuple[Any, ...]]) -> None:
        self._jobs, self._keys = jobs, keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._jobs[k[-1]] for k in self._keys[i]]
        return self._jobs[self._keys[i][-1]]

    def __iter__(self) -> Any:
        jobs = self._jobs
        for k in self._keys:
            yield jobs[k[-1]]


@dataclass(frozen=True)
class FleetView:
    """Read-only state for one scheduler pass.

    ``pending``: all queued jobs in submit order; ``pending_groups``: the same per (tenant, system kind),
    each in (job priority high first, submit) order; ``running``: running jobs in start order; ``tenants``: entitlement and usage;
    ``capacity``: startable systems per pool (copy it with :meth:`scratch` before planning).
    """

    now_s: float
    pending: Sequence[JobView]
    pending_groups: Mapping[tuple[int, int], Sequence[JobView]]
    running: Sequence[JobView]
    tenants: Sequence[TenantView]
    capacity: Capacity

    def scratch(self) -> Capacity:
        return self.capacity.copy()

    @property
    def n_kinds(self) -> int:
        return len(self.capacity.pools_of_kind)


class Scheduler(Protocol):
    """``decide`` is the policy. An optional class attribute ``may_preempt = False`` tells the engine it
    may skip a pass when no system can start (the default assumes the policy may preempt)."""

    def decide(self, view: FleetView) -> list[Decision]: ...


_REGISTRY: dict[str, Callable[..., Scheduler]] = {}


def register_scheduler(name: str) -> Callable[[Callable[..., Scheduler]], Callable[..., Scheduler]]:
    def deco(factory: Callable[..., Scheduler]) -> Callable[..., Scheduler]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"scheduler '{name}' registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def scheduler_names() -> list[str]:
    return sorted(_REGISTRY)


def make_scheduler(name: str, params: dict[str, Any] | None = None, *, field: str = "scheduler.name") -> Scheduler:
    """The registered scheduler ``name`` (any case) built with ``params``; ``field`` names where the name came from."""
    name = name.strip().lower() if isinstance(name, str) else name
    if name not in _REGISTRY:
        # schedulers are not catalog entries: the fix lists the registered names, not `rainier catalog list`
        near = closest(name, _REGISTRY)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise RainierError(f"unknown scheduler '{name}'", field=field,
                           fix=f"{hint}use one of {', '.join(scheduler_names())}")
    try:
        return _REGISTRY[name](**(params or {}))
    except (TypeError, ValueError) as exc:
        raise RainierError(f"bad parameters for scheduler '{name}': {exc}", field="scheduler.params",
                           fix="check the parameter names and give numbers where numbers are expected") from None


def bool_param(v: Any, name: str) -> bool:
    """A scheduler parameter that is true or false (a quoted "false" is refused, not read as true)."""
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be true or false (got {v!r})")
    return v


def count_param(v: Any, name: str) -> int:
    """A scheduler parameter that is a whole number >= 0 (2.7 or -5 is refused, not truncated or read as 0)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{name} must be a whole number >= 0 (got {v!r})")
    return v


def victims_for(job: JobView, running: Sequence[JobView], cap: Capacity, eligible: Callable[[JobView], bool],
                order: Callable[[JobView], Any]) -> list[JobView] | None:
    """Running jobs (taken in ``order``) whose preemption lets ``job`` fit, none of them needless; None if none does.

    Victims are added in ``order`` until the job fits, then each is dropped again (latest first) if the job still
    fits without it: a job at a site the placement does not use is not preempted. ``cap`` is updated (victims
    given back) only when a set is found.
    """
    cands = sorted((r for r in running if r.kind == job.kind and eligible(r)), key=order)
    if not cands:
        return None

    def fits(victims: list[JobView]) -> bool:
        trial = cap.copy()
        for v in victims:
            trial.give(v.pool_counts())
        return trial.fit(job.kind, job.n_systems, job.cross_site) is not None

    trial = cap.copy()
    chosen: list[JobView] = []
    for r in cands:
        trial.give(r.pool_counts())
        chosen.append(r)
        if trial.fit(job.kind, job.n_systems, job.cross_site) is not None:
            for v in list(reversed(chosen[:-1])):  # the last one added was needed
                rest = [x for x in chosen if x is not v]
                if fits(rest):
                    chosen = rest
            for v in chosen:
                cap.give(v.pool_counts())
            return chosen
    return None
