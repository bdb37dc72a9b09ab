"""Fleet scenarios: the YAML schema, its validation, and the fully resolved form a run writes.

A scenario describes one simulated fleet: the clock (``start`` date, ``horizon``, ``seed``), sites
(power cap, PUE, network domains, systems installed at the start, a monthly delivery schedule per system
kind, decommissioning), tenants (commitment as facility power or chips, priority, borrowing), training
jobs (listed one by one or drawn by generators), inference services (demand with a daily and weekly
shape and growth, SLO), failures (rates per chip- or system-hour by cause, blast radius, repair-time
distribution; the default preset follows the Llama 3 405B interruption table in facts.md §2(c)), the
scheduler by registered name with its parameters, and scenario events (site outage, supply slip,
demand spike) at given times.

People write quantities the way they speak (``365d``, ``2200MW``, ``15T``, ``30min``, ``2026-03``);
validation converts every one to SI (seconds, watts, tokens, tokens/s) so the resolved scenario that a
run writes holds plain numbers in SI units. Times given as dates or months are converted to seconds
from ``start``. Every validation error is a :class:`~rainier.errors.RainierError` whose field is the
YAML path of the offending value, e.g. ``sites[0].systems[1].deliveries[2].month``.

Invariants after :func:`load_scenario`: names are unique per kind; every catalog reference (site, system,
model) resolves; every job and service names a declared tenant; every time lies in ``[0, inf)``.

Shape of a file (see ``scenarios/tiny.yaml`` and ``scenarios/rainier.yaml`` for complete ones)::

    name: demo
    start: 2025-10-01            # dates and months below are relative to this
    horizon: 365d
    seed: 1
    scheduler: {name: fair-share, interval: 5min, params: {lookahead: 0}}
    cross_site: {allowed: false, gbps: 400, efficiency: 0.8}
    perf: {backend: auto}        # auto | estimators | physics (see rainier.fleet.perf)
    sites:
      - name: new-carlisle       # a catalog site gives power_cap and pue unless set here
        power_cap: 2200MW
        systems_per_domain: 256
        systems:
          - kind: trn2-ultraserver
            installed_chips: 420000                       # or installed: <systems>
            deliveries: [{from: 2025-11, to: 2026-09, chips: 40000}, {month: 2026-12, systems: 100}]
            decommission: [{at: 200d, systems: 50}]
    tenants:
      - {name: a, commitment: {power: 5GW}, priority: 1, borrow: true, preemptible: true}
      - {name: b, commitment: {chips: 100000}}
    jobs:
      - {name: big, tenant: a, model: llama3-70b, system: trn2-ultraserver, tokens: 15T, chips: auto,
         target: 30d, arrival: 2025-11-15, checkpoint: {interval: 30min, save: 30s, restore: 5min}}
        # or checkpoint: auto (the save, restore and goodput-optimal interval of perf.goodput for the job)
    generators:
      - {name: research, tenant: b, rate_per_day: 10, models: [llama3-8b], system: trn2-ultraserver,
         chips: [{chips: 1024, weight: 3}, 4096], duration: {dist: lognormal, median: 24h, sigma: 0.8}}
    services:
      - {name: api, tenant: b, model: llama3-70b, system: trn2-ultraserver, precision: fp8,
         slo: {ttft: 2s, tpot: 50ms}, demand: {tokens_per_s: 300M, daily_amplitude: 0.35,
         weekend_factor: 0.8, growth_per_year: 2.5}}
    failures: {preset: llama3, scale: 1.0, causes: [{name: tor, rate_per_system_hour: 1e-5,
               radius: rack, repair: {dist: exponential, mean: 2h}}]}
    events:
      - {at: 2026-02-10, kind: site_outage, site: new-carlisle, duration: 12h}
      - {at: 100d, kind: supply_slip, site: new-carlisle, system: trn2-ultraserver, months: 2}
      - {at: 2026-05-01, kind: demand_spike, service: api, factor: 1.5, duration: 3d}
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rainier.errors import RainierError, yaml_problem
from rainier.io import load_yaml
from rainier.units import bare_number, parse_count, parse_duration, parse_power

__all__ = [
    "Scenario",
    "SiteSpec",
    "SystemPool",
    "Delivery",
    "TenantSpec",
    "JobSpec",
    "JobGenerator",
    "ServiceSpec",
    "FailureCause",
    "FailureSpec",
    "SchedulerSpec",
    "ScenarioEvent",
    "load_scenario",
    "scenario_document",
    "with_overrides",
    "scenario_from_dict",
    "builtin_scenarios",
    "resolved_dict",
    "config_sha256",
    "LLAMA3_CAUSES",
]

SCENARIO_DIR = Path(__file__).parent / "scenarios"
HOUR_S = 3600.0


# --- field parsers: human strings -> SI floats ------------------------------------------------------

def _as_value_error(fn: Any, v: Any, what: str) -> Any:
    # pydantic reports the field path of a ValueError; a RainierError would escape without it
    try:
        return fn(v, what)
    except RainierError as exc:
        raise ValueError(str(exc).removeprefix(f"{what}: ")) from None


def _dur(v: Any) -> Any:
    return None if v is None else _as_value_error(parse_duration, v, "duration")


def _power(v: Any) -> float:
    return _as_value_error(parse_power, v, "power")


def _count(v: Any) -> float:
    return _as_value_error(parse_count, v, "count")


def _rate(v: Any) -> float:
    """Tokens/s: a count such as '50M' (per second)."""
    if isinstance(v, str):
        v = v.strip().removesuffix("/s").removesuffix("tok").removesuffix("tokens")
    return _as_value_error(parse_count, v, "tokens_per_s")


Seconds = Annotated[float, BeforeValidator(_dur)]
Watts = Annotated[float, BeforeValidator(_power)]
Count = Annotated[float, BeforeValidator(_count)]
TokensPerS = Annotated[float, BeforeValidator(_rate)]


# systems in one pool (installed, or in one delivery): the simulator keeps per-chip state, and 5 million
# systems is beyond any planned campus (a 5 GW fleet is ~3-4 million chips)
MAX_SYSTEMS = 5_000_000
MAX_HORIZON_S = 100 * 365.25 * 86400.0
# failure events a run may expect: ~370x the default 1.1M-chip year (135k); beyond, the run is hours long
MAX_EXPECTED_FAILURES = 5e7
# jobs the generators may draw over a run (2e5 took ~6 s; a research fleet starts thousands a day, ~1M a year)
MAX_EXPECTED_JOBS = 2e6
# accounting rows (horizon / hourly step): 100 years hourly is 0.9M; 1 ms steps over a week were 6e8
MAX_ACCOUNTING_ROWS = 5e6


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- time points ------------------------------------------------------------------------------------

def _time_point(v: Any, start: dt.date, field: str) -> float:
    if isinstance(v, (dt.date, dt.datetime)):
        d = v if isinstance(v, dt.date) else v.date()
        return (dt.datetime(d.year, d.month, d.day) - dt.datetime(start.year, start.month, start.day)).total_seconds()
    if isinstance(v, str):
        s = v.strip()
        for fmt in ("%Y-%m-%d", "%Y-%m"):
            try:
                d = dt.datetime.strptime(s, fmt)
            except ValueError:
                continue
            return (d - dt.datetime(start.year, start.month, start.day)).total_seconds()
    return parse_duration(v, field)


def month_start_s(start: dt.date, months: int) -> float:
    """Seconds from ``start`` to the first day of the month ``months`` after ``start``'s month."""
    y, m = divmod(start.month - 1 + months, 12)
    d = dt.datetime(start.year + y, m + 1, 1)
    return max(0.0, (d - dt.datetime(start.year, start.month, start.day)).total_seconds())


