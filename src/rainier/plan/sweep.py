"""Sweeps: one fleet scenario run over seeds and a grid of overrides, in parallel, summarised with spread.

A single fleet run is one draw of the failures, the job arrivals and the demand noise. Planning questions
("does fair-share cut the p95 wait?", "what does doubling the failure rate cost in goodput?") need the
distribution over seeds, and a comparison across settings. A sweep is

* a scenario (file or built-in name), read once;
* ``seeds``: the seeds every grid point runs with (the same seeds for every point: common random numbers,
  so differences between points are not seed noise);
* ``grid``: scenario fields (dotted paths into the YAML document, ``scheduler.name``, ``failures.scale``,
  ``sites.0.power_cap``) each with the values to try; the grid is their Cartesian product. A point naming
  another scheduler than the file's drops the file's scheduler parameters (as ``fleet run --scheduler``).

Every (point, seed) scenario is validated before any simulation starts, so a bad path or value fails at
once with the field named. Runs go to a pool of worker processes (``engine="process"``, the standard
library's), or in this process (``"serial"``), or to a Ray cluster (``"ray"``: ``ray.util.multiprocessing``'s
Pool, for sweeps too big for one machine; Ray is not a dependency, and that path is not exercised in CI).
Results do not depend on the engine or the worker count: each run is deterministic for its seed, and the
rows are ordered by (point, seed).

Outputs: ``runs`` (one row per run: the point's values, the seed, every summary total and the per-tenant
waits, deliveries and SLO attainment) and ``summary`` (one row per point and metric: n, mean, std, min,
p5, median, p95, max and the half-width of the mean's 95% confidence interval, Student's t; and for every
point after the first, the paired difference from the first with its interval).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rainier.errors import RainierError
from rainier.io import load_yaml

__all__ = ["SweepResult", "parse_grid", "parse_seeds", "run_sweep", "sweep_points", "write_sweep", "MAX_RUNS",
           "ENGINES"]

MAX_RUNS = 10_000  # grid points x seeds; beyond it a sweep is a batch job, not a command
ENGINES = ("process", "serial", "ray")
TENANT_METRICS = ("queue_wait_mean_h", "queue_wait_p95_h", "delivered_chip_hours", "jobs_finished", "goodput",
                  "slo_attainment")


@dataclass
class SweepResult:
    scenario: str
    seeds: list[int]
    grid: dict[str, list[Any]]
    runs: pd.DataFrame
    summary: pd.DataFrame
    engine: str
    workers: int
    wall_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
            return [{str(k): v for k, v in r.items()} for r in out]

        return {"scenario": self.scenario, "seeds": self.seeds, "grid": self.grid, "engine": self.engine,
                "workers": self.workers, "runs_total": len(self.runs), "wall_s": round(self.wall_s, 3),
                "summary": records(self.summary), "runs": records(self.runs), "notes": self.notes}


# --- parsing ---------------------------------------------------------------------------------------

def parse_seeds(text: str, field: str = "--seeds") -> list[int]:
    """``"1-10"``, ``"1,2,5"``, ``"0-3,7"`` or ``"8"`` (eight seeds, 0-7) as a sorted list of distinct seeds."""
    text = str(text).strip()
    if text.isdigit():
        n = int(text)
        if not 1 <= n <= MAX_RUNS:
            raise RainierError(f"give 1 to {MAX_RUNS:,} seeds (got {n})", field=field, fix="e.g. --seeds 10 or 1-10")
        return list(range(n))
    seeds: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        a, sep, b = part.partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise RainierError(f"cannot read '{part}'", field=field,
                               fix="give a count (10), a range (1-10) or a list (1,2,5) of seeds >= 0") from None
        if lo < 0 or hi < lo:
            raise RainierError(f"'{part}' is not a range of seeds >= 0", field=field, fix="e.g. 1-10")
        if hi - lo + 1 > MAX_RUNS:
            raise RainierError(f"'{part}' holds more than {MAX_RUNS:,} seeds", field=field, fix="give fewer seeds")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def parse_grid(items: Sequence[str], field: str = "--set") -> dict[str, list[Any]]:
    """``["scheduler.name=fifo,fair-share", "failures.scale=1,2"]`` as {path: [values]}; values read as YAML
    scalars (``2`` a number, ``true`` a boolean, ``1GW`` text for the scenario's own parser)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        path, sep, vals = str(item).partition("=")
        path = path.strip()
        if not sep or not path or not vals.strip():
            raise RainierError(f"cannot read '{item}'", field=field,
                               fix="write PATH=V1,V2,..., e.g. --set scheduler.name=fifo,fair-share")
        if path == "seed":
            raise RainierError("the seed is not a sweep dimension: --seeds sets every point's seeds", field=field,
                               fix="give the seeds with --seeds (e.g. --seeds 5-6)")
        if path in grid:
            raise RainierError(f"'{path}' is set twice", field=field, fix="give all its values in one --set")
        values = []
        for v in vals.split(","):
            try:
                values.append(load_yaml(v.strip()) if v.strip() else None)
            except yaml.YAMLError:
                values.append(v.strip())
        if len({repr(v) for v in values}) < len(values):
            raise RainierError(f"'{path}' lists a value twice ({vals})", field=field,
                               fix="give each value once: every value is a point of the sweep")
        if any(v is None for v in values):
            raise RainierError(f"'{item}' has an empty value", field=field, fix="remove the extra comma")
        grid[path] = values
    return grid


def _apply(doc: Any, path: str, value: Any) -> Any:
    """A copy of ``doc`` with the dotted ``path`` set to ``value`` (list items by index; missing mappings made)."""
    import copy

    out = copy.deepcopy(doc)
    keys = path.split(".")
    cur = out
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        where = ".".join(keys[:i + 1])
        if isinstance(cur, list):
            if not k.isdigit() or int(k) >= len(cur):
                raise RainierError(f"'{where}': no item {k} in a list of {len(cur)}", field="--set",
                                   fix="index list items from 0, e.g. sites.0.power_cap")
            if last:
                cur[int(k)] = value
            else:
                cur = cur[int(k)]
        elif isinstance(cur, dict):
            if last:
                cur[k] = value
            else:
                if k not in cur or cur[k] is None:
                    cur[k] = {}
                cur = cur[k]
        else:
            raise RainierError(f"'{where}': '{'.'.join(keys[:i])}' is a value, not a mapping or list",
                               field="--set", fix="set a field of a mapping, e.g. failures.scale")
    return out


def sweep_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The grid's Cartesian product, in the order the paths and values were given."""
    if not grid:
        return [{}]
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


# --- running ---------------------------------------------------------------------------------------

def _run_one(args: tuple[Any, int, tuple[str, ...]]) -> dict[str, Any]:
    """One run in a worker: the scenario, its seed, the extra catalog folders (catalogs do not pickle
    cheaply; each worker loads its own once)."""
    sc, seed, dirs = args
    from rainier.catalog.loader import default_catalog
    from rainier.fleet import run_fleet

    res = run_fleet(sc, seed=seed, catalog=default_catalog(tuple(Path(d) for d in dirs)))
    return {"summary": res.summary, "fallbacks": len(res.perf_fallbacks)}


def _metrics(summary: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in (summary.get("totals") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            row[k] = float(v)
    for t in summary.get("tenants") or []:
        for k in TENANT_METRICS:
            if isinstance(t.get(k), (int, float)):
                row[f"{t['tenant']}.{k}"] = float(t[k])
    # queued chip-hours by reason (fleet): does a policy or a cap move the wait from one cause to another?
    for k, v in (summary.get("queue_wait_chip_hours_by_reason") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            row[f"wait_chip_hours.{k}"] = float(v)
    return row


def run_sweep(scenario: str | Path, seeds: Sequence[int], grid: dict[str, list[Any]] | None = None, *,
              horizon: str | None = None, workers: int | None = None, engine: str = "process",
              catalog_dirs: Sequence[str | Path] = (), progress: Callable[[int, int], None] | None = None
              ) -> SweepResult:
    """Run ``scenario`` for every seed at every grid point (see the module docstring)."""
    from rainier.catalog.loader import default_catalog
    from rainier.fleet.scenario import scenario_document, scenario_from_dict, with_overrides

    engine = engine.strip().lower()
    if engine not in ENGINES:
        raise RainierError(f"unknown engine '{engine}'", field="--engine", fix=f"use one of {', '.join(ENGINES)}")
    seeds = sorted({int(s) for s in seeds})
    if not seeds or seeds[0] < 0:
        raise RainierError("give at least one seed, all >= 0", field="--seeds", fix="e.g. --seeds 1-10")
    grid = dict(grid or {})
    points = sweep_points(grid)
    n_runs = len(points) * len(seeds)
    if n_runs > MAX_RUNS:
        raise RainierError(f"{len(points)} grid points x {len(seeds)} seeds = {n_runs:,} runs, over {MAX_RUNS:,}",
                           field="--set", fix="sweep fewer values or seeds, or split the sweep")
    if workers is not None and workers < 1:
        raise RainierError(f"must be at least 1 (got {workers})", field="--workers", fix="e.g. --workers 4")
    dirs = tuple(str(d) for d in catalog_dirs)
    cat = default_catalog(tuple(Path(d) for d in dirs))
    doc, source = scenario_document(scenario)
    if not isinstance(doc, dict):
        raise RainierError("a scenario file holds a mapping (name:, horizon:, sites:, ...)", field="SCENARIO")
    doc = with_overrides(doc, {"horizon": horizon} if horizon is not None else None)
    # validate every point before any simulation: a bad path or value fails now, naming the --set
    scenarios = []
    for pt in points:
        d = doc
        for path, value in pt.items():
            d = _apply(d, path, value)
        d = _scheduler_params(doc, d, pt)
        label = ", ".join(f"{k}={v}" for k, v in pt.items())
        try:
            scenarios.append(scenario_from_dict(d, catalog=cat, source=source))
        except RainierError as exc:
            raise RainierError(f"{exc}" + (f" (at --set {label})" if label else ""), field="--set") from None
    tasks = [(sc, seed, dirs) for sc in scenarios for seed in seeds]
    n_workers = 1 if engine == "serial" else max(1, min(workers or _cpus(), len(tasks)))
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ordered_map(engine, n_workers) as pmap:
        for r in pmap(_run_one, tasks):  # in task order, whatever the engine
            results.append(r)
            if progress:
                progress(len(results), len(tasks))
    wall = time.perf_counter() - t0
    rows = []
    order = ((pi, pt, seed) for pi, pt in enumerate(points) for seed in seeds)  # the order of ``tasks``
    for (pi, pt, seed), res in zip(order, results, strict=True):
        rows.append({"point": pi, **{k: _cell(v) for k, v in pt.items()}, "seed": seed,
                     **_metrics(res["summary"]), "perf_fallbacks": res["fallbacks"]})
    runs = pd.DataFrame(rows)
    notes = []
    if runs["perf_fallbacks"].sum() > 0:
        notes.append(f"{int(runs['perf_fallbacks'].sum())} perf fallbacks across the runs (closed-form physics used)")
    return SweepResult(scenario=scenarios[0].name, seeds=seeds, grid=grid, runs=runs,
                       summary=summarise(runs, list(grid)), engine=engine, workers=n_workers, wall_s=wall, notes=notes)


def _scheduler_params(doc: dict[str, Any], d: dict[str, Any], pt: dict[str, Any]) -> dict[str, Any]:
    """A point that names another scheduler drops the file's scheduler parameters (they belong to the file's
    scheduler, as ``fleet run --scheduler`` does), unless the point sets parameters itself."""
    if "scheduler.name" not in pt or any(k.startswith("scheduler.params") for k in pt):
        return d
    own = doc.get("scheduler")
    own_name = own.get("name", "fifo") if isinstance(own, dict) else own
    if pt["scheduler.name"] != own_name and isinstance(d.get("scheduler"), dict):
        d = {**d, "scheduler": {k: v for k, v in d["scheduler"].items() if k != "params"}}
    return d


def _cell(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def _cpus() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def ordered_map(engine: str, n: int) -> Iterator[Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]]]:
    """An ordered ``map`` over ``n`` workers: this process (serial, or one worker), a spawned process pool, or
    Ray's multiprocessing-compatible pool."""
    if engine == "serial" or n == 1:
        yield map
    elif engine == "ray":
        try:
            from ray.util.multiprocessing import Pool  # type: ignore[import-not-found]
        except ImportError:
            raise RainierError("Ray is not installed", field="--engine",
                               fix="pip install 'ray[default]' (and ray start on the cluster), or use --engine process") from None
        with Pool(processes=n) as pool:
            yield pool.imap
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn: a fresh interpreter per worker (no fork of a process holding threads or a rich console)
        with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn")) as ex:
            yield lambda fn, items: ex.map(fn, items, chunksize=1)


# --- summary ---------------------------------------------------------------------------------------

def _ci95(x: np.ndarray) -> float:
    """Half-width of the mean's two-sided 95% interval (Student's t, n - 1 degrees of freedom; 0 if n < 2)."""
    from scipy import stats

    n = len(x)
    return float(stats.t.ppf(0.975, n - 1) * np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def summarise(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per grid point and metric: n, mean, std, min, p5, median, p95, max and ci95 (the mean's 95% interval
    half-width); for points after the first, ``diff`` and ``diff_ci95``: the mean of the per-seed
    differences from point 0 and its interval (paired: every point runs the same seeds, so the seed's
    draw of failures and arrivals cancels; a difference whose interval excludes 0 is not seed noise)."""
    skip = {"point", "seed", "perf_fallbacks", *keys}
    metrics = [c for c in runs.columns if c not in skip]
    base = runs[runs.point == runs.point.min()].set_index("seed")
    out = []
    for pi, g in runs.groupby("point", sort=True):
        first = g.iloc[0]
        gi = g.set_index("seed")
        for m in metrics:
            x = g[m].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            n = len(x)
            if n == 0:
                continue
            q = np.percentile(x, [5, 50, 95])
            row = {"point": int(pi), **{k: first[k] for k in keys}, "metric": m, "n": n,
                   "mean": float(x.mean()), "std": float(np.std(x, ddof=1)) if n > 1 else 0.0,
                   "min": float(x.min()), "p5": float(q[0]), "median": float(q[1]), "p95": float(q[2]),
                   "max": float(x.max()), "ci95": _ci95(x), "diff": None, "diff_ci95": None}
            if pi != runs.point.min() and m in base:
                d = (gi[m] - base[m]).dropna().to_numpy(dtype=float)
                d = d[np.isfinite(d)]
                if len(d):
                    row["diff"], row["diff_ci95"] = float(d.mean()), _ci95(d)
            out.append(row)
    return pd.DataFrame(out)


def write_sweep(result: SweepResult, out: str | Path) -> Path:
    """``runs.parquet``, ``summary.parquet`` and ``sweep.json`` (the spec and the summary), written whole or
    not at all."""
    import json

    from rainier.io import atomic_dir, to_jsonable

    out = Path(out)
    with atomic_dir(out, marker="sweep.json") as tmp:
        result.runs.to_parquet(tmp / "runs.parquet", index=False)
        result.summary.to_parquet(tmp / "summary.parquet", index=False)
        d = result.to_dict()
        d.pop("runs")
        (tmp / "sweep.json").write_text(json.dumps(to_jsonable(d), indent=2, allow_nan=False) + "\n",
                                        encoding="utf-8")
    return out
