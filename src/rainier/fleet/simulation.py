"""The fleet simulation: sites, supply, tenants, training gangs, inference services, failures, power.

One :class:`Simulation` owns everything it uses (kernel, random streams, perf cache, state); running
the same scenario and seed twice gives identical results. Time is seconds from the scenario start.

What is modelled (per event, Python; per hour, numpy):

- **Training jobs** are gangs of whole systems of one kind, placed all-or-nothing by
  :mod:`rainier.fleet.placement`. Progress is analytic: after an optional restore, compute runs at the
  job's tokens/s (from :class:`~rainier.fleet.perf.PerfCache`) in cycles of ``interval`` compute plus a
  blocking ``save``; the end time is known at start, so checkpoints cost no events. An interruption
  (failure, preemption, site outage) commits the tokens of completed checkpoints and loses the rest;
  the attempt's busy chip-time minus its useful compute is goodput loss, split by cause: restore time to
  the cause of the restart, save time to ``checkpoint``, lost compute to the interrupting cause.
- **Restart**: after a failure the job restarts at once if its pool(s) have enough startable systems
  (hot spares), otherwise it waits in the queue for repairs; it pays the restore time either way.
- **Inference services** are a fluid allocation updated hourly: enough systems for the hour's demand
  plus headroom, taken from idle systems (services do not preempt training); tokens served is
  ``min(demand, capacity at the SLO)``; failures inside the hour reduce capacity until the next update.
- **Failures**, **supply** and **power**: see :mod:`rainier.fleet.policies.failures`, ``supply``, ``power``.
- **Commitments**: tenant *i* with commitment ``c_i`` (chips, or facility watts / the fleet's average
  facility watts per chip) is entitled to ``installed x c_i / max(sum c, installed)`` chips, updated
  hourly; fair-share scheduling uses it, and the summary reports its integral as committed chip-hours.

- **Why jobs waited**: while a training job is queued, its chips accrue wait time under the first reason
  that blocks it, re-read after every scheduling pass and every hour (``WAIT_REASONS``): ``supply`` (fewer
  systems of its kind installed than the gang needs), ``site_outage`` (enough installed, too few at sites
  that are up), ``repairs`` (too few of those healthy, or the idle ones with those under repair would make it
  up), ``training`` (too few idle, and other gangs hold
  enough to make up the gang), ``inference`` (too few idle even if every gang ended: services hold what it
  lacks), ``power`` (idle systems the site's power headroom cannot start) and ``policy``
  (startable, but the scheduler ran others first: queue order, fair share, a reservation, domain
  fragmentation). Counts per pool: the best pool of the kind, or all of them for a cross-site gang. The
  reasons add up to every queued chip-second (tested against the jobs' own waits).

Conservation: per site and hour, chips busy + idle + failed + undelivered = site capacity (all systems
the scenario ever places there; retired systems count as undelivered), because the ledger integrates
each level exactly between events.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rainier.errors import RainierError
from rainier.fleet.engine import PRIO_ACCOUNT, PRIO_LATE, PRIO_URGENT, Kernel
from rainier.fleet.perf import PerfCache
from rainier.fleet.placement import Capacity, pick_systems, plan_sites
from rainier.fleet.policies import FleetView, Preempt, Start, make_scheduler
from rainier.fleet.policies.base import JobSeq
from rainier.fleet.policies.failures import FailureTable, draw_duration
from rainier.fleet.policies.power import startable, system_power
from rainier.fleet.policies.supply import SupplyItem, apply_slip
from rainier.fleet.scenario import HOUR_S, Scenario
from rainier.fleet.state import (
    BUSY,
    FAILED,
    IDLE,
    NO_OWNER,
    RETIRED,
    WAIT_REASONS,
    Job,
    Ledger,
    Pool,
    Service,
    SiteState,
    Stream,
    Tenant,
)
from rainier.units import fmt_power

_POLICY = WAIT_REASONS.index("policy")

__all__ = ["Simulation", "RunResult"]

YEAR_S = 365.0 * 86400.0


def _losses(*pairs: tuple[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in pairs:
        out[k] = out.get(k, 0.0) + v
    return out


@dataclass
class RunResult:
    """Everything a run produced, as plain data (the run-directory writer's input)."""

    scenario: Scenario
    jobs: dict[str, list[Any]]
    events: dict[str, list[Any]]
    timeseries: dict[str, Any]
    summary: dict[str, Any]
    events_processed: int
    perf_backend: str
    perf_fallbacks: list[str] = field(default_factory=list)
    audit: list[tuple[int, int, int, float, float]] | None = None


class Simulation:
    def __init__(self, scenario: Scenario, catalog: Any = None, *, audit: bool = False,
                 progress: Callable[[float, float], None] | None = None) -> None:
        from rainier.catalog import default_catalog

        self.sc = sc = scenario
        self.cat = cat = catalog or default_catalog()
        self.k = Kernel()
        self.progress = progress
        seeds = np.random.SeedSequence(sc.seed).spawn(3)
        self.rng_jobs = np.random.default_rng(seeds[0])
        self.fail_stream = Stream(np.random.default_rng(seeds[1]))
        self.repair_stream = Stream(np.random.default_rng(seeds[2]))
        self.perf = PerfCache(cat, sc.perf.backend, sc.perf.mfu_assumed, sc.perf.decode_bw_efficiency, sc.perf.seq,
                              sc.perf.global_batch_tokens, sc.cross_site.gbps, sc.cross_site.efficiency,
                              sc.perf.training_precision)
        self.scheduler = make_scheduler(sc.scheduler.name, sc.scheduler.params)
        self.horizon_s = sc.horizon_s

        # --- kinds, sites, pools -------------------------------------------------------------------
        kinds: list[str] = []
        for s in sc.sites:
            for p in s.systems:
                if p.kind not in kinds:
                    kinds.append(p.kind)
        for name in [x.system for x in sc.jobs] + [x.system for x in sc.generators] + [x.system for x in sc.services]:
            if name not in kinds:
                kinds.append(name)
        self.kinds = kinds
        self.kind_index = {k: i for i, k in enumerate(kinds)}
        self.sites: list[SiteState] = []
        self.pools: list[Pool] = []
        self.pools_of_kind: dict[int, list[int]] = {i: [] for i in range(len(kinds))}
        supply: list[SupplyItem] = []
        causes = sc.failures.resolved_causes()
        self.fail_tables: dict[int, FailureTable] = {}
        for si, s in enumerate(sc.sites):
            site = SiteState(si, s.name, s.power_cap_w, s.pue, 0)
            self.sites.append(site)
            for ps in s.systems:
                system = cat.system(ps.kind)
                n = ps.installed + sum(d.systems for d in ps.deliveries)
                if n == 0:
                    continue
                pw = system_power(cat, ps.kind, s.pue, s.catalog)
                if pw.busy_w > s.power_cap_w:
                    raise RainierError(
                        f"site '{s.name}': a power cap of {fmt_power(s.power_cap_w)} cannot run one {ps.kind} system "
                        f"({fmt_power(pw.busy_w)} at full load with PUE {s.pue:g})", field=f"sites[{si}].power_cap",
                        fix=f"raise the cap to at least {fmt_power(pw.busy_w)} or move the {ps.kind} systems elsewhere")
                spr = max(1, round(1.0 / system.racks_per_system)) if system.racks_per_system < 1 else 1
                k = self.kind_index[ps.kind]
                pool = Pool(len(self.pools), si, k, ps.kind, n, system.chips, spr, s.systems_per_domain,
                            pw.busy_w, pw.idle_w, pw.cost_usd_per_s)
                # average draw of a system at work, a training gang's or a fully used serving replica's: the
                # economics load factor of full load (Epoch: ~0.75; `rainier train` and `rainier serve` price
                # energy so too), never below idle; the cap still counts full load
                frac = sc.training_draw_fraction if sc.training_draw_fraction is not None else cat.economics().load_factor
                pool.work_w = max(pool.idle_w, pool.busy_w * frac)
                self.pools.append(pool)
                site.pools.append(pool.index)
                site.capacity_chips += n * system.chips
                self.pools_of_kind[k].append(pool.index)
                if ps.installed:
                    supply.append(SupplyItem(0.0, pool.index, ps.installed, "delivery"))
                supply += [SupplyItem(d.at_s, pool.index, d.systems, "delivery") for d in ps.deliveries if d.systems]
                supply += [SupplyItem(d.at_s, pool.index, d.systems, "decommission") for d in ps.decommission if d.systems]
                if k not in self.fail_tables:
                    self.fail_tables[k] = FailureTable.build(causes, system.chips, sc.failures.scale)
        self.supply = supply
        self.supply_handles: list[Any] = []
        self.fail_handle: list[Any] = [None] * len(self.pools)
        self.outage_failed: dict[int, list[tuple[int, np.ndarray]]] = {}

        # --- tenants, ledger ----------------------------------------------------------------------
        self.tenants = [Tenant(i, t.name, t.priority, t.borrow, t.preemptible, t.commitment_w, t.commitment_chips)
                        for i, t in enumerate(sc.tenants)]
        self.tenant_index = {t.name: t.index for t in self.tenants}
        T = len(self.tenants)
        self.L = Ledger(len(self.sites), T)
        L = self.L
        self.c_inst, self.c_busy, self.c_failed = L.col("installed_chips"), L.col("busy_chips"), L.col("failed_chips")
        self.c_idle = L.col("idle_chips")
        self.c_power, self.c_cost = L.col("power_w"), L.col("cost_usd_per_s")
        self.c_tbusy = [L.col("t_busy_chips", t) for t in range(T)]
        self.c_tpower = [L.col("t_power_w", t) for t in range(T)]
        self.c_tserved = [L.col("t_served", t) for t in range(T)]
        self.c_tdemand = [L.col("t_demanded", t) for t in range(T)]
        self.c_tcost = [L.col("t_cost_usd_per_s", t) for t in range(T)]

        # --- jobs ------------------------------------------------------------------------------------
        self.jobs: list[Job] = []
        self._ckpt_cache: dict[tuple[str, str, int], tuple[float, float, float]] = {}
        self._make_jobs()
        self.pending: list[tuple[float, int]] = []
        self.pending_g: dict[tuple[int, int], list[tuple[int, float, int]]] = {}
        self.running: dict[int, Job] = {}
        self._running_view: list[Job] | None = None
        self._pass_handle: Any = None
        self._last_pass_s = -math.inf

        # --- services --------------------------------------------------------------------------------
        self.services: list[Service] = []
        for i, sv in enumerate(sc.services):
            try:
                cap = self.perf.serving(sv.model, sv.system, sv.precision, sv.input_len, sv.output_len,
                                        sv.slo.ttft_s, sv.slo.tpot_s)
            except RainierError as exc:  # name the service: services[i]
                if exc.field is None or not exc.field.startswith("services"):
                    raise
                raise RainierError(f"service '{sv.name}': {exc.message}",
                                   field=exc.field.replace("services", f"services[{i}]", 1), fix=exc.fix) from None
            k = self.kind_index[sv.system]
            pools = [p for p in self.pools_of_kind[k] if not sv.sites or self.sites[self.pools[p].site].name in sv.sites]
            need = -(-cap.chips_per_replica // self.pools[pools[0]].cps) if pools else 0
            if pools and all(self.pools[p].n < need for p in pools):
                # a replica lives inside one pool (site): one that no pool can ever hold would serve nothing
                raise RainierError(f"service '{sv.name}': a replica of {sv.model} takes {cap.chips_per_replica} chips "
                                   f"({need} x {sv.system}), more than any site it may use will ever hold",
                                   field=f"services[{i}]", fix="give a site more of that system, or serve a smaller model")
            self.services.append(Service(
                i, sv.name, self.tenant_index[sv.tenant], sv.model, k, sv.system, cap.chips_per_replica,
                cap.total_tokens_per_s, sv.demand.tokens_per_s, sv.demand.daily_amplitude, sv.demand.peak_hour,
                sv.demand.weekend_factor, sv.demand.growth_per_year, sv.headroom, sv.min_chips, pools, -(i + 2),
                sv.reclaim, steps=[(st.at_s, st.tokens_per_s) for st in sv.demand.steps]))

        # --- records ---------------------------------------------------------------------------------
        self.attempts: list[tuple[Any, ...]] = []
        self.log: list[tuple[Any, ...]] = []
        self.failures_by_cause: dict[str, int] = {c.name: 0 for c in causes}
        self.loss_by_cause: dict[str, float] = {}
        self.restart_wait_by_cause: dict[str, float] = {}
        self.wait_chip_s = np.zeros((T, len(WAIT_REASONS)))  # queued chip-seconds by tenant and reason
        self._wait_rate = np.zeros((T, len(WAIT_REASONS)))   # chips queued now, by tenant and reason
        self._wait_t = 0.0
        self._pending_chips: dict[tuple[int, int, int, bool], int] = {}  # queued chips by (tenant, kind, systems, cross)
        self._commit_now = (0.0, 0.0)
        self._oversub_s = 0.0
        self._worst_cover = 1.0
        self.useful_chip_s = np.zeros(T)
        self.train_busy_chip_s = np.zeros(T)
        self.ts_rows: list[tuple[float, float, np.ndarray]] = []
        self.committed_chip_s = np.zeros(T)
        self.audit: list[tuple[int, int, int, float, float]] | None = [] if audit else None
        self._audit_open: dict[tuple[int, int], tuple[int, float]] = {}
        self.deferred_deliveries = 0
        self._last_tick_s = 0.0
        self.fleet_power_w = 0.0
        self.fleet_peak_w = 0.0

    # ================================================================ setup helpers
    def _make_jobs(self) -> None:
        sc = self.sc
        for js in sc.jobs:
            self._add_job(js.name, js.tenant, js.model, js.system, js.tokens, js.chips, js.target_s, js.arrival_s,
                          js.checkpoint, js.priority, js.cross_site)
        rng = self.rng_jobs
        for g in sc.generators:
            t = g.start_s
            end = min(g.end_s if g.end_s is not None else self.horizon_s, self.horizon_s)
            mw = np.array([c.weight for c in g.models])
            cw = np.array([c.weight for c in g.chips])
            n = 0
            while g.count is None or n < g.count:
                t += rng.exponential(86400.0 / g.rate_per_day)
                if t >= end:
                    break
                model = g.models[int(rng.choice(len(mw), p=mw / mw.sum()))].value
                chips = int(g.chips[int(rng.choice(len(cw), p=cw / cw.sum()))].value)
                d = g.duration
                if d.dist == "fixed":
                    dur = float(d.mean_s)  # type: ignore[arg-type]
                elif d.dist == "exponential":
                    dur = float(rng.exponential(float(d.mean_s)))  # type: ignore[arg-type]
                else:
                    dur = float(d.median_s) * math.exp(d.sigma * rng.standard_normal())  # type: ignore[arg-type]
                if d.max_s is not None:
                    dur = min(dur, float(d.max_s))
                dur = max(dur, 1.0)
                system = self.cat.system(g.system)
                chips = -(-chips // system.chips) * system.chips
                tps = self.perf.training(model, g.system, chips, 1).tokens_per_s
                n += 1
                self._add_job(f"{g.name}-{n:05d}", g.tenant, model, g.system, dur * tps, chips, 0.0, t, g.checkpoint,
                              g.priority, g.cross_site)

    def _add_job(self, name: str, tenant: str, model: str, system_name: str, tokens: float, chips: Any, target_s: float,
                 arrival_s: float, ck: Any, priority: int | None, cross_site: bool) -> None:
        system = self.cat.system(system_name)
        if chips == "auto":
            per_chip = self.perf.training(model, system_name, system.chips * 64, 1).tokens_per_s / (system.chips * 64)
            chips = max(system.chips, math.ceil(tokens / (per_chip * target_s)))
        n_sys = -(-int(chips) // system.chips)
        chips = n_sys * system.chips
        tn = self.tenants[self.tenant_index[tenant]]
        interval_s, save_s, restore_s = self._auto_checkpoint(model, system, chips) if ck.auto else (
            ck.interval_s, ck.save_s, ck.restore_s)
        job = Job(len(self.jobs), name, tn.index, model, self.kind_index[system_name], system_name, chips, n_sys, float(tokens),
                  arrival_s, tn.priority if priority is None else priority, tn.preemptible, cross_site,
                  interval_s, save_s, restore_s)
        try:
            job.est_tokens_per_s = self.perf.training(model, system_name, chips, 1).tokens_per_s
        except RainierError as exc:  # (the estimators backend: no fallback) name the job, not train's flags
            raise RainierError(f"{model} on {chips:,} x {system.accelerator}: {exc.message}", field=f"job '{name}'",
                               fix="give the job more chips (or a larger system), or perf.backend: auto to fall back "
                                   "to the closed-form physics") from None
        self.jobs.append(job)

    def _auto_checkpoint(self, model: str, system: Any, chips: int) -> tuple[float, float, float]:
        """(interval, save, restore) of an asynchronous checkpoint of this job (perf.goodput): the stall is the
        barrier and the copy of the chips' share of the state to host memory; the restore is the catalog's restart
        plus reading the state back, plus the write still under way when a failure strikes (a checkpoint counts
        once written); the interval is the goodput-optimal one for the job's interruption rate under this
        scenario's causes (per chip and per system) and scale, and at least the write."""
        from rainier.catalog.params import param_counts
        from rainier.perf.goodput import checkpoint_cost, checkpoint_state_bytes, optimal_interval_s

        key = (model, system.name, chips)
        hit = self._ckpt_cache.get(key)
        if hit is not None:
            return hit
        cc = checkpoint_cost(chips, checkpoint_state_bytes(param_counts(self.cat.model(model)).total, 12.0),
                             self.cat.economics())
        causes = self.sc.failures.resolved_causes()
        per_chip_h = sum(c.rate_per_chip_hour + c.rate_per_system_hour / system.chips for c in causes)
        lam = chips * per_chip_h * self.sc.failures.scale / 3600.0
        interval = min(optimal_interval_s(cc, lam if lam > 1e-30 else 0.0), 1e12)  # none: one that never comes
        save, restore = cc.stall_s, cc.restart_s
        out = (interval, save, restore)
        self._ckpt_cache[key] = out
        return out

    # ================================================================ run
    def run(self) -> RunResult:
        k = self.k
        for it in self.supply:
            self.supply_handles.append(k.schedule_at(it.at_s, self._supply, it, priority=PRIO_URGENT))
        for job in self.jobs:
            if job.submit_s < self.horizon_s:
                k.schedule_at(job.submit_s, self._arrive, job)
        for e in self.sc.events:
            if e.at_s < self.horizon_s:
                if e.kind == "demand_spike":  # known ahead: the accounting step it starts in books its share
                    sv = next(x for x in self.services if x.name == e.service)
                    sv.spikes.append((e.at_s, e.at_s + e.duration_s, e.factor))
                k.schedule_at(e.at_s, self._scenario_event, e, priority=PRIO_URGENT)
        k.schedule_at(0.0, self._tick, priority=PRIO_ACCOUNT)
        k.run(self.horizon_s)
        if not self.ts_rows or self.ts_rows[-1][1] < self.horizon_s:
            self._snapshot(self.horizon_s)
        return self._finish()

    # ================================================================ ledger-aware transitions
    def _acquire(self, pool: Pool, idx: np.ndarray, owner: int, tenant: int, power_per_sys: float) -> None:
        t = self.k.now_s
        st = pool.state
        if (st[idx] != IDLE).any():
            raise AssertionError("a system was assigned while not idle (a chip would be in two jobs)")
        st[idx] = BUSY
        pool.owner[idx] = owner
        pool.free_by_domain -= np.bincount(idx // pool.spd, minlength=pool.n_domains)
        m = len(idx)
        pool.n_idle -= m
        pool.n_busy += m
        site = self.sites[pool.site]
        site.cap_power_w += m * (pool.busy_w - pool.idle_w)
        if site.cap_power_w > site.cap_w * (1 + 1e-9) + 1e-3:
            raise AssertionError(f"site {site.name} power above its cap")
        self._power(site, t, m * (power_per_sys - pool.idle_w), tenant, m * power_per_sys)
        L, s = self.L, pool.site
        L.add(s, t, self.c_busy, m * pool.cps)
        L.add(s, self.k.now_s, self.c_idle, -(m * pool.cps))
        L.add(s, self.k.now_s, self.c_tbusy[tenant], m * pool.cps)
        L.add(s, self.k.now_s, self.c_tcost[tenant], m * pool.cost_usd_per_s)
        self.tenants[tenant].usage_chips += m * pool.cps
        if self.audit is not None:
            for i in idx.tolist():
                self._audit_open[(pool.index, i)] = (owner, t)

    def _release(self, pool: Pool, idx: np.ndarray, tenant: int, power_per_sys: float) -> None:
        t = self.k.now_s
        st = pool.state
        if (st[idx] != BUSY).any():
            raise AssertionError("releasing a system that is not busy")
        st[idx] = IDLE
        if self.audit is not None:
            for i in idx.tolist():
                o, t0 = self._audit_open.pop((pool.index, i))
                self.audit.append((pool.index, i, o, t0, t))
        pool.owner[idx] = NO_OWNER
        pool.free_by_domain += np.bincount(idx // pool.spd, minlength=pool.n_domains)
        m = len(idx)
        pool.n_idle += m
        pool.n_busy -= m
        site = self.sites[pool.site]
        site.cap_power_w -= m * (pool.busy_w - pool.idle_w)
        self._power(site, t, -m * (power_per_sys - pool.idle_w), tenant, -m * power_per_sys)
        L, s = self.L, pool.site
        L.add(s, t, self.c_busy, -m * pool.cps)
        L.add(s, self.k.now_s, self.c_idle, m * pool.cps)
        L.add(s, self.k.now_s, self.c_tbusy[tenant], -(m * pool.cps))
        L.add(s, self.k.now_s, self.c_tcost[tenant], -(m * pool.cost_usd_per_s))
        self.tenants[tenant].usage_chips -= m * pool.cps
        if pool.drain > 0:
            self._retire_idle(pool, pool.drain)

    def _power(self, site: SiteState, t: float, delta_site: float, tenant: int | None = None, delta_t: float = 0.0) -> None:
        L, s = self.L, site.index
        L.add(s, t, self.c_power, delta_site)
        if tenant is not None:
            L.add(s, self.k.now_s, self.c_tpower[tenant], delta_t)
        site.power_w += delta_site
        if site.power_w > site.peak_power_w:
            site.peak_power_w = site.power_w
        self.fleet_power_w += delta_site
        if self.fleet_power_w > self.fleet_peak_w:
            self.fleet_peak_w = self.fleet_power_w

    def _fail_idle(self, pool: Pool, i: int) -> None:
        """IDLE -> FAILED; the idle draw stays reserved against the cap so a repair can never exceed it."""
        assert pool.state[i] == IDLE
        pool.state[i] = FAILED
        pool.free_by_domain[i // pool.spd] -= 1
        pool.n_idle -= 1
        pool.n_failed += 1
        site = self.sites[pool.site]
        self._power(site, self.k.now_s, -pool.idle_w)
        self.L.add(pool.site, self.k.now_s, self.c_failed, pool.cps)
        self.L.add(pool.site, self.k.now_s, self.c_idle, -(pool.cps))

    def _repair_one(self, pool: Pool, i: int) -> bool:
        if pool.state[i] != FAILED:
            return False
        pool.state[i] = IDLE
        pool.free_by_domain[i // pool.spd] += 1
        pool.n_idle += 1
        pool.n_failed -= 1
        site = self.sites[pool.site]
        self._power(site, self.k.now_s, pool.idle_w)
        self.L.add(pool.site, self.k.now_s, self.c_failed, -(pool.cps))
        self.L.add(pool.site, self.k.now_s, self.c_idle, pool.cps)
        if pool.drain > 0:
            self._retire_idle(pool, pool.drain)
        return True

    def _retire_idle(self, pool: Pool, m: int) -> int:
        idx = np.flatnonzero(pool.state[: pool.n_delivered] == IDLE)[:m]
        if idx.size == 0:
            return 0
        t = self.k.now_s
        pool.state[idx] = RETIRED
        pool.free_by_domain -= np.bincount(idx // pool.spd, minlength=pool.n_domains)
        r = len(idx)
        pool.n_idle -= r
        pool.n_retired += r
        pool.drain = max(0, pool.drain - r)
        site = self.sites[pool.site]
        site.cap_power_w -= r * pool.idle_w
        self._power(site, t, -r * pool.idle_w)
        L, s = self.L, pool.site
        L.add(s, self.k.now_s, self.c_inst, -(r * pool.cps))
        L.add(s, self.k.now_s, self.c_idle, -(r * pool.cps))
        L.add(s, self.k.now_s, self.c_cost, -(r * pool.cost_usd_per_s))
        # A decommission is requested at one time; busy or failed systems retire later, when they drain.
        self._log("retire", s, None, None, r * pool.cps, None, f"{pool.kind_name}")
        return r

    # ================================================================ supply and scenario events
    def _supply(self, it: SupplyItem) -> None:
        pool = self.pools[it.pool]
        site = self.sites[pool.site]
        t = self.k.now_s
        if it.kind == "decommission":
            r = self._retire_idle(pool, it.systems)
            # busy or failed systems retire when they drain; never more than the pool holds now (systems
            # delivered later are not part of this request)
            held = pool.n_delivered - pool.n_retired - pool.n_idle - pool.drain
            pool.drain += max(0, min(it.systems - r, held))
            self._log("decommission", site.index, None, None, it.systems * pool.cps, None, f"{pool.kind_name}")
            return
        if site.down_until_s > t:
            self.k.schedule_at(site.down_until_s, self._supply, it, priority=PRIO_URGENT)
            return
        room = site.cap_w - site.cap_power_w
        m = min(it.systems, int((room + 1e-6) // pool.idle_w) if pool.idle_w > 0 else it.systems,
                pool.n - pool.n_delivered)
        if m > 0:
            lo = pool.n_delivered
            idx = np.arange(lo, lo + m)
            pool.state[idx] = IDLE
            pool.free_by_domain += np.bincount(idx // pool.spd, minlength=pool.n_domains)
            pool.n_delivered += m
            pool.n_idle += m
            site.cap_power_w += m * pool.idle_w
            self._power(site, t, m * pool.idle_w)
            L, s = self.L, site.index
            L.add(s, self.k.now_s, self.c_inst, m * pool.cps)
            L.add(s, self.k.now_s, self.c_idle, m * pool.cps)
            L.add(s, self.k.now_s, self.c_cost, m * pool.cost_usd_per_s)
            self._log("delivery", site.index, None, None, m * pool.cps, None, pool.kind_name)
            self._reschedule_failures(pool)
            self._request_pass()
        if m < it.systems:
            if it.kind != "delivery_retry":  # count each deferred system once, not once per hourly retry
                self.deferred_deliveries += it.systems - m
            rest = SupplyItem(t + HOUR_S, it.pool, it.systems - m, "delivery_retry")
            self._log("delivery_deferred", site.index, None, None, (it.systems - m) * pool.cps, "power_cap", pool.kind_name)
            self.k.schedule_at(t + HOUR_S, self._supply, rest, priority=PRIO_URGENT)

    def _scenario_event(self, e: Any) -> None:
        t = self.k.now_s
        if e.kind == "site_outage":
            s = next(x for x in self.sites if x.name == e.site)
            self._outage(s, e.duration_s)
        elif e.kind == "supply_slip":
            s = next(x for x in self.sites if x.name == e.site)
            pools = {p for p in s.pools if e.system is None or self.pools[p].kind_name == e.system}
            due = [h for h in self.supply_handles if self.k.active(h) and h[3][0].kind == "delivery"
                   and h[3][0].pool in pools and h[0] > t]
            for h in due:
                self.k.cancel(h)
            new_items = apply_slip([h[3][0] for h in due], t, pools, e.months)
            for it in new_items:
                if it.at_s < self.horizon_s:
                    self.supply_handles.append(self.k.schedule_at(it.at_s, self._supply, it, priority=PRIO_URGENT))
            self._log("supply_slip", s.index, None, None, 0, None, f"{e.months} months {e.system or 'all kinds'}")
        elif e.kind == "demand_spike":
            sv = next(x for x in self.services if x.name == e.service)
            self._log("demand_spike", None, sv.tenant, None, 0, None, f"{sv.name} x{e.factor:g}")

    def _outage(self, site: SiteState, duration_s: float) -> None:
        t = self.k.now_s
        site.down_until_s = max(site.down_until_s, t + duration_s)
        self._log("outage", site.index, None, None, 0, "site_outage", f"{duration_s / HOUR_S:g} h")
        failed: list[tuple[int, np.ndarray]] = []
        for p in site.pools:
            pool = self.pools[p]
            busy = np.flatnonzero(pool.state[: pool.n_delivered] == BUSY)
            self._hit_owners(pool, busy, "site_outage", restart=False)
            idle = np.flatnonzero(pool.state[: pool.n_delivered] == IDLE)
            for i in idle.tolist():
                self._fail_idle(pool, i)
            failed.append((p, idle))
        self.outage_failed.setdefault(site.index, []).extend(failed)
        self.k.schedule_at(site.down_until_s, self._outage_end, site, priority=PRIO_URGENT)

    def _outage_end(self, site: SiteState) -> None:
        if self.k.now_s < site.down_until_s:
            return
        for p, idx in self.outage_failed.pop(site.index, []):
            pool = self.pools[p]
            for i in idx.tolist():
                self._repair_one(pool, i)
        self._log("outage_end", site.index, None, None, 0, "site_outage", "")
        self._request_pass()

    # ================================================================ failures
    def _reschedule_failures(self, pool: Pool) -> None:
        table = self.fail_tables.get(pool.kind)
        self.k.cancel(self.fail_handle[pool.index])
        if table is None or table.hazard_per_s <= 0 or pool.n_delivered == 0:
            return
        rate = pool.n_delivered * table.hazard_per_s
        self.fail_handle[pool.index] = self.k.schedule(self.fail_stream.exponential() / rate, self._failure, pool.index)

    def _failure(self, p: int) -> None:
        pool = self.pools[p]
        table = self.fail_tables[pool.kind]
        fs = self.fail_stream
        nd = pool.n_delivered
        self.fail_handle[p] = self.k.schedule(fs.exponential() / (nd * table.hazard_per_s), self._failure, p)
        i = min(int(fs.uniform() * nd), nd - 1)
        u = fs.uniform()
        st = pool.state[i]
        if st != IDLE and st != BUSY:
            return  # thinning: the drawn system is not in service
        cause = table.pick(u)
        self.failures_by_cause[cause.name] = self.failures_by_cause.get(cause.name, 0) + 1
        if cause.radius != "rack" and st == IDLE:
            # the common cheap case: an idle system fails; no job is touched
            self._log("failure", pool.site, None, None, pool.cps, cause.name, pool.kind_name)
            self._fail_idle(pool, i)
            self.k.schedule(draw_duration(cause.repair, self.repair_stream), self._repair, p, i, cause.name)
            return
        if cause.radius == "rack":
            lo = (i // pool.spr) * pool.spr
            hi = min(lo + pool.spr, nd)
            seg = pool.state[lo:hi]
            idx = np.flatnonzero((seg == IDLE) | (seg == BUSY)) + lo
        else:
            idx = np.array([i])
        owner = int(pool.owner[i])
        tenant = None
        jid = None
        if owner >= 0:
            jid = owner
            tenant = self.jobs[owner].tenant
        elif owner != NO_OWNER:
            tenant = self.services[-owner - 2].tenant
        self._log("failure", pool.site, tenant, jid, len(idx) * pool.cps, cause.name, pool.kind_name)
        busy = idx[pool.state[idx] == BUSY]
        restart = self._hit_owners(pool, busy, cause.name, restart=True)
        for j in idx.tolist():
            if pool.state[j] == IDLE:
                self._fail_idle(pool, j)
                self.k.schedule(draw_duration(cause.repair, self.repair_stream), self._repair, p, j, cause.name)
        for job in restart:
            self._try_restart(job)

    def _hit_owners(self, pool: Pool, busy: np.ndarray, cause: str, restart: bool) -> list[Job]:
        """Interrupt the jobs and services holding ``busy`` systems of ``pool``; return jobs to restart."""
        out: list[Job] = []
        if busy.size == 0:
            return out
        owners = sorted(set(pool.owner[busy].tolist()))
        for o in owners:
            if o >= 0:
                job = self.jobs[o]
                self._interrupt(job, cause, "failed")
                if restart:
                    out.append(job)
                else:
                    self._enqueue(job)
            else:
                sv = self.services[-o - 2]
                mine = busy[pool.owner[busy] == o]
                u = sv.util.get(pool.index, 1.0)
                self._release(pool, mine, sv.tenant, pool.idle_w + (pool.work_w - pool.idle_w) * u)
                sv.alloc[pool.index] -= len(mine)
                self._service_lost(sv)
        return out

    def _repair(self, p: int, i: int, cause: str) -> None:
        pool = self.pools[p]
        site = self.sites[pool.site]
        if site.down_until_s > self.k.now_s:
            self.k.schedule_at(site.down_until_s, self._repair, p, i, cause)
            return
        if self._repair_one(pool, i):
            self._log("repair", pool.site, None, None, pool.cps, cause, pool.kind_name)
            self._request_pass()

    # ================================================================ jobs
    def _arrive(self, job: Job) -> None:
        job.status = "queued"
        job.queued_since_s = self.k.now_s
        self._log("job_submit", None, job.tenant, job.id, job.chips, None, job.name)
        sizes = [self.pools[p].n for p in self.pools_of_kind[job.kind]]
        most = sum(sizes) if job.cross_site and self.sc.cross_site.allowed else max(sizes, default=0)
        if job.n_systems > most:
            # larger than every system of its kind the scenario will ever hold where it may run: it would
            # block its queue forever, so it is recorded (status queued) but never enters the queue
            self._log("job_unplaceable", None, job.tenant, job.id, job.chips, None,
                      f"needs {job.n_systems} x {job.kind_name}, at most {most} ever available")
            return
        self._enqueue(job)

    def _enqueue(self, job: Job) -> None:
        job.status = "queued"
        job.queued_since_s = self.k.now_s
        self._accrue_waits()
        self._wait_rate[job.tenant, _POLICY] += job.chips  # until the next pass reads its reason
        gk = (job.tenant, job.kind, job.n_systems, job.cross_site)
        self._pending_chips[gk] = self._pending_chips.get(gk, 0) + job.chips
        key = (job.submit_s, job.id)
        bisect.insort(self.pending, key)
        # per (tenant, kind): higher job priority first, then submit order
        bisect.insort(self.pending_g.setdefault((job.tenant, job.kind), []), (-job.priority, job.submit_s, job.id))
        self._request_pass()

    def _startable(self) -> list[int]:
        out = []
        for pool in self.pools:
            site = self.sites[pool.site]
            if site.down_until_s > self.k.now_s:
                out.append(0)
                continue
            out.append(startable(pool.n_idle, site.cap_w - site.cap_power_w, pool.busy_w - pool.idle_w))
        return out

    def _start(self, job: Job, plan: list[tuple[int, int]], borrowed: bool) -> None:
        t = self.k.now_s
        sites = tuple(sorted({self.pools[p].site for p, _ in plan}))
        rate = self.perf.training(job.model, job.kind_name, job.chips, len(sites)).tokens_per_s
        placement = {}
        for p, m in plan:
            pool = self.pools[p]
            idx = pick_systems(pool, m)
            self._acquire(pool, idx, job.id, job.tenant, pool.work_w)
            placement[p] = idx
        job.placement = placement
        job.last_plan = tuple(plan)
        job.sites = sites
        job.attempt += 1
        job.status = "running"
        job.borrowed = borrowed
        job.start_s = t
        job.attempt_restore_s = job.restore_s if job.attempt > 1 else 0.0
        job.compute_start_s = t + job.attempt_restore_s
        job.tokens_per_s = rate
        rc = (job.tokens_total - job.tokens_done) / rate
        n_saves = max(0, math.ceil(rc / job.ckpt_interval_s - 1e-9) - 1)
        end = job.compute_start_s + rc + n_saves * job.ckpt_save_s
        job.est_end_s = end
        job.end_handle = self.k.schedule_at(end, self._job_end, job)
        wait = t - job.queued_since_s
        job.waits_s.append(wait)
        if job.attempt > 1 and job.restart_cause is not None:  # chips idle-waiting for a restart
            c = job.restart_cause
            self.restart_wait_by_cause[c] = self.restart_wait_by_cause.get(c, 0.0) + wait * job.chips / HOUR_S
        self.running[job.id] = job
        self._running_view = None
        self._log("job_start", sites[0], job.tenant, job.id, job.chips, None, f"attempt {job.attempt}")

    def _release_job(self, job: Job) -> None:
        for p, idx in job.placement.items():
            pool = self.pools[p]
            self._release(pool, idx, job.tenant, pool.work_w)
        job.placement = {}
        self.running.pop(job.id, None)
        self._running_view = None

    def _site_label(self, job: Job) -> str:
        return "+".join(self.sites[s].name for s in job.sites)

    def _account(self, job: Job, t: float, useful_s: float, lost: dict[str, float]) -> float:
        busy_s = (t - job.start_s)
        self.useful_chip_s[job.tenant] += useful_s * job.chips
        self.train_busy_chip_s[job.tenant] += busy_s * job.chips
        tot = 0.0
        for c, s in lost.items():
            if s > 0:
                self.loss_by_cause[c] = self.loss_by_cause.get(c, 0.0) + s * job.chips / HOUR_S
                tot += s
        return tot * job.chips / HOUR_S

    def _job_end(self, job: Job) -> None:
        t = self.k.now_s
        rc = (job.tokens_total - job.tokens_done) / job.tokens_per_s
        n_saves = max(0, math.ceil(rc / job.ckpt_interval_s - 1e-9) - 1)
        lost = _losses((job.restart_cause or "restart", job.attempt_restore_s), ("checkpoint", n_saves * job.ckpt_save_s))
        lost_ch = self._account(job, t, rc, lost)
        job.tokens_done = job.tokens_total
        self._record_attempt(job, t, "finished", None, lost_ch)
        job.status = "finished"
        self._release_job(job)
        self._log("job_end", job.sites[0], job.tenant, job.id, job.chips, None, "finished")
        self._request_pass()

    def _interrupt(self, job: Job, cause: str, status: str) -> None:
        """Stop a running attempt: commit checkpointed tokens, lose the rest, free the systems."""
        t = self.k.now_s
        self.k.cancel(job.end_handle)
        el = t - job.start_s
        restore = min(el, job.attempt_restore_s)
        c = max(0.0, t - job.compute_start_s)
        cycle = job.ckpt_interval_s + job.ckpt_save_s
        k = math.floor(c / cycle) if cycle > 0 else 0
        saved_compute = k * job.ckpt_interval_s
        rem = c - k * cycle
        lost = _losses((job.restart_cause or "restart", restore), ("checkpoint", k * job.ckpt_save_s), (cause, rem))
        lost_ch = self._account(job, t, saved_compute, lost)
        job.tokens_done = min(job.tokens_total, job.tokens_done + saved_compute * job.tokens_per_s)
        self._record_attempt(job, t, status, cause, lost_ch)
        self._release_job(job)
        job.restart_cause = cause
        self._log("preempt" if status == "preempted" else "job_interrupt", job.sites[0], job.tenant, job.id, job.chips,
                  cause, status)

    def _try_restart(self, job: Job) -> None:
        """Restart at once on spares if the gang fits now; else queue for repairs. A restart goes back to the sites it
        ran on, in the same shares, where they still hold it (its checkpoint is there, and the fleet's layout stays as
        placed: a split job restarting on a whole site another job had just freed stranded that job, leaving a
        quarter of a planned fleet idle); else wherever the placement rule finds room."""
        job.queued_since_s = self.k.now_s
        free = self._startable()
        if job.last_plan and all(free[p] >= m for p, m in job.last_plan):
            plan: list[tuple[int, int]] | None = list(job.last_plan)
        else:
            plan = plan_sites(free, self.pools_of_kind[job.kind], job.n_systems,
                              job.cross_site and self.sc.cross_site.allowed)
        if plan is not None:
            self._start(job, plan, job.borrowed)
        else:
            self._enqueue(job)

    def _record_attempt(self, job: Job, t: float, status: str, cause: str | None, lost_ch: float) -> None:
        self.attempts.append((job.id, job.name, self.tenants[job.tenant].name, job.attempt, job.chips,
                              self._site_label(job), job.submit_s / HOUR_S, job.start_s / HOUR_S, t / HOUR_S, status,
                              cause, job.tokens_done, job.tokens_total, lost_ch, job.tokens_per_s))

    # ================================================================ scheduling
    def _request_pass(self) -> None:
        if self._pass_handle is not None and self.k.active(self._pass_handle):
            return
        t = self.k.now_s
        iv = self.sc.scheduler.interval_s
        at = t if iv <= 0 else max(t, self._last_pass_s + iv)
        self._pass_handle = self.k.schedule_at(at, self._pass, priority=PRIO_LATE)

    def _pass(self) -> None:
        self._schedule_pass()
        self._classify_waits()

    def _accrue_waits(self) -> None:
        t = self.k.now_s
        if t > self._wait_t:
            self.wait_chip_s += self._wait_rate * (t - self._wait_t)
        self._wait_t = t

    def _classify_waits(self) -> None:
        """Accrue queued chip-time so far, then re-read why each queued job waits (module docstring)."""
        self._accrue_waits()
        rate = np.zeros_like(self._wait_rate)
        if self.pending:
            now = self.k.now_s
            st = self._startable()
            svc = [0] * len(self.pools)
            for sv in self.services:
                for p, n in sv.alloc.items():
                    svc[p] += n
            seen: dict[tuple[int, int, bool], int] = {}
            cross_ok = self.sc.cross_site.allowed
            for (tenant, kind, n_sys, cross), chips in self._pending_chips.items():
                key = (kind, n_sys, cross and cross_ok)
                r = seen.get(key)
                if r is None:
                    r = seen[key] = self._wait_reason(key[0], key[1], key[2], st, svc, now)
                rate[tenant, r] += chips
        self._wait_rate = rate

    def _wait_reason(self, kind: int, m: int, cross: bool, st: list[int], svc: list[int], now: float) -> int:
        pools = self.pools_of_kind[kind]

        def most(f: Callable[[int, Pool, bool], int]) -> int:
            vals = [f(p, self.pools[p], self.sites[self.pools[p].site].down_until_s <= now) for p in pools]
            return (sum(vals) if cross else max(vals)) if vals else 0

        if most(lambda p, P, up: P.n_idle + P.n_busy + P.n_failed) < m:
            return WAIT_REASONS.index("supply")
        if most(lambda p, P, up: P.n_idle + P.n_busy + P.n_failed if up else 0) < m:
            return WAIT_REASONS.index("site_outage")  # (an outage fails a site's systems until it ends)
        if most(lambda p, P, up: P.n_idle + P.n_busy if up else 0) < m:
            return WAIT_REASONS.index("repairs")
        if most(lambda p, P, up: P.n_idle if up else 0) < m <= most(lambda p, P, up: P.n_idle + P.n_failed if up else 0):
            # the systems under repair would make up the gang with the idle ones (a restart after a failure
            # waiting for its replacement): repairs, not other gangs, are what it waits for
            return WAIT_REASONS.index("repairs")
        if most(lambda p, P, up: P.n_idle if up else 0) < m:
            # other gangs, if their systems alone would make up the gang; else services hold what it lacks
            if most(lambda p, P, up: P.n_idle + P.n_busy - svc[p] if up else 0) >= m:
                return WAIT_REASONS.index("training")
            return WAIT_REASONS.index("inference")
        if most(lambda p, P, up: st[p]) < m:
            return WAIT_REASONS.index("power")
        return _POLICY

    def _schedule_pass(self) -> None:
        self._pass_handle = None
        self._last_pass_s = self.k.now_s
        if not self.pending:
            return
        jobs = self.jobs
        pending = JobSeq(jobs, self.pending)
        groups = {g: JobSeq(jobs, keys) for g, keys in self.pending_g.items() if keys}
        if self._running_view is None:
            self._running_view = list(self.running.values())
        st = self._startable()
        if not any(st) and not getattr(self.scheduler, "may_preempt", True):
            return  # nothing can start and this policy never preempts: skip building the view
        cap = Capacity(st, self.pools_of_kind, [p.site for p in self.pools],
                       [s.cap_w - s.cap_power_w for s in self.sites], [p.busy_w - p.idle_w for p in self.pools],
                       [p.n_idle if self.sites[p.site].down_until_s <= self.k.now_s else 0 for p in self.pools],
                       self.sc.cross_site.allowed)
        view = FleetView(self.k.now_s, pending, groups, self._running_view, self.tenants, cap)
        decisions = self.scheduler.decide(view)
        for d in decisions:
            job = jobs[d.job_id]
            if isinstance(d, Preempt):
                if job.status == "running":
                    self._interrupt(job, "preempt", "preempted")
                    self._enqueue(job)
            elif isinstance(d, Start):
                if job.status != "queued":
                    continue
                plan = plan_sites(self._startable(), self.pools_of_kind[job.kind], job.n_systems,
                                  job.cross_site and self.sc.cross_site.allowed)
                if plan is None:
                    continue
                key = (job.submit_s, job.id)
                del self.pending[bisect.bisect_left(self.pending, key)]
                gk = (job.tenant, job.kind, job.n_systems, job.cross_site)
                self._pending_chips[gk] -= job.chips
                if not self._pending_chips[gk]:
                    del self._pending_chips[gk]
                g = self.pending_g[(job.tenant, job.kind)]
                del g[bisect.bisect_left(g, (-job.priority, job.submit_s, job.id))]
                self._start(job, plan, d.borrowed)

    # ================================================================ hourly accounting and inference
    def _snapshot(self, t: float) -> None:
        t0 = self.ts_rows[-1][1] if self.ts_rows else 0.0
        if t <= t0 and self.ts_rows:
            return
        self.ts_rows.append((t0, t, self.L.close()))

    def _entitlements(self) -> None:
        installed = float(sum(self.L.level[s.index][self.c_inst] for s in self.sites))
        w = sum(p.busy_w * p.n_delivered for p in self.pools)
        chips = sum(p.cps * p.n_delivered for p in self.pools)
        w_per_chip = w / chips if chips else 1.0
        c = [t.commitment_chips + t.commitment_w / w_per_chip for t in self.tenants]
        tot = sum(c)
        for t, ci in zip(self.tenants, c, strict=True):
            t.entitlement_chips = installed * ci / max(tot, installed) if tot > 0 else installed / len(self.tenants)
            t.committed_chips_nominal = ci  # type: ignore[attr-defined]
        self._commit_now = (tot, installed)

    def commitment_report(self) -> dict[str, Any]:
        """Were the tenants' commitments coverable? Hours in which they exceeded the installed chips (their
        entitlements were scaled down pro rata), the worst cover, and power commitments against the site caps."""
        w_commit = sum(t.commitment_w for t in self.tenants)
        caps = sum(s.cap_w for s in self.sites)
        warnings = []
        if self._oversub_s > 0:
            warnings.append(f"commitments exceeded the installed chips for {self._oversub_s / HOUR_S:,.0f} h of the run "
                            f"(at worst {self._worst_cover:.0%} covered): every tenant's entitlement was scaled down to "
                            "its commitment's share of the installed chips")
        if w_commit > caps:
            warnings.append(f"power commitments total {w_commit / 1e6:,.0f} MW but the sites' caps total "
                            f"{caps / 1e6:,.0f} MW: they cannot all be met")
        return {"committed_power_w": w_commit, "site_caps_w": caps, "hours_oversubscribed": self._oversub_s / HOUR_S,
                "worst_cover": self._worst_cover, "warnings": warnings}

    def _tick(self) -> None:
        t = self.k.now_s
        self._classify_waits()
        if t > 0:
            self._snapshot(t)
            for tn in self.tenants:
                self.committed_chip_s[tn.index] += tn.entitlement_chips * (t - self._last_tick_s)
        self._last_tick_s = t
        if t >= self.horizon_s:
            return
        self._entitlements()
        step = min(self.sc.hourly_s, self.horizon_s - t)
        tot, installed = self._commit_now
        if tot > installed:
            self._oversub_s += step
            self._worst_cover = min(self._worst_cover, installed / tot)
        self.L.open(t, t + step)
        for sv in self.services:
            self._serve(sv, t, step)
        if self.progress is not None:
            self.progress(t, self.horizon_s)
        self.k.schedule_at(t + step, self._tick, priority=PRIO_ACCOUNT)

    def _mean_demand(self, sv: Service, t: float, step: float) -> float:
        """The service's mean demand over [t, t + step): the daily and weekly shape averaged at 10-minute
        points (whatever the accounting step), each spike counted for the part of the step it overlaps."""
        n = max(1, math.ceil(step / 600.0 - 1e-9))
        base = sum(self._demand(sv, t + (i + 0.5) * step / n, spikes=False) for i in range(n)) / n
        # the step cut at every spike's start and end: each piece at the product of the spikes over it (overlapping
        # spikes multiply, as _demand's do; a factor below 1 never makes demand negative)
        end = t + step
        cuts = sorted({t, end, *(x for a, b, _ in sv.spikes for x in (a, b) if t < x < end)})
        mult = 0.0
        for a, b in zip(cuts, cuts[1:], strict=False):
            f = 1.0
            for t0, t1, fac in sv.spikes:
                if t0 <= a and b <= t1:
                    f *= fac
            mult += f * (b - a)
        return base * mult / step

    def _demand(self, sv: Service, t: float, spikes: bool = True) -> float:
        hour = (t / HOUR_S) % 24.0
        weekday = (self.sc.start.toordinal() - 1 + int(t // 86400.0)) % 7  # ordinal 1 (0001-01-01) is a Monday
        base = sv.base_tokens_per_s
        for t0, v in sv.steps:
            if t0 > t:
                break
            base = v
        d = base * sv.growth_per_year ** (t / YEAR_S)
        d *= 1.0 + sv.daily_amplitude * math.cos(2 * math.pi * (hour - sv.peak_hour) / 24.0)
        if weekday >= 5:
            d *= sv.weekend_factor
        if spikes:
            for t0, t1, f in sv.spikes:
                if t0 <= t < t1:
                    d *= f
        return d

    @staticmethod
    def _replicas(sv: Service, cps: int, n: int) -> int:
        """Whole replicas ``n`` systems of ``cps`` chips hold (a replica may span systems of one pool)."""
        return int(n * cps // sv.chips_per_replica)

    def _serve(self, sv: Service, t: float, step: float) -> None:
        demand = self._mean_demand(sv, t, step)
        cpr, tpr = sv.chips_per_replica, sv.tokens_per_s_per_replica
        # full-load power on held systems while reallocating, then set this hour's utilization
        for p, n in sv.alloc.items():
            pool = self.pools[p]
            u = sv.util.get(p, 1.0)
            if n:
                self._power(self.sites[pool.site], t, n * (pool.work_w - pool.idle_w) * (1 - u), sv.tenant,
                            n * (pool.work_w - pool.idle_w) * (1 - u))
            sv.util[p] = 1.0
        # capacity comes in whole replicas, each inside one pool (site)
        need = max(math.ceil(demand * (1 + sv.headroom) / tpr - 1e-9), math.ceil(sv.min_chips / cpr - 1e-9))
        have = {p: sv.alloc.get(p, 0) for p in sv.pools}
        cps = {p: self.pools[p].cps for p in sv.pools}
        reps = {p: self._replicas(sv, cps[p], have[p]) for p in sv.pools}
        held = sum(reps.values())
        if held > need or any(have[p] > math.ceil(reps[p] * cpr / cps[p]) for p in sv.pools):
            # give back whole replicas beyond the need, and systems that hold no whole replica
            excess = max(0, held - need)
            for p in reversed(sv.pools):
                pool = self.pools[p]
                keep = reps[p] - min(excess, reps[p])
                excess -= reps[p] - keep
                drop = have[p] - math.ceil(keep * cpr / cps[p])
                if drop > 0:
                    idx = np.flatnonzero(pool.owner == sv.owner_id)[-drop:]
                    self._release(pool, idx, sv.tenant, pool.work_w)
                    have[p] -= drop
                    reps[p] = keep
            self._request_pass()
        held = sum(reps.values())
        if held < need:
            short = need - held
            st = self._startable()
            can = sum(self._replicas(sv, cps[p], have[p] + st[p]) - reps[p] for p in sv.pools)
            if sv.reclaim and can < short:
                self._reclaim_for(sv, (short - can) * cpr)  # only what startable systems cannot cover
                st = self._startable()
            for p in sorted(sv.pools, key=lambda q: (-st[q], q)):  # most startable site first
                pool = self.pools[p]
                add = min(short, self._replicas(sv, cps[p], have[p] + st[p]) - reps[p])
                take = math.ceil((reps[p] + add) * cpr / cps[p]) - have[p] if add > 0 else 0
                if take > 0:
                    idx = pick_systems(pool, take)
                    self._acquire(pool, idx, sv.owner_id, sv.tenant, pool.work_w)
                    have[p] += take
                    reps[p] = self._replicas(sv, cps[p], have[p])
                    short = need - sum(reps.values())
                if short <= 0:
                    break
                st = self._startable()
        sv.alloc = {p: n for p, n in have.items()}
        cap_tps = sum(reps.values()) * tpr
        served = min(demand, cap_tps)
        util = served / cap_tps if cap_tps > 0 else 0.0
        for p in sv.pools:
            pool = self.pools[p]
            n = have[p]
            if n:
                self._power(self.sites[pool.site], t, -n * (pool.work_w - pool.idle_w) * (1 - util), sv.tenant,
                            -n * (pool.work_w - pool.idle_w) * (1 - util))
            sv.util[p] = util
        sv.extra["step"] = (t + step, demand, util)
        self._service_levels(sv, t, served, demand)
        sv.served_tokens += served * step
        sv.demanded_tokens += demand * step

    def _service_levels(self, sv: Service, t: float, served: float, demand: float) -> None:
        """Set the service's served / demanded levels per site from ``t``, in proportion to its replicas there
        (the demand evenly over its sites while it holds none)."""
        L = self.L
        sites = sorted({self.pools[p].site for p in sv.pools})
        share: dict[int, float] = {s: 0.0 for s in sites}
        reps = {p: self._replicas(sv, self.pools[p].cps, sv.alloc.get(p, 0)) for p in sv.pools}
        total = sum(reps.values())
        for p in sv.pools:
            share[self.pools[p].site] += (reps[p] / total) if total else 1.0 / len(sv.pools)
        prev = sv.extra.get("levels", {})
        for s in sites:
            ps, pd = prev.get(s, (0.0, 0.0))
            ns, nd = served * share[s], demand * share[s]
            L.add(s, t, self.c_tserved[sv.tenant], ns - ps)
            L.add(s, t, self.c_tdemand[sv.tenant], nd - pd)
            prev[s] = (ns, nd)
        sv.extra["levels"] = prev

    def _service_lost(self, sv: Service) -> None:
        """Systems a failure or outage took from ``sv`` mid-step: until the next accounting step re-plans it, its
        remaining replicas serve what they can of the step's demand (at the step's power)."""
        step = sv.extra.get("step")
        t = self.k.now_s
        if step is None or step[0] <= t:
            return
        end, demand, util = step
        # the surviving replicas take up the demand they can (their power stays at the step's level: a replica
        # that was below full use serves more at the same draw, a simplification that keeps the site under its cap)
        cap = sum(self._replicas(sv, self.pools[p].cps, sv.alloc.get(p, 0)) for p in sv.pools) \
            * sv.tokens_per_s_per_replica
        served = min(demand, cap)
        before = sum(v[0] for v in sv.extra.get("levels", {}).values())
        if served < before:
            sv.served_tokens -= (before - served) * (end - t)
            self._service_levels(sv, t, served, demand)

    def _reclaim_for(self, sv: Service, short_chips: float) -> None:
        """Preempt borrowed, preemptible gangs on the service's pools (newest first) to cover a shortfall,
        as far as the service's tenant stays within its entitlement."""
        tn = self.tenants[sv.tenant]
        room = tn.entitlement_chips - tn.usage_chips
        want = min(short_chips, room)
        if want <= 0:
            return
        pools = set(sv.pools)
        victims = sorted((j for j in self.running.values()
                          if j.borrowed and j.preemptible and j.tenant != sv.tenant and pools.intersection(j.placement)),
                         key=lambda j: (-j.start_s, -j.id))
        freed = 0.0
        for v in victims:
            if freed >= want:
                break
            freed += sum(len(ix) * self.pools[p].cps for p, ix in v.placement.items() if p in pools)
            self._interrupt(v, "reclaim", "preempted")
            self._enqueue(v)

    # ================================================================ logging and results
    def _log(self, kind: str, site: int | None, tenant: int | None, job_id: int | None, chips: float,
             cause: str | None, detail: str) -> None:
        self.log.append((self.k.now_s, kind, site, tenant, job_id, chips, cause, detail))

    def _finish(self) -> RunResult:
        from rainier.fleet.outputs import build_result

        t = self.horizon_s
        self.k.now_s = t
        for job in list(self.running.values()):
            c = max(0.0, t - job.compute_start_s)
            cycle = job.ckpt_interval_s + job.ckpt_save_s
            k = math.floor(c / cycle) if cycle > 0 else 0
            done_compute = k * job.ckpt_interval_s + min(c - k * cycle, job.ckpt_interval_s)
            lost = _losses((job.restart_cause or "restart", min(t - job.start_s, job.attempt_restore_s)),
                           ("checkpoint", k * job.ckpt_save_s + max(0.0, c - k * cycle - job.ckpt_interval_s)))
            lost_ch = self._account(job, t, done_compute, lost)
            job.tokens_done = min(job.tokens_total, job.tokens_done + k * job.ckpt_interval_s * job.tokens_per_s)
            self._record_attempt(job, t, "running", None, lost_ch)
        if self.audit is not None:
            for (p, i), (o, t0) in sorted(self._audit_open.items()):
                self.audit.append((p, i, o, t0, t))
        for pool in self.pools:
            pool.check()
        return build_result(self)