# --- sites and supply -------------------------------------------------------------------------------

class Delivery(_M):
    """Systems arriving (or retiring) at ``at_s``; ``systems`` already converted from chips if given."""

    at_s: float = Field(ge=0)
    systems: int = Field(ge=0, le=MAX_SYSTEMS)


class SystemPool(_M):
    kind: str = Field(description="catalog system name, e.g. trn2-ultraserver")
    installed: int = Field(0, ge=0, le=MAX_SYSTEMS, description="systems installed at the start")
    deliveries: tuple[Delivery, ...] = ()
    decommission: tuple[Delivery, ...] = ()

    @property
    def systems_ever(self) -> int:
        """Systems the pool holds once every delivery has arrived (decommissioning aside)."""
        return self.installed + sum(d.systems for d in self.deliveries)


class SiteSpec(_M):
    name: str
    catalog: str | None = Field(None, description="catalog site name (default: name)")
    power_cap_w: float = Field(0.0, ge=0, description="facility power cap; 0 = the catalog site's power_mw")
    pue: float = Field(0.0, description="0 = the catalog site's PUE; else 1.0-3.0")
    systems_per_domain: int = Field(256, ge=1, description="systems per network domain (spine block)")
    systems: tuple[SystemPool, ...] = Field(min_length=1)

    @field_validator("pue")
    @classmethod
    def _pue(cls, v: float) -> float:
        if v and not 1.0 <= v <= 3.0:
            raise ValueError(f"PUE must be from 1.0 to 3.0 (got {v}): facility power / IT power, e.g. 1.15")
        return v


# --- tenants, jobs, services ------------------------------------------------------------------------

class TenantSpec(_M):
    name: str
    commitment_w: float = Field(0.0, ge=0, description="committed facility power")
    commitment_chips: float = Field(0.0, ge=0, description="committed chips (alternative to power)")
    priority: int = 0
    borrow: bool = True
    preemptible: bool = True


class Checkpoint(_M):
    interval_s: Seconds = Field(1800.0, gt=0)
    save_s: Seconds = Field(60.0, ge=0)
    restore_s: Seconds = Field(600.0, ge=0)
    # checkpoint: auto: save, restore and the goodput-optimal interval from the job's model and chips
    # (perf.goodput: the state's bytes over the catalog's bandwidths, the scenario's failure rates)
    auto: bool = False


class JobSpec(_M):
    name: str
    tenant: str
    model: str
    system: str
    tokens: Count = Field(gt=0)
    chips: int | Literal["auto"] = "auto"
    target_s: Seconds = Field(30 * 86400.0, gt=0, description="for chips: auto, the wall time to aim at")
    arrival_s: float = Field(0.0, ge=0)
    checkpoint: Checkpoint = Checkpoint()
    priority: int | None = None
    cross_site: bool = False

    @field_validator("chips", mode="before")
    @classmethod
    def _chips(cls, v: Any) -> Any:
        if v == "auto":
            return v
        try:
            n = parse_count(v, "chips")
        except RainierError:
            n = -1.0
        if n < 1 or n != int(n):
            raise ValueError(f"give a positive whole number of chips or auto (got {v!r})")
        return int(n)


class Choice(_M):
    value: Any
    weight: float = Field(1.0, gt=0)


class Dist(_M):
    """A positive random quantity: fixed, exponential (mean) or lognormal (median, sigma); seconds."""

    dist: Literal["fixed", "exponential", "lognormal"] = "fixed"
    mean_s: Seconds | None = None
    median_s: Seconds | None = None
    sigma: float = Field(1.0, ge=0, le=10, description="lognormal shape; 10 already spans ~17 decades at 2 sigma")
    max_s: Seconds | None = None

    @model_validator(mode="after")
    def _params(self) -> Dist:
        if self.dist in ("fixed", "exponential") and self.mean_s is None:
            raise ValueError(f"{self.dist} needs mean")
        if self.dist == "lognormal" and self.median_s is None:
            raise ValueError("lognormal needs median")
        return self

    @property
    def mean(self) -> float:
        if self.dist == "lognormal":
            return float(self.median_s) * math.exp(self.sigma**2 / 2)  # type: ignore[arg-type]
        return float(self.mean_s)  # type: ignore[arg-type]


class JobGenerator(_M):
    """Many jobs: Poisson arrivals, sizes from a weighted list, durations from a distribution.

    A drawn job's tokens are its duration x the job speed at its size (from the perf cache), so the
    nominal run time does not depend on which performance model is installed.
    """

    name: str
    tenant: str
    rate_per_day: float = Field(gt=0)
    count: int | None = Field(None, ge=0, description="stop after this many jobs (default: run to the horizon)")
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = None
    models: tuple[Choice, ...] = Field(min_length=1)
    system: str
    chips: tuple[Choice, ...] = Field(min_length=1)
    duration: Dist
    checkpoint: Checkpoint = Checkpoint()
    priority: int | None = None
    cross_site: bool = False

    @model_validator(mode="after")
    def _window(self) -> JobGenerator:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end ({self.end_s / HOUR_S:g} h) must come after start ({self.start_s / HOUR_S:g} h): "
                             "the generator would draw no job")
        return self


class DemandStep(_M):
    """From ``at_s`` on, the service's mean demand is ``tokens_per_s`` (before growth, the daily and weekly shape
    and spikes); 0 = no demand (a service that starts later, or stops)."""

    at_s: float = Field(ge=0)
    tokens_per_s: TokensPerS = Field(ge=0, le=1e15)


