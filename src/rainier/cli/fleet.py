"""`rainier fleet run|list`: simulate a fleet scenario and write its run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rainier.cli import fleet_app
from rainier.cli.common import (
    CatalogOpt,
    JsonOpt,
    QuietOpt,
    console,
    emit_json,
    err_console,
    load_catalog,
    out_path,
    parse_duration_flag,
)
from rainier.errors import RainierError
from rainier.units import fmt_count, fmt_money, fmt_power, fmt_si

__all__ = ["check_run_options", "run_scenario", "summary_table"]


def summary_table(summary: dict[str, Any], run_dir: Path | None) -> Table:
    t = summary["totals"]
    title = f"fleet run: {summary['scenario']} (seed {summary['seed']}, {summary['horizon_h'] / 24:.0f} days)"
    table = Table(title=title)
    table.add_column("")
    table.add_column("fleet", justify="right")
    rows = [
        ("chips installed at end", fmt_count(t["chips_installed_end"])),
        ("utilization (busy / installed)", f"{t['utilization']:.1%}"),
        ("chip-hours busy / idle / failed", f"{fmt_count(t['chip_hours_busy'])} / {fmt_count(t['chip_hours_idle'])} / "
                                             f"{fmt_count(t['chip_hours_failed'])}"),
        ("jobs finished / submitted", f"{t['jobs_finished']:,} / {t['jobs_submitted']:,}"),
        ("failures", f"{t['failures']:,}"),
        ("training goodput", f"{t['goodput']:.1%}"),
        ("inference SLO attainment", f"{t['slo_attainment']:.1%}" if t.get("slo_attainment") is not None
         else "- (no inference demanded)"),
        ("energy", fmt_si(t["energy_mwh"] * 1e6, "Wh")
                   + (f" ({fmt_si(t['energy_mwh_unattributed'] * 1e6, 'Wh')} of it held by no tenant)"
                      if t.get("energy_mwh_unattributed") is not None else "")),
        ("peak power", fmt_power(t["peak_power_mw"] * 1e6)),
        ("owner cost", fmt_money(t["cost_usd"])),
    ]
    for k, v in rows:
        table.add_row(k, v)
    from rainier.fleet.outputs import wait_summary

    for tn in summary["tenants"]:
        table.add_row(f"{tn['tenant']}: delivered / committed chip-h",
                      f"{fmt_count(tn['delivered_chip_hours'])} / {fmt_count(tn['committed_chip_hours'])}")
        table.add_row(f"{tn['tenant']}: jobs done, wait mean / p95",
                      f"{tn['jobs_finished']}/{tn['jobs_submitted']}, {tn['queue_wait_mean_h']:.1f} h / {tn['queue_wait_p95_h']:.1f} h")
        why = wait_summary(tn.get("queue_wait_chip_hours_by_reason") or {})
        if why:
            table.add_row(f"{tn['tenant']}: queued chip-h, waiting for", why)
    caption = [f"warning: {w}" for w in (summary.get("commitments") or {}).get("warnings", [])]
    if run_dir is not None:
        caption.append(f"run directory: {run_dir}")
    if caption:
        table.caption = "\n".join(caption)
    return table


def check_run_options(seed: int | None, horizon: str | None, scheduler: str | None) -> None:
    """Check the values given on the command line before the scenario is read, so that an error names the
    flag (--seed, --horizon, --scheduler), not the scenario-file field the value would have replaced."""
    from rainier.fleet.policies import make_scheduler

    if seed is not None and seed < 0:
        raise RainierError(f"must be a whole number of at least 0 (got {seed})", field="--seed",
                           fix="give a non-negative integer seed")
    if horizon is not None:
        h = parse_duration_flag(horizon, "--horizon", ("d", "y"))
        if not 0 < h < float("inf"):
            raise RainierError(f"must be a positive, finite duration (got {horizon!r})", field="--horizon",
                               fix="give a duration such as 30d or 1y")
        from rainier.fleet.scenario import MAX_HORIZON_S

        if h > MAX_HORIZON_S:
            raise RainierError(f"{horizon} is beyond the 100 years a run may span", field="--horizon",
                               fix="give at most --horizon 100y")
    if scheduler is not None:
        make_scheduler(scheduler, field="--scheduler")


def run_scenario(scenario: str, out: Path | None, seed: int | None, catalog: list[Path] | None, quiet: bool,
                 json: bool, horizon: str | None = None, scheduler: str | None = None) -> tuple[Any, Path]:
    from rainier.fleet import load_scenario, run_fleet
    from rainier.io import check_out_dir

    check_run_options(seed, horizon, scheduler)
    cat = load_catalog(catalog)
    overrides = {"horizon": horizon} if horizon else None
    sc = load_scenario(scenario, seed=seed, catalog=cat, overrides=overrides)
    if scheduler:
        # another policy starts from its defaults; the file's own policy keeps the file's parameters (as
        # ``fleet sweep --set scheduler.name=...`` does)
        name = scheduler.strip().lower()
        params = sc.scheduler.params if name == sc.scheduler.name.strip().lower() else {}
        sc = sc.model_copy(update={"scheduler": sc.scheduler.model_copy(update={"name": name, "params": params})})
    out_dir = out or Path("runs") / f"{sc.name}-seed{sc.seed}"
    check_out_dir(out_dir)  # before the simulation, not after it
    show = not quiet and not json and sys.stderr.isatty()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("simulating {task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task(sc.name, total=sc.horizon_s)
            every = max(1, int(sc.horizon_s / 3600 / 200))
            state = {"n": 0}

            def progress(t: float, total: float) -> None:
                state["n"] += 1
                if state["n"] % every == 0:
                    bar.update(task, completed=t)

            result = run_fleet(sc, out_dir, catalog=cat, progress=progress)
    else:
        result = run_fleet(sc, out_dir, catalog=cat)
    if result.perf_fallbacks and not quiet:
        # The estimators rejected these configurations: the run used the closed-form 6ND physics for them.
        for line in result.perf_fallbacks[:10]:
            err_console.print(f"warning: perf fallback: {line}", markup=False)
        if len(result.perf_fallbacks) > 10:
            err_console.print(f"warning: {len(result.perf_fallbacks) - 10} more perf fallbacks (manifest.json)")
    return result, out_dir


@fleet_app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="scenario YAML file or built-in name (rainier, tiny, ...)")],
    out: Annotated[str | None, typer.Option("--out", metavar="<path>",
                                            help="run directory (default runs/NAME-seedN)")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the scenario's seed")] = None,
    horizon: Annotated[str | None, typer.Option("--horizon", help="override the horizon: 30d, 1y")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="override the policy: fifo, priority, fair-share, easy-backfill")] = None,
    report: Annotated[bool, typer.Option("--report", help="also write the HTML report of the run")] = False,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Simulate a fleet scenario; write scenario.yaml, manifest, summary and Parquet tables to a run directory."""
    result, out_dir = run_scenario(scenario, out_path(out, "--out"), seed, catalog, quiet, json, horizon, scheduler)
    report_path = None
    if report:
        import rainier.report as rep

        if hasattr(rep, "write_run_report"):
            report_path = rep.write_run_report(out_dir)
        elif not quiet:
            err_console.print("note: the report writer is not available in this build")
    if json:
        emit_json({"run_dir": str(out_dir), "report": None if report_path is None else str(report_path),
                   "wall_s": round(result.wall_s, 3), "events_processed": result.events_processed, **result.summary})
        return
    if quiet:
        console.print(str(out_dir))
        return
    console.print(summary_table(result.summary, out_dir))
    console.print(f"{result.events_processed:,} events in {result.wall_s:.1f} s; perf backend {result.perf_backend}")
    if report_path is not None:
        console.print(f"report: {report_path}")


