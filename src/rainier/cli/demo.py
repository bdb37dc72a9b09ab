"""`rainier demo`: size the built-in 5 GW fleet, then simulate the default `rainier` fleet scenario."""

from __future__ import annotations

from typing import Annotated

import typer

from rainier.cli import app
from rainier.cli.common import CatalogOpt, JsonOpt, QuietOpt, console, emit_json, load_catalog, out_path
from rainier.cli.size import sizing_table
from rainier.errors import RainierError
from rainier.plan.sizing import size_fleet

DEMO_CHIPS = ["trn2", "h100", "gb200", "tpu-v6e"]


@app.command("demo")
def demo_cmd(
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    quick: Annotated[bool, typer.Option("--quick", help="sizing only (no fleet simulation)")] = False,
    horizon: Annotated[str | None, typer.Option("--horizon", help="shorter simulated horizon, e.g. 30d (default: the scenario's year)")] = None,
    out: Annotated[str | None, typer.Option("--out", metavar="<path>",
                                            help="run directory (default runs/rainier-seedN)")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="write the HTML report into the run directory")] = True,
) -> None:
    """Size the built-in 5 GW fleet and compare chips, then run the default `rainier` fleet scenario."""
    if quick:
        ignored = [flag for flag, value in (("--horizon", horizon), ("--out", out)) if value is not None]
        if ignored:
            raise RainierError(f"sizes the fleet only and runs no simulation, so {' and '.join(ignored)} would be "
                               "ignored", field="--quick",
                               fix=f"drop {' and '.join(ignored)}, or drop --quick to simulate the fleet too")
    out_dir = out_path(out, "--out")
    from rainier.cli.fleet import check_run_options, run_scenario, summary_table

    check_run_options(None, horizon, None)  # before the sizing table is printed
    if out_dir is not None:
        from rainier.io import check_out_dir

        check_out_dir(out_dir)
    cat = load_catalog(catalog)
    results = size_fleet(cat, DEMO_CHIPS, power_w=5e9)
    if quick:
        if json:
            emit_json({"sizing": results})
        else:
            console.print(sizing_table(results, "What 5 GW of facility power buys"))
        return
    if not json:
        console.print(sizing_table(results, "What 5 GW of facility power buys"))
    result, run_dir = run_scenario("rainier", out_dir, None, catalog, quiet=quiet, json=json, horizon=horizon)
    report_path = None
    if report:
        from rainier.report import write_run_report

        report_path = write_run_report(run_dir)
    if json:
        emit_json({"sizing": results, "run_dir": str(run_dir), "report": str(report_path) if report_path else None,
                   "fleet": result.summary})
        return
    console.print(summary_table(result.summary, run_dir))
    if quiet:
        console.print(f"run directory: {run_dir}")
    else:
        console.print(f"{result.events_processed:,} events in {result.wall_s:.1f} s; run directory: {run_dir}")
    if report_path is not None:
        console.print(f"report: {report_path}")
