"""`rainier plan`: least-cost chip mix, sites and timing that meet a demand (MILP, HiGHS)."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from rainier.cli import app
from rainier.cli.common import CatalogOpt, JsonOpt, console, emit_json, load_catalog, split_names
from rainier.errors import RainierError
from rainier.plan.capacity import plan_capacity
from rainier.units import fmt_count, fmt_money, fmt_power, parse_flops

# A bare number (no unit) in --demand is EF/s: '2026:500' is 500 EF/s, as in the help text.
_BARE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_demand(text: str) -> tuple[list[int], list[float]]:
    """'2026:500EF,2027:1500EF' -> ([2026, 2027], [5e20, 1.5e21]) delivered FLOP/s (bare numbers are EF/s).

    A demand of zero in every year is an error: there is nothing to plan.
    """
    years, flops = [], []
    for part in split_names(text, "--demand"):
        m = re.fullmatch(r"(\d{4}):(.+)", part.strip())
        if not m:
            raise RainierError(f"cannot read '{part}'", field="--demand", fix="write it like 2026:500EF,2027:1500EF")
        value = m.group(2).strip()
        years.append(int(m.group(1)))
        if _BARE.fullmatch(value):
            if float(value) < 0:
                raise RainierError(f"must not be negative (got {value} EF/s in {m.group(1)})", field="--demand",
                                   fix="e.g. 2026:500EF")
            value += "EF"
        flops.append(parse_flops(value, "--demand"))
    if flops and not any(f > 0 for f in flops):
        raise RainierError("nothing to plan: the demand is zero in every year", field="--demand",
                           fix="give a positive demand in at least one year, e.g. 2026:500EF")
    return years, flops


@app.command("plan")
def plan_cmd(
    demand: Annotated[str, typer.Option("--demand", help="delivered dense FLOP/s per year: 2026:500EF,2027:1500EF "
                                                     "(a bare number is EF/s: 2026:500 = 500 EF/s)")],
    chip: Annotated[str, typer.Option("--chip", help="candidate chips, comma-separated")] = "trn2,trn3,gb200,h100",
    site: Annotated[str, typer.Option("--site", help="candidate sites (catalog), comma-separated")] = "new-carlisle,mississippi",
    utilization: Annotated[float, typer.Option("--utilization", help="achieved fraction of peak (MFU) per chip")] = 0.4,
    precision: Annotated[str, typer.Option("--precision", help="bf16 or fp8 peak")] = "bf16",
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Least-cost purchase plan (chips x sites x years) meeting a delivered-FLOP/s demand under site power caps."""
    cat = load_catalog(catalog)
    years, flops = parse_demand(demand)
    res = plan_capacity(cat, split_names(chip, "--chip"), split_names(site, "--site"), years, flops,
                        precision=precision.strip().lower(), utilization=utilization)
    if json:
        emit_json(res)
        return
    t = Table(title=f"Least-cost plan ({res.status}): total {fmt_money(res.total_cost_usd)} owner cost")
    for col in ("year", "site", "chip", "bought (systems)", "installed chips", "facility power", "delivered EF/s", "annual cost"):
        t.add_column(col, justify="right" if col not in ("site", "chip") else "left")
    for r in res.rows:
        t.add_row(str(r.year), r.site, r.chip, fmt_count(r.systems_bought), fmt_count(r.chips_installed),
                  fmt_power(r.facility_power_w), f"{r.delivered_flops / 1e18:,.0f}", fmt_money(r.annual_cost_usd))
    console.print(t)
