"""Capacity planning: which chip mix, at which sites, bought when, meets demand at least cost.

A mixed-integer program solved with HiGHS (``scipy.optimize.milp``):

variables   x[c, s, y] >= 0, integer: systems of chip kind c bought at site s at the start of year y
installed   I[c, s, t] = sum of x[c, s, y] for y <= t < y + hardware_life      (retire after life)
objective   min  sum_t sum_{c,s} I[c, s, t] * chips_per_system(c) * cost_per_chip_hour(c, s) * 8760
            (owner's annualized cost, rainier.econ.chip_hour_cost: capex recovery + facility + power + O&M)
subject to  power:   sum_c I[c, s, t] * chips_per_system(c) * facility_w_per_chip(c, s) <= cap(s, t)
            demand:  sum_{c,s} I[c, s, t] * chips_per_system(c) * peak(c) * utilization(c) >= D(t)
            memory:  sum_{c,s} I[c, s, t] * chips_per_system(c) * hbm(c) >= M(t)     (optional)
            supply:  sum_s x[c, s, y] * chips_per_system(c) <= S(c, y)                (optional)
            launch:  x[c, s, y] = 0 where y < launch_year(c)

Whole jobs (``job_chips``) buy blocks instead of systems: one job's systems (and its spares) of one kind at one
site. With ``job_sites`` = k > 1 a block may also be split evenly over exactly k of the sites (at each the systems
for job_chips / k chips and its share of the spares; x[c, P, y] for every set P of k sites): each site's share of
its chips and power counts against that site, and the job delivers at ``split_utilization`` (its MFU x goodput
across the sites, below the one-site figure).

A site's cap in a year is its build-out ramp (catalog ``power_mw_by_year``; none before the site is online)
unless ``power_cap_w`` overrides it: one figure for every year, or ``{year: W}`` from that year on. Supply
``S(c, y)`` is the chips of kind c that can be bought in year y over all sites (fabs, packaging, the vendor's
allocation), one figure or ``{year: chips}`` from that year on; without one a kind's supply is unlimited.

Marginal values (the LP relaxation re-solved with one bound moved: 1 MW, 1 EF/s, 1,000 chips): what one
more MW at a site from a year on, one more chip of supply, or one more EF/s of demand would change the plan's
total cost. They say which constraint binds (power, not chips, is the usual answer) and what relaxing it is
worth; being the relaxation's rates they ignore one system's rounding. Re-solving rather than reading the
duals: a degenerate optimum (flat demand, a limit of 0) makes a dual 0 or either side's slope.

Every calendar year from the first to the last demand year is planned and paid for; a year without
a demand figure keeps the latest one before it. Demand is delivered dense FLOP/s (peak x an achievable utilization per chip, default 0.4 MFU), the
quantity a training-heavy tenant buys. Power caps are facility MW per site (from the catalog or given).

Before the solve, a demand no plan can meet is an error naming --demand with the figures: a year
before any candidate chip can be bought, or more FLOP/s than every site at its power cap filled
with the most efficient candidate chip delivers. A solver failure is reported in plain words.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from rainier.catalog.loader import Catalog
from rainier.catalog.schema import Accelerator, Site
from rainier.econ import HOURS_PER_YEAR, chip_hour_cost, power_chain
from rainier.errors import RainierError
from rainier.units import fmt_count, fmt_power

SPLIT_PENALTY = 1e-3  # relative, on split job blocks in the solver's objective only: one site wins cost ties

__all__ = ["PlanRow", "PlanResult", "plan_capacity", "WorkloadFit", "workload_utilization", "ServingFit", "serving_rates",
           "fmt_ef", "check_job_sites"]


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
    jobs: int | None = None  # with job_chips: whole jobs these chips run (delivered_flops counts only them)
    use: str = "training"  # "training" (delivers FLOP/s) or "serving" (serves the serving demand's tokens/s)
    served_tokens_per_s: float | None = None  # serving rows: output tokens/s these chips serve (None: training)
    spare_systems: int = 0  # with job spares: the installed systems held as spares (in systems_installed)
    # a job block split over several sites (``job_sites``): the sites its jobs span, each row holding this site's
    # share of the block; ``jobs`` then counts the spanning jobs in every row of the span (None: one site)
    spans: tuple[str, ...] | None = None

    @property
    def placement(self) -> tuple[str, ...]:
        """The sites this row's jobs run at: its spans, or its own site."""
        return self.spans or (self.site,)


