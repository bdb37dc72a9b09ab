"""Fleet sizing: what a power envelope, a chip count or a budget buys.

Forward (power -> chips)::

    chips_max = facility_power / facility_w_per_chip        (rainier.econ.power_chain)
    systems   = floor(chips_max / chips_per_system)         whole systems only
    chips     = systems x chips_per_system
    racks     = ceil(systems x racks_per_system)

Inverse (chips -> power): systems = ceil(chips / chips_per_system), power from the same chain.
Budget (dollars over years -> chips): chips = budget / (cost_per_chip_hour x 8760 x years).

A power or budget that buys not even one whole system is an error naming --power or --budget and
the least that buys one. With several chip kinds it is an error only when no kind gets a system; a
kind that gets none keeps its row (0 chips) with ``note`` saying what one system needs.

Annual energy uses the economics load factor (average draw / nameplate, Epoch: 0.75); peak power
is the nameplate the grid connection must carry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from rainier.catalog.loader import Catalog
from rainier.catalog.schema import Accelerator, Economics, Site, System
from rainier.econ import (
    HOURS_PER_YEAR,
    ChipHourCost,
    PowerChain,
    check_load_factor,
    chip_hour_cost,
    electricity_price,
    energy_mwh,
    power_chain,
    whole_systems,
)
from rainier.errors import RainierError
from rainier.units import fmt_money, fmt_power

# a budget over less than 30 days is not a fleet question (see _by_budget); 365-day years, as --years reads them
MIN_BUDGET_YEARS = 30.0 / 365.0

__all__ = ["SizingResult", "size_fleet", "size_by_power", "size_by_chips", "size_by_budget"]


@dataclass(frozen=True)
class SizingResult:
    """One chip kind's answer to a sizing question. Units in field names; SI throughout."""

    chip: str
    chip_label: str
    system: str
    basis: str  # "power", "chips" or "budget"
    chips: int
    systems: int
    racks: int
    it_power_w: float
    facility_power_w: float
    pue: float
    watts_per_chip: PowerChain
    peak_bf16_flops: float
    peak_fp8_flops: float
    hbm_bytes: float
    hardware_capex_usd: float
    facility_capex_usd: float
    capex_usd: float
    annual_energy_mwh: float
    annual_energy_cost_usd: float
    annual_cost_usd: float
    cost_per_chip_hour_usd: float
    cost_breakdown_per_chip_hour: ChipHourCost
    cloud_price_per_chip_hour_usd: float | None
    cloud_price_basis: str | None  # the catalog's price_basis (on-demand, capacity-block, neocloud, estimate)
    years: float | None = None
    budget_usd: float | None = None
    estimate: bool = False
    note: str | None = None  # set on a row that buys no system (the power or budget is below one)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["watts_per_chip"] = self.watts_per_chip.to_dict()
        d["cost_breakdown_per_chip_hour"] = self.cost_breakdown_per_chip_hour.to_dict()
        return d


def _result(acc: Accelerator, system: System, econ: Economics, systems: int, basis: str, pue: float | None,
            site: Site | None, electricity: float | None, load: float | None,
            years: float | None = None, budget: float | None = None) -> SizingResult:
    chain = power_chain(acc, system, econ, pue, site)
    cost = chip_hour_cost(acc, system, econ, pue, site, electricity, load)
    chips = systems * system.chips
    load_f = check_load_factor(econ.load_factor if load is None else load)
    price = electricity_price(econ, site, electricity)
    annual_mwh = energy_mwh(chips * chain.facility_w * load_f, HOURS_PER_YEAR * 3600.0)
    hardware_capex = chips * cost.capex_per_chip_usd
    facility_capex = chips * chain.it_w * econ.facility_capex_usd_per_w_it
    estimate = bool(acc.is_estimate("tdp_w") or acc.is_estimate("capex_usd") or system.is_estimate("system_power_w"))
    return SizingResult(
        chip=acc.name,
        chip_label=acc.label,
        system=system.name,
        basis=basis,
        chips=chips,
        systems=systems,
        racks=math.ceil(systems * system.racks_per_system - 1e-9),
        it_power_w=chips * chain.it_w,
        facility_power_w=chips * chain.facility_w,
        pue=chain.pue,
        watts_per_chip=chain,
        peak_bf16_flops=chips * acc.peak_flops("bf16"),
        peak_fp8_flops=chips * acc.peak_flops("fp8") if "fp8" in acc.peak_tflops else 0.0,  # no fp8: none (not int8)
        hbm_bytes=chips * acc.hbm_bytes,
        hardware_capex_usd=hardware_capex,
        facility_capex_usd=facility_capex,
        capex_usd=hardware_capex + facility_capex,
        annual_energy_mwh=annual_mwh,
        annual_energy_cost_usd=annual_mwh * price,
        annual_cost_usd=chips * cost.total_usd * HOURS_PER_YEAR,
        cost_per_chip_hour_usd=cost.total_usd,
        cost_breakdown_per_chip_hour=cost,
        cloud_price_per_chip_hour_usd=cost.cloud_price_usd,
        cloud_price_basis=acc.price_basis if cost.cloud_price_usd is not None else None,
        years=years,
        budget_usd=budget,
        estimate=estimate,
    )


