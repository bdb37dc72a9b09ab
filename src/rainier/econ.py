"""Watts and dollars per chip: the all-in power chain and the owner's cost per chip-hour.

Power chain (facts.md §0 and §2(a); SemiAnalysis / Epoch practice)::

    chip TDP                         accelerator.tdp_w            (the chip alone)
    -> system share per chip         system.system_power_w / chips (hosts, fans, NICs, PSU loss)
    -> IT per chip                   x (1 + network_overhead_fraction)  (scale-out switches, storage)
    -> facility per chip             x PUE                         (cooling, power conversion)

Owner's cost per chip-hour (facts.md §2(d) recipe)::

    CRF(r, n)       = r (1+r)^n / ((1+r)^n - 1)                 capital recovery factor
    hardware        = system capex per chip x CRF(r, hw_life) / 8760
    facility        = IT W per chip x facility $/W x CRF(r, facility_life) / 8760
    power           = facility kW per chip x load factor x $/kWh
    O&M             = om_fraction x system capex per chip / 8760
    cost_per_chip_hour = sum of the four

Where a catalog entry lists a cloud price per chip-hour it is reported beside the owner's cost; the
owner's cost is the one used for planning because every chip has one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from rainier.catalog.schema import Accelerator, Economics, Site, System
from rainier.errors import RainierError

__all__ = ["PowerChain", "ChipHourCost", "power_chain", "chip_hour_cost", "crf", "default_pue", "HOURS_PER_YEAR",
           "electricity_price", "check_load_factor", "energy_mwh", "J_PER_MWH"]

HOURS_PER_YEAR = 8760.0
J_PER_MWH = 3.6e9


@dataclass(frozen=True)
class PowerChain:
    """Watts per chip at each step from the die to the utility meter (full load)."""

    chip_w: float
    system_w: float
    it_w: float
    facility_w: float
    pue: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class ChipHourCost:
    """Owner's cost of one chip-hour, USD, by component."""

    hardware_usd: float
    facility_usd: float
    power_usd: float
    om_usd: float
    capex_per_chip_usd: float
    cloud_price_usd: float | None

    @property
    def total_usd(self) -> float:
        return self.hardware_usd + self.facility_usd + self.power_usd + self.om_usd

    def to_dict(self) -> dict[str, float | None]:
        d: dict[str, float | None] = dict(asdict(self))
        d["total_usd"] = self.total_usd
        return d


def crf(rate: float, years: float) -> float:
    """Capital recovery factor: the annual payment that repays 1 over ``years`` at ``rate``."""
    if years <= 0:
        raise RainierError("life must be positive", field="years")
    if rate == 0:
        return 1.0 / years
    g = (1 + rate) ** years
    return rate * g / (g - 1)


def default_pue(system: System, econ: Economics, site: Site | None = None) -> float:
    if site is not None:
        return site.pue
    return econ.default_pue_liquid if system.cooling == "liquid" else econ.default_pue


def power_chain(acc: Accelerator, system: System, econ: Economics, pue: float | None = None,
                site: Site | None = None) -> PowerChain:
    p = default_pue(system, econ, site) if pue is None else pue
    if not (math.isfinite(p) and 1.0 <= p <= 3.0):
        raise RainierError(f"PUE must be a number from 1.0 to 3.0 (got {p})", field="--pue",
                           fix="a PUE is facility power / IT power, e.g. 1.15")
    sys_w = max(system.power_per_chip_w, acc.tdp_w)
    it_w = sys_w * (1.0 + econ.network_overhead_fraction)
    return PowerChain(chip_w=acc.tdp_w, system_w=sys_w, it_w=it_w, facility_w=it_w * p, pue=p)


def electricity_price(econ: Economics, site: Site | None = None, override_usd_per_mwh: float | None = None) -> float:
    """$/MWh: the override if given (0 is a valid price), else the site's, else the planner default."""
    if override_usd_per_mwh is not None:
        if not (math.isfinite(override_usd_per_mwh) and override_usd_per_mwh >= 0):
            raise RainierError(f"electricity price must be a non-negative number (got {override_usd_per_mwh})",
                               field="--electricity", fix="give $/MWh, e.g. 70")
        return override_usd_per_mwh
    return site.electricity_usd_per_mwh if site is not None else econ.electricity_usd_per_mwh


def check_load_factor(load: float) -> float:
    if not (math.isfinite(load) and 0 < load <= 1):
        raise RainierError(f"load factor must be in (0, 1] (got {load})", field="--load",
                           fix="average draw / nameplate, e.g. 0.75")
    return load


def energy_mwh(power_w: float, seconds: float) -> float:
    """Energy in MWh of ``power_w`` drawn for ``seconds``."""
    return power_w * seconds / J_PER_MWH


def system_capex_per_chip(acc: Accelerator, system: System) -> float:
    if system.capex_usd is not None:
        return system.capex_usd / system.chips
    if acc.capex_usd is not None:
        return acc.capex_usd
    raise RainierError(f"no capex for '{acc.name}'", field="capex_usd", fix="add capex_usd to the accelerator or system entry")


def whole_systems(facility_power_w: float, system_facility_w: float) -> int:
    """Whole systems that ``facility_power_w`` carries, each drawing ``system_facility_w`` (float dust forgiven)."""
    return int(math.floor(facility_power_w / system_facility_w + 1e-9))


def hourly_rates(acc: Accelerator, system: System, econ: Economics) -> tuple[float | None, float | None]:
    """(owner, cloud) dollars per chip-hour: the owner's (``chip_hour_cost``) or None where the catalog has no
    capex for the kind, and the cloud price (the system's, else the chip's; only the chip's without capex)."""
    try:
        chc = chip_hour_cost(acc, system, econ)
    except RainierError:
        return None, acc.price_usd_per_chip_hour
    return chc.total_usd, chc.cloud_price_usd


def chip_hour_cost(acc: Accelerator, system: System, econ: Economics, pue: float | None = None,
                   site: Site | None = None, electricity_usd_per_mwh: float | None = None,
                   load_factor: float | None = None, hardware_life_years: float | None = None) -> ChipHourCost:
    chain = power_chain(acc, system, econ, pue, site)
    capex = system_capex_per_chip(acc, system)
    life = hardware_life_years or econ.hardware_life_years
    price_mwh = electricity_price(econ, site, electricity_usd_per_mwh)
    load = check_load_factor(econ.load_factor if load_factor is None else load_factor)
    hw = capex * crf(econ.cost_of_capital, life) / HOURS_PER_YEAR
    fac = chain.it_w * econ.facility_capex_usd_per_w_it * crf(econ.cost_of_capital, econ.facility_life_years) / HOURS_PER_YEAR
    power = chain.facility_w / 1e6 * load * price_mwh
    om = econ.om_fraction_per_year * capex / HOURS_PER_YEAR
    cloud = acc.price_usd_per_chip_hour
    if system.price_usd_per_hour is not None:
        cloud = system.price_usd_per_hour / system.chips
    return ChipHourCost(hardware_usd=hw, facility_usd=fac, power_usd=power, om_usd=om, capex_per_chip_usd=capex,
                        cloud_price_usd=cloud)