class Demand(_M):
    tokens_per_s: TokensPerS = Field(gt=0, le=1e15, description="mean demand at the start (input + output tokens/s)")
    daily_amplitude: float = Field(0.0, ge=0, lt=1)
    peak_hour: float = Field(15.0, ge=0, lt=24)
    weekend_factor: float = Field(1.0, gt=0)
    growth_per_year: float = Field(1.0, gt=0, le=100, description="multiplier per year (2.0 = doubles each year)")
    steps: tuple[DemandStep, ...] = Field((), description="the mean demand from given times on (a planned ramp)")

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: tuple[DemandStep, ...]) -> tuple[DemandStep, ...]:
        if any(b.at_s <= a.at_s for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("steps must be in time order, one per time")
        return v


class Slo(_M):
    ttft_s: Seconds = Field(2.0, gt=0)
    tpot_s: Seconds = Field(0.05, gt=0)


class ServiceSpec(_M):
    name: str
    tenant: str
    model: str
    system: str
    precision: str = "bf16"
    input_len: int = Field(2048, ge=1)
    output_len: int = Field(512, ge=1)
    slo: Slo = Slo()
    demand: Demand
    headroom: float = Field(0.1, ge=0, description="capacity kept above demand")
    min_chips: int = Field(0, ge=0)
    sites: tuple[str, ...] = ()
    reclaim: bool = Field(True, description="preempt borrowed training gangs when the tenant is within its entitlement")


# --- failures ---------------------------------------------------------------------------------------

class FailureCause(_M):
    name: str
    rate_per_chip_hour: float = Field(0.0, ge=0)
    rate_per_system_hour: float = Field(0.0, ge=0)
    radius: Literal["chip", "system", "rack"] = "system"
    repair: Dist


def _llama3_causes() -> tuple[FailureCause, ...]:
    # Llama 3 405B: 419 unexpected interruptions in 54 days on 16,384 H100 (facts.md §2(c)), grouped.
    gpu_hours = 16384 * 54 * 24.0
    groups = [
        ("accelerator", 148 + 19 + 17 + 6, "chip", {"dist": "lognormal", "median_s": 4 * HOUR_S, "sigma": 0.8}),
        ("hbm", 72, "chip", {"dist": "lognormal", "median_s": 4 * HOUR_S, "sigma": 0.8}),
        ("software", 54 + 7, "system", {"dist": "lognormal", "median_s": 0.25 * HOUR_S, "sigma": 0.5}),
        ("network", 35 + 7, "rack", {"dist": "lognormal", "median_s": 2 * HOUR_S, "sigma": 0.8}),
        ("host", 32 + 3 + 3 + 10, "system", {"dist": "lognormal", "median_s": 8 * HOUR_S, "sigma": 0.8}),
        ("silent_data_corruption", 6, "chip", {"dist": "lognormal", "median_s": 12 * HOUR_S, "sigma": 0.8}),
    ]
    return tuple(
        FailureCause(name=n, rate_per_chip_hour=c / gpu_hours, radius=r, repair=Dist(**d))  # type: ignore[arg-type]
        for n, c, r, d in groups
    )


LLAMA3_CAUSES = _llama3_causes()


class FailureSpec(_M):
    preset: Literal["llama3", "none"] = "llama3"
    scale: float = Field(1.0, ge=0, description="multiplies every rate")
    causes: tuple[FailureCause, ...] = ()

    def resolved_causes(self) -> tuple[FailureCause, ...]:
        base = LLAMA3_CAUSES if self.preset == "llama3" else ()
        by = {c.name: c for c in base}
        for c in self.causes:
            by[c.name] = c
        return tuple(by.values())


class SchedulerSpec(_M):
    name: str = "fifo"
    params: dict[str, Any] = Field(default_factory=dict)
    interval_s: Seconds = Field(0.0, ge=0, description="coalesce scheduler passes to at most one per interval")


class PerfSpec(_M):
    backend: Literal["auto", "estimators", "physics"] = "auto"
    mfu_assumed: float = Field(0.40, gt=0, le=1)
    decode_bw_efficiency: float = Field(0.6, gt=0, le=1)
    seq: int = Field(8192, ge=1)
    global_batch_tokens: Count = Field(16e6, gt=0)
    training_precision: Literal["bf16", "fp8"] = Field(
        "bf16", description="precision of the training jobs' GEMMs; a kind whose fp8 rate is no faster than its "
                            "bf16 rate (or that has none) trains in bf16")


class CrossSite(_M):
    allowed: bool = False
    gbps: float = Field(400.0, gt=0, description="cross-site bandwidth per site pair, Gbit/s")
    efficiency: float = Field(0.8, gt=0, le=1, description="job speed factor when a gang spans sites (physics backend)")


class ScenarioEvent(_M):
    at_s: float = Field(ge=0)
    kind: Literal["site_outage", "supply_slip", "demand_spike"]
    site: str | None = None
    system: str | None = None
    service: str | None = None
    duration_s: Seconds = Field(0.0, ge=0)
    months: int = Field(0, ge=0)
    factor: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _needs(self) -> ScenarioEvent:
        if self.kind in ("site_outage", "supply_slip") and not self.site:
            raise ValueError(f"{self.kind} needs site")
        if self.kind == "demand_spike" and not self.service:
            raise ValueError("demand_spike needs service")
        # a field the kind does not use would be silently ignored (an outage given a system still takes down
        # the whole site): refuse it
        given = {f for f in self.model_fields_set if f not in ("at_s", "kind")
                 and getattr(self, f) != type(self).model_fields[f].default}  # (a resolved file lists defaults)
        unused = sorted(given - _EVENT_FIELDS[self.kind])
        if unused:
            names = ", ".join(_EVENT_WORDS.get(f, f) for f in unused)
            uses = ", ".join(sorted(_EVENT_WORDS.get(f, f) for f in _EVENT_FIELDS[self.kind]))
            raise ValueError(f"{self.kind} does not use {names} (it takes {uses})")
        if self.kind == "demand_spike":
            if "duration_s" not in self.model_fields_set:
                object.__setattr__(self, "duration_s", HOUR_S)  # a spike lasts an hour unless told otherwise
            elif self.duration_s <= 0:
                raise ValueError("a demand_spike's duration must be positive (default 1h)")
        return self


# the fields each event kind uses (besides at and kind); a site outage takes down every system of the site
_EVENT_FIELDS = {"site_outage": {"site", "duration_s"}, "supply_slip": {"site", "system", "months"},
                 "demand_spike": {"service", "duration_s", "factor"}}
_EVENT_WORDS = {"duration_s": "duration", "at_s": "at"}


_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ +-]*")