@dataclass(frozen=True)
class _Unit:
    """The smallest purchase of one chip kind: one whole system, and what it needs (facility W or $)."""

    chip: str
    system: str
    chips: int
    need: float


def _round_up(x: float, digits: int = 3) -> float:
    """``x`` rounded up to ``digits`` significant figures, so that a hint printed from it is enough."""
    if x <= 0 or not math.isfinite(x):
        return x
    q = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.ceil(x / q - 1e-9) * q


def _power_arg(w: float) -> str:
    return fmt_power(w).replace(" ", "")


def _money_arg(usd: float) -> str:
    for scale, p in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if usd >= scale:
            return f"{usd / scale:.3g}{p}$"
    return f"{usd:.3g}$"


def _names(units: list[_Unit]) -> str:
    names = [u.chip for u in units]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _years_text(years: float) -> str:
    if years < 1:
        return f"{years * 365:.3g} days"
    return f"{years:g} year{'' if years == 1 else 's'}"


def _no_power_unit(units: list[_Unit], power_w: float, field: str) -> RainierError:
    best = min(units, key=lambda u: u.need)
    need = _round_up(best.need)
    given = fmt_power(power_w)
    if given == fmt_power(need):
        given = f"{power_w:,.0f} W"
    which = "one" if len(units) == 1 else "the smallest unit, one"
    msg = (f"{given} buys no {_names(units)}: {which} {best.system} system ({best.chips} x {best.chip}) "
           f"needs {fmt_power(need)} at the facility")
    if field == "--site":
        return RainierError(msg, field="--site", fix=f"give --power {_power_arg(need)} or more, or a larger site")
    return RainierError(msg, field="--power", fix=f"give at least --power {_power_arg(need)}")


def _no_budget_unit(units: list[_Unit], budget_usd: float, years: float) -> RainierError:
    best = min(units, key=lambda u: u.need)
    need = _round_up(best.need)
    which = "one" if len(units) == 1 else "the smallest unit, one"
    return RainierError(
        f"{fmt_money(budget_usd)} over {_years_text(years)} buys no {_names(units)}: {which} {best.system} system "
        f"({best.chips} x {best.chip}) costs {fmt_money(need)} over {_years_text(years)} at owner cost",
        field="--budget", fix=f"give at least --budget {_money_arg(need)} for --years {years:g}",
    )


def _by_power(cat: Catalog, chip: str, facility_power_w: float, system: str | None, pue: float | None,
              site: str | None, electricity_usd_per_mwh: float | None, load_factor: float | None,
              field: str = "--power") -> tuple[SizingResult, _Unit]:
    if not facility_power_w > 0 or not math.isfinite(facility_power_w):
        raise RainierError(f"power must be positive (got {facility_power_w} W)", field=field, fix="e.g. --power 5GW")
    acc = cat.accelerator(chip)
    sys_ = cat.system_for(acc, system)
    econ = cat.economics()
    site_ = cat.site(site, "--site") if site else None
    chain = power_chain(acc, sys_, econ, pue, site_)
    systems = whole_systems(facility_power_w, chain.facility_w * sys_.chips)
    res = _result(acc, sys_, econ, systems, "power", pue, site_, electricity_usd_per_mwh, load_factor)
    return res, _Unit(acc.name, sys_.name, sys_.chips, chain.facility_w * sys_.chips)


def _by_budget(cat: Catalog, chip: str, budget_usd: float, years: float, system: str | None, pue: float | None,
               site: str | None, electricity_usd_per_mwh: float | None,
               load_factor: float | None) -> tuple[SizingResult, _Unit]:
    if not budget_usd > 0 or not math.isfinite(budget_usd):
        raise RainierError(f"budget must be positive (got {budget_usd})", field="--budget", fix="e.g. --budget 100B$")
    if not years > 0 or not math.isfinite(years):
        raise RainierError(f"years must be positive (got {years})", field="--years", fix="e.g. --years 10")
    if years < MIN_BUDGET_YEARS * (1 - 1e-9):
        raise RainierError(f"a budget period of {_years_text(years)} prices a fleet by the hour (at owner cost "
                           "that would be far more chips than the money buys outright)", field="--years",
                           fix="give 30 days or more, e.g. --years 30d or --years 1")
    acc = cat.accelerator(chip)
    sys_ = cat.system_for(acc, system)
    econ = cat.economics()
    site_ = cat.site(site, "--site") if site else None
    cost = chip_hour_cost(acc, sys_, econ, pue, site_, electricity_usd_per_mwh, load_factor)
    per_system = cost.total_usd * HOURS_PER_YEAR * years * sys_.chips
    systems = int(math.floor(budget_usd / per_system + 1e-9))
    res = _result(acc, sys_, econ, systems, "budget", pue, site_, electricity_usd_per_mwh, load_factor,
                  years=years, budget=budget_usd)
    if systems and res.capex_usd > budget_usd:
        res = replace(res, note=(
            f"the budget is read as owner cost per chip-hour over {_years_text(years)}, a lease at cost (capex "
            f"amortised over {econ.hardware_life_years:g} y at {econ.cost_of_capital:.0%}, the facility over "
            f"{econ.facility_life_years:g} y): the {res.chips:,} chips it pays for cost {fmt_money(res.capex_usd)} to "
            f"buy with their facility, {res.capex_usd / budget_usd:.1f}x the budget"))
    return res, _Unit(acc.name, sys_.name, sys_.chips, per_system)


