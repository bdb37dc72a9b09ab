"""`rainier report RUN_DIR [RUN_DIR_B]`: the HTML report of a fleet run, or of two runs compared."""

from __future__ import annotations

import json as _json
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rainier.cli import app
from rainier.cli.common import CatalogOpt, JsonOpt, QuietOpt, console, err_console, load_catalog, out_path
from rainier.errors import RainierError
from rainier.io import check_output_path, report_path


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `rainier fleet run`")],
    run_dir_b: Annotated[Path | None, typer.Argument(help="a second run directory: compare the two")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", metavar="<path>",
                                            help="HTML file to write (default: RUN_DIR/report.html, "
                                                 "or RUN_DIR/compare-<B>.html)")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a self-contained HTML report (opens offline) and print its path."""
    from rainier.report.compare import build_compare_page, compare_metrics
    from rainier.report.run_report import build_run_page, headline, load_run

    if out_path(out, "-o/--out") is not None:  # refuses an empty path; the text is kept (a trailing / is a folder)
        target = check_output_path(report_path(out or ""), "-o/--out")
        for d in (run_dir, run_dir_b):
            # a run's own files (summary.json, the parquet tables) are what the report reads: never its output
            if d is not None and target.exists() and target.suffix.lower() != ".html" \
                    and target.resolve().parent == Path(d).resolve():
                raise RainierError(f"{target} is one of the run's own files", field="-o/--out",
                                   fix="write the report to a new .html file")
    if catalog:  # (as on every command; the report itself reads the run's own files, the figures it ran with)
        load_catalog(catalog)
    t0 = time.perf_counter()
    # A year-long 1M-chip run takes a second or two to read and draw: show a spinner on a terminal.
    spinner = err_console.status("building the report...") if not (json or quiet) and err_console.is_terminal \
        else nullcontext()
    with spinner:
        a = load_run(run_dir)
        if run_dir_b is None:
            page = build_run_page(a)
            path = page.write(report_path(out or a.path / "report.html"), "-o/--out" if out else None)  # out as typed: a trailing / is a folder
            extra: dict = {"kind": "run", "run": str(a.path)}
            rows = [(k, v, s) for k, v, s in headline(a)]
        else:
            try:
                b = load_run(run_dir_b)
            except RainierError as exc:  # name the argument that is wrong: the second
                if exc.field != "RUN_DIR":
                    raise
                raise RainierError(str(exc).replace("RUN_DIR: ", "", 1), field="RUN_DIR_B") from None
            page = build_compare_page(a, b)
            path = page.write(report_path(out or a.path / f"compare-{b.path.name}.html",
                                          f"compare-{a.path.name}-{b.path.name}.html"), "-o/--out" if out else None)
            metrics = compare_metrics(a, b)
            extra = {"kind": "compare", "runs": [str(a.path), str(b.path)],
                     "differences": [{k: m[k] for k in ("metric", "a", "b", "rel", "verdict")}
                                     for m in metrics if m["verdict"]]}
            rows = []
    build_s = time.perf_counter() - t0
    size = path.stat().st_size
    if json:
        sys.stdout.write(_json.dumps({"report": str(path), "bytes": size, "charts": page.n_charts,
                                      "sections": [s.title for s in page.sections], "build_s": round(build_s, 3),
                                      **extra}, indent=2) + "\n")
        return
    if not quiet:
        if rows:
            table = Table(title=f"Fleet run: {a.name}", show_header=False)
            table.add_column("metric")
            table.add_column("value", justify="right")
            table.add_column("", style="dim")
            for k, v, s in rows:
                table.add_row(k, v, s)
            console.print(table)
        else:
            table = Table(title=f"B = {b.name} against A = {a.name}")
            for col, just in (("metric", "left"), ("A", "right"), ("B", "right"), ("change", "right")):
                table.add_column(col, justify=just)  # type: ignore[arg-type]
            from rainier.report.compare import _fmt, _fmt_rel

            style = {"better": "green", "worse": "red", "changed": "yellow", "": ""}
            for m in metrics:
                table.add_row(m["label"], _fmt(m["a"], m["kind"]), _fmt(m["b"], m["kind"]),
                              f"[{style[m['verdict']]}]{_fmt_rel(m['rel'])}[/]" if m["verdict"] else _fmt_rel(m["rel"]))
            console.print(table)
        # soft_wrap: a long path must stay one line that a terminal can click or a script can read
        console.print(f"report: {path} ({size / 1e6:.1f} MB, {page.n_charts} charts, {build_s:.1f} s)",
                      soft_wrap=True, markup=False, highlight=False)
    else:
        sys.stdout.write(f"{path}\n")
