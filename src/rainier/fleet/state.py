"""Fleet state held by one simulation: system pools, jobs, tenants, services and the time-weighted ledger.

Chips are aggregated at system granularity (an UltraServer, a node): the scheduling, failure and power
unit is the system. A *pool* is all systems of one kind at one site; its systems are numbered in
delivery order and grouped into racks (``systems_per_rack``) and network domains
(``systems_per_domain``, contiguous index ranges), so topology is an index computation.

System states: UNDELIVERED -> IDLE <-> BUSY; IDLE -> FAILED -> IDLE (repair); IDLE -> RETIRED.
Invariants (checked on every transition; violating one raises AssertionError):
- a system has exactly one state, and an owner (job or service) iff it is BUSY — so a chip is never
  in two jobs;
- per pool, ``n_idle + n_busy + n_failed + n_retired + n_undelivered == n``;
- per site, the power counted against the cap (busy systems at full load, idle at idle draw, failed and
  undelivered at zero) never exceeds the cap: every start and delivery is admitted against it.

The :class:`Ledger` integrates levels (chips installed/busy/idle/failed, power, tokens/s, cost rate)
over each accounting interval, like salabim's ``Monitor(level=True)``: a change of a level at time t
credits ``delta x (interval end - t)``, so hourly rows are exact time averages. Busy, idle, failed and
installed are integrated separately, so busy + idle + failed = installed is a checked identity, not
a definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["UNDELIVERED", "IDLE", "BUSY", "FAILED", "RETIRED", "Pool", "Ledger", "Job", "Tenant", "Service",
           "SiteState", "Stream", "WAIT_REASONS"]

# Why a queued training job is not running, in the order the simulation tests them (simulation docstring).
WAIT_REASONS = ("supply", "repairs", "site_outage", "training", "inference", "power", "policy")

UNDELIVERED, IDLE, BUSY, FAILED, RETIRED = 0, 1, 2, 3, 4
NO_OWNER = -1


class Stream:
    """Buffered draws from one numpy Generator (scalar draws one by one are slow in numpy)."""

    __slots__ = ("rng", "_u", "_ui", "_e", "_ei", "_n")

    def __init__(self, rng: np.random.Generator, block: int = 4096) -> None:
        self.rng = rng
        self._n = block
        self._u = rng.random(block)
        self._ui = 0
        self._e = rng.standard_exponential(block)
        self._ei = 0

    def uniform(self) -> float:
        if self._ui >= self._n:
            self._u = self.rng.random(self._n)
            self._ui = 0
        x = self._u[self._ui]
        self._ui += 1
        return float(x)

    def exponential(self) -> float:
        if self._ei >= self._n:
            self._e = self.rng.standard_exponential(self._n)
            self._ei = 0
        x = self._e[self._ei]
        self._ei += 1
        return float(x)


class Ledger:
    """Time-integrals of per-site levels over accounting intervals; one row of columns per site.

    Pre-credited integration: when an interval [t0, t1) opens, each integral starts at
    ``level x (t1 - t0)``; a change of ``delta`` at time t adds ``delta x (t1 - t)``. At t1 the integral
    is exact, and each change costs one scalar update (no per-event row operations). Levels and
    integrals are Python lists (a handful of sites); :meth:`close` returns the interval as an array.
    """

    BASE = ("installed_chips", "busy_chips", "failed_chips", "idle_chips", "power_w", "cost_usd_per_s")
    PER_TENANT = ("t_busy_chips", "t_power_w", "t_served", "t_demanded", "t_cost_usd_per_s")

    def __init__(self, n_sites: int, n_tenants: int) -> None:
        self.n_tenants = n_tenants
        self.ncol = len(self.BASE) + len(self.PER_TENANT) * n_tenants
        self.level = [[0.0] * self.ncol for _ in range(n_sites)]
        self.acc = [[0.0] * self.ncol for _ in range(n_sites)]
        self.t_end = 0.0
        self.total = np.zeros((n_sites, self.ncol))  # whole-run integrals

    def col(self, name: str, tenant: int | None = None) -> int:
        if tenant is None:
            return self.BASE.index(name)
        return len(self.BASE) + self.PER_TENANT.index(name) * self.n_tenants + tenant

    def add(self, site: int, t: float, col: int, delta: float) -> None:
        self.level[site][col] += delta
        self.acc[site][col] += delta * (self.t_end - t)

    def open(self, t0: float, t1: float) -> None:
        """Start the interval [t0, t1): integrals start at level x length."""
        dt = t1 - t0
        self.acc = [[x * dt for x in row] for row in self.level]
        self.t_end = t1

    def close(self) -> np.ndarray:
        """The integrals of the interval that ends now (unit x seconds), per site and column."""
        out = np.array(self.acc, dtype=float)
        self.total += out
        self.acc = [[0.0] * self.ncol for _ in self.level]
        return out


@dataclass(eq=False)
class SiteState:
    index: int
    name: str
    cap_w: float
    pue: float
    capacity_chips: int
    cap_power_w: float = 0.0     # power counted against the cap (busy at full load)
    power_w: float = 0.0         # actual draw (inference at its utilization)
    peak_power_w: float = 0.0
    down_until_s: float = -1.0   # site outage
    pools: list[int] = field(default_factory=list)


class Pool:
    """All systems of one kind at one site, as arrays."""

    def __init__(self, index: int, site: int, kind: int, kind_name: str, n: int, chips_per_system: int,
                 systems_per_rack: int, systems_per_domain: int, busy_w: float, idle_w: float,
                 cost_usd_per_s: float) -> None:
        self.index, self.site, self.kind, self.kind_name = index, site, kind, kind_name
        self.n = n
        self.cps = chips_per_system
        self.spr = max(1, systems_per_rack)
        self.spd = max(1, systems_per_domain)
        self.busy_w, self.idle_w = busy_w, idle_w
        self.work_w = busy_w  # actual draw of a system at work, training or fully used serving (set by the simulation)
        self.cost_usd_per_s = cost_usd_per_s
        self.state = np.zeros(n, dtype=np.int8)
        self.owner = np.full(n, NO_OWNER, dtype=np.int64)
        self.n_domains = max(1, -(-n // self.spd))
        self.free_by_domain = np.zeros(self.n_domains, dtype=np.int64)
        self.n_delivered = 0
        self.n_idle = self.n_busy = self.n_failed = self.n_retired = 0
        self.drain = 0  # retirements waiting for busy systems to come back

    @property
    def n_undelivered(self) -> int:
        return self.n - self.n_delivered

    def check(self) -> None:
        counts = np.bincount(self.state, minlength=5)
        assert counts[IDLE] == self.n_idle and counts[BUSY] == self.n_busy, "pool counts out of step"
        assert counts[FAILED] == self.n_failed and counts[RETIRED] == self.n_retired
        assert ((self.owner != NO_OWNER) == (self.state == BUSY)).all(), "owner without BUSY state"
        dom = np.bincount(np.flatnonzero(self.state == IDLE) // self.spd, minlength=self.n_domains)
        assert (dom == self.free_by_domain).all(), "free_by_domain out of step"

    def idle_in(self, lo: int, hi: int, m: int) -> np.ndarray:
        """The first ``m`` idle systems with index in [lo, hi)."""
        idx = np.flatnonzero(self.state[lo:hi] == IDLE)[:m]
        return idx + lo


@dataclass(eq=False)
class Tenant:
    index: int
    name: str
    priority: int
    borrow: bool
    preemptible: bool
    commitment_w: float
    commitment_chips: float
    entitlement_chips: float = 0.0
    usage_chips: float = 0.0
    committed_chip_s: float = 0.0


@dataclass(eq=False, slots=True)
class Job:
    """One training job: a gang of ``n_systems`` systems of one kind; progress is analytic."""

    id: int
    name: str
    tenant: int
    model: str
    kind: int
    kind_name: str
    chips: int
    n_systems: int
    tokens_total: float
    submit_s: float
    priority: int
    preemptible: bool
    cross_site: bool
    ckpt_interval_s: float
    ckpt_save_s: float
    restore_s: float
    est_tokens_per_s: float = 0.0     # single-site speed, for runtime estimates
    # runtime state
    status: str = "pending"           # pending | queued | running | finished
    attempt: int = 0
    tokens_done: float = 0.0          # committed (checkpointed) tokens
    start_s: float = 0.0              # attempt start
    compute_start_s: float = 0.0      # after restore
    attempt_restore_s: float = 0.0
    tokens_per_s: float = 0.0
    placement: dict[int, np.ndarray] = field(default_factory=dict)  # pool -> system indices
    last_plan: tuple[tuple[int, int], ...] = ()  # (pool, systems) of the last attempt: where a restart goes back to
    end_handle: Any = None
    est_end_s: float = 0.0
    queued_since_s: float = 0.0
    waits_s: list[float] = field(default_factory=list)
    borrowed: bool = False
    restart_cause: str | None = None
    sites: tuple[int, ...] = ()

    @property
    def est_runtime_s(self) -> float:
        rem = self.tokens_total - self.tokens_done
        c = rem / self.est_tokens_per_s if self.est_tokens_per_s > 0 else float("inf")
        return self.restore_s + c + (c // self.ckpt_interval_s) * self.ckpt_save_s

    def pool_counts(self) -> dict[int, int]:
        return {p: len(ix) for p, ix in self.placement.items()}


@dataclass(eq=False)
class Service:
    index: int
    name: str
    tenant: int
    model: str
    kind: int
    kind_name: str
    chips_per_replica: int
    tokens_per_s_per_replica: float
    base_tokens_per_s: float
    daily_amplitude: float
    peak_hour: float
    weekend_factor: float
    growth_per_year: float
    headroom: float
    min_chips: int
    pools: list[int]
    owner_id: int                      # negative owner marker in pool arrays
    reclaim: bool = True
    alloc: dict[int, int] = field(default_factory=dict)    # pool -> systems held
    util: dict[int, float] = field(default_factory=dict)   # pool -> utilization this hour
    spikes: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, t1, factor)
    steps: list[tuple[float, float]] = field(default_factory=list)  # (from t, base tokens/s), in time order
    served_tokens: float = 0.0
    demanded_tokens: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