def size_by_power(cat: Catalog, chip: str, facility_power_w: float, *, system: str | None = None,
                  pue: float | None = None, site: str | None = None, electricity_usd_per_mwh: float | None = None,
                  load_factor: float | None = None) -> SizingResult:
    """Whole systems of ``chip`` that ``facility_power_w`` carries; an error if not even one."""
    res, unit = _by_power(cat, chip, facility_power_w, system, pue, site, electricity_usd_per_mwh, load_factor)
    if res.systems == 0:
        raise _no_power_unit([unit], facility_power_w, "--power")
    return res


def size_by_chips(cat: Catalog, chip: str, chips: float, *, system: str | None = None, pue: float | None = None,
                  site: str | None = None, electricity_usd_per_mwh: float | None = None,
                  load_factor: float | None = None) -> SizingResult:
    if chips <= 0:
        raise RainierError(f"chips must be positive (got {chips})", field="--chips", fix="e.g. --chips 1000000")
    acc = cat.accelerator(chip)
    sys_ = cat.system_for(acc, system)
    site_ = cat.site(site, "--site") if site else None
    systems = int(math.ceil(chips / sys_.chips - 1e-9))
    return _result(acc, sys_, cat.economics(), systems, "chips", pue, site_, electricity_usd_per_mwh, load_factor)


def size_by_budget(cat: Catalog, chip: str, budget_usd: float, years: float, *, system: str | None = None,
                   pue: float | None = None, site: str | None = None, electricity_usd_per_mwh: float | None = None,
                   load_factor: float | None = None) -> SizingResult:
    """Whole systems of ``chip`` that ``budget_usd`` pays for over ``years``; an error if not even one."""
    res, unit = _by_budget(cat, chip, budget_usd, years, system, pue, site, electricity_usd_per_mwh, load_factor)
    if res.systems == 0:
        raise _no_budget_unit([unit], budget_usd, years)
    return res


def size_fleet(cat: Catalog, chips_kinds: list[str], *, power_w: float | None = None, chips: float | None = None,
               budget_usd: float | None = None, years: float | None = None, system: str | None = None,
               pue: float | None = None, site: str | None = None, electricity_usd_per_mwh: float | None = None,
               load_factor: float | None = None) -> list[SizingResult]:
    """Size one fleet per chip kind from exactly one of power, chips or budget (+ years).

    A power or budget that buys no system of any kind is an error; a kind that alone gets none keeps its
    row, with 0 chips and a ``note``.
    """
    given = [x is not None for x in (power_w, chips, budget_usd)]
    power_field = "--power"
    if sum(given) == 0 and site is not None:
        power_w = cat.site(site, "--site").power_mw * 1e6
        given = [True, False, False]
        power_field = "--site"
    if sum(given) != 1:
        raise RainierError("give exactly one of --power, --chips or --budget", field="--power/--chips/--budget",
                           fix="e.g. --power 5GW, --chips 1000000 or --budget 100B$ --years 10")
    if budget_usd is not None and years is None:
        raise RainierError("--budget needs --years", field="--years", fix="e.g. --budget 100B$ --years 10")
    if not chips_kinds:
        raise RainierError("no chip given", field="--chip", fix="e.g. --chip trn2,h100,gb200,tpu-v6e")
    if system is not None and len(chips_kinds) > 1:
        raise RainierError("--system applies to one chip kind", field="--system", fix="give one --chip with --system")
    kw = dict(system=system, pue=pue, site=site, electricity_usd_per_mwh=electricity_usd_per_mwh, load_factor=load_factor)
    if chips is not None:
        return [size_by_chips(cat, c, chips, **kw) for c in chips_kinds]  # type: ignore[arg-type]
    pairs = []
    for c in chips_kinds:
        if power_w is not None:
            pairs.append(_by_power(cat, c, power_w, system, pue, site, electricity_usd_per_mwh, load_factor,
                                   field=power_field))
        else:
            assert budget_usd is not None and years is not None
            pairs.append(_by_budget(cat, c, budget_usd, years, system, pue, site, electricity_usd_per_mwh,
                                    load_factor))
    units = [u for _, u in pairs]
    if all(r.systems == 0 for r, _ in pairs):
        if power_w is not None:
            raise _no_power_unit(units, power_w, power_field)
        assert budget_usd is not None and years is not None
        raise _no_budget_unit(units, budget_usd, years)
    out = []
    for r, u in pairs:
        if r.systems == 0:
            need = _round_up(u.need)
            what = (f"needs {fmt_power(need)} at the facility" if power_w is not None
                    else f"costs {fmt_money(need)} over {_years_text(years or 0)}")
            r = replace(r, note=f"none bought: one {u.system} system ({u.chips} chips) {what}")
        out.append(r)
    return out
