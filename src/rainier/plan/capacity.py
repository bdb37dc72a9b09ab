"""Capacity planning: which chip mix, at which sites, bought when, meets demand at least cost.

A mixed-integer program solved with HiGHS (``scipy.optimize.milp``):

variables   x[c, s, y] >= 0, integer: systems of chip kind c bought at site s at the start of year y
installed   I[c, s, t] = sum of x[c, s, y] for y <= t < y + hardware_life      (retire after life)
objective   min  sum_t sum_{c,s} I[c, s, t] * chips_per_system(c) * cost_per_chip_hour(c, s) * 8760
            (owner's annualized cost, rainier.econ.chip_hour_cost: capex recovery + facility + power + O&M)
subject to  power:   sum_c I[c, s, t] * chips_per_system(c) * facility_w_per_chip(c, s) <= cap(s, t)
            demand:  sum_{c,s} I[c, s, t] * chips_per_system(c) * peak(c) * utilization(c) >= D(t)
            memory:  sum_{c,s} I[c, s, t] * chips_per_system(c) * hbm(c) >= M(t)     (optional)
            launch:  x[c, s, y] = 0 where y < launch_year(c)

Every calendar year from the first to the last demand year is planned and paid for; a year without
a demand figure keeps the latest one before it. Demand is delivered dense FLOP/s (peak x an achievable utilization per chip, default 0.4 MFU), the
quantity a training-heavy tenant buys. Power caps are facility MW per site (from the catalog or given).

Before the solve, a demand no plan can meet is an error naming --demand with the figures: a year
before any candidate chip can be bought, or more FLOP/s than every site at its power cap filled
with the most efficient candidate chip delivers. A solver failure is reported in plain words.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from rainier.catalog.loader import Catalog
from rainier.catalog.schema import Accelerator, Site
from rainier.econ import HOURS_PER_YEAR, chip_hour_cost, power_chain
from rainier.errors import RainierError
from rainier.units import fmt_power

__all__ = ["PlanRow", "PlanResult", "plan_capacity", "WorkloadFit", "workload_utilization", "fmt_ef"]


@dataclass(frozen=True)
class PlanRow:
    year: int
    site: str
    chip: str
    system: str
    systems_bought: int
    systems_installed: int
    chips_installed: int
    facility_power_w: float
    delivered_flops: float
    annual_cost_usd: float
    capex_usd: float = 0.0  # hardware bought this year (systems_bought x the system's capex)


@dataclass(frozen=True)
class PlanResult:
    status: str
    total_cost_usd: float
    years: list[int]
    rows: list[PlanRow] = field(default_factory=list)
    demand_flops: list[float] = field(default_factory=list)
    power_cap_w: dict[str, float] = field(default_factory=dict)
    utilization_by_chip: dict[str, float] = field(default_factory=dict)  # delivered / peak FLOP/s per chip kind

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "total_cost_usd": self.total_cost_usd,
            "years": self.years,
            "demand_flops": self.demand_flops,
            "power_cap_w": self.power_cap_w,
            "utilization_by_chip": self.utilization_by_chip,
            "rows": [r.__dict__ for r in self.rows],
        }

    def frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.rows])


def plan_capacity(cat: Catalog, chips: list[str], sites: list[str], years: list[int], demand_flops: list[float], *,
                  precision: str = "bf16", utilization: float | Mapping[str, float] = 0.4,
                  hbm_bytes: list[float] | None = None, power_cap_w: dict[str, float] | None = None,
                  time_limit_s: float = 20.0) -> PlanResult:
    """Least-cost purchase plan meeting ``demand_flops[i]`` delivered FLOP/s in ``years[i]``.

    ``utilization``: delivered / peak FLOP/s, one figure for every chip or one per chip (keyed by the names
    in ``chips``), e.g. each kind's MFU x goodput on a workload (:func:`workload_utilization`)."""
    if not chips:
        raise RainierError("no chip given", field="--chip", fix="e.g. --chip trn2,trn3,gb200")
    if not sites:
        raise RainierError("no site given", field="--site", fix="e.g. --site new-carlisle,mississippi")
    if len(years) != len(demand_flops) or not years:
        raise RainierError("give one demand per year", field="--demand", fix="e.g. --demand 2026:500EF,2027:1500EF")
    if sorted(years) != years or len(set(years)) != len(years):
        raise RainierError("years must be increasing", field="--demand")
    if not all(math.isfinite(d) for d in demand_flops):
        raise RainierError("demand must be a finite number of FLOP/s", field="--demand",
                           fix="e.g. --demand 2026:500EF,2027:1500EF")
    if any(d < 0 for d in demand_flops):
        raise RainierError("demand must not be negative", field="--demand")
    util_of = _utilizations(chips, utilization)
    if precision not in ("bf16", "fp8", "fp4"):
        raise RainierError(f"unknown precision '{precision}'", field="--precision", fix="use bf16, fp8 or fp4")
    if hbm_bytes is not None:
        if len(hbm_bytes) != len(years):
            raise RainierError(f"give one HBM demand per year ({len(years)} years, got {len(hbm_bytes)})",
                               field="hbm_bytes", fix="pass a list as long as years, in bytes")
        if not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and math.isfinite(b) and b >= 0
                   for b in hbm_bytes):
            raise RainierError(f"every HBM demand must be a finite number of bytes >= 0 (got {list(hbm_bytes)!r})",
                               field="hbm_bytes", fix="pass numbers, e.g. [1e15, 2e15]")
    if power_cap_w is not None and not isinstance(power_cap_w, dict):
        raise RainierError(f"must map site names to watts (got {type(power_cap_w).__name__})", field="power_cap_w",
                           fix="e.g. {'mississippi': 300e6}")
    for name, w in (power_cap_w or {}).items():
        if not (isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w) and w > 0):
            raise RainierError(f"power cap of '{name}' must be a positive, finite number of watts (got {w!r})",
                               field="power_cap_w", fix="give watts, e.g. 300e6 for 300 MW, or leave the site out")
    # Every calendar year from the first to the last is planned (and paid for); a year without a
    # demand figure keeps the latest one given before it.
    given = dict(zip(years, demand_flops, strict=True))
    given_hbm = dict(zip(years, hbm_bytes, strict=True)) if hbm_bytes is not None else None
    years = list(range(years[0], years[-1] + 1))
    demand_flops = [given[max(y for y in given if y <= t)] for t in years]
    if given_hbm is not None:
        hbm_bytes = [given_hbm[max(y for y in given_hbm if y <= t)] for t in years]
    econ = cat.economics()
    accs = [cat.accelerator(c) for c in chips]
    for a in accs:
        if precision != "bf16" and precision not in a.peak_tflops:
            raise RainierError(f"'{a.name}' has no {precision} rate in the catalog", field="--precision",
                               fix=f"use bf16, or drop {a.name} from --chip")
    systems = [cat.system_for(a) for a in accs]
    site_objs = [cat.site(s, "--site") for s in sites]
    seen: set[str] = set()
    for site_obj in site_objs:
        if site_obj.name in seen:  # one power cap per site: a second entry would double it
            raise RainierError(f"site '{site_obj.name}' is listed twice", field="--site", fix="list each site once")
        seen.add(site_obj.name)
    unknown = sorted(set(power_cap_w or {}) - seen)
    if unknown:
        raise RainierError(f"power cap given for '{unknown[0]}', which is not among the planned sites",
                           field="power_cap_w", fix=f"key it by a planned site: {', '.join(sorted(seen))}")
    caps = {s.name: (power_cap_w or {}).get(s.name, s.power_mw * 1e6) for s in site_objs}
    life = int(round(econ.hardware_life_years))
    nc, ns, ny = len(accs), len(site_objs), len(years)
    idx = lambda c, s, y: (c * ns + s) * ny + y  # noqa: E731
    nvar = nc * ns * ny

    # Per (chip, site) constants.
    fac_w = np.zeros((nc, ns))
    cost_h = np.zeros((nc, ns))
    for c, (a, sy) in enumerate(zip(accs, systems, strict=True)):
        for s, site in enumerate(site_objs):
            fac_w[c, s] = power_chain(a, sy, econ, site=site).facility_w
            cost_h[c, s] = chip_hour_cost(a, sy, econ, site=site).total_usd
    cps = np.array([sy.chips for sy in systems], dtype=float)
    capex_chip = [chip_hour_cost(a, sy, econ).capex_per_chip_usd for a, sy in zip(accs, systems, strict=True)]
    flops = np.array([a.peak_flops(precision) * util_of[name] for name, a in zip(chips, accs, strict=True)])
    hbm = np.array([a.hbm_bytes for a in accs])

    def active(y_buy: int, t: int) -> bool:
        return years[y_buy] <= years[t] < years[y_buy] + life

    # Demands no plan can meet, told in the user's terms before HiGHS sees them.
    util_text = (f"{utilization:.0%} of {precision} peak" if not isinstance(utilization, Mapping) else
                 "their utilization (" + ", ".join(f"{a.name} {util_of[n]:.1%}" for n, a in zip(chips, accs, strict=True))
                 + f" of {precision} peak)")
    _check_reachable(cat, accs, site_objs, caps, years, demand_flops, flops, fac_w, util_text)
    # Any positive demand needs at least one system: raise a tiny demand to the smallest system's
    # output so that HiGHS's absolute tolerance cannot satisfy it with nothing installed.
    need_flops = list(demand_flops)
    for t in range(ny):
        if 0 < need_flops[t]:
            avail = [cps[c] * flops[c] for c, a in enumerate(accs) if a.launch_year <= years[t]]
            need_flops[t] = max(need_flops[t], min(avail))

    # Objective: every installed year costs a year of owner cost.
    cobj = np.zeros(nvar)
    for c in range(nc):
        for s in range(ns):
            for y in range(ny):
                n_active = sum(active(y, t) for t in range(ny))
                cobj[idx(c, s, y)] = n_active * cps[c] * cost_h[c, s] * HOURS_PER_YEAR
    rows_a, lo, hi = [], [], []
    for t in range(ny):
        for s in range(ns):  # power cap per site and year
            row = np.zeros(nvar)
            for c in range(nc):
                for y in range(ny):
                    if active(y, t):
                        row[idx(c, s, y)] = cps[c] * fac_w[c, s]
            rows_a.append(row)
            lo.append(-np.inf)
            hi.append(caps[site_objs[s].name])
        row = np.zeros(nvar)  # delivered FLOP/s
        for c in range(nc):
            for s in range(ns):
                for y in range(ny):
                    if active(y, t):
                        row[idx(c, s, y)] = cps[c] * flops[c]
        rows_a.append(row)
        lo.append(need_flops[t])
        hi.append(np.inf)
        if hbm_bytes is not None:
            row = np.zeros(nvar)
            for c in range(nc):
                for s in range(ns):
                    for y in range(ny):
                        if active(y, t):
                            row[idx(c, s, y)] = cps[c] * hbm[c]
            rows_a.append(row)
            lo.append(hbm_bytes[t])
            hi.append(np.inf)
    ub = np.full(nvar, np.inf)
    for c, a in enumerate(accs):
        for s in range(ns):
            for y in range(ny):
                if years[y] < a.launch_year:
                    ub[idx(c, s, y)] = 0.0
    # Solve in planner units (MW, EFLOP/s, PB) so HiGHS's absolute tolerances (1e-7) are negligible.
    A = np.array(rows_a)
    scale = np.array([1e6 if np.isinf(lo_) else 1e18 for lo_ in lo])  # power rows have no lower bound
    if hbm_bytes is not None:
        per_year = ns + 2
        for t in range(ny):
            scale[t * per_year + ns + 1] = 1e15
    A = A / scale[:, None]
    res = milp(
        c=cobj / max(cobj.max(), 1.0),
        constraints=LinearConstraint(A, np.array(lo) / scale, np.array(hi) / scale),
        integrality=np.ones(nvar),
        bounds=Bounds(np.zeros(nvar), ub),
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-4},
    )
    if res.x is None:
        need = max(demand_flops)
        if res.status == 1:
            raise RainierError(
                f"the planner found no plan within its {time_limit_s:g} s time limit "
                f"({nc} chips x {ns} sites x {ny} years)", field="--demand",
                fix="plan fewer years, or give fewer chips or sites",
            )
        if res.status == 2:
            raise RainierError(
                f"no plan of whole systems meets the demand within the site power caps "
                f"(peak demand {fmt_ef(need)} EF/s delivered; hardware keeps its power until it retires)",
                field="--demand", fix="add sites or power, allow newer chips, or lower the demand",
            )
        raise RainierError(
            f"the planner could not solve this plan (peak demand {fmt_ef(need)} EF/s delivered)", field="--demand",
            fix="check the demand figures (a bare number is EF/s), --utilization and the site power caps",
        )
    x = np.round(res.x).astype(int)
    rows: list[PlanRow] = []
    for t in range(ny):
        for s, site in enumerate(site_objs):
            for c, a in enumerate(accs):
                inst = sum(int(x[idx(c, s, y)]) for y in range(ny) if active(y, t))
                bought = int(x[idx(c, s, t)])
                if inst == 0 and bought == 0:
                    continue
                n = inst * int(cps[c])
                rows.append(PlanRow(year=years[t], site=site.name, chip=a.name, system=systems[c].name,
                                    systems_bought=bought, systems_installed=inst, chips_installed=n,
                                    facility_power_w=n * fac_w[c, s], delivered_flops=n * flops[c],
                                    annual_cost_usd=n * cost_h[c, s] * HOURS_PER_YEAR,
                                    capex_usd=bought * int(cps[c]) * capex_chip[c]))
    for t in range(ny):
        got = sum(r.delivered_flops for r in rows if r.year == years[t])
        if got < demand_flops[t] * (1 - 1e-6):
            raise RainierError(
                f"the planner's answer falls short of the {years[t]} demand ({fmt_ef(got)} of {fmt_ef(demand_flops[t])} "
                f"EF/s delivered)", field="--demand",
                fix="check the demand figures (a bare number is EF/s) and --utilization",
            )
    total = float(cobj @ x)
    status = "optimal" if res.status == 0 else "feasible (time limit)"
    if not math.isfinite(total):
        raise RainierError("planner returned a non-finite cost", field="--demand")
    return PlanResult(status=status, total_cost_usd=total, years=list(years), rows=rows,
                      demand_flops=list(demand_flops), power_cap_w=caps,
                      utilization_by_chip={a.name: util_of[n] for n, a in zip(chips, accs, strict=True)})