@dataclass(frozen=True)
class PlanResult:
    status: str
    total_cost_usd: float
    years: list[int]
    rows: list[PlanRow] = field(default_factory=list)
    demand_flops: list[float] = field(default_factory=list)
    power_cap_w: dict[str, float] = field(default_factory=dict)
    utilization_by_chip: dict[str, float] = field(default_factory=dict)  # delivered / peak FLOP/s per chip kind
    power_cap_w_by_year: dict[str, dict[int, float]] = field(default_factory=dict)  # site -> year -> W
    supply_chips_by_year: dict[str, dict[int, float]] = field(default_factory=dict)  # chip -> year -> chips (limited only)
    # LP relaxation, $ of total plan cost: saved per MW more of a site's cap from a year on (>= 0), per chip more
    # of a kind's supply in a year (>= 0); added per EF/s more demand in a year (None: cannot be delivered)
    power_value_usd_per_mw: dict[str, dict[int, float]] = field(default_factory=dict)
    supply_value_usd_per_chip: dict[str, dict[int, float]] = field(default_factory=dict)
    demand_cost_usd_per_ef_s: dict[int, float | None] = field(default_factory=dict)
    job_chips: int | None = None  # the demand was met by whole jobs of this many chips (None: FLOP/s only)
    spare_systems_per_job: dict[str, int] = field(default_factory=dict)  # with job_chips: spares bought per job block
    serve_tokens_per_s: list[float] = field(default_factory=list)  # per year: output tokens/s to serve (or empty)
    serve_rate_by_chip: dict[str, float] = field(default_factory=dict)  # output tokens/s per chip serving
    serve_cost_usd_per_mtok_s: dict[int, float | None] = field(default_factory=dict)  # LP: 1M tok/s more costs
    job_sites: int = 1  # a job may run at one site or span exactly this many (its block split evenly over them)
    cross_site_gbps: float | None = None  # with job_sites > 1: the link between sites the spanning jobs' rates assume
    split_utilization_by_chip: dict[str, float] = field(default_factory=dict)  # delivered / peak of a spanning job

    def jobs_in(self, year: int) -> int:
        """Whole jobs running in ``year`` (a job spanning sites once, though each site's row lists it)."""
        return sum(r.jobs or 0 for r in self.rows
                   if r.year == year and r.use == "training" and r.site == r.placement[0])

    def binding(self) -> list[str]:
        """Plain lines naming each binding power cap and supply limit with its marginal value."""
        from rainier.units import fmt_count, fmt_money

        out = []
        for site, by in self.power_value_usd_per_mw.items():
            for y, v in sorted(by.items()):
                cap = self.power_cap_w_by_year[site][y]
                used = sum(r.facility_power_w for r in self.rows if r.site == site and r.year == y)
                if v > 0 and cap > 0 and used >= 0.99 * cap:  # this year's cap is (all but) used up
                    out.append(f"{y} {site}: power cap {fmt_power(cap)} binds ({used / cap:.1%} used); "
                               f"1 MW more from {y} on saves {fmt_money(v)}")
        for chip, by in self.supply_value_usd_per_chip.items():
            for y, v in sorted(by.items()):
                if v > 0 and self.supply_chips_by_year[chip][y] > 0:
                    out.append(f"{y} {chip}: supply of {fmt_count(self.supply_chips_by_year[chip][y])} chips binds; "
                               f"1,000 chips more save {fmt_money(1000 * v)}")
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "total_cost_usd": self.total_cost_usd,
            "years": self.years,
            "demand_flops": self.demand_flops,
            "power_cap_w": self.power_cap_w,
            "power_cap_w_by_year": self.power_cap_w_by_year,
            "supply_chips_by_year": self.supply_chips_by_year,
            "utilization_by_chip": self.utilization_by_chip,
            "job_chips": self.job_chips,
            "spare_systems_per_job": self.spare_systems_per_job,
            "job_sites": self.job_sites,
            "cross_site_gbps": self.cross_site_gbps,
            "split_utilization_by_chip": self.split_utilization_by_chip,
            "serve_tokens_per_s": self.serve_tokens_per_s,
            "serve_rate_by_chip": self.serve_rate_by_chip,
            "marginal": {"method": "LP relaxation re-solved with the bound moved (1 MW, 1 EF/s, 1,000 chips, 1M tokens/s), "
                                   "$ of total plan cost per unit",
                         "power_usd_per_mw": self.power_value_usd_per_mw,
                         "supply_usd_per_chip": self.supply_value_usd_per_chip,
                         "demand_usd_per_ef_s": self.demand_cost_usd_per_ef_s,
                         "serve_usd_per_mtok_s": self.serve_cost_usd_per_mtok_s},
            "binding": self.binding(),
            "rows": [r.__dict__ for r in self.rows],
        }

    def frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.rows])


def _real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _by_year(value: float | Mapping[int, float], years: list[int], base: list[float], what: str, fix: str) -> list[float]:
    """One figure for every year, or ``{year: figure}`` holding from that year to the next given (``base``
    before the first). Checked: finite and >= 0 (a cap of 0 closes a site for that year)."""
    if isinstance(value, Mapping):
        for y, v in value.items():
            if not (isinstance(y, numbers.Integral) and not isinstance(y, bool) and 1900 < int(y) < 2200):
                raise RainierError(f"{what}: {y!r} is not a calendar year", field=what.split()[0], fix=fix)
            if not (_real(v) and float(v) >= 0):
                raise RainierError(f"{what} in {y} must be a finite number >= 0 (got {v!r})", field=what.split()[0],
                                   fix=fix)
        given = sorted(value)
        return [float(value[max(g for g in given if g <= t)]) if given[0] <= t else b for t, b in zip(years, base, strict=True)]
    if not (_real(value) and float(value) >= 0):
        raise RainierError(f"{what} must be a finite number >= 0 (got {value!r})", field=what.split()[0], fix=fix)
    return [float(value)] * len(years)


