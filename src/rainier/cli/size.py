"""`rainier size`: what a power envelope, a chip count or a budget buys, chip by chip."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from rainier.cli import app
from rainier.cli.common import (
    CatalogOpt,
    JsonOpt,
    QuietOpt,
    console,
    distinct_kinds,
    emit_json,
    load_catalog,
    parse_int,
    parse_power_flag,
    report_target,
    split_names,
)
from rainier.plan.sizing import SizingResult, size_fleet
from rainier.units import (
    fmt_count,
    fmt_money,
    fmt_power,
    fmt_si,
    parse_money,
    parse_power,
    parse_price_per_mwh,
    parse_years,
)

NONE_MARK = " (none: below one system)"


def sizing_table(results: list[SizingResult], title: str) -> Table:
    table = Table(title=title)
    table.add_column("")
    for r in results:
        table.add_column(r.chip_label + (" *" if r.estimate else "") + (NONE_MARK if r.systems == 0 else ""),
                         justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("system", [r.system for r in results]),
        ("chips", [fmt_count(r.chips) for r in results]),
        ("systems", [fmt_count(r.systems) for r in results]),
        ("racks", [fmt_count(r.racks) for r in results]),
        ("W per chip: chip / IT / facility", [f"{r.watts_per_chip.chip_w:,.0f} / {r.watts_per_chip.it_w:,.0f} / {r.watts_per_chip.facility_w:,.0f}" for r in results]),
        ("IT power", [fmt_power(r.it_power_w) for r in results]),
        ("facility power (PUE)", [f"{fmt_power(r.facility_power_w)} ({r.pue:.2f})" for r in results]),
        ("peak dense BF16", [_flops(r.peak_bf16_flops) for r in results]),
        ("peak dense FP8", [_flops(r.peak_fp8_flops) if r.peak_fp8_flops else "-" for r in results]),
        ("HBM", [fmt_si(r.hbm_bytes, "B") for r in results]),
        ("capex (hardware + facility)", [fmt_money(r.capex_usd) for r in results]),
        ("annual energy", [fmt_si(r.annual_energy_mwh * 1e6, "Wh") for r in results]),
        ("annual energy cost", [fmt_money(r.annual_energy_cost_usd) for r in results]),
        ("annual owner cost", [fmt_money(r.annual_cost_usd) for r in results]),
        ("cost per chip-hour (owner)", [f"${r.cost_per_chip_hour_usd:.2f}" for r in results]),
        ("cloud price per chip-hour", ["-" if r.cloud_price_per_chip_hour_usd is None else
                                       f"${r.cloud_price_per_chip_hour_usd:.2f}"
                                       + (f" ({r.cloud_price_basis})" if r.cloud_price_basis else "") for r in results]),
        ("$ per dense BF16 PF-hour", [_per_pf_hour(r, r.peak_bf16_flops) for r in results]),
        ("$ per dense FP8 PF-hour", [_per_pf_hour(r, r.peak_fp8_flops) for r in results]),
    ]
    for label, vals in rows:
        table.add_row(label, *vals)
    return table


@app.command("size")
def size_cmd(
    chip: Annotated[str, typer.Option("--chip", help="chip name(s), comma-separated: trn2,h100,gb200,tpu-v6e")] = "trn2,h100,gb200,tpu-v6e",
    power: Annotated[str | None, typer.Option("--power", help="facility power: 5GW, 500MW")] = None,
    chips: Annotated[str | None, typer.Option("--chips", help="chip count: 1000000, 1.2e6, 1M")] = None,
    budget: Annotated[str | None, typer.Option("--budget", help="spend: $100B or 100B$ (with --years)")] = None,
    years: Annotated[str | None, typer.Option("--years", help="period of the budget, years")] = None,
    system: Annotated[str | None, typer.Option("--system", help="system to buy the chip in (default: the chip's)")] = None,
    pue: Annotated[float | None, typer.Option("--pue", help="facility PUE (default: 1.15 air, 1.10 liquid, or the site's)")] = None,
    site: Annotated[str | None, typer.Option("--site", help="catalog site: its PUE, electricity price, and power if --power is absent")] = None,
    electricity: Annotated[str | None, typer.Option("--electricity", help="electricity price, $/MWh")] = None,
    load: Annotated[float | None, typer.Option("--load", help="average draw / nameplate for annual energy (default 0.75)")] = None,
    report: Annotated[str | None, typer.Option("--report", help="also write a one-page HTML report here")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """What a power envelope (--power), a chip count (--chips) or a budget (--budget --years) buys."""
    cat = load_catalog(catalog)
    results = size_fleet(
        cat,
        distinct_kinds(split_names(chip, "--chip"), cat),
        power_w=parse_power_flag(power, "--power") if power is not None else None,
        chips=parse_int(chips, "--chips") if chips is not None else None,
        budget_usd=parse_money(budget, "--budget") if budget is not None else None,
        years=parse_years(years) if years is not None else None,
        system=system,
        pue=pue,
        site=site,
        electricity_usd_per_mwh=parse_price_per_mwh(electricity) if electricity is not None else None,
        load_factor=load,
    )
    report_file = report_target(report, [*(catalog or []), chip, system])
    if report_file is not None:
        from rainier.report import write_sizing_report  # type: ignore[attr-defined]

        write_sizing_report(results, report_file, field="--report")
    if json:
        emit_json(results)
        return
    r0 = results[0]
    if r0.basis == "power":
        envelope = max(r.facility_power_w for r in results) if power is None else parse_power(power)
        title = f"What {fmt_power(envelope)} of facility power buys"
    elif r0.basis == "chips":
        asked = (parse_int(chips, "--chips") if chips is not None else None) or r0.chips
        rounded = any(r.chips != asked for r in results)
        title = f"What {fmt_count(asked)} chips take" + (" (rounded up to whole systems)" if rounded else "")
    else:
        title = f"What {fmt_money(r0.budget_usd or 0)} over {r0.years:g} years buys"
    console.print(sizing_table(results, title))
    if not quiet:
        for r in results:
            if r.note:
                console.print(f"{r.chip_label}: {r.note}")
        console.print("* figures marked estimate in the catalog (chip TDP, system power or capex). "
                      "Owner cost = capex (CRF 10%, 5 y) + facility (15 y) + power + O&M; see `rainier catalog show`.")
        if report_file is not None:
            console.print(f"report: {report_file}")


def _flops(x: float) -> str:
    """EF (exaFLOP/s) for a fleet, smaller units for a few systems (64 chips are not '0.0 EF')."""
    return f"{x / 1e18:,.1f} EF" if x >= 1e17 else fmt_si(x, "FLOP/s")


def _per_pf_hour(r: Any, peak_flops: float) -> str:
    """Owner $ per chip-hour over the chip's peak in PFLOP/s ('-' without chips or a rate at that precision)."""
    return f"${r.cost_per_chip_hour_usd / (peak_flops / r.chips / 1e15):.2f}" if r.chips and peak_flops > 0 else "-"