class Scenario(_M):
    name: str
    description: str = ""
    start: dt.date = dt.date(2025, 10, 1)
    horizon_s: Seconds = Field(gt=0, description="at most 100 years")
    seed: int = Field(0, ge=0)
    hourly_s: Seconds = Field(HOUR_S, gt=0, description="accounting step (the timeseries row length)")
    training_draw_fraction: float | None = Field(
        None, gt=0, le=1,
        description="average draw of a system at work (training, or serving at full use) / full load "
                    "(default: economics load_factor)")
    perf: PerfSpec = PerfSpec()
    cross_site: CrossSite = CrossSite()
    scheduler: SchedulerSpec = SchedulerSpec()
    sites: tuple[SiteSpec, ...] = Field(min_length=1)
    tenants: tuple[TenantSpec, ...] = Field(min_length=1)
    jobs: tuple[JobSpec, ...] = ()
    generators: tuple[JobGenerator, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    failures: FailureSpec = FailureSpec()
    events: tuple[ScenarioEvent, ...] = ()

    @field_validator("horizon_s")
    @classmethod
    def _horizon(cls, v: float) -> float:
        if v > MAX_HORIZON_S:
            raise ValueError(f"{v / (365.25 * 86400):.3g} years is beyond the 100 a fleet simulation covers")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        # the default run directory is runs/NAME-seedN: a name with a path in it would write elsewhere
        if not _NAME_OK.fullmatch(v) or len(v) > 100:
            raise ValueError(f"'{v[:40]}' is not a plain name: up to 100 ASCII letters, digits, spaces and . _ - + "
                             "(no / or leading dot: it names the run directory)")
        return v

    @field_validator("sites", "tenants", "jobs", "generators", "services")
    @classmethod
    def _unique(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        seen: set[str] = set()
        for x in v:
            if x.name in seen:
                raise ValueError(f"duplicate name '{x.name}'")
            seen.add(x.name)
        return v

    @model_validator(mode="after")
    def _volume(self) -> Scenario:
        rows = self.horizon_s / self.hourly_s
        if rows > MAX_ACCOUNTING_ROWS:
            raise _FieldError("hourly", f"an accounting step of {self.hourly_s:g} s gives {rows:.3g} rows over the "
                                        f"horizon, more than {MAX_ACCOUNTING_ROWS:.0e}",
                              f"give a step of at least {self.horizon_s / MAX_ACCOUNTING_ROWS:.3g} s (e.g. 1h)")
        total = 0.0
        for i, g in enumerate(self.generators):
            end = min(g.end_s if g.end_s is not None else self.horizon_s, self.horizon_s)
            n = g.rate_per_day * max(0.0, end - g.start_s) / 86400.0
            total += min(n, g.count) if g.count is not None else n
            if total > MAX_EXPECTED_JOBS:
                raise _FieldError(f"generators[{i}].rate_per_day", f"the generators would draw ~{total:.3g} jobs over "
                                  f"the run, more than {MAX_EXPECTED_JOBS:.0e} a simulation follows",
                                  "lower rate_per_day, set count, or shorten the horizon")
        return self

    @model_validator(mode="after")
    def _refs(self) -> Scenario:
        tenants = {t.name for t in self.tenants}
        named: list[tuple[str, tuple[Any, ...]]] = [("jobs", self.jobs), ("generators", self.generators),
                                                    ("services", self.services)]
        for kind, items in named:
            for i, x in enumerate(items):
                if x.tenant not in tenants:
                    raise _FieldError(f"{kind}[{i}].tenant", f"unknown tenant '{x.tenant}'",
                                      f"declare it under tenants: ({', '.join(sorted(tenants))})")
        sites = {s.name for s in self.sites}
        services = {s.name for s in self.services}
        for i, e in enumerate(self.events):
            if e.site and e.site not in sites:
                raise _FieldError(f"events[{i}].site", f"unknown site '{e.site}'", f"one of {', '.join(sorted(sites))}")
            if e.service and e.service not in services:
                raise _FieldError(f"events[{i}].service", f"unknown service '{e.service}'")
        for i, s in enumerate(self.services):
            for name in s.sites:
                if name not in sites:
                    raise _FieldError(f"services[{i}].sites", f"unknown site '{name}'")
        return self

    @property
    def horizon_h(self) -> float:
        return self.horizon_s / HOUR_S


class _FieldError(ValueError):
    def __init__(self, field: str, message: str, fix: str | None = None):
        self.field, self.message, self.fix = field, message, fix
        super().__init__(message)


# --- pre-processing: dates, months, chips -> SI before pydantic sees the document ------------------

_RENAMES = {"horizon": "horizon_s", "arrival": "arrival_s", "target": "target_s", "interval": "interval_s",
            "save": "save_s", "restore": "restore_s", "mean": "mean_s", "median": "median_s", "max": "max_s",
            "ttft": "ttft_s", "tpot": "tpot_s", "duration": "duration_s", "start": "start_s", "end": "end_s",
            "at": "at_s", "power_cap": "power_cap_w", "commitment_power": "commitment_w",
            "hourly": "hourly_s"}


def _no_bare_seconds(v: Any, field: str) -> None:
    """A duration written by a person must carry its unit: ``horizon: 2`` would read as 2 seconds, never what is
    meant (as a power must, see ``_with_unit``). Zero needs none; the resolved file's ``*_s`` fields (plain
    seconds) do not pass here."""
    if (x := bare_number(v)) is not None and x != 0:  # text with a unit passes (the parser judges it)
        raise RainierError(f"'{v}' has no unit", field=field,
                           fix=f"write the unit, e.g. {v}h or {v}d (a bare number would be seconds)")


def _ren(d: dict[str, Any], keys: tuple[str, ...], where: str = "") -> dict[str, Any]:
    """``d`` with the human keys among ``keys`` renamed to their SI fields (``horizon`` -> ``horizon_s``); a
    human duration without its unit is refused, naming ``where`` + the key."""
    out = dict(d)
    for k in keys:
        if k in out and _RENAMES[k] not in out:
            _no_bare_seconds(out[k], f"{where}{k}")
            out[_RENAMES[k]] = out.pop(k)
    return out


def _list(d: dict[str, Any], key: str, field: str) -> list[Any]:
    """``d[key]`` as a list ([] when absent); a scalar or mapping there is an input error naming ``field``."""
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise RainierError(f"must be a list, got {type(v).__name__} '{v}'", field=field,
                           fix="write one '- ' item per entry (or leave the key out)")
    return v


def _prep(doc: dict[str, Any]) -> dict[str, Any]:
    """Turn the human-friendly document into the schema's SI form, naming fields on error."""
    if not isinstance(doc, dict):
        raise RainierError("a scenario file holds a mapping (name:, horizon:, sites:, ...)", field="(scenario)")
    d = _ren(doc, ("horizon", "hourly"))
    start_raw = d.get("start", dt.date(2025, 10, 1))
    if isinstance(start_raw, dt.datetime):
        if start_raw.time() != dt.time(0):
            raise RainierError(f"'{start_raw}' has a time of day; a scenario begins at midnight of a date",
                               field="start", fix=f"write the date alone, like {start_raw.date()}")
        start_raw = start_raw.date()
    try:
        start = start_raw if isinstance(start_raw, dt.date) else dt.datetime.strptime(str(start_raw), "%Y-%m-%d").date()
    except ValueError:
        raise RainierError(f"cannot read '{start_raw}'", field="start", fix="write a date like 2025-10-01") from None
    d["start"] = start

    def when(v: Any, field: str) -> float:
        _no_bare_seconds(v, field)
        try:
            t = _time_point(v, start, field)
        except RainierError:
            raise RainierError(f"cannot read '{v}'", field=field,
                               fix="write a date (2026-03-01), a month (2026-03) or a time from the start (30d)") from None
        if t < 0:
            raise RainierError(f"{v} is before the scenario's start ({start})", field=field,
                               fix="give a time on or after start:, or move start: earlier")
        return t

    def month_index(v: Any) -> int | None:
        """Months from the start's month of a month written as 2026-03 or a whole count; None for a date or
        a duration."""
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str):
            try:
                m = dt.datetime.strptime(v.strip(), "%Y-%m")
            except ValueError:
                return None
            return (m.year - start.year) * 12 + m.month - start.month
        return None

    def month(v: Any, field: str) -> float:
        if isinstance(v, float):
            raise RainierError(f"month {v} is not a whole number of months", field=field,
                               fix="count whole months from the start (12 = a year later) or write a month like 2026-03")
        idx = month_index(v)  # (the start's own month is month 0)
        if idx is not None:
            v = idx
            if v < 0:
                raise RainierError(f"month {v} is before the scenario's start ({start})", field=field,
                                   fix="count months from the start: 0 is the start's month, 12 a year later")
            try:
                return month_start_s(start, v)
            except (ValueError, OverflowError):
                raise RainierError(f"month {v} after the start is beyond the calendar", field=field,
                                   fix="count months from the start (12 = a year later) or write a date") from None
        return when(v, field)

    def pools(site: dict[str, Any], si: int) -> list[Any]:
        out = []
        for pi, p in enumerate(_list(site, "systems", f"sites[{si}].systems")):
            if not isinstance(p, dict):
                out.append(p)
                continue
            p = dict(p)
            f = f"sites[{si}].systems[{pi}]"
            per = p.pop("chips_per_system", None)  # filled by resolve(); chips need the catalog
            if "installed_chips" in p:
                p["_installed_chips"] = p.pop("installed_chips")
            for key in ("deliveries", "decommission"):
                items = []
                for di, x in enumerate(_list(p, key, f"{f}.{key}")):
                    if not isinstance(x, dict):
                        items.append(x)
                        continue
                    x = dict(x)
                    ff = f"{f}.{key}[{di}]"
                    if "month" in x:
                        x["at_s"] = month(x.pop("month"), f"{ff}.month")
                    elif "at" in x:
                        x["at_s"] = when(x.pop("at"), f"{ff}.at")
                    if "from" in x:  # {from: 2025-11, to: 2026-09, systems: N}: one delivery per month
                        a = x.pop("from")
                        b = x.pop("to", None)
                        if b is None:
                            raise RainierError("from: needs to:", field=f"{ff}.to")
                        t0, t1 = month(a, f"{ff}.from"), month(b, f"{ff}.to")
                        if t1 < t0:
                            raise RainierError(f"to: {b} comes before from: {a}", field=f"{ff}.to",
                                               fix="give the first month as from: and the last as to:")
                        ia, ib = month_index(a), month_index(b)
                        if ia is not None and ib is not None:
                            # calendar months: each one's first day (the start's own month at the start), so a
                            # start in mid-month keeps the to: month's delivery
                            for k in range(ia, ib + 1):
                                y = dict(x)
                                y["at_s"] = month_start_s(start, k)
                                items.append(y)
                            continue
                        for m in range(0, 600):
                            try:
                                t = _add_months(start, t0, m)
                            except (ValueError, OverflowError):
                                raise RainierError("the deliveries run beyond the calendar", field=f"{ff}.from",
                                                   fix="give from: and to: as months like 2026-03") from None
                            if t > t1 + 1:
                                break
                            y = dict(x)
                            y["at_s"] = t
                            items.append(y)
                        continue
                    items.append(x)
                p[key] = items
            if per is not None:
                p["_chips_per_system"] = per
            out.append(p)
        return out

    sites = []
    for si, s in enumerate(_list(d, "sites", "sites")):
        if isinstance(s, dict):
            s = dict(s)
            if "power_cap" in s:
                s["power_cap_w"] = _with_unit(s.pop("power_cap"), f"sites[{si}].power_cap", "300MW")
            s["systems"] = pools(s, si)
        sites.append(s)
    if "sites" in d:
        d["sites"] = sites

    tenants = []
    for ti, t in enumerate(_list(d, "tenants", "tenants")):
        if isinstance(t, dict):
            t = dict(t)
            c = t.pop("commitment", None)
            if c is not None:
                if isinstance(c, dict):
                    for k in c:
                        if k not in ("power", "chips"):
                            raise RainierError(f"unknown field '{k}' (check the spelling)",
                                               field=f"tenants[{ti}].commitment.{k}",
                                               fix="give power: (e.g. 500MW) or chips: (e.g. 100000)")
                    if "power" in c:
                        t["commitment_w"] = _with_unit(c["power"], f"tenants[{ti}].commitment.power", "500MW")
                    if "chips" in c:
                        t["commitment_chips"] = c["chips"]
                else:
                    # a bare string with a W unit is power; a bare number is chips
                    if isinstance(c, str) and c.strip().lower().endswith("w"):
                        t["commitment_w"] = c
                    else:
                        t["commitment_chips"] = c
            for k in ("commitment_w",):
                if k in t:
                    t[k] = _wrap(parse_power, t[k], f"tenants[{ti}].commitment")
            if "commitment_chips" in t:
                t["commitment_chips"] = _wrap(parse_count, t["commitment_chips"], f"tenants[{ti}].commitment")
        tenants.append(t)
    if "tenants" in d:
        d["tenants"] = tenants

    def ckpt(x: Any) -> Any:
        if x == "auto":
            return {"auto": True}
        return _ren(x, ("interval", "save", "restore"), "checkpoint.") if isinstance(x, dict) else x

    def dist(x: Any) -> Any:
        return _ren(x, ("mean", "median", "max"), "duration.") if isinstance(x, dict) else x

    def choices(xs: Any, key: str) -> Any:
        if not isinstance(xs, list):
            return xs
        out = []
        for x in xs:
            if isinstance(x, dict) and key in x:
                y = dict(x)
                y["value"] = y.pop(key)
                out.append(y)
            elif isinstance(x, (str, int, float)):
                out.append({"value": x})
            else:
                out.append(x)
        return out

    jobs = []
    for ji, j in enumerate(_list(d, "jobs", "jobs")):
        if isinstance(j, dict):
            j = _ren(j, ("target",), f"jobs[{ji}].")
            if "arrival" in j:
                j["arrival_s"] = when(j.pop("arrival"), f"jobs[{ji}].arrival")
            if "checkpoint" in j:
                j["checkpoint"] = ckpt(j["checkpoint"])
        jobs.append(j)
    if "jobs" in d:
        d["jobs"] = jobs

    gens = []
    for gi, g in enumerate(_list(d, "generators", "generators")):
        if isinstance(g, dict):
            g = dict(g)
            for k in ("start", "end"):
                if k in g:
                    g[f"{k}_s"] = when(g.pop(k), f"generators[{gi}].{k}")
            if "checkpoint" in g:
                g["checkpoint"] = ckpt(g["checkpoint"])
            if "duration" in g:
                g["duration"] = dist(g["duration"])
            if "models" in g:
                g["models"] = choices(g["models"], "model")
            elif "model" in g:
                g["models"] = [{"value": g.pop("model")}]
            if "chips" in g:
                g["chips"] = choices(g["chips"] if isinstance(g["chips"], list) else [g["chips"]], "chips")
        gens.append(g)
    if "generators" in d:
        d["generators"] = gens

    services = []
    for si, s in enumerate(_list(d, "services", "services")):
        if isinstance(s, dict):
            s = dict(s)
            if isinstance(s.get("precision"), str):
                s["precision"] = s["precision"].strip().lower()
            if isinstance(s.get("slo"), dict):
                s["slo"] = _ren(s["slo"], ("ttft", "tpot"), f"services[{si}].slo.")
            if isinstance(s.get("demand"), dict) and isinstance(s["demand"].get("steps"), list):
                steps = []
                for k, st in enumerate(s["demand"]["steps"]):
                    if isinstance(st, dict) and "at" in st:
                        st = {**{key: v for key, v in st.items() if key != "at"},
                              "at_s": when(st["at"], f"services[{si}].demand.steps[{k}].at")}
                    steps.append(st)
                s["demand"] = {**s["demand"], "steps": steps}
        services.append(s)
    if "services" in d:
        d["services"] = services

    if isinstance(d.get("failures"), dict):
        f = dict(d["failures"])
        if isinstance(f.get("causes"), list):
            f["causes"] = [dict(c, repair=dist(c["repair"])) if isinstance(c, dict) and "repair" in c else c
                           for c in f["causes"]]
        d["failures"] = f
    if isinstance(d.get("scheduler"), str):
        d["scheduler"] = {"name": d["scheduler"]}
    elif isinstance(d.get("scheduler"), dict):
        d["scheduler"] = _ren(d["scheduler"], ("interval",), "scheduler.")

    events = []
    for ei, e in enumerate(_list(d, "events", "events")):
        if isinstance(e, dict):
            e = dict(e)
            if "at" in e:
                e["at_s"] = when(e.pop("at"), f"events[{ei}].at")
            e = _ren(e, ("duration",), f"events[{ei}].")
        events.append(e)
    if "events" in d:
        d["events"] = events
    return d


def _with_unit(v: Any, field: str, example: str) -> Any:
    """A power written by a person must carry its unit: ``power_cap: 5`` would read as 5 W, never what is
    meant. Zero needs none, and the resolved file's ``power_cap_w`` (plain watts) does not pass here."""
    if isinstance(v, bool) or v is None or v == "":
        raise RainierError(f"'{v}' is not a power", field=field, fix=f"write a power with its unit, e.g. {example}")
    try:
        x = float(str(v).replace("_", "").replace(",", ""))
    except ValueError:
        return v  # text with a unit (or text parse_power refuses with its own message)
    if not math.isfinite(x):
        raise RainierError(f"'{v}' is not a finite power", field=field, fix=f"write a power such as {example}")
    if x != 0:
        raise RainierError(f"'{v}' has no unit", field=field, fix=f"write the unit, e.g. {example} (a bare number is watts)")
    return v


def _add_months(start: dt.date, t0_s: float, m: int) -> float:
    """``t0_s`` plus ``m`` calendar months: the same day and time of day, or the month's last day where it has
    fewer (Jan 31 -> Feb 28); the first (m = 0) is ``t0_s`` itself, never before it."""
    if m == 0:
        return t0_s
    base = dt.datetime(start.year, start.month, start.day) + dt.timedelta(seconds=t0_s)
    y, mo = divmod(base.month - 1 + m, 12)
    last = calendar.monthrange(base.year + y, mo + 1)[1]
    d = base.replace(year=base.year + y, month=mo + 1, day=min(base.day, last))
    return (d - dt.datetime(start.year, start.month, start.day)).total_seconds()


def _wrap(fn: Any, v: Any, field: str) -> float:
    try:
        return float(fn(v, field))
    except RainierError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise RainierError(str(exc), field=field) from None


_TYPE_TAGS = {"int", "str", "float", "bool", "dict", "list", "tuple"}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for x in loc:
        if isinstance(x, str) and (x in _TYPE_TAGS or "[" in x):
            continue  # pydantic's union-member tags (int, literal['auto'], ...) are not fields
        if isinstance(x, int):
            out += f"[{x}]"
        else:
            name = str(x)
            for k, v in _RENAMES.items():
                if name == v:
                    name = k
                    break
            out += ("." if out else "") + name
    return out or "(scenario)"


_KIND_OF = {"model_type": "a mapping (key: value lines)", "dict_type": "a mapping (key: value lines)",
            "model_attributes_type": "a mapping (key: value lines)", "tuple_type": "a list", "list_type": "a list",
            "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
            "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
            "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "text",
            "date_type": "a date like 2025-10-01", "date_parsing": "a date like 2025-10-01",
            "date_from_datetime_parsing": "a date like 2025-10-01"}
_BOUND = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
          "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}


def _message(err: Any) -> str:
    """One validation error in the words of the scenario file, not pydantic's."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    if kind == "extra_forbidden":
        return "unknown field (check the spelling)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and isinstance(got, (int, float, bool)):
        return f"must be text (got {shown}: YAML reads it as a {type(got).__name__}; quote it, '{got}')"
    if kind in _KIND_OF:
        return f"must be {_KIND_OF[kind]} (got {shown})"
    if kind in _BOUND:
        word, key = _BOUND[kind]
        return f"must be {word} {ctx.get(key)} (got {shown})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {shown})"
    if kind in ("too_short", "too_long"):
        return f"needs at least {ctx.get('min_length')} item(s)" if kind == "too_short" else \
            f"has too many items (at most {ctx.get('max_length')})"
    return str(err["msg"]).removeprefix("Value error, ")


def _resolve_catalog(doc: dict[str, Any], catalog: Any) -> dict[str, Any]:
    """Fill catalog-derived values (chips -> systems, site defaults) and check references."""
    from rainier.errors import UnknownNameError

    for si, s in enumerate(doc.get("sites") or []):
        if not isinstance(s, dict):
            continue
        try:
            site = catalog.site(s.get("catalog") or s.get("name", ""), field=f"sites[{si}].catalog")
        except UnknownNameError:
            site = None
            if s.get("catalog"):
                raise
        # parsed before the defaults apply: "0MW" or "0" means the catalog's figure as 0 does, not a 0 W cap
        if s.get("power_cap_w") is not None and not isinstance(s["power_cap_w"], bool):
            s["power_cap_w"] = _wrap(parse_power, s["power_cap_w"], f"sites[{si}].power_cap")
        if isinstance(s.get("pue"), str):
            try:
                s["pue"] = float(s["pue"])
            except ValueError:
                pass  # the schema names it
        if site is not None:
            if not s.get("power_cap_w"):
                s["power_cap_w"] = site.power_mw * 1e6
            if not s.get("pue"):
                s["pue"] = site.pue
            s["catalog"] = site.name
        elif not s.get("power_cap_w") or not s.get("pue"):
            raise RainierError(f"site '{s.get('name')}' is not in the catalog, so give power_cap and pue",
                               field=f"sites[{si}].power_cap")
        else:
            s["catalog"] = None
        for pi, p in enumerate(s.get("systems") or []):
            if not isinstance(p, dict):
                continue
            f = f"sites[{si}].systems[{pi}]"
            system = catalog.system(str(p.get("kind", "")), field=f"{f}.kind")
            p["kind"] = system.name
            per = system.chips
            if "_installed_chips" in p:
                p["installed"] = math.ceil(_wrap(parse_count, p.pop("_installed_chips"), f"{f}.installed_chips") / per)
            p.pop("_chips_per_system", None)
            for key in ("deliveries", "decommission"):
                for di, x in enumerate(p.get(key) or []):
                    if isinstance(x, dict) and "chips" in x:
                        x["systems"] = math.ceil(_wrap(parse_count, x.pop("chips"), f"{f}.{key}[{di}].chips") / per)
    for kind in ("jobs", "generators", "services"):
        for i, x in enumerate(doc.get(kind) or []):
            if not isinstance(x, dict):
                continue
            if "system" not in x and "chip" in x:
                acc = catalog.accelerator(str(x.pop("chip")), field=f"{kind}[{i}].chip")
                x["system"] = catalog.system_for(acc).name
            if "system" in x:
                x["system"] = catalog.system(str(x["system"]), field=f"{kind}[{i}].system").name
            if "model" in x:
                x["model"] = catalog.model(str(x["model"]), field=f"{kind}[{i}].model").name
            for ci, c in enumerate(x.get("models") or []):
                if isinstance(c, dict) and "value" in c:
                    c["value"] = catalog.model(str(c["value"]), field=f"{kind}[{i}].models[{ci}]").name
    return doc


def scenario_from_dict(doc: dict[str, Any], *, seed: int | None = None, catalog: Any = None,
                       source: str = "scenario") -> Scenario:
    """Validate a scenario document (already parsed YAML)."""
    from rainier.catalog import default_catalog

    try:
        return _from_dict(doc, seed, catalog or default_catalog())
    except RainierError as exc:
        # every message is "FIELD: what; fix" here: the file goes in front, once
        raise RainierError(f"{source}: {exc}", field=exc.field) from None


def _from_dict(doc: dict[str, Any], seed: int | None, cat: Any) -> Scenario:
    d = _prep(doc)
    d = _resolve_catalog(d, cat)
    if seed is not None:
        d["seed"] = int(seed)
    try:
        sc = Scenario.model_validate(d)
    except _FieldError as exc:
        raise RainierError(exc.message, field=exc.field, fix=exc.fix) from None
    except ValidationError as exc:
        errs = exc.errors()
        # a failed item also fails its list's length check (sites: too_short): report the item
        locs = [tuple(e["loc"]) for e in errs]
        errs = [e for e, lo in zip(errs, locs, strict=True)
                if not any(o[:len(lo)] == lo and o != lo for o in locs)] or errs
        err = errs[0]
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _FieldError):
            raise RainierError(ctx_err.message, field=ctx_err.field, fix=ctx_err.fix) from None
        field = _loc(tuple(err["loc"]))
        others = {_loc(tuple(e["loc"])) for e in errs} - {field}  # a union's branches share a field
        more = f" (and {len(others)} more field{'s' * (len(others) > 1)})" if others else ""
        raise RainierError(f"{field}: {_message(err)}{more}", field=field) from None
    # references the pydantic model cannot see: generator models/sizes
    for i, g in enumerate(sc.generators):
        for ci, c in enumerate(g.chips):
            if not isinstance(c.value, int) or c.value <= 0:
                raise RainierError(f"chips must be positive integers (got {c.value!r})",
                                   field=f"generators[{i}].chips[{ci}]")
    _check_systems_held(sc, cat)
    _check_failure_volume(sc, cat)
    from rainier.fleet.policies import make_scheduler

    make_scheduler(sc.scheduler.name, sc.scheduler.params)  # a name or parameter the run would refuse, now
    _check_gang_sizes(sc, cat)
    return sc


def _check_failure_volume(sc: Scenario, catalog: Any) -> None:
    """Refuse a failure process that would fire more than MAX_EXPECTED_FAILURES times over the run (every
    system ever delivered, installed for the whole horizon): ``failures.scale: 1e9`` ran for hours."""
    chips = systems = 0.0
    for s in sc.sites:
        for p in s.systems:
            n = p.systems_ever
            systems += n
            chips += n * catalog.system(p.kind).chips
    causes = sc.failures.resolved_causes()
    per_hour = sc.failures.scale * (chips * sum(c.rate_per_chip_hour for c in causes)
                                    + systems * sum(c.rate_per_system_hour for c in causes))
    expected = per_hour * sc.horizon_h
    if expected > MAX_EXPECTED_FAILURES:
        raise RainierError(f"the failure rates give ~{expected:.3g} failures over the run, more than "
                           f"{MAX_EXPECTED_FAILURES:.0e} a simulation can follow", field="failures.scale",
                           fix="lower failures.scale or the causes' rates, or shorten the horizon")


def _check_systems_held(sc: Scenario, catalog: Any) -> None:
    """Every job, generator and service runs on a system kind some site holds (at the start or by a delivery),
    a supply slip names a kind its site holds, and a service's precision runs on its system's chip. Without
    these a typo'd or absent system gives a run where the work silently never starts."""
    from rainier.perf.inference import check_precision

    held: dict[str, set[str]] = {}
    for s in sc.sites:
        for p in s.systems:
            if p.systems_ever > 0:  # a pool of none holds nothing
                held.setdefault(p.kind, set()).add(s.name)
    kinds = ", ".join(sorted(held))
    named: list[tuple[str, tuple[Any, ...]]] = [("jobs", sc.jobs), ("generators", sc.generators),
                                                ("services", sc.services)]
    for kind, items in named:
        for i, x in enumerate(items):
            if x.system not in held:
                raise RainierError(f"no site holds a {x.system}, so {kind[:-1]} '{x.name}' could never run",
                                   field=f"{kind}[{i}].system",
                                   fix=f"use a system the sites hold ({kinds}) or add {x.system} to a site's systems:")
    for i, sv in enumerate(sc.services):
        acc = catalog.accelerator(catalog.system(sv.system).accelerator)
        check_precision(acc, sv.precision, field=f"services[{i}].precision")
        if sv.sites and not set(sv.sites) & held[sv.system]:
            raise RainierError(f"none of the sites {', '.join(sv.sites)} holds a {sv.system}, so service "
                               f"'{sv.name}' could never serve", field=f"services[{i}].sites",
                               fix=f"name a site that holds it ({', '.join(sorted(held[sv.system]))})")
    for i, e in enumerate(sc.events):
        if e.kind == "supply_slip" and e.system and e.site not in held.get(e.system, set()):
            here = ", ".join(sorted(k for k, v in held.items() if e.site in v))
            raise RainierError(f"site '{e.site}' holds no {e.system}", field=f"events[{i}].system",
                               fix=f"name a system of that site ({here}) or leave system: out to slip all of them")


def _check_gang_sizes(sc: Scenario, catalog: Any) -> None:
    """Reject a listed training job (``jobs:``) that no placement could ever start.

    The largest gang a scenario can ever place mirrors what the simulator does at job arrival
    (``Simulation._arrive``) and the placement rule (:func:`rainier.fleet.placement.plan_sites`): each
    ``sites[].systems[]`` entry is one pool of ``installed + sum(deliveries)`` systems, its size once all
    supply has arrived; a gang runs inside one pool, or across every pool of its system kind when both the
    job and the scenario allow crossing sites. This is an upper bound on what is ever free: it ignores
    decommissioning, failures, outages, deliveries due (or slipped) past the horizon and the site power cap,
    which can only make less available, so a job rejected here could never have started, while one that passes may still
    wait. Not checked here, and recorded by the simulator as a ``job_unplaceable`` event when too large: a job
    with ``chips: auto`` (sized at run time from the perf backend's speed and its target, so unknown here) and
    a generator's ``chips`` choices (a distribution to draw from, not one job; one choice may be too large
    for a small fleet while the others run).
    """
    per_kind: dict[str, list[int]] = {}
    for s in sc.sites:
        for p in s.systems:
            per_kind.setdefault(p.kind, []).append(p.systems_ever)
    cross_ok = sc.cross_site.allowed
    gangs = [(f"jobs[{i}].chips", j.system, j.chips, j.cross_site)
             for i, j in enumerate(sc.jobs) if isinstance(j.chips, int)]
    for field, kind, chips, cross in gangs:
        per_system = catalog.system(kind).chips
        need = -(-chips // per_system)  # whole systems, as the simulator rounds
        sizes = per_kind.get(kind, [])
        spans = cross and cross_ok and len(sizes) > 1
        most = sum(sizes) if spans else max(sizes, default=0)
        total = sum(sizes)
        if need <= most:
            continue
        fleet = f"{most * per_system:,} chips of {kind} once all deliveries arrive"
        fix = f"ask for at most {most * per_system:,} chips"
        if most < total:
            fleet = f"{fleet} in the largest site pool ({total * per_system:,} in all sites)"
            if need <= total:
                fix += " or let the job span sites (cross_site: true on the job and cross_site: {allowed: true})"
        raise RainierError(f"{field}: needs {chips:,} chips, more than the fleet ever holds: {fleet}",
                           field=field, fix=f"{fix}, or add {kind} systems or deliveries")


def builtin_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(path_or_name: str | Path, *, seed: int | None = None, catalog: Any = None,
                  overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a scenario from a YAML file or a built-in name (``rainier``, ``tiny``, ...)."""
    doc, source = scenario_document(path_or_name)
    return scenario_from_dict(with_overrides(doc, overrides), seed=seed, catalog=catalog, source=source)


def with_overrides(doc: Any, overrides: dict[str, Any] | None) -> Any:
    """``doc`` with top-level keys replaced, in either spelling (a resolved scenario.yaml holds
    ``horizon_s`` where a person writes ``horizon``)."""
    if not overrides or not isinstance(doc, dict):
        return doc
    drop = {_RENAMES.get(k) for k in overrides}
    return {**{k: v for k, v in doc.items() if k not in drop}, **overrides}


def scenario_document(path_or_name: str | Path) -> tuple[Any, str]:
    """The parsed YAML document of a scenario file or built-in name, and the file name errors cite."""
    p = Path(path_or_name)
    builtin = SCENARIO_DIR / f"{path_or_name}.yaml"
    if p.is_dir() and "/" not in str(path_or_name) and builtin.exists():
        p = builtin  # a folder named like a built-in in the working directory does not hide the built-in
    if p.is_dir():
        raise RainierError(f"{p} is a directory, not a scenario file", field="SCENARIO",
                           fix=f"give a scenario YAML file or a built-in name: {', '.join(builtin_scenarios())}")
    if not p.exists():
        cand = SCENARIO_DIR / f"{path_or_name}.yaml"
        if not cand.exists():
            from rainier.errors import closest

            near = closest(str(path_or_name), builtin_scenarios())
            raise RainierError(f"no scenario file or built-in scenario '{path_or_name}'", field="SCENARIO",
                               fix=f"built-ins: {', '.join(near or builtin_scenarios())}")
        p = cand
    try:
        doc = load_yaml(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RainierError(f"cannot read {p}: {why}", field="SCENARIO",
                           fix="give a readable scenario YAML file or a built-in name") from None
    except yaml.YAMLError as exc:
        line, msg = yaml_problem(exc)  # e.g. a !!python tag, a second document
        where = f" line {line}" if line is not None else ""
        raise RainierError(f"{p}:{where}: malformed YAML ({msg})", fix="fix the YAML syntax (one plain YAML document)") \
            from None
    return doc, p.name


def resolved_dict(sc: Scenario) -> dict[str, Any]:
    """The fully resolved scenario as plain data (SI units, every default filled in)."""
    return sc.model_dump(mode="json")


def resolved_yaml(sc: Scenario) -> str:
    return yaml.safe_dump(resolved_dict(sc), sort_keys=False, default_flow_style=None, width=110)


def config_sha256(sc: Scenario) -> str:
    text = json.dumps(resolved_dict(sc), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
