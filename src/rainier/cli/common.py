"""Shared CLI plumbing: options every command takes, JSON/table output, the catalog, the console.

Commands are thin: they parse strings with rainier.units, call the Python API, and print either a
rich table or, with ``--json``, the API's dataclasses as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rainier.catalog.loader import Catalog, default_catalog
from rainier.errors import RainierError
from rainier.io import check_output_path, report_path, to_jsonable
from rainier.units import MAX_DURATION_S, bare_number, parse_count, parse_duration, parse_power

__all__ = ["CatalogOpt", "JsonOpt", "QuietOpt", "console", "err_console", "emit_json", "load_catalog", "split_list",
           "parse_int", "busy", "out_path", "report_target"]

CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="extra catalog folder(s) of YAML files (also RAINIER_CATALOG)", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout instead of a table")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but the result")]


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()


# Piped or redirected, rich would cut tables at 80 columns ("Trainiu…"); a file gets room for them unless
# COLUMNS says otherwise. A terminal keeps its own width.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(no_color=_no_color(), highlight=False, soft_wrap=False, width=_PIPED_WIDTH)
err_console = Console(stderr=True, no_color=_no_color(), highlight=False)


def load_catalog(dirs: list[Path] | None) -> Catalog:
    # The loader names the source of a bad folder: --catalog for these, RAINIER_CATALOG for the environment's.
    cat = default_catalog(tuple(dirs or ()))
    for kind, name, file in cat.overrides[:5]:  # on stderr: stdout stays the command's result (--json)
        err_console.print(f"note: {file} replaces the built-in {kind} '{name}'", markup=False, highlight=False,
                          soft_wrap=True)
    if len(cat.overrides) > 5:
        err_console.print(f"note: and {len(cat.overrides) - 5} more built-in entries replaced", markup=False,
                          highlight=False)
    return cat


def out_path(value: str | None, field: str) -> Path | None:
    """An output path option taken as text: None stays None (the command's default), "" is an error.

    Typed as ``str`` because click turns an empty ``Path`` option into ``.``, which would silently write
    into the current directory.
    """
    if value is None:
        return None
    if not value.strip():
        raise RainierError("the output path is empty", field=field,
                           fix="give a file or folder name, or drop the option to use the default")
    return Path(value)


def report_target(value: str | None, inputs: Iterable[str | Path | None] = ()) -> Path | None:
    """Where ``--report`` writes: None without the option; an empty path is an error; a folder gets report.html.
    ``inputs``: what the command reads or writes besides (``--chip a.yaml,h100``, ``--catalog`` folders,
    ``--scenario-out``): the report never overwrites one of them, nor a YAML file of a catalog folder."""
    path = out_path(value, "--report")
    # the text keeps a trailing / (a folder); a path under a file is refused now, by its flag, not after the work
    if path is None:
        return None
    target = check_output_path(report_path(value or path), "--report")
    dirs = [Path(d) for d in os.environ.get("RAINIER_CATALOG", "").split(os.pathsep) if d]
    for item in inputs:
        for part in ([] if item is None else str(item).split(",")):
            if not part.strip():
                continue
            p = Path(part.strip())
            if p.is_dir():
                dirs.append(p)
            elif p.resolve() == target.resolve():
                raise RainierError(f"{target} is one of the command's own files", field="--report",
                                   fix="write the report to a new .html file")
    if target.suffix.lower() in (".yaml", ".yml") and any(target.resolve().parent == d.resolve() for d in dirs):
        raise RainierError(f"{target} is in a catalog folder the command reads", field="--report",
                           fix="write the report to a new .html file")
    return target


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def split_names(value: str | None, field: str) -> list[str]:
    """'trn2,h100' -> ['trn2', 'h100']; an empty element ('h100,,trn2', 'h100,') is an error naming ``field``."""
    if value is None or not value.strip():
        return []
    names = [v.strip() for v in value.split(",")]
    if "" in names:
        kept = ",".join(n for n in names if n)
        raise RainierError(f"empty entry in the list '{value}'", field=field,
                           fix=f"remove the extra comma, e.g. {field} {kept}" if kept else
                           "give entries separated by single commas")
    return names


def distinct_kinds(names: list[str], cat: Any, field: str = "--chip") -> list[str]:
    """``names`` with each chip kind once: an alias and its name are the same kind, and given twice is an error."""
    seen: dict[str, str] = {}
    for n in names:
        try:
            key = cat.accelerator(n).name
        except RainierError:
            key = n  # an unknown name is reported by the command itself, with its suggestions
        if key in seen:
            raise RainierError(f"'{n}' is given twice" + (f" ('{seen[key]}' is the same kind)" if seen[key] != n else ""),
                               field=field, fix="give each chip kind once")
        seen[key] = n
    return names


MAX_COUNT = 1_000_000_000  # chips, sequences, tokens per request: a billion is beyond any real figure


def parse_int(value: str | None, field: str, minimum: int = 1, maximum: int = MAX_COUNT) -> int | None:
    """A whole-number option written as people write counts ('16384', '1M', '128k'); None stays None.
    Below ``minimum`` (a negative number included) or above ``maximum`` the error states the range."""
    if value is None:
        return None
    text = str(value).strip()
    try:  # parse_count refuses negative numbers with its own wording; the range is said once, here
        n = -parse_count(text[1:], field) if text.startswith("-") else parse_count(text, field)
    except RainierError:
        # the text is not a number: the examples are counts of this option's size, not token counts
        raise RainierError(f"cannot read '{value}' as a whole number", field=field,
                           fix=f"give e.g. {field} {max(minimum, 8) if maximum >= 8 else minimum} (1k = 1,000 works "
                               "too)") from None
    if n != int(n) or n < minimum:
        raise RainierError(f"must be a whole number of at least {minimum} (got {value})", field=field,
                           fix=f"give {field} {minimum} or more")
    if n > maximum:
        raise RainierError(f"{value} is more than {maximum:,}", field=field, fix=f"give {field} {maximum:,} or less")
    return int(n)


def parse_gbps(value: str | None, field: str) -> float | None:
    """A link capacity in Gbit/s: a bare number ('400') or with its unit ('400Gbps', '100Tbps', '50GB/s')."""
    if value is None:
        return None
    from rainier.units import parse_bandwidth

    return parse_bandwidth(value, field) * 8 / 1e9


def parse_length(value: str | None, field: str, minimum: int = 1) -> int | None:
    """A token length ('8192', '8k', '128k', '1M'): k is 1,024 and M 1,048,576 here, as context lengths are
    written (Llama 3.1's 128k is 131,072 tokens); other counts read k as 1,000. None stays None."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM])\s*", str(value))
    if m:
        n = float(m.group(1)) * (1024 if m.group(2) in "kK" else 1024 * 1024)
        if n != int(n):
            raise RainierError(f"{value} is not a whole number of tokens ({n:g})", field=field,
                               fix=f"give {field} as a number of tokens, e.g. 8192 or 8k")
        return parse_int(str(int(n)), field, minimum)
    return parse_int(value, field, minimum)


def parse_share(value: str | None, field: str) -> float | None:
    """A share written as a fraction ('0.6') or a percentage ('60%'); None stays None. The range is the caller's."""
    if value is None:
        return None
    text = str(value).strip()
    pct = text.endswith("%")
    try:
        x = float(text[:-1] if pct else text)
    except ValueError:
        raise RainierError(f"'{value}' is not a share", field=field, fix=f"give e.g. {field} 0.6 or 60%") from None
    if x != x:  # NaN
        raise RainierError(f"'{value}' is not a share", field=field, fix=f"give e.g. {field} 0.6 or 60%")
    return x / 100.0 if pct else x


def _unit_required(text: str, flag: str, units: tuple[str, str], what: str) -> None:
    """Refuse a bare nonzero number for ``flag`` (its unit would be a guess), naming two spellings (``units``)."""
    if (x := bare_number(text)) is not None and x != 0:
        t = text.strip()
        if x < 0:
            raise RainierError(f"must be positive (got {t})", field=flag,
                               fix=f"give a {what} with its unit, e.g. {flag} {t.lstrip('-')}{units[0]}")
        raise RainierError(f"'{t}' has no unit", field=flag, fix=f"write {flag} {t}{units[0]} or {t}{units[1]}")


def parse_duration_flag(text: str, flag: str, units: tuple[str, str] = ("d", "h")) -> float:
    """A duration flag with its unit: a bare number would read as seconds, which '--time 30' or '--slo-ttft 2'
    rarely means; refused with the flag and two spellings (``units``) to choose from. 0 needs no unit."""
    _unit_required(text, flag, units, "duration")
    return capped_duration(parse_duration(text, flag), text, flag)


def parse_power_flag(text: str, flag: str = "--power") -> float:
    """A facility power with its unit: a bare '500' would read as 500 W here while `plan --power-cap site:500` reads
    MW; refused with both spellings. 0 needs no unit."""
    _unit_required(text, flag, ("MW", "W"), "power")
    return parse_power(text, flag)


def capped_duration(seconds: float, text: str, flag: str) -> float:
    """``seconds`` read from a flag, refused beyond MAX_DURATION_S (1,000 years: a typo, not a plan)."""
    if seconds > MAX_DURATION_S:
        raise RainierError(f"{text} is beyond any plan (more than 1,000 years)", field=flag,
                           fix="give a duration such as 2s, 7d or 10y")
    return seconds


@contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr over a known number of steps: yields ``update(done, total)``; nothing (a no-op
    update) when quiet or not a terminal."""
    if quiet or not err_console.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def busy(message: str, *, quiet: bool = False) -> AbstractContextManager[object]:
    """A spinner on stderr while something takes more than a moment; nothing when not a terminal."""
    if quiet or not err_console.is_terminal:
        return nullcontext()
    return err_console.status(message)


def side_by_side(title: str, rows: Sequence[Any], lines: list[tuple[str, Callable[[Any], str]]]) -> Table:
    """A chip comparison as a table: a column per kind (``rows``: objects with ``chip``, ``result``, ``error``),
    a line per figure (``-`` where a kind has no result), the kinds' errors on a last line when any has one."""
    t = Table(title=title)
    t.add_column("")
    for r in rows:
        t.add_column(r.chip + (" *" if _perf_estimate(r) else ""), justify="right")
    for label, fn in lines:
        t.add_row(label, *[fn(r) if r.result is not None else "-" for r in rows])
    if any(r.error for r in rows):
        t.add_row("error", *[(r.error or "")[:60] for r in rows])
    return t


def _perf_estimates(row: Any) -> list[str]:
    """The row's estimated catalog fields that speed or energy rest on (not its prices)."""
    from rainier.plan.compare import PERF_FIELDS

    return [f for f in getattr(row, "estimated", ()) if f.removeprefix("system.") in PERF_FIELDS]


def _perf_estimate(row: Any) -> bool:
    return bool(_perf_estimates(row))


def _times(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None else "-"


def dollars(x: float | None) -> str:
    return f"${x:,.3f}" if x is not None else "-"


def cloud_dollars(r: Any) -> str:
    """A comparison row's cloud $ per token with its price's basis (on-demand, capacity-block, ...)."""
    x = r.cloud_usd_per_million_tokens
    return dollars(x) + (f" ({r.cloud_price_basis})" if x is not None and r.cloud_price_basis else "")


def accuracy_cell(r: Any) -> str:
    """How far a kind's estimate can be trusted, as its single-kind output says in notes: the held-out error of its
    family on published runs ('other families' where it has none of its own), and the out-of-sample record of its
    family with its bias (+: predicted faster than measured)."""
    res = r.result
    acc = getattr(res, "accuracy", None) or {}
    oos = ((getattr(res, "accuracy_out_of_sample", None) or {}).get("family")) or {}
    parts = []
    if acc.get("mape_pct") is not None:
        borrowed = str(acc.get("basis", "")).startswith(("no held-out", "none measured"))
        parts.append(f"{acc['mape_pct']:g}% held out ({acc['rows']}{', other chips' if borrowed else ''})")
    if oos.get("mape_pct") is not None:
        parts.append(f"{oos['mape_pct']:g}% out of sample ({oos['rows']}, bias {oos['bias_pct']:+g}%)")
    return "; ".join(parts) or "no published run"


# the last lines of every chip comparison: each kind's figures over the first kind's
RATIO_LINES: list[tuple[str, Callable[[Any], str]]] = [
    ("speed", lambda r: _times(r.speed_vs_first)),
    ("$ per token", lambda r: _times(r.cost_vs_first)),
    ("energy per token", lambda r: _times(r.energy_vs_first)),
    ("error on published runs", accuracy_cell),
]


def one_kind_report(kinds: list[str], report: str | None) -> None:
    """--report writes one kind's HTML report: refused before any estimate when kinds are compared."""
    if len(kinds) > 1 and report is not None:
        raise RainierError("the HTML report covers one chip kind", field="--report",
                           fix="drop --report, or give one --chip")


def emit_comparison(cmp: Any, table: Callable[[Any], Table], json: bool, quiet: bool) -> None:
    """A chip comparison on stdout: its JSON, or its table and a note per kind that could not run."""
    if json:
        emit_json(cmp)
        return
    console.print(table(cmp))
    if not quiet:
        for row in cmp.rows:
            if row.error:
                console.print(f"note: {row.chip}: {row.error}")
        bases = {r.cloud_price_basis for r in cmp.rows
                 if r.cloud_price_basis and r.cloud_usd_per_million_tokens is not None}
        if len(bases) > 1:
            console.print("note: the cloud prices compared are on different bases ("
                          + ", ".join(sorted(bases)) + "): compare the owner cost, or set price_basis-matched "
                          "prices in your own catalog (--catalog)")
        starred = [f"{r.chip} ({', '.join(_perf_estimates(r))})" for r in cmp.rows if _perf_estimate(r)]
        if starred:
            console.print("* speed or energy rests on estimated catalog figures: " + "; ".join(starred)
                          + " (`rainier catalog show NAME` for their sources; prices and capex are estimates for most "
                            "kinds: JSON rows[].estimated)")
