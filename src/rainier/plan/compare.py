"""One training job, or one served model, on several chip kinds: at the same chip count or facility power.

"Trainium2 lags the H100, but its cost-to-performance is good enough" is a claim about three ratios of
one job: tokens/s, dollars per token and energy per token. :func:`compare_training` runs the training
estimator (:func:`rainier.perf.training.estimate_training`, its parallelism search included) once per
chip kind and puts those ratios side by side, each relative to the first kind given.

Bases:

* ``chips``: every kind gets the same chip count;
* ``power``: every kind gets the whole systems that ``power_w`` of facility power carries
  (as ``rainier size --power``: nameplate chip + host + network power, times the PUE), since power, not
  chips, is what a gigawatt campus runs short of. A job cannot always use exactly the chips the power
  buys (its data-parallel size must divide the global batch, its pipeline the layers, and a batch has
  only so many sequences to spread): the largest count not above them that is a whole number of systems
  times a power of two, or a power of two, and has a valid configuration, is used (``chips``), and
  ``chips_available`` says how many the power bought. A model that does not fit in memory at a power of
  two does not fit at a smaller count (less to shard over, no more ways to split): the descent stops there.

Per kind: ``usd_per_million_tokens`` = owner cost per chip-hour (``rainier.econ.chip_hour_cost``: capex
amortised + power + operations) x chips / tokens per hour; ``cloud_usd_per_million_tokens`` the same at the
catalog's cloud price; ``kwh_per_million_tokens`` = average facility power (the training load factor)
/ tokens/s. These do not depend on ``tokens``; with ``tokens`` the time, energy and cost to train are in
each ``result``. Per-token figures are failure-free; each ``result.goodput`` holds the share of wall time
that trains under failures and checkpoints (more chips: more interruptions), and with ``tokens`` the
time, energy and cost including the losses. A kind that cannot run the job (the model does not fit, no rate at the precision) keeps a
row with ``error`` set; an error is raised only when no kind can (naming the input every kind refused, when
they agree). Ratios are to the first kind that has the figure.

:func:`compare_serving` does the same for :func:`rainier.perf.inference.estimate_serving` (same traffic and
SLO for every kind; per output token: owner and cloud dollars, facility joules). Serving replicas need no
layout across the chip count, so with ``power_w`` each kind serves on every chip the power buys.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rainier.catalog.loader import Catalog, default_catalog
from rainier.catalog.schema import Accelerator, System
from rainier.econ import hourly_rates, power_chain, whole_systems
from rainier.errors import DoesNotFitError, RainierError
from rainier.perf.goodput import Resilience
from rainier.perf.inference import ServingResult, estimate_serving
from rainier.perf.training import Options, TrainingResult, estimate_training
from rainier.units import fmt_power

__all__ = ["ChipRow", "TrainingComparison", "compare_training", "chip_counts_below", "ServingRow",
           "ServingComparison", "compare_serving", "estimated_fields", "PERF_FIELDS"]

# errors that fewer chips may cure (no layout divides the count, a fixed size does not divide it)
_COUNT_FIELDS = (None, "parallelism", "--chips", "--tp", "--pp", "--dp", "--cp", "--ep", "--etp", "--vp",
                 "--micro-batch", "--global-batch")


@dataclass(frozen=True)
class ChipRow:
    """One chip kind's answer. ``result`` is None (and ``error`` set) where the kind cannot run the job."""

    chip: str
    chips: int
    chips_available: int
    facility_power_mw: float  # nameplate facility power of the chips the job runs on
    usd_per_million_tokens: float | None
    cloud_usd_per_million_tokens: float | None
    kwh_per_million_tokens: float | None
    speed_vs_first: float | None  # tokens/s over the first runnable kind's
    cost_vs_first: float | None  # owner $ per token over the first runnable kind's
    energy_vs_first: float | None  # kWh per token over the first runnable kind's
    result: TrainingResult | None
    error: str | None = None
    estimated: tuple[str, ...] = ()  # catalog figures of the chip and its system that are estimates (estimated_fields)
    cloud_price_basis: str | None = None  # the catalog's price_basis of the chip's cloud price (on-demand, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingComparison:
    """What ``rainier train --chip a,b,c --json`` prints."""

    model: str
    basis: str  # "chips" or "power"
    chips: int | None  # the chip count (basis chips)
    power_w: float | None  # the facility power (basis power)
    seq: int
    global_batch: int
    precision: str
    tokens: float | None
    rows: list[ChipRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# catalog figures behind speed and energy (an estimate here moves the comparison, not only its dollars); the links
# come from the system's scale-up tiers and scale-out entry, not the chip's own scaleup_gbytes_s / scaleout_gbits_s
# (documentation figures no estimate reads), so an estimate of those does not star a row
PERF_FIELDS = ("peak_tflops", "hbm_gib", "hbm_tbps", "exp_tera_per_s", "tdp_w", "system_power_w", "all")


def estimated_fields(acc: Accelerator, system: System) -> tuple[str, ...]:
    """The chip's and its system's catalog fields marked estimated ('all' for a wholly estimated entry;
    the system's prefixed 'system.')."""
    out: list[str] = []
    for entry, prefix in ((acc, ""), (system, "system.")):
        if entry.estimated is True:
            out.append(prefix + "all")
        elif entry.estimated:
            out.extend(prefix + f for f in entry.estimated)
    return tuple(out)


def chip_counts_below(available: int, system_chips: int) -> list[int]:
    """Chip counts to try, largest first: ``available`` itself, then every count not above it that is
    whole systems times a power of two, or a power of two (the counts a parallelism layout divides)."""
    found = {available}
    q = 1
    while q <= available:
        found.add(available // q * q)
        found.add(q)
        unit = system_chips * q
        if unit <= available:
            found.add(available // unit * unit)
        q *= 2
    return sorted((n for n in found if n > 0), reverse=True)


def _whole_count(chips: object) -> int:
    if isinstance(chips, bool) or not isinstance(chips, (int, float)) or not math.isfinite(chips) \
            or chips != int(chips) or chips < 1:
        raise RainierError(f"must be a whole number of at least 1 (got {chips!r})", field="--chips",
                           fix="e.g. --chips 16384")
    return int(chips)


def _kinds(cat: Catalog, chip_kinds: list[str], chips: object, power_w: float | None,
           system: str | None) -> list[tuple[str, Accelerator, System]]:
    """The kinds resolved (name as given, accelerator, system), after the checks that apply to all."""
    if (chips is None) == (power_w is None):
        raise RainierError("give exactly one of a chip count and a facility power", field="--chips/--power",
                           fix="e.g. --chips 16384, or --power 100MW to compare the chips that power carries")
    if chips is not None:
        _whole_count(chips)
    if power_w is not None and (isinstance(power_w, bool) or not isinstance(power_w, (int, float))
                                or not (power_w > 0 and math.isfinite(power_w))):
        raise RainierError(f"must be a positive facility power (got {power_w!r} W)", field="--power",
                           fix="e.g. --power 100MW")
    if isinstance(chip_kinds, str) or not isinstance(chip_kinds, (list, tuple)):
        raise RainierError(f"must be a list of chip kinds (got {chip_kinds!r})", field="--chip",
                           fix="e.g. ['trn2', 'h100'] (on the command line: --chip trn2,h100)")
    if not chip_kinds:
        raise RainierError("no chip kind given", field="--chip", fix="e.g. --chip trn2,h100,gb200")
    if system is not None and len(chip_kinds) > 1:
        raise RainierError("a system holds one chip kind", field="--system",
                           fix="drop --system when comparing kinds")
    out: list[tuple[str, Accelerator, System]] = []
    seen: dict[str, str] = {}
    for name in chip_kinds:
        acc = cat.accelerator(name)  # an unknown kind fails before any estimate
        if acc.name in seen:
            same = f"'{seen[acc.name]}' and '{name}' are" if seen[acc.name] != name else f"'{name}' is"
            raise RainierError(f"{same} the same kind ({acc.name}) listed twice", field="--chip",
                               fix="list each kind once")
        seen[acc.name] = name
        out.append((name, acc, cat.system_for(acc, system)))
    return out


def _bought(cat: Catalog, acc: Accelerator, sys_: System, power_w: float) -> tuple[int, str | None]:
    """Chips in the whole systems ``power_w`` of facility power carries (as ``rainier size --power``), and
    why none when not even one."""
    unit_w = power_chain(acc, sys_, cat.economics()).facility_w * sys_.chips
    systems = whole_systems(power_w, unit_w)
    if systems < 1:
        return 0, (f"{fmt_power(power_w)} buys no whole {sys_.name} (one needs {fmt_power(unit_w)} of facility "
                   "power)")
    return systems * sys_.chips, None


def _no_kind(errors: list[RainierError], kinds: list[str], what: str) -> RainierError:
    """The error when no kind can: the kinds' own error when they all give the same one, else one line
    naming each kind's (under the field they share, if they share one)."""
    texts = [str(e) for e in errors]
    if len(set(texts)) == 1:
        return errors[0]
    fields = {e.field for e in errors}
    detail = "; ".join(f"{k}: {t}" for k, t in zip(kinds, texts, strict=True))
    if len(fields) == 1 and None not in fields:
        return RainierError(f"no chip kind can {what} ({detail})", field=errors[0].field, fix=errors[0].fix)
    return RainierError(f"no chip kind can {what} ({detail})", field="--chip",
                        fix="try other kinds, more chips or power, or a smaller model")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _base(values: list[float | None]) -> float | None:
    return next((v for v in values if v is not None), None)


def _per_token(res: TrainingResult, acc: Accelerator, sys_: System, cat: Catalog
               ) -> tuple[float | None, float | None, float]:
    tokens_per_h = res.tokens_per_s * 3600
    owner_h, cloud_h = hourly_rates(acc, sys_, cat.economics())
    owner = owner_h * res.chips / tokens_per_h * 1e6 if owner_h is not None else None
    cloud = cloud_h * res.chips / tokens_per_h * 1e6 if cloud_h else None
    kwh = res.power_mw * 1e3 / tokens_per_h * 1e6
    return owner, cloud, kwh


def compare_training(model: str, chip_kinds: list[str], *, seq: int, global_batch: int, chips: int | None = None,
                     power_w: float | None = None, parallelism: dict[str, Any] | None = None,
                     precision: str = "bf16", tokens: float | None = None, sites: int = 1,
                     cross_site_gbps: float | None = None, catalog: Catalog | None = None, top: int = 1,
                     options: Options | None = None, system: str | None = None,
                     resilience: Resilience | None = None, time_s: float | None = None) -> TrainingComparison:
    """Estimate one training job on each of ``chip_kinds`` at the same ``chips`` or the same ``power_w``
    (exactly one of them); see the module docstring. ``system`` only with one kind."""
    cat = catalog or default_catalog()
    kinds = _kinds(cat, chip_kinds, chips, power_w, system)
    rows: list[ChipRow] = []
    errors: list[RainierError] = []
    est = {name: estimated_fields(acc, sys_) for name, acc, sys_ in kinds}
    basis = {name: acc.price_basis for name, acc, _ in kinds}
    for name, acc, sys_ in kinds:
        if power_w is not None:
            available, none_why = _bought(cat, acc, sys_, power_w)
            tries = chip_counts_below(available, sys_.chips) if available else []
        else:
            available, none_why = _whole_count(chips), None
            tries = [available]
        res: TrainingResult | None = None
        error: RainierError | None = RainierError(none_why, field="--power") if none_why else None
        for n in tries:
            try:
                res = estimate_training(model, acc, n, seq=seq, global_batch=global_batch, parallelism=parallelism,
                                        precision=precision, tokens=tokens, sites=sites, system=sys_,
                                        cross_site_gbps=cross_site_gbps, catalog=cat, top=top, options=options,
                                        resilience=resilience, time_s=time_s)
                break
            except DoesNotFitError as e:
                error = e
                if n & (n - 1) == 0:
                    break  # a power of two allows every TP/CP/DP split: fewer chips hold no less per chip
            except RainierError as e:
                if error is None or n == available or e.field not in _COUNT_FIELDS:
                    error = e  # the count the power buys says why it failed first; an input error says why always
                if power_w is None or e.field not in _COUNT_FIELDS:
                    break  # the input is wrong whatever the chip count
        if res is None:
            assert error is not None
            if power_w is not None and tries and isinstance(error, DoesNotFitError):
                error = DoesNotFitError(f"does not fit on the {available:,} chips that {fmt_power(power_w)} buys, nor on "
                                        f"fewer ({error})", field="--power",
                                        fix="give more power, a lower --precision or a smaller model")
            elif power_w is not None and tries and error.field in _COUNT_FIELDS:
                error = RainierError(f"no count of chips up to the {available:,} that {fmt_power(power_w)} buys has a "
                                     f"valid layout ({error})", field=error.field,
                                     fix="try another --global-batch or --seq, or fix fewer sizes")
            errors.append(error)
            rows.append(ChipRow(name, 0, available, 0.0, None, None, None, None, None, None, None, str(error)))
            continue
        owner, cloud, kwh = _per_token(res, acc, sys_, cat)
        facility_mw = res.chips * power_chain(acc, sys_, cat.economics()).facility_w / 1e6
        rows.append(ChipRow(name, res.chips, available, facility_mw, owner, cloud, kwh, None, None, None, res))
    ok = [r for r in rows if r.result is not None]
    if not ok:
        raise _no_kind(errors, [r.chip for r in rows], "run the job")
    tps0 = ok[0].result.tokens_per_s  # type: ignore[union-attr]
    usd0 = _base([r.usd_per_million_tokens for r in ok])
    kwh0 = _base([r.kwh_per_million_tokens for r in ok])
    out = [replace(r, speed_vs_first=r.result.tokens_per_s / tps0, cost_vs_first=_ratio(r.usd_per_million_tokens, usd0),
                   energy_vs_first=_ratio(r.kwh_per_million_tokens, kwh0), estimated=est[r.chip],
                   cloud_price_basis=basis[r.chip])
           if r.result is not None else replace(r, estimated=est[r.chip]) for r in rows]
    return TrainingComparison(model=ok[0].result.model,  # type: ignore[union-attr]
                              basis="power" if power_w is not None else "chips",
                              chips=None if chips is None else int(chips), power_w=power_w, seq=seq,
                              global_batch=global_batch, precision=precision, tokens=tokens, rows=out)


# --------------------------------------------------------------------------------------------------
# serving


@dataclass(frozen=True)
class ServingRow:
    """One chip kind serving the model. ``result`` is None (and ``error`` set) where the kind cannot."""

    chip: str
    chips: int
    chips_available: int
    facility_power_mw: float  # nameplate facility power of the deployment's chips
    output_tokens_per_s: float | None
    max_qps: float | None  # with an SLO and no traffic: the highest Poisson rate meeting it
    usd_per_million_tokens: float | None  # per million output tokens, owner cost
    cloud_usd_per_million_tokens: float | None
    joules_per_token: float | None  # facility energy per output token
    speed_vs_first: float | None
    cost_vs_first: float | None
    energy_vs_first: float | None
    result: ServingResult | None
    error: str | None = None
    estimated: tuple[str, ...] = ()  # catalog figures of the chip and its system that are estimates (estimated_fields)
    cloud_price_basis: str | None = None  # the catalog's price_basis of the chip's cloud price (on-demand, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServingComparison:
    """What ``rainier serve --chip a,b,c --json`` prints."""

    model: str
    basis: str
    chips: int | None
    power_w: float | None
    rows: list[ServingRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _no_serving(chip: str, available: int, error: str) -> ServingRow:
    return ServingRow(chip, 0, available, 0.0, output_tokens_per_s=None, max_qps=None, usd_per_million_tokens=None,
                      cloud_usd_per_million_tokens=None, joules_per_token=None, speed_vs_first=None,
                      cost_vs_first=None, energy_vs_first=None, result=None, error=error)


def _serve_one(job: tuple[Any, ...]) -> tuple[Any, tuple[str, str | None, str | None] | None]:
    """One kind's deployment (a worker's task): (result, None), or (None, the error's text, field and fix:
    an exception with keyword-only fields does not survive pickling whole)."""
    model, acc, available, cat, sys_, serve = job
    try:
        return estimate_serving(model, acc, available, catalog=cat, system=sys_, **serve), None
    except RainierError as e:
        return None, (str(e), e.field, e.fix)


def compare_serving(model: str, chip_kinds: list[str], *, chips: int | None = None, power_w: float | None = None,
                    catalog: Catalog | None = None, system: str | None = None, workers: int = 1,
                    **serve: Any) -> ServingComparison:
    """Serve ``model`` on each of ``chip_kinds`` with the same chip count or the same facility power (the
    whole systems it carries, every chip of them: serving replicas need no layout across the count), and
    the same traffic and SLO (``serve``: the other arguments of :func:`estimate_serving`). Ratios are
    to the first kind that has the figure. ``system`` only with one kind. ``workers`` > 1 simulates the
    kinds in that many spawned processes (the same results: every simulation is seeded)."""
    from rainier.plan.sweep import ordered_map

    cat = catalog or default_catalog()
    kinds = _kinds(cat, chip_kinds, chips, power_w, system)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RainierError(f"must be a whole number of at least 1 (got {workers!r})", field="--workers",
                           fix="e.g. --workers 4, or 1 to run the kinds one after another")
    jobs, sized = [], []
    for name, acc, sys_ in kinds:
        if power_w is not None:
            available, none_why = _bought(cat, acc, sys_, power_w)
        else:
            available, none_why = _whole_count(chips), None
        sized.append((name, acc, sys_, available, none_why))
        if not none_why:
            jobs.append((model, acc, available, cat, sys_, serve))
    with ordered_map("process" if workers > 1 and len(jobs) > 1 else "serial", min(workers, len(jobs) or 1)) as run:
        outcomes = iter(list(run(_serve_one, jobs)))
    rows: list[ServingRow] = []
    errors: list[RainierError] = []
    est = {name: estimated_fields(acc, sys_) for name, acc, sys_, _, _ in sized}
    basis = {name: acc.price_basis for name, acc, _, _, _ in sized}
    for name, acc, sys_, available, none_why in sized:
        if none_why:
            errors.append(RainierError(none_why, field="--power"))
            rows.append(_no_serving(name, 0, str(errors[-1])))
            continue
        res, err = next(outcomes)
        if err is not None:
            text, fld, fix = err
            e = RainierError(text, field=None, fix=None)
            e.field, e.fix = fld, fix
            errors.append(e)
            rows.append(_no_serving(name, available, text))
            continue
        facility_mw = available * power_chain(acc, sys_, cat.economics()).facility_w / 1e6
        rows.append(ServingRow(name, available, available, facility_mw, res.output_tokens_per_s, res.max_qps,
                               res.cost_per_mtok_usd, res.cost_per_mtok_cloud_usd, res.joules_per_token,
                               None, None, None, res))
    ok = [r for r in rows if r.result is not None]
    if not ok:
        raise _no_kind(errors, [r.chip for r in rows], "serve the model")
    tps0 = _base([r.output_tokens_per_s for r in ok])
    usd0 = _base([r.usd_per_million_tokens for r in ok])
    j0 = _base([r.joules_per_token for r in ok])
    out = [replace(r, speed_vs_first=_ratio(r.output_tokens_per_s, tps0),
                   cost_vs_first=_ratio(r.usd_per_million_tokens, usd0),
                   energy_vs_first=_ratio(r.joules_per_token, j0), estimated=est[r.chip],
                   cloud_price_basis=basis[r.chip])
           if r.result is not None else replace(r, estimated=est[r.chip]) for r in rows]
    return ServingComparison(model=ok[0].result.config["model"],  # type: ignore[union-attr]
                             basis="power" if power_w is not None else "chips",
                             chips=None if chips is None else int(chips), power_w=power_w, rows=out)