@dataclass(frozen=True)
class WorkloadFit:
    """What one chip kind delivers on the planned workload: utilization = MFU x goodput (None: cannot run it)."""

    chip: str
    chips: int
    mfu: float | None
    goodput: float | None
    utilization: float | None
    parallelism: dict[str, object] | None
    error: str | None = None


def workload_utilization(cat: Catalog, chips: list[str], model: str, *, seq: int, global_batch: int, job_chips: int,
                         precision: str = "bf16", goodput: bool = True) -> list[WorkloadFit]:
    """Each chip kind's delivered share of peak on one training job of ``model`` on ``job_chips`` chips: the
    training estimator's MFU (its parallelism search included) times, with ``goodput``, the share of wall time
    that trains under failures and checkpoints. A kind that cannot run the job keeps its error."""
    from rainier.plan.compare import compare_training

    cmp = compare_training(model, chips, seq=seq, global_batch=global_batch, chips=job_chips, precision=precision,
                           catalog=cat)
    out = []
    for r in cmp.rows:
        if r.result is None:
            out.append(WorkloadFit(r.chip, r.chips, None, None, None, None, r.error))
            continue
        g = float(r.result.goodput["fraction"]) if goodput and r.result.goodput else 1.0
        out.append(WorkloadFit(r.chip, r.chips, r.result.mfu, g, r.result.mfu * g, dict(r.result.parallelism)))
    return out