@fleet_app.command("list")
def list_cmd(catalog: CatalogOpt = None, json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """List the built-in scenarios."""
    if catalog:  # (as on every command: a scenario's chips come from the catalog it is run with)
        load_catalog(catalog)
    from rainier.fleet import builtin_scenarios

    names = builtin_scenarios()
    if json:
        emit_json(names)
        return
    for n in names:
        console.print(n)


# metrics the sweep table shows (all are in the JSON and the Parquet files)
SWEEP_TABLE = ("utilization", "goodput", "slo_attainment", "jobs_finished", "failures", "peak_power_mw", "cost_usd")


@fleet_app.command("sweep")
def sweep_cmd(
    scenario: Annotated[str, typer.Argument(help="scenario YAML file or built-in name (rainier, tiny, ...)")],
    seeds: Annotated[str, typer.Option("--seeds", help="seeds every point runs: a count (8 = 0-7), 1-10 or 1,2,5")] = "8",
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="PATH=V1,V2", help="a scenario field and the values to sweep (repeat for a grid), e.g. "
        "scheduler.name=fifo,fair-share or sites.0.power_cap=1GW,2GW")] = None,
    horizon: Annotated[str | None, typer.Option("--horizon", help="override the horizon: 30d, 1y")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="parallel runs (default: the CPUs)")] = None,
    engine: Annotated[str, typer.Option("--engine", help="process (this machine), serial, or ray (a Ray cluster)")] = "process",
    out: Annotated[str | None, typer.Option("--out", metavar="<path>",
                                            help="sweep directory (default runs/sweep-NAME)")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a scenario over seeds and a grid of field values in parallel: mean, spread and 95% CI per point."""
    from rainier.plan.sweep import parse_grid, parse_seeds, run_sweep, write_sweep

    check_run_options(None, horizon, None)
    seed_list = parse_seeds(seeds)
    grid = parse_grid(set_ or [])
    out_dir = out_path(out, "--out")
    load_catalog(catalog)  # a bad --catalog folder fails here, once, not in every worker
    kw: dict[str, Any] = {"horizon": horizon, "workers": workers, "engine": engine, "catalog_dirs": catalog or ()}
    if not quiet and not json and sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True) as bar:
            task = bar.add_task("runs", total=None)
            res = run_sweep(scenario, seed_list, grid, **kw,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    else:
        res = run_sweep(scenario, seed_list, grid, **kw)
    out_dir = write_sweep(res, out_dir or Path("runs") / f"sweep-{res.scenario}")
    if json:
        d = res.to_dict()
        d.pop("runs")
        emit_json({"sweep_dir": str(out_dir), **d})
        return
    if quiet:
        console.print(str(out_dir))
        return
    import pandas as pd

    s = res.summary
    keys = list(res.grid)
    table = Table(title=f"sweep: {res.scenario}, {len(res.seeds)} seeds x {s.point.nunique()} points "
                        f"({len(res.runs)} runs, {res.workers} workers, {res.wall_s:.1f} s)")
    for k in ["point", *keys]:
        table.add_column(k)
    table.add_column("metric")
    table.add_column("mean ± 95% CI", justify="right")
    table.add_column("p5 .. p95", justify="right")
    table.add_column("vs point 0 (paired)", justify="right")
    pct = {"utilization", "goodput", "slo_attainment"}
    for _, r in s[s.metric.isin(SWEEP_TABLE) | s.metric.str.endswith(".queue_wait_p95_h")].iterrows():
        f = (lambda x: f"{x:.1%}") if r.metric in pct else (fmt_money if r.metric == "cost_usd" else
                                                          (lambda x: f"{x:,.1f}"))
        # a share's difference is in percentage points, not a relative change
        fd = (lambda x: f"{100 * x:.1f} pp") if r.metric in pct else f
        diff = "" if r["diff"] is None or pd.isna(r["diff"]) else \
            f"{'+' if r['diff'] >= 0 else '-'}{fd(abs(r['diff']))} ± {fd(r['diff_ci95'])}"
        table.add_row(str(r.point), *[str(r[k]) for k in keys], str(r.metric), f"{f(r['mean'])} ± {f(r['ci95'])}",
                      f"{f(r.p5)} .. {f(r.p95)}", diff)
    table.caption = f"sweep directory: {out_dir} (runs.parquet, summary.parquet, sweep.json)"
    console.print(table)
    for n in res.notes:
        err_console.print(f"note: {n}", markup=False)
