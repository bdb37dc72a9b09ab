"""Fleet sizing: what a power envelope, a chip count or a budget buys.

Forward (power -> chips)::

    chips_max = facility_power / facility_w_per_chip        (rainier.econ.power_chain)
    systems   = floor(chips_max / chips_per_system)         whole systems only
    chips     = systems x chips_per_system
    racks     = ceil(systems x racks_per_system)

Inverse (chips -> power): systems = ceil(chips / chips_per_system), power from the same chain.
Budget (dollars over years -> chips): chips = budget / (cost_per_chip_hour x 8760 x years).

Annual energy uses the economics load factor (average draw / nameplate, Epoch: 0.75); peak power
is the nameplate the grid connection must carry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
)
from rainier.errors import RainierError

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
    years: float | None = None
    budget_usd: float | None = None
    estimate: bool = False

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
        peak_fp8_flops=chips * acc.peak_flops("fp8"),
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
        years=years,
        budget_usd=budget,
        estimate=estimate,
    )


def size_by_power(cat: Catalog, chip: str, facility_power_w: float, *, system: str | None = None,
                  pue: float | None = None, site: str | None = None, electricity_usd_per_mwh: float | None = None,
                  load_factor: float | None = None) -> SizingResult:
    if facility_power_w <= 0:
        raise RainierError(f"power must be positive (got {facility_power_w} W)", field="--power", fix="e.g. --power 5GW")
    acc = cat.accelerator(chip)
    sys_ = cat.system_for(acc, system)
    econ = cat.economics()
    site_ = cat.site(site, "--site") if site else None
    chain = power_chain(acc, sys_, econ, pue, site_)
    systems = int(math.floor(facility_power_w / (chain.facility_w * sys_.chips) + 1e-9))
    return _result(acc, sys_, econ, systems, "power", pue, site_, electricity_usd_per_mwh, load_factor)


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
    if budget_usd <= 0:
        raise RainierError(f"budget must be positive (got {budget_usd})", field="--budget", fix="e.g. --budget 100B$")
    if years <= 0:
        raise RainierError(f"years must be positive (got {years})", field="--years", fix="e.g. --years 10")
    acc = cat.accelerator(chip)
    sys_ = cat.system_for(acc, system)
    econ = cat.economics()
    site_ = cat.site(site, "--site") if site else None
    cost = chip_hour_cost(acc, sys_, econ, pue, site_, electricity_usd_per_mwh, load_factor)
    chips = budget_usd / (cost.total_usd * HOURS_PER_YEAR * years)
    systems = int(math.floor(chips / sys_.chips + 1e-9))
    return _result(acc, sys_, econ, systems, "budget", pue, site_, electricity_usd_per_mwh, load_factor,
                   years=years, budget=budget_usd)


def size_fleet(cat: Catalog, chips_kinds: list[str], *, power_w: float | None = None, chips: float | None = None,
               budget_usd: float | None = None, years: float | None = None, system: str | None = None,
               pue: float | None = None, site: str | None = None, electricity_usd_per_mwh: float | None = None,
               load_factor: float | None = None) -> list[SizingResult]:
    """Size one fleet per chip kind from exactly one of power, chips or budget (+ years)."""
    given = [x is not None for x in (power_w, chips, budget_usd)]
    if sum(given) == 0 and site is not None:
        power_w = cat.site(site, "--site").power_mw * 1e6
        given = [True, False, False]
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
    out = []
    for c in chips_kinds:
        if power_w is not None:
            out.append(size_by_power(cat, c, power_w, **kw))  # type: ignore[arg-type]
        elif chips is not None:
            out.append(size_by_chips(cat, c, chips, **kw))  # type: ignore[arg-type]
        else:
            out.append(size_by_budget(cat, c, budget_usd, years, **kw))  # type: ignore[arg-type]
    return out
