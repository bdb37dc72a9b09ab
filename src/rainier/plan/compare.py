"""One training job, or one served model, on several chip kinds: at the same chip count or facility power.

"Trainium2 lags the H100, but its cost-to-performance is good enough" is a claim about three ratios of
one job: tokens/s, dollars per token and energy per token. :func:`compare_training` runs the training
estimator (:func:`rainier.perf.training.estimate_training`, its parallelism search included) once per
chip kind and puts those ratios side by side, each relative to the first kind given.

Bases:

* ``chips``: every kind gets the same chip count;
* ``power``: every kind gets the whole systems that ``power_w`` of facility power carries
  (:func:`rainier.plan.sizing.size_by_power`: nameplate chip + host + network power, times the PUE), since
  power, not chips, is what a gigawatt campus runs short of. A job cannot always use exactly the chips
  the power buys (its data-parallel size must divide the global batch, its pipeline the layers): the
  largest count not above them that is a whole number of systems times a power of two, or a power of two,
  and has a valid configuration, is used, and ``chips_available`` says how many the power bought.

Per kind: ``usd_per_million_tokens`` = owner cost per chip-hour (``rainier.econ.chip_hour_cost``: capex
amortised + power + operations) x chips / tokens per hour; ``cloud_usd_per_million_tokens`` the same at the
catalog's cloud price; ``kwh_per_million_tokens`` = average facility power (the training load factor)
/ tokens/s. These do not depend on ``tokens``; with ``tokens`` the time, energy and cost to train are in
each ``result``. A kind that cannot run the job (the model does not fit, no rate at the precision) keeps a
row with ``error`` set; an error is raised only when no kind can.

:func:`compare_serving` does the same for :func:`rainier.perf.inference.estimate_serving` (same traffic and
SLO for every kind; per output token: owner and cloud dollars, facility joules). Serving replicas need no
layout across the chip count, so with ``power_w`` each kind serves on every chip the power buys.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rainier.catalog.loader import Catalog, default_catalog
from rainier.econ import chip_hour_cost, power_chain
from rainier.errors import RainierError
from rainier.perf.inference import ServingResult, estimate_serving
from rainier.perf.training import Options, TrainingResult, estimate_training
from rainier.plan.sizing import size_by_power

__all__ = ["ChipRow", "TrainingComparison", "compare_training", "chip_counts_below", "ServingRow",
           "ServingComparison", "compare_serving"]

# errors that fewer chips may cure (no layout divides the count, a fixed size does not divide it)
_COUNT_FIELDS = (None, "parallelism", "--chips", "--tp", "--pp", "--dp", "--cp", "--ep", "--etp", "--vp",
                 "--micro-batch", "--global-batch")
# chip counts tried below what the power buys, at most (each one a full parallelism search)
MAX_TRIES = 12


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


def chip_counts_below(available: int, system_chips: int, limit: int = MAX_TRIES) -> list[int]:
    """Chip counts to try, largest first: ``available`` itself, then whole systems times a power of two and
    powers of two not above it (the counts a parallelism layout divides)."""
    found = {available}
    q = 1
    while q <= available:
        found.add(available // q * q)
        unit = system_chips * q
        if unit <= available:
            found.add(available // unit * unit)
        q *= 2
    found.add(1 << (available.bit_length() - 1))
    return sorted((n for n in found if n > 0), reverse=True)[:limit]


def _per_token(res: TrainingResult, cat: Catalog) -> tuple[float | None, float | None, float]:
    acc, sys_ = cat.accelerator(res.chip), cat.system(res.system)
    econ = cat.economics()
    tokens_per_h = res.tokens_per_s * 3600
    try:
        chc = chip_hour_cost(acc, sys_, econ)
        owner: float | None = chc.total_usd * res.chips / tokens_per_h * 1e6
        cloud_rate = chc.cloud_price_usd
    except RainierError:  # no capex figure for this kind
        owner, cloud_rate = None, acc.price_usd_per_chip_hour
    cloud = cloud_rate * res.chips / tokens_per_h * 1e6 if cloud_rate else None
    kwh = res.power_mw * 1e3 / tokens_per_h * 1e6
    return owner, cloud, kwh


def _bought(cat: Catalog, chip: str, power_w: float) -> int:
    """Chips in the whole systems ``power_w`` of facility power carries; 0 when not even one."""
    try:
        return size_by_power(cat, chip, power_w).chips
    except RainierError:
        return 0


def _check_basis(cat: Catalog, chip_kinds: list[str], chips: int | None, power_w: float | None) -> None:
    if (chips is None) == (power_w is None):
        raise RainierError("give exactly one of a chip count and a facility power", field="--chips/--power",
                           fix="e.g. --chips 16384, or --power 100MW to compare the chips that power carries")
    if not chip_kinds:
        raise RainierError("no chip kind given", field="--chip", fix="e.g. --chip trn2,h100,gb200")
    if len(set(chip_kinds)) != len(chip_kinds):
        raise RainierError(f"a chip kind is listed twice in {','.join(chip_kinds)}", field="--chip",
                           fix="list each kind once")
    if power_w is not None and not (power_w > 0 and math.isfinite(power_w)):
        raise RainierError(f"must be a positive facility power (got {power_w} W)", field="--power", fix="e.g. --power 100MW")
    for name in chip_kinds:
        cat.accelerator(name)  # an unknown kind fails before any search


def compare_training(model: str, chip_kinds: list[str], *, seq: int, global_batch: int, chips: int | None = None,
                     power_w: float | None = None, parallelism: dict[str, Any] | None = None,
                     precision: str = "bf16", tokens: float | None = None, sites: int = 1,
                     cross_site_gbps: float | None = None, catalog: Catalog | None = None, top: int = 1,
                     options: Options | None = None) -> TrainingComparison:
    """Estimate one training job on each of ``chip_kinds`` at the same ``chips`` or the same ``power_w``
    (exactly one of them); see the module docstring."""
    cat = catalog or default_catalog()
    _check_basis(cat, chip_kinds, chips, power_w)
    rows: list[ChipRow] = []
    first: ChipRow | None = None
    for name in chip_kinds:
        acc = cat.accelerator(name)
        sys_ = cat.system_for(acc, None)
        if power_w is not None:
            available = _bought(cat, name, power_w)
            tries = chip_counts_below(available, sys_.chips) if available > 0 else []
        else:
            available = int(chips)  # type: ignore[arg-type]
            tries = [available]
        res: TrainingResult | None = None
        error = "the power buys no whole system" if not tries else None
        for n in tries:
            try:
                res = estimate_training(model, name, n, seq=seq, global_batch=global_batch, parallelism=parallelism,
                                        precision=precision, tokens=tokens, sites=sites,
                                        cross_site_gbps=cross_site_gbps, catalog=cat, top=top, options=options)
                break
            except RainierError as e:
                error = str(e)
                if power_w is None or e.field not in _COUNT_FIELDS:
                    break  # the input is wrong whatever the chip count
        if res is None:
            rows.append(ChipRow(name, 0, available, 0.0, None, None, None, None, None, None, None, error))
            continue
        owner, cloud, kwh = _per_token(res, cat)
        facility_mw = res.chips * power_chain(acc, sys_, cat.economics()).facility_w / 1e6
        row = ChipRow(name, res.chips, available, facility_mw, owner, cloud, kwh, None, None, None, res)
        if first is None:
            first = row
        rows.append(row)
    if first is None or first.result is None:
        detail = "; ".join(f"{r.chip}: {r.error}" for r in rows)
        raise RainierError(f"no chip kind can run the job ({detail})", field="--chip",
                           fix="try other kinds, more chips or power, or a smaller model")
    base = first
    base_tps = first.result.tokens_per_s

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out = []
    for r in rows:
        if r.result is not None:
            r = replace(r, speed_vs_first=r.result.tokens_per_s / base_tps,
                        cost_vs_first=ratio(r.usd_per_million_tokens, base.usd_per_million_tokens),
                        energy_vs_first=ratio(r.kwh_per_million_tokens, base.kwh_per_million_tokens))
        out.append(r)
    return TrainingComparison(model=first.result.model, basis="power" if power_w is not None else "chips",
                              chips=chips, power_w=power_w, seq=seq, global_batch=global_batch,
                              precision=precision, tokens=tokens, rows=out)


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


def compare_serving(model: str, chip_kinds: list[str], *, chips: int | None = None, power_w: float | None = None,
                    catalog: Catalog | None = None, **serve: Any) -> ServingComparison:
    """Serve ``model`` on each of ``chip_kinds`` with the same chip count or the same facility power (the
    whole systems it carries, every chip of them: serving replicas need no layout across the count), and
    the same traffic and SLO (``serve``: the other arguments of :func:`estimate_serving`). Ratios are
    to the first kind that can serve the model."""
    cat = catalog or default_catalog()
    _check_basis(cat, chip_kinds, chips, power_w)
    rows: list[ServingRow] = []
    for name in chip_kinds:
        acc = cat.accelerator(name)
        sys_ = cat.system_for(acc, None)
        available = _bought(cat, name, power_w) if power_w is not None else int(chips)  # type: ignore[arg-type]
        if available < 1:
            rows.append(_no_serving(name, 0, "the power buys no whole system"))
            continue
        try:
            res = estimate_serving(model, name, available, catalog=cat, **serve)
        except RainierError as e:
            rows.append(_no_serving(name, available, str(e)))
            continue
        facility_mw = available * power_chain(acc, sys_, cat.economics()).facility_w / 1e6
        rows.append(ServingRow(name, available, available, facility_mw, res.output_tokens_per_s, res.max_qps,
                               res.cost_per_mtok_usd, res.cost_per_mtok_cloud_usd, res.joules_per_token,
                               None, None, None, res))
    first = next((r for r in rows if r.result is not None), None)
    if first is None:
        detail = "; ".join(f"{r.chip}: {r.error}" for r in rows)
        raise RainierError(f"no chip kind can serve the model ({detail})", field="--chip",
                           fix="try other kinds, more chips or power, or a lower precision")

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out = [replace(r, speed_vs_first=ratio(r.output_tokens_per_s, first.output_tokens_per_s),
                   cost_vs_first=ratio(r.usd_per_million_tokens, first.usd_per_million_tokens),
                   energy_vs_first=ratio(r.joules_per_token, first.joules_per_token))
           if r.result is not None else r for r in rows]
    return ServingComparison(model=first.result.config["model"],  # type: ignore[union-attr]
                             basis="power" if power_w is not None else "chips", chips=chips, power_w=power_w,
                             rows=out)