def _utilizations(chips: list[str], utilization: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(utilization, Mapping):
        missing = [c for c in chips if c not in utilization]
        if missing:
            raise RainierError(f"no utilization for {missing[0]}", field="--utilization",
                               fix="give one figure per chip in --chip, or one for all")
        out = dict(utilization)
    else:
        out = dict.fromkeys(chips, utilization)
    for c, u in out.items():
        if not (isinstance(u, numbers.Real) and not isinstance(u, bool) and 0 < u <= 1):
            raise RainierError(f"utilization of {c} must be in (0, 1] (got {u!r})", field="--utilization",
                               fix="a fraction of peak, e.g. 0.4")
    return out


def fmt_ef(flops: float) -> str:
    """FLOP/s as EF/s for a message: '1,500', '0.25' or '1e+20'."""
    ef = flops / 1e18
    return f"{ef:,.0f}" if 100 <= ef < 1e9 else f"{ef:.3g}"


def _check_reachable(cat: Catalog, accs: list[Accelerator], site_objs: list[Site], caps: dict[str, float], years: list[int],
                     demand_flops: list[float], flops: np.ndarray, fac_w: np.ndarray, util_text: str) -> None:
    """Raise for a year whose demand no plan can meet: no candidate chip yet, or beyond every site's cap."""
    first = min(a.launch_year for a in accs)
    known = [a for a in cat.list("accelerators") if isinstance(a, Accelerator)]
    for t, year in enumerate(years):
        if demand_flops[t] <= 0:
            continue
        avail = [c for c, a in enumerate(accs) if a.launch_year <= year]
        if not avail:
            launches = ", ".join(f"{a.name} from {a.launch_year}" for a in sorted(accs, key=lambda a: a.launch_year))
            older = sorted((a for a in known if a.launch_year <= year), key=lambda a: -a.launch_year)
            fix = f"plan years from {first} on"
            if older:
                fix += f", or add a chip sold by {year} to --chip (e.g. {', '.join(a.name for a in older[:3])})"
            else:
                fix += f" (the catalog's earliest chip is from {min(a.launch_year for a in known)})"
            raise RainierError(
                f"{year} asks for {fmt_ef(demand_flops[t])} EF/s but no candidate chip can be bought by then "
                f"({launches})", field="--demand", fix=fix,
            )
        # Upper bound (LP relaxation): every site at its cap, filled with its most FLOP/s-per-watt chip.
        best: dict[str, int] = {}
        most = 0.0
        for s_i, s in enumerate(site_objs):
            per_w = [flops[c] / fac_w[c, s_i] for c in avail]
            k = int(np.argmax(per_w))
            best[s.name] = avail[k]
            most += caps[s.name] * per_w[k]
        if demand_flops[t] > most * (1 + 1e-9):
            sites = ", ".join(f"{s.name} {fmt_power(caps[s.name])}" for s in site_objs)
            chips = sorted({accs[c].name for c in best.values()})
            raise RainierError(
                f"{year} asks for {fmt_ef(demand_flops[t])} EF/s delivered, but even every site at its power cap "
                f"({sites}) filled with {' and '.join(chips)} at {util_text} delivers at "
                f"most {fmt_ef(most)} EF/s", field="--demand",
                fix="lower the demand (a bare number is EF/s), or add sites or power",
            )