def plan_capacity(cat: Catalog, chips: list[str], sites: list[str], years: list[int], demand_flops: list[float], *,
                  precision: str = "bf16", utilization: float | Mapping[str, float] = 0.4,
                  hbm_bytes: list[float] | None = None,
                  power_cap_w: Mapping[str, float | Mapping[int, float]] | None = None,
                  supply_chips: Mapping[str, float | Mapping[int, float]] | None = None,
                  job_chips: int | None = None, job_spares: float | str = 0.0,
                  serve_tokens_per_s: list[float] | None = None,
                  serve_rate: Mapping[str, float] | None = None, serve_replica_chips: Mapping[str, int] | None = None,
                  job_sites: int = 1,
                  split_utilization: float | Mapping[str, float] | None = None,
                  cross_site_gbps: float | None = None, time_limit_s: float = 20.0) -> PlanResult:
    """Least-cost purchase plan meeting ``demand_flops[i]`` delivered FLOP/s in ``years[i]``.

    ``utilization``: delivered / peak FLOP/s, one figure for every chip or one per chip (keyed by the names
    in ``chips``), e.g. each kind's MFU x goodput on a workload (:func:`workload_utilization`).
    ``power_cap_w``: per site, watts for every year or ``{year: W}`` from that year on (default: the catalog
    site's build-out ramp). ``supply_chips``: per chip (a name in ``chips``), the chips that can be bought in a
    year over all sites, one figure or ``{year: chips}`` from that year on (default: unlimited).
    ``job_chips``: the demand is met by whole jobs of that many chips, each on whole systems of one kind at one
    site, bought together (a job's block: ``ceil(job_chips / chips per system)`` systems, the few chips past the
    job idle; a job smaller than a system shares it: ``floor(chips per system / job_chips)`` jobs per system).
    Only the jobs' chips deliver (the utilization is then the workload's on ``job_chips`` chips), and the plan
    buys blocks, so it is no larger a problem than a FLOP/s plan. None: every chip delivers (FLOP/s only, any
    job size). ``job_spares``: with ``job_chips``, spare systems bought with each job's block, as a fraction of its
    systems rounded up (0.05: one spare per 20 systems, at least one): they stand in for failed systems while
    those are repaired, drawing power and costing as the rest; ``"auto"``: per kind, the fewest spares
    (:func:`spares_for`) that leave a job short of systems under 1% of the time, from the fleet's default failure
    causes and repair times.
    ``serve_tokens_per_s`` (one figure per year, as ``demand_flops``) with ``serve_rate`` (output tokens/s per chip
    for each kind in ``chips`` that can serve; e.g. :func:`serving_rates`): a serving demand met by chips bought
    for it (whole systems, apart from the training chips; they share the sites' power and the supply). A
    ``demand_flops`` of 0 in every year plans serving alone.
    ``job_sites`` (with ``job_chips``): a job may also span exactly that many of the sites (a job of at least that
    many systems), its block split evenly over them: at each site the systems for ``job_chips / job_sites`` chips and
    ``ceil(spares / job_sites)`` spares; it delivers at ``split_utilization``
    (delivered / peak of the job across the sites, one figure or one per chip; a kind missing from it, or at 0,
    cannot span), e.g. :func:`workload_utilization` with ``sites`` and ``cross_site_gbps``: a job larger than any
    one site's power, or one that fits only the sites' leftovers, is then planned across them, at the link's cost in
    speed. ``cross_site_gbps`` is recorded with the result (the link those rates assume)."""
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
    if (serve_tokens_per_s is None) != (serve_rate is None):
        raise RainierError("a serving demand needs each chip's serving rate, and the other way round",
                           field="--serve-demand", fix="give both serve_tokens_per_s and serve_rate, or neither")
    if serve_tokens_per_s is not None and serve_rate is not None:
        if len(serve_tokens_per_s) != len(years):
            raise RainierError(f"give one serving demand per year ({len(years)} years, got {len(serve_tokens_per_s)})",
                               field="--serve-demand", fix="pass a list as long as years, in output tokens/s")
        if not all(_real(v) and 0 <= float(v) < math.inf for v in serve_tokens_per_s):
            raise RainierError(f"every serving demand must be a finite number of tokens/s >= 0 "
                               f"(got {list(serve_tokens_per_s)!r})", field="--serve-demand", fix="e.g. 2026:50Mtok/s")
        bad = sorted(set(serve_rate) - set(chips))
        if bad:
            raise RainierError(f"serving rate given for '{bad[0]}', which is not among the candidate chips",
                               field="--serve", fix=f"key it by a chip in --chip: {', '.join(chips)}")
        for c_name, c_rate in serve_rate.items():
            if not (_real(c_rate) and 0 <= float(c_rate) < math.inf):
                raise RainierError(f"serving rate of {c_name} must be a finite number of tokens/s per chip >= 0 "
                                   f"(got {c_rate!r})", field="--serve", fix="e.g. 1200.0")
        if not any(float(v) > 0 for v in serve_rate.values()) and any(float(v) > 0 for v in serve_tokens_per_s):
            raise RainierError("no candidate chip can serve the serving demand", field="--serve",
                               fix="add a chip that can serve the model to --chip")
    if job_chips is not None and not (isinstance(job_chips, numbers.Integral) and not isinstance(job_chips, bool)
                                      and job_chips >= 1):
        raise RainierError(f"chips per job must be a whole number >= 1 (got {job_chips!r})", field="--job-chips",
                           fix="e.g. --job-chips 16384")
    if job_spares != "auto" and not (_real(job_spares) and 0 <= float(job_spares) <= 1):
        raise RainierError(f"spares must be a fraction of a job's systems from 0 to 1 (got {job_spares!r})",
                           field="--spares", fix="e.g. --spares 5% (one spare system per 20, at least one)")
    if job_spares and job_chips is None:
        raise RainierError("spares are per job: they need whole jobs", field="--spares",
                           fix="plan with --workload (whole jobs, not --no-whole-jobs), or drop --spares")
    check_job_sites(job_sites, job_chips, len(sites), cross_site_gbps)
    if job_sites > 1:
        if split_utilization is None:
            raise RainierError("jobs across sites need their utilization there", field="--job-sites",
                               fix="pass split_utilization (e.g. workload_utilization(..., sites=2, cross_site_gbps=X))")
    split_of: dict[str, float] = {}
    if job_sites > 1 and split_utilization is not None:
        given_split = split_utilization if isinstance(split_utilization, Mapping) else dict.fromkeys(chips, split_utilization)
        for c_name, u in given_split.items():
            if c_name not in chips:
                raise RainierError(f"split utilization given for '{c_name}', which is not among the candidate chips",
                                   field="--job-sites", fix="key it by a chip in --chip")
            if not (_real(u) and 0 <= float(u) <= 1):
                raise RainierError(f"utilization of {c_name} across sites must be in [0, 1] (got {u!r})",
                                   field="--job-sites", fix="give delivered / peak of a job across the sites, e.g. 0.3")
            if float(u) > 0:  # missing or 0: that kind cannot span
                split_of[c_name] = float(u)
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
    for arg, name in ((power_cap_w, "power_cap_w"), (supply_chips, "supply_chips")):
        if arg is not None and not isinstance(arg, Mapping):
            raise RainierError(f"must map {'site' if name == 'power_cap_w' else 'chip'} names to figures "
                               f"(got {type(arg).__name__})", field=name,
                               fix="e.g. {'mississippi': 300e6}" if name == "power_cap_w" else "e.g. {'trn3': 300_000}")
    for name, w in (power_cap_w or {}).items():
        if not isinstance(w, Mapping) and not (_real(w) and float(w) >= 0):
            raise RainierError(f"power cap of '{name}' must be a finite number of watts >= 0 (got {w!r})",
                               field="power_cap_w", fix="give watts, e.g. 300e6 for 300 MW (0 closes the site), "
                                                        "or leave the site out")
    unknown_chips = sorted(set(supply_chips or {}) - set(chips))
    if unknown_chips:
        raise RainierError(f"supply given for '{unknown_chips[0]}', which is not among the candidate chips",
                           field="--supply", fix=f"key it by a chip in --chip: {', '.join(chips)}")
    # Every calendar year from the first to the last is planned (and paid for); a year without a
    # demand figure keeps the latest one given before it.
    given = dict(zip(years, demand_flops, strict=True))
    given_hbm = dict(zip(years, hbm_bytes, strict=True)) if hbm_bytes is not None else None
    given_serve = dict(zip(years, serve_tokens_per_s, strict=True)) if serve_tokens_per_s is not None else None
    years = list(range(years[0], years[-1] + 1))
    demand_flops = [given[max(y for y in given if y <= t)] for t in years]
    if given_hbm is not None:
        hbm_bytes = [given_hbm[max(y for y in given_hbm if y <= t)] for t in years]
    serve_need = [0.0] * len(years) if given_serve is None else \
        [float(given_serve[max(y for y in given_serve if y <= t)]) for t in years]
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
    cap_fix = "give watts, e.g. 300e6 for 300 MW, or {2027: 1e9} from 2027 on"
    cap_ty = {s.name: _by_year((power_cap_w or {})[s.name], years, [s.power_w_in(y) for y in years],
                               f"power_cap_w of '{s.name}'", cap_fix) if s.name in (power_cap_w or {})
              else [s.power_w_in(y) for y in years] for s in site_objs}
    caps = {name: max(v) for name, v in cap_ty.items()}
    supply_ty = {c: _by_year(v, years, [math.inf] * len(years), f"--supply of '{c}'", "chips per year, e.g. trn3:300k")
                 for c, v in (supply_chips or {}).items()}
    life = int(round(econ.hardware_life_years))
    nc, ns, ny = len(accs), len(site_objs), len(years)
    # Variables: systems (or job blocks) bought per (use, chip, placement, year); use 0 trains, use 1 serves. A
    # placement is one site, or (job_sites > 1, training blocks only) a set of job_sites sites a block is split over.
    n_use = 2 if serve_rate is not None else 1
    places: list[tuple[int, ...]] = [(s_,) for s_ in range(ns)]
    if job_sites > 1:
        places += list(itertools.combinations(range(ns), job_sites))
    npl = len(places)
    n_one = nc * npl * ny
    vidx = lambda u, c, p, y: u * n_one + (c * npl + p) * ny + y  # noqa: E731
    nvar = n_use * n_one

    # Per (chip, site) constants.
    fac_w = np.zeros((nc, ns))
    cost_h = np.zeros((nc, ns))
    for c, (a, sy) in enumerate(zip(accs, systems, strict=True)):
        for s, site in enumerate(site_objs):
            fac_w[c, s] = power_chain(a, sy, econ, site=site).facility_w
            cost_h[c, s] = chip_hour_cost(a, sy, econ, site=site).total_usd
    cps = np.array([sy.chips for sy in systems], dtype=float)
    sys_chips = cps.copy()
    rate = np.array([float((serve_rate or {}).get(name, 0.0)) for name in chips])  # tokens/s per chip
    # Serving is bought in blocks of whole replicas: a replica of r chips takes ceil(r / system chips) systems
    # (the rest of the last one idle), or one system runs floor(system chips / r) of them. ``rate`` becomes the
    # block's tokens/s per chip it holds (idle chips draw power and cost, as a job block's).
    serve_sys = np.ones(nc, dtype=int)
    for c, name in enumerate(chips):
        r_chips = int((serve_replica_chips or {}).get(name) or 0)
        if r_chips > 0 and rate[c] > 0:
            serve_sys[c] = max(1, math.ceil(r_chips / sys_chips[c]))
            per_block = (serve_sys[c] * sys_chips[c] // r_chips) * r_chips
            rate[c] *= per_block / (serve_sys[c] * sys_chips[c])
    capex_chip = [chip_hour_cost(a, sy, econ).capex_per_chip_usd for a, sy in zip(accs, systems, strict=True)]
    flops = np.array([a.peak_flops(precision) * util_of[name] for name, a in zip(chips, accs, strict=True)])
    # With whole jobs a variable buys one block: a job's systems (sys_per_unit of them, the last one partly idle),
    # or for a job smaller than a system one system running jobs_per_unit of them. Its chips deliver on average
    # (jobs x job_chips) / (block chips) of their FLOP/s: the idle ones still draw power and cost.
    sys_per_unit = np.ones(nc, dtype=int)
    jobs_per_unit = np.ones(nc, dtype=int)
    spares = np.zeros(nc, dtype=int)
    if job_chips is not None:
        job_sys = np.array([math.ceil(job_chips / sy.chips) for sy in systems], dtype=int)
        spares = np.array([spares_for(sy, int(k)) for sy, k in zip(systems, job_sys, strict=True)] if job_spares == "auto"
                          else [math.ceil(float(job_spares) * k - 1e-9) for k in job_sys], dtype=int)
        sys_per_unit = job_sys + spares
        jobs_per_unit = np.array([max(1, sy.chips // job_chips) for sy in systems], dtype=int)
        flops = flops * jobs_per_unit * job_chips / (sys_per_unit * cps)
        cps = cps * sys_per_unit
    hbm = np.array([a.hbm_bytes for a in accs])

    def spans_kind(c: int, k: int) -> bool:
        """A kind's job can be split over k sites: it takes at least k whole systems."""
        return job_chips is not None and jobs_per_unit[c] == 1 and math.ceil(job_chips / sys_chips[c]) >= k

    def split_block(c: int, k: int) -> tuple[int, int]:
        """Systems at each of k sites of a split block, and how many of them are spares: each site holds its
        share of the job (job_chips / k chips, as the rate across sites assumes) and of the job's spares."""
        share = math.ceil(spares[c] / k)
        return math.ceil(math.ceil((job_chips or 0) / k) / sys_chips[c]) + share, share

    # Per (use, chip, placement): a variable's chips at each site, and its delivered FLOP/s (training use).
    at = np.zeros((n_use, nc, npl, ns))
    unit_flops = np.zeros((nc, npl))
    split_sys = np.zeros(nc, dtype=int)  # systems per site of a split block (0: the kind cannot span)
    split_spares = np.zeros(nc, dtype=int)  # of which spares
    for c in range(nc):
        for p, pl in enumerate(places):
            if len(pl) == 1:
                at[0, c, p, pl[0]] = cps[c]
                unit_flops[c, p] = cps[c] * flops[c]
                if n_use == 2:
                    at[1, c, p, pl[0]] = serve_sys[c] * sys_chips[c]
                continue
            name = chips[c]
            if job_chips is None or name not in split_of or not spans_kind(c, len(pl)):
                continue  # a job within fewer systems than sites, or a kind without a rate across sites, does not span
            split_sys[c], split_spares[c] = split_block(c, len(pl))
            for s_ in pl:
                at[0, c, p, s_] = split_sys[c] * sys_chips[c]
            unit_flops[c, p] = job_chips * accs[c].peak_flops(precision) * split_of[name]
    unit_total = at.sum(axis=3)  # chips per variable

    def active(y_buy: int, t: int) -> bool:
        return years[y_buy] <= years[t] < years[y_buy] + life

    ub = np.full(nvar, np.inf)
    for c, a in enumerate(accs):
        for p in range(npl):
            for y in range(ny):
                for u in range(n_use):
                    if years[y] < a.launch_year or (u == 1 and rate[c] <= 0) or unit_total[u, c, p] <= 0:
                        ub[vidx(u, c, p, y)] = 0.0

    # Constraint rows, in planner units (MW, EFLOP/s, PB, chips) so HiGHS's absolute tolerances (1e-7) are
    # negligible; each row keeps its kind, key and year for the duals.
    rows_a: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    tags: list[tuple[str, str, int]] = []

    def add(row: np.ndarray, low: float, high: float, tag: tuple[str, str, int]) -> None:
        rows_a.append(row)
        lo.append(low)
        hi.append(high)
        tags.append(tag)

    def installed(t: int, per_chip: np.ndarray | None, site: int | None = None,
                  uses: tuple[int, ...] | None = None) -> np.ndarray:
        """Row over the variables installed in year t: their chips (at ``site``, or everywhere) times ``per_chip``
        (per chip kind, or per kind and site); None: their delivered FLOP/s."""
        row = np.zeros(nvar)
        for u in range(n_use) if uses is None else uses:
            for c in range(nc):
                for p in range(npl):
                    if per_chip is None:
                        val = unit_flops[c, p]
                    elif per_chip.ndim == 2:
                        val = float(at[u, c, p] @ per_chip[c]) if site is None else at[u, c, p, site] * per_chip[c, site]
                    else:
                        val = (unit_total[u, c, p] if site is None else at[u, c, p, site]) * per_chip[c]
                    if val:
                        for y in range(ny):
                            if active(y, t):
                                row[vidx(u, c, p, y)] = val
        return row

    for t in range(ny):
        for s in range(ns):
            add(installed(t, fac_w, s) / 1e6, -np.inf, cap_ty[site_objs[s].name][t] / 1e6, ("power", site_objs[s].name, t))
        add(installed(t, None, uses=(0,)) / 1e18, 0.0, np.inf, ("demand", "", t))  # lower bound set below
        if n_use == 2:  # in millions of tokens/s
            add(installed(t, rate, uses=(1,)) / 1e6, 0.0, np.inf, ("serve", "", t))  # lower bound set below
        if hbm_bytes is not None:
            add(installed(t, hbm, uses=(0,)) / 1e15, hbm_bytes[t] / 1e15, np.inf, ("hbm", "", t))  # training chips'
    for name, limits in supply_ty.items():
        c = chips.index(name)
        for y in range(ny):
            if math.isfinite(limits[y]):
                row = np.zeros(nvar)
                for p in range(npl):
                    for u in range(n_use):
                        row[vidx(u, c, p, y)] = unit_total[u, c, p]
                add(row, -np.inf, limits[y], ("supply", name, y))

    # Demands no plan can meet, told in the user's terms before HiGHS sees them.
    util_text = (f"{utilization:.0%} of {precision} peak" if not isinstance(utilization, Mapping) else
                 "their utilization (" + ", ".join(f"{a.name} {util_of[n]:.1%}" for n, a in zip(chips, accs, strict=True))
                 + f" of {precision} peak)")
    best_per_chip = flops.copy()  # a spanning block may deliver more per chip than a one-site block's rounding
    for c in range(nc):
        for p in range(ns, npl):
            if unit_total[0, c, p] > 0:
                best_per_chip[c] = max(best_per_chip[c], unit_flops[c, p] / unit_total[0, c, p])
    _check_reachable(cat, accs, site_objs, cap_ty, years, demand_flops, best_per_chip, fac_w, util_text)
    if supply_ty:
        _check_supply(rows_a, hi, tags, ub, years, demand_flops, supply_ty)
    # Any positive demand needs at least one system: raise a tiny demand to the smallest system's
    # output so that HiGHS's absolute tolerance cannot satisfy it with nothing installed.
    need_flops = list(demand_flops)
    for t in range(ny):
        if 0 < need_flops[t]:
            avail = [unit_flops[c, p] for c, a in enumerate(accs) for p in range(npl)
                     if a.launch_year <= years[t] and unit_flops[c, p] > 0]
            need_flops[t] = max(need_flops[t], min(avail))
    for i, (kind, _, t) in enumerate(tags):
        if kind == "demand":
            lo[i] = need_flops[t] / 1e18
        elif kind == "serve" and serve_need[t] > 0:
            avail = [sys_chips[c] * rate[c] for c, a in enumerate(accs) if a.launch_year <= years[t] and rate[c] > 0]
            if not avail:
                raise RainierError(f"{years[t]} asks to serve {serve_need[t]:,.0f} tokens/s but no candidate chip that "
                                   "serves the model can be bought by then", field="--serve-demand",
                                   fix="plan serving from a later year, or add a chip sold by then to --chip")
            lo[i] = max(serve_need[t], min(avail)) / 1e6

    # Objective: every installed year costs a year of owner cost.
    cobj = np.zeros(nvar)
    for u in range(n_use):
        for c in range(nc):
            for p in range(npl):
                for y in range(ny):
                    n_active = sum(active(y, t) for t in range(ny))
                    cobj[vidx(u, c, p, y)] = n_active * float(at[u, c, p] @ cost_h[c]) * HOURS_PER_YEAR
    A = np.array(rows_a)
    cnorm = max(cobj.max(), 1.0)
    # Between plans of (nearly) equal cost, prefer jobs at one site: a split block is priced 0.1% higher for the
    # solver (not in the reported cost), so a job spans only where that saves more or no site holds it.
    split_var = np.zeros(nvar, dtype=bool)
    for p in range(ns, npl):
        for c in range(nc):
            for y in range(ny):
                split_var[vidx(0, c, p, y)] = True
    res = milp(
        c=np.where(split_var, cobj * (1 + SPLIT_PENALTY), cobj) / cnorm,
        constraints=LinearConstraint(A, np.array(lo), np.array(hi)),
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
            hint = ""
            def half_fits(c: int) -> bool:  # half of one job's block fits at two of the sites
                half = split_block(c, 2)[0] * sys_chips[c]
                return sum(half * fac_w[c, s_] <= max(cap_ty[site_objs[s_].name]) for s_ in range(ns)) >= 2

            if job_chips is not None and job_sites == 1 and ns > 1 and all(
                    cps[c] * fac_w[c, s_] > max(cap_ty[site_objs[s_].name]) for c in range(nc) for s_ in range(ns)) \
                    and any(spans_kind(c, 2) and half_fits(c) for c in range(nc)):
                hint = ("; one job's systems draw more than any site's cap: --job-sites 2 splits each job over two "
                        "sites (with --cross-site-gbps)")
            peak = f"peak demand {fmt_ef(need)} EF/s delivered" if need > 0 else \
                f"peak serving demand {max(serve_need):,.0f} tokens/s"
            raise RainierError(
                f"no plan of whole systems{f' running whole jobs of {job_chips:,} chips' if job_chips else ''} meets "
                f"the {'training and serving demands' if n_use == 2 and need > 0 else 'serving demand' if n_use == 2 else 'demand'}"
                f" within the site power caps{' and the supply limits' if supply_ty else ''} "
                f"({peak}; hardware keeps its power until it retires)",
                field="--demand" if need > 0 else "--serve-demand",
                fix="add sites or power, allow newer chips, or lower the demand" + hint,
            )
        raise RainierError(
            f"the planner could not solve this plan (peak demand {fmt_ef(need)} EF/s delivered)", field="--demand",
            fix="check the demand figures (a bare number is EF/s), --utilization and the site power caps",
        )
    x = np.round(res.x).astype(int)
    rows: list[PlanRow] = []
    for t in range(ny):
        for p, pl in enumerate(places):
            for s in pl:
                site = site_objs[s]
                for u in range(n_use):
                    for c, a in enumerate(accs):
                        inst = sum(int(x[vidx(u, c, p, y)]) for y in range(ny) if active(y, t))
                        bought = int(x[vidx(u, c, p, t)])
                        if inst == 0 and bought == 0:
                            continue
                        per_unit = int(at[u, c, p, s])  # this site's chips of one variable
                        n = inst * per_unit
                        k = per_unit // int(sys_chips[c])  # its systems here
                        spare_here = 0 if u == 1 else int(spares[c]) if len(pl) == 1 else int(split_spares[c])
                        share = per_unit / unit_total[u, c, p]
                        rows.append(PlanRow(
                            year=years[t], site=site.name, chip=a.name, system=systems[c].name,
                            systems_bought=bought * k, systems_installed=inst * k, chips_installed=n,
                            facility_power_w=n * fac_w[c, s],
                            delivered_flops=inst * unit_flops[c, p] * share if u == 0 else 0.0,
                            annual_cost_usd=n * cost_h[c, s] * HOURS_PER_YEAR,
                            capex_usd=bought * per_unit * capex_chip[c],
                            jobs=None if job_chips is None or u == 1 else inst * int(jobs_per_unit[c]),
                            use="training" if u == 0 else "serving", spare_systems=inst * spare_here,
                            served_tokens_per_s=None if u == 0 else n * float(rate[c]),
                            spans=tuple(site_objs[j].name for j in pl) if len(pl) > 1 else None))
    for t in range(ny):
        got = sum(r.delivered_flops for r in rows if r.year == years[t])
        if got < demand_flops[t] * (1 - 1e-6):
            raise RainierError(
                f"the planner's answer falls short of the {years[t]} demand ({fmt_ef(got)} of {fmt_ef(demand_flops[t])} "
                f"EF/s delivered)", field="--demand",
                fix="check the demand figures (a bare number is EF/s) and --utilization",
            )
        served = sum(r.served_tokens_per_s or 0.0 for r in rows if r.year == years[t])
        if served < serve_need[t] * (1 - 1e-6):
            raise RainierError(f"the planner's answer falls short of the {years[t]} serving demand ({served:,.0f} of "
                               f"{serve_need[t]:,.0f} tokens/s)", field="--serve-demand",
                               fix="check the serving demand and the chips' serving rates")
    total = float(cobj @ x)
    status = "optimal" if res.status == 0 else "feasible (time limit)"
    if not math.isfinite(total):
        raise RainierError("planner returned a non-finite cost", field="--demand")
    marg = _marginals(cobj / cnorm, A, np.array(lo), np.array(hi), ub, tags)
    power_value: dict[str, dict[int, float]] = {s.name: {} for s in site_objs}
    supply_value: dict[str, dict[int, float]] = {c: {} for c in supply_ty}
    demand_cost: dict[int, float | None] = {}
    serve_cost: dict[int, float | None] = {}
    for i, (kind, key, t) in enumerate(tags):
        m = marg[i]
        v = None if m is None else m * cnorm
        if kind == "power":
            power_value[key][years[t]] = v or 0.0  # $ per MW (rows are in MW)
        elif kind == "supply":
            supply_value[key][years[t]] = (v or 0.0)  # $ per chip (rows are in chips)
        elif kind == "demand":
            demand_cost[years[t]] = v  # $ per EF/s; None: the plan could not deliver one more
        elif kind == "serve":
            serve_cost[years[t]] = v  # $ per million tokens/s more to serve
    accs_by = {n: a.name for n, a in zip(chips, accs, strict=True)}
    return PlanResult(status=status, total_cost_usd=total, years=list(years), rows=rows,
                      demand_flops=list(demand_flops), power_cap_w=caps,
                      utilization_by_chip={a.name: util_of[n] for n, a in zip(chips, accs, strict=True)},
                      power_cap_w_by_year={k: dict(zip(years, v, strict=True)) for k, v in cap_ty.items()},
                      supply_chips_by_year={accs_by[k]: {y: v for y, v in zip(years, lim, strict=True) if math.isfinite(v)}
                                            for k, lim in supply_ty.items()},
                      power_value_usd_per_mw=power_value,
                      supply_value_usd_per_chip={accs_by[k]: v for k, v in supply_value.items()},
                      demand_cost_usd_per_ef_s=demand_cost, job_chips=job_chips,
                      spare_systems_per_job={a.name: int(spares[c]) for c, a in enumerate(accs)} if job_chips else {},
                      serve_tokens_per_s=serve_need if n_use == 2 else [],
                      serve_rate_by_chip={a.name: float(rate[c]) for c, a in enumerate(accs)} if n_use == 2 else {},
                      serve_cost_usd_per_mtok_s=serve_cost, job_sites=int(job_sites),
                      cross_site_gbps=cross_site_gbps if job_sites > 1 else None,
                      split_utilization_by_chip={accs[c].name: split_of[n] for c, n in enumerate(chips)
                                                 if n in split_of and spans_kind(c, job_sites)})


def check_job_sites(job_sites: Any, job_chips: int | None, n_sites: int, cross_site_gbps: Any) -> None:
    """Refuse a ``job_sites`` the plan cannot use: not a whole number >= 1, or above 1 without whole jobs, with more
    sites than are planned, or without a positive, finite ``cross_site_gbps`` (which only a job across sites takes)."""
    if isinstance(job_sites, bool) or not isinstance(job_sites, numbers.Integral) or job_sites < 1:
        raise RainierError(f"sites per job must be a whole number >= 1 (got {job_sites!r})", field="--job-sites",
                           fix="e.g. --job-sites 2")
    if job_sites == 1:
        if cross_site_gbps is not None:
            raise RainierError("--cross-site-gbps needs --job-sites 2 or more", field="--cross-site-gbps",
                               fix="add --job-sites 2, or drop --cross-site-gbps")
        return
    if job_chips is None:
        raise RainierError("jobs across sites need whole jobs", field="--job-sites",
                           fix="plan with --workload and --job-chips (not --no-whole-jobs), or drop --job-sites")
    if int(job_sites) > n_sites:
        raise RainierError(f"a job cannot span {job_sites} sites when {n_sites} are planned", field="--job-sites",
                           fix=f"give at least {job_sites} sites to --site, or a smaller --job-sites")
    if cross_site_gbps is None:
        raise RainierError("jobs across sites need the link between them", field="--cross-site-gbps",
                           fix="give its capacity in Gbit/s, e.g. --cross-site-gbps 100000")
    if not (_real(cross_site_gbps) and 0 < float(cross_site_gbps) < math.inf):
        raise RainierError(f"must be a positive, finite capacity in Gbit/s (got {cross_site_gbps!r})",
                           field="--cross-site-gbps", fix="e.g. --cross-site-gbps 100000")


def spares_for(system: Any, job_systems: int, short: float = 0.01) -> int:
    """The fewest spare systems that leave a job of ``job_systems`` systems short of systems less than ``short``
    of the time: each system is down for repair a share ``u`` of the time (the fleet's default failure causes,
    Llama 3's rates: each cause's rate per system times its mean repair time), independently, so the systems down
    at once are about Poisson with mean ``job_systems x u``; a failure takes out one system."""
    from scipy.stats import poisson

    from rainier.fleet.scenario import LLAMA3_CAUSES

    u = sum((c.rate_per_chip_hour * system.chips + c.rate_per_system_hour) * c.repair.mean / 3600.0
            for c in LLAMA3_CAUSES)
    mean = job_systems * u
    k = 0
    while poisson.sf(k, mean) >= short:
        k += 1
    return k


def _lp(c: np.ndarray, A: np.ndarray, lo: np.ndarray, hi: np.ndarray, ub: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The LP relaxation (HiGHS): its optimal objective and point, or None if it has none."""
    upper, lower = np.isfinite(hi), np.isfinite(lo)
    res = linprog(c, A_ub=np.vstack([A[upper], -A[lower]]), b_ub=np.concatenate([hi[upper], -lo[lower]]),
                  bounds=np.column_stack([np.zeros(len(c)), ub]), method="highs")
    return (float(res.fun), np.asarray(res.x)) if res.status == 0 else None


# the step of each marginal value, in row units: 1 MW of cap, 1 EF/s of demand, 1,000 chips of supply
_STEP = {"power": 1.0, "demand": 1.0, "serve": 1.0, "supply": 1000.0}


def _marginals(c: np.ndarray, A: np.ndarray, lo: np.ndarray, hi: np.ndarray, ub: np.ndarray,
               tags: list[tuple[str, str, int]]) -> list[float | None]:
    """What one more unit of each row's bound is worth in the LP relaxation (objective units per row unit):
    the cost saved by one more MW of a site's cap from that year on or one more chip of that year's supply
    (0 where slack), the cost of one
    more EF/s of demand (None where the plan could not deliver it). Found by re-solving with the bound moved
    by ``_STEP`` rather than read off the duals, which a degenerate optimum (flat demand, a limit of 0)
    reports as 0 or as either side's slope."""
    base = _lp(c, A, lo, hi, ub)
    if base is None:
        return [0.0 if k not in ("demand", "serve") else None for k, _, _ in tags]
    z0, x0 = base
    out: list[float | None] = []
    for i, (kind, _, _) in enumerate(tags):
        step = _STEP.get(kind)
        if step is None:
            out.append(0.0)
            continue
        if kind in ("demand", "serve"):
            lo2 = lo.copy()
            lo2[i] += step
            got = _lp(c, A, lo2, hi, ub)
            out.append(max(0.0, (got[0] - z0) / step) if got is not None else None)
            continue
        # a supply limit is one year's; a power cap rises from its year on (a site's power, once there, stays)
        rows = [i] if kind == "supply" else [j for j, (k2, key2, t2) in enumerate(tags)
                                            if k2 == "power" and key2 == tags[i][1] and t2 >= tags[i][2]]
        if all(hi[j] - float(A[j] @ x0) > 1e-7 * max(1.0, abs(hi[j])) for j in rows):
            out.append(0.0)  # slack: more of it changes nothing
            continue
        hi2 = hi.copy()
        hi2[rows] += step
        got = _lp(c, A, lo, hi2, ub)
        out.append(max(0.0, (z0 - got[0]) / step) if got is not None else 0.0)
    return out


def _check_supply(rows_a: list[np.ndarray], hi: list[float], tags: list[tuple[str, str, int]], ub: np.ndarray,
                  years: list[int], demand_flops: list[float], supply_ty: dict[str, list[float]]) -> None:
    """Raise for the first year whose demand cannot be met even in the LP relaxation once supply is limited:
    the most EF/s installable in that year under every power cap and supply limit (earlier years' purchases
    included), found by maximising that year's delivered FLOP/s."""
    A = np.array(rows_a)
    keep = [i for i, (k, _, _) in enumerate(tags) if k in ("power", "supply")]
    for i, (kind, _, t) in enumerate(tags):
        if kind != "demand" or demand_flops[t] <= 0:
            continue
        got = _lp(-A[i], A[keep], np.full(len(keep), -np.inf), np.array(hi)[keep], ub)
        if got is not None and -got[0] * 1e18 < demand_flops[t] * (1 - 1e-9):
            lim = ", ".join(f"{c} {fmt_count(v[t])}/yr" for c, v in supply_ty.items() if math.isfinite(v[t]))
            most, ask = -got[0] * 1e18, demand_flops[t]
            digits = 3 if most < 0.99 * ask else 6  # close figures need the digits that tell them apart
            raise RainierError(
                f"{years[t]} asks for {ask / 1e18:.{digits}g} EF/s delivered, but the supply limits ({lim or 'earlier years'})"
                f" and power caps allow at most {most / 1e18:.{digits}g} EF/s installed by then", field="--supply",
                fix="raise --supply, start buying earlier (an earlier demand year), or lower the demand",
            )


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
                         precision: str = "bf16", goodput: bool = True, sites: int = 1,
                         cross_site_gbps: float | None = None) -> list[WorkloadFit]:
    """Each chip kind's delivered share of peak on one training job of ``model`` on ``job_chips`` chips: the
    training estimator's MFU (its parallelism search included) times, with ``goodput``, the share of wall time
    that trains under failures and checkpoints. With ``sites`` > 1 the job spans that many sites over a link of
    ``cross_site_gbps``. A kind that cannot run the job keeps its error."""
    from rainier.plan.compare import compare_training

    try:
        cmp = compare_training(model, chips, seq=seq, global_batch=global_batch, chips=job_chips, precision=precision,
                               catalog=cat, sites=sites, cross_site_gbps=cross_site_gbps)
    except RainierError as e:  # named by the plan's own flags (`rainier plan --workload ...`)
        if e.field not in ("parallelism", "--chips"):  # (an unknown --chip keeps its own error and hint)
            raise
        raise RainierError(e.message, field="--job-chips",
                           fix="give --job-chips enough for the model (or a chip with more memory), or a smaller "
                               "--workload") from None
    out = []
    for r in cmp.rows:
        if r.result is None:
            out.append(WorkloadFit(r.chip, r.chips, None, None, None, None, r.error))
            continue
        g = float(r.result.goodput["fraction"]) if goodput and r.result.goodput else 1.0
        out.append(WorkloadFit(r.chip, r.chips, r.result.mfu, g, r.result.mfu * g, dict(r.result.parallelism)))
    return out


@dataclass(frozen=True)
class ServingFit:
    """What one chip kind serves of the planned serving workload: output tokens/s per chip of a deployment of
    ``chips`` chips (at the SLO's highest rate when one is given, else saturated); None: it cannot serve it."""

    chip: str
    chips: int
    tokens_per_s_per_chip: float | None
    max_qps: float | None
    usd_per_million_tokens: float | None
    error: str | None = None
    replica_chips: int | None = None  # chips of one serving replica (tp x pp): the plan buys whole replicas


def serving_rates(cat: Catalog, chips: list[str], model: str, *, deployment_chips: int = 64, workers: int = 1,
                  **serve: Any) -> list[ServingFit]:
    """Each chip kind's output tokens/s per chip serving ``model`` on ``deployment_chips`` chips, from the
    request-level serving simulation (``serve``: the other arguments of ``estimate_serving``: traffic, SLO,
    precision, ...; with an SLO and no traffic, the rate at the highest Poisson load meeting it). A kind that
    cannot serve keeps its error."""
    from rainier.plan.compare import compare_serving

    try:
        cmp = compare_serving(model, chips, chips=deployment_chips, catalog=cat, workers=workers, **serve)
    except RainierError as e:  # named by the plan's own flags (`rainier plan --serve ...`)
        own = {"--chips": "--serve-chips", "--model": "--serve", "--tp/--pp": "--serve-chips",
               "--precision": "--serve-precision", "--lengths": "--serve-chips",
               "--input-len/--output-len": "--serve-chips"}.get(e.field or "")
        if own is None:
            raise
        fix = "give --serve-chips enough for one replica, a lower --serve-precision, or a smaller model" \
            if own == "--serve-chips" else e.fix
        text = str(e)
        if e.fix and text.endswith(e.fix):
            text = text[: -len(e.fix)].rstrip("; ")
        raise RainierError(text.replace(str(e.field), own), field=own, fix=fix) from None
    out = []
    for r in cmp.rows:
        if r.result is None or not r.output_tokens_per_s:
            slo_missed = r.result is not None and r.max_qps == 0.0
            out.append(ServingFit(r.chip, r.chips, None, None, None, r.error or (
                "no Poisson rate meets the SLO" if slo_missed else "serves no tokens")))
            continue
        out.append(ServingFit(r.chip, r.chips, r.output_tokens_per_s / r.chips, r.max_qps, r.usd_per_million_tokens,
                              replica_chips=int(r.result.config.get("chips_per_replica") or 0) or None))
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


def _check_reachable(cat: Catalog, accs: list[Accelerator], site_objs: list[Site], caps: dict[str, list[float]], years: list[int],
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
            most += caps[s.name][t] * per_w[k]
        if demand_flops[t] > most * (1 + 1e-9):
            sites = ", ".join(f"{s.name} {fmt_power(caps[s.name][t])}" for s in site_objs)
            chips = sorted({accs[c].name for c in best.values()})
            raise RainierError(
                f"{year} asks for {fmt_ef(demand_flops[t])} EF/s delivered, but even every site at its {year} power cap "
                f"({sites}) filled with {' and '.join(chips)} at {util_text} delivers at "
                f"most {fmt_ef(most)} EF/s", field="--demand",
                fix="lower the demand (a bare number is EF/s), move it to a later year (sites are built out over "
                    "time: see `rainier catalog show SITE`), or add sites or --power-cap",
            )
