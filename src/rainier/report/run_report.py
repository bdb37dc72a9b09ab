"""The report of one fleet run, built from the run directory's files only (docs/contracts.md).

Reads ``summary.json``, ``manifest.json``, ``scenario.yaml``, ``jobs.parquet``, ``events.parquet`` and
``timeseries.parquet``; never a live simulator object, so any run directory (today's or last year's,
from the simulator or from a script) renders the same way. All six files are required: a directory that
lacks one, or holds one that does not parse, is not a run (an error, not a report with charts missing);
optional columns that are missing and empty tables turn into a note in their section.

Long series are downsampled for the default view so a year-long 1M-chip run stays small and quick to
open: hourly up to a month, 6-hourly up to ~4 months, daily beyond. Levels (chips, tokens/s) are
averaged over each bin; power is shown both as the bin mean and the bin maximum, because a cap is
broken by peaks that a mean hides. The hourly data stay in ``timeseries.parquet``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml

from rainier.errors import RainierError, yaml_problem
from rainier.fleet.outputs import wait_summary
from rainier.io import load_yaml
from rainier.report.html import PALETTE, STATE_COLORS, Cell, Page, fmt_num, fmt_pct

__all__ = ["RunData", "load_run", "check_run_dir", "contract_problems", "build_run_page", "write_run_report", "headline", "bin_hours",
           "downsample", "MAX_GANTT_JOBS", "MAX_MARKERS"]

MAX_GANTT_JOBS = 300  # rows in the Gantt chart; more are unreadable and slow to draw
# Attempts by how they ended. An attempt cut short by a failure still ran (up to its last checkpoint), so
# it is drawn in a quiet slate; the failures themselves are the red marks on top.
GANTT_COLORS = {"finished": "#009E73", "running": "#56B4E9", "preempted": "#E69F00", "failed": "#8c96a8",
                "queued": "#d0d0d0", "other": "#bbbbbb"}
MAX_MARKERS = 2000  # failure/restart markers and per-attempt hover points drawn one by one (SVG)
STATES = ("busy", "idle", "failed", "undelivered")


@dataclass
class RunData:
    """The files of one run directory, parsed. Frames are None where the file is absent."""

    path: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    scenario_text: str
    jobs: pd.DataFrame | None
    events: pd.DataFrame | None
    ts: pd.DataFrame | None

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario") or self.manifest.get("scenario") or self.path.name)

    @property
    def label(self) -> str:
        return f"{self.name} (seed {self.summary.get('seed', self.manifest.get('seed', '?'))}, {self.path.name})"

    @property
    def totals(self) -> dict[str, Any]:
        return dict(self.summary.get("totals") or {})

    @property
    def horizon_h(self) -> float:
        h = self.summary.get("horizon_h") or self.manifest.get("horizon_h")
        if h:
            return float(h)
        if self.ts is not None and len(self.ts):
            return float(self.ts.time_h.max()) + 1.0
        return 0.0


_RERUN = "re-run the scenario with `rainier fleet run` (it writes the whole directory at once)"
RUN_FILES = ("summary.json", "manifest.json", "scenario.yaml", "jobs.parquet", "events.parquet",
             "timeseries.parquet")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # a corrupt table: the report would silently lose its charts
        raise RainierError(f"cannot read {path}: {exc}", field="RUN_DIR", fix=_RERUN) from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RainierError(f"{path} is not valid JSON ({exc})", field="RUN_DIR", fix=_RERUN) from None
    if not isinstance(doc, dict):
        raise RainierError(f"{path} does not hold a JSON object", field="RUN_DIR", fix=_RERUN)
    return doc


def _read_scenario(path: Path) -> str:
    """The resolved scenario's text, checked to be a YAML mapping (the report presents it as what reproduces
    the run)."""
    try:
        text = path.read_text(encoding="utf-8")
        doc = load_yaml(text)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line, _ = yaml_problem(exc)
        where = f" (line {line})" if line is not None else ""
        raise RainierError(f"{path} is not valid YAML{where}", field="RUN_DIR", fix=_RERUN) from None
    if not isinstance(doc, dict) or not doc.get("name"):
        raise RainierError(f"{path} does not hold a resolved scenario (a mapping with name:)", field="RUN_DIR",
                           fix=_RERUN)
    return text


def load_run(run_dir: str | Path) -> RunData:
    """Parse a run directory; raises RainierError if it is not a complete, readable one.

    `rainier fleet run` writes every file of docs/contracts.md at once, so a directory that lacks one of them,
    or holds one that does not parse, is not a run: the report would otherwise miss charts or present a broken
    scenario as the one that reproduces the run.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RainierError(f"no run directory at {path}", field="RUN_DIR",
                           fix="pass the --out folder of `rainier fleet run`")
    sfile = path / "summary.json"
    if not sfile.exists():
        raise RainierError(f"{path} is not a fleet run directory (no summary.json)", field="RUN_DIR",
                           fix="pass the --out folder of `rainier fleet run`")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise RainierError(f"{path} is an incomplete run directory: no {', '.join(missing)}", field="RUN_DIR",
                           fix=_RERUN)
    run = RunData(path=path, summary=_read_json(sfile), manifest=_read_json(path / "manifest.json"),
                  scenario_text=_read_scenario(path / "scenario.yaml"),
                  jobs=_read_parquet(path / "jobs.parquet"), events=_read_parquet(path / "events.parquet"),
                  ts=_read_parquet(path / "timeseries.parquet"))
    problems = contract_problems(run.summary, run.manifest, load_yaml(run.scenario_text),
                                 {"jobs.parquet": run.jobs, "events.parquet": run.events, "timeseries.parquet": run.ts})
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RainierError(f"{path} is not a consistent run directory: {problems[0]}{more}", field="RUN_DIR",
                           fix=_RERUN)
    return run


REQUIRED_COLUMNS = {
    "jobs.parquet": ["job_id", "name", "tenant", "kind", "attempt", "chips", "site", "submit_h", "start_h", "end_h",
                     "status", "failure_cause", "tokens_done", "tokens_total", "lost_chip_hours", "tokens_per_s"],
    "events.parquet": ["time_h", "kind", "site", "tenant", "job_id", "chips", "cause", "detail"],
    "timeseries.parquet": ["time_h", "site", "tenant", "chips_installed", "chips_busy", "chips_idle", "chips_failed",
                           "chips_undelivered", "power_mw", "power_cap_mw", "tokens_per_s_served",
                           "tokens_per_s_demanded"],
}
REQUIRED_TOTALS = ["chips_installed_end", "chip_hours_capacity", "chip_hours_busy", "chip_hours_idle",
                   "chip_hours_failed", "chip_hours_undelivered", "utilization", "energy_mwh", "cost_usd",
                   "jobs_submitted", "jobs_finished", "failures", "goodput", "tokens_served", "tokens_demanded",
                   "slo_attainment", "peak_power_mw"]


_SUMMARY_KEYS = ("scenario", "seed", "horizon_h", "config_sha256", "totals", "tenants", "sites",
                 "failures_by_cause", "goodput_loss_by_cause_chip_hours")
_MANIFEST_KEYS = ("scenario", "seed", "config_sha256", "rainier_version", "horizon_h", "wall_s", "events_processed")
# timeseries columns that hold levels: finite and never negative in a run the simulator wrote
_LEVELS = [c for c in REQUIRED_COLUMNS["timeseries.parquet"] if c not in ("time_h", "site", "tenant")]


_TENANT_NUMBERS = ("committed_chips", "committed_chip_hours", "delivered_chip_hours", "jobs_submitted", "jobs_finished",
                   "queue_wait_mean_h", "queue_wait_p95_h", "goodput", "tokens_served", "tokens_demanded",
                   "slo_attainment", "energy_mwh", "cost_usd")
_SITE_NUMBERS = ("power_cap_mw", "peak_power_mw", "energy_mwh", "chips_installed_end")
MAX_HORIZON_H = 100 * 8766.0  # the simulator's limit (100 years)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and bool(np.isfinite(x))


def _bad_levels(where: str, items: dict[str, Any], keys: Any = None) -> list[str]:
    """Entries of ``items`` (all, or ``keys``) that are not null or a finite number >= 0."""
    return [f"{where}: {k} is {items[k]!r}, not a finite number >= 0" for k in (keys or items)
            if k in items and items[k] is not None and not (_is_number(items[k]) and items[k] >= 0)]


def contract_problems(summary: dict[str, Any] | None, manifest: dict[str, Any] | None,
                      scenario: dict[str, Any] | None, tables: dict[str, pd.DataFrame | None]) -> list[str]:
    """Departures of a run's parsed files from docs/contracts.md, and from each other: the keys and columns
    the contract names, totals that are finite numbers (or null), non-negative finite timeseries levels, and one run
    throughout (summary, manifest and scenario.yaml name the same scenario, seed and configuration hash;
    the timeseries lies within the horizon and names only the summary's sites). Empty when it conforms."""
    problems: list[str] = []
    if summary is not None:
        problems += [f"summary.json: no {k}" for k in _SUMMARY_KEYS if k not in summary]
        totals = summary.get("totals")
        if not isinstance(totals, dict):
            problems.append("summary.json: totals is not an object")
        else:
            problems += [f"summary.json totals: no {k}" for k in REQUIRED_TOTALS if k not in totals]
            # null is "does not apply" (a script's run without inference); NaN, text or a negative is a broken file
            problems += _bad_levels("summary.json totals", totals, REQUIRED_TOTALS)
        h: Any = summary.get("horizon_h")
        if "horizon_h" in summary and not (_is_number(h) and 0 < h <= MAX_HORIZON_H):
            problems.append(f"summary.json: horizon_h is {h!r}, not a number of hours from 0 to {MAX_HORIZON_H:g}")
        for k, keys in (("tenants", _TENANT_NUMBERS), ("sites", _SITE_NUMBERS)):
            v: Any = summary.get(k)
            if k in summary and not (isinstance(v, list) and all(isinstance(x, dict) for x in v)):
                problems.append(f"summary.json: {k} is not a list of objects")
            elif k in summary:
                for x in v:
                    problems += _bad_levels(f"summary.json {k}[{x.get(k[:-1])}]", x, keys)
        for k in ("failures_by_cause", "goodput_loss_by_cause_chip_hours"):
            v = summary.get(k)
            if k in summary and not isinstance(v, dict):
                problems.append(f"summary.json: {k} is not an object")
            elif k in summary:
                problems += _bad_levels(f"summary.json {k}", v)
    if manifest is not None:
        problems += [f"manifest.json: no {k}" for k in _MANIFEST_KEYS if k not in manifest]
    if summary is not None and manifest is not None:
        problems += [f"summary.json and manifest.json differ in {k} ({summary[k]!r} vs {manifest[k]!r}): two runs mixed"
                     for k in ("scenario", "seed", "config_sha256") if k in summary and k in manifest
                     and summary[k] != manifest[k]]
    if summary is not None and scenario is not None:
        problems += [f"scenario.yaml and summary.json differ in {k} ({scenario.get(a)!r} vs {summary[k]!r}): two runs mixed"
                     for a, k in (("name", "scenario"), ("seed", "seed")) if a in scenario and k in summary
                     and scenario.get(a) != summary[k]]
    for f, cols in REQUIRED_COLUMNS.items():
        df = tables.get(f)
        if df is not None:
            problems += [f"{f}: no column {c}" for c in cols if c not in df.columns]
    ts = tables.get("timeseries.parquet")
    if ts is not None and all(c in ts.columns for c in REQUIRED_COLUMNS["timeseries.parquet"]):
        if not len(ts):
            problems.append("timeseries.parquet: no rows (a run has at least one hour)")
        elif not pd.api.types.is_numeric_dtype(ts.time_h) or not np.isfinite(ts.time_h.to_numpy(dtype=float)).all():
            problems.append("timeseries.parquet: time_h is not all finite numbers")
        else:
            for c in _LEVELS:
                v = pd.to_numeric(ts[c], errors="coerce").to_numpy(dtype=float)
                if not (np.isfinite(v).all() and (v >= 0).all()):
                    problems.append(f"timeseries.parquet: {c} has negative, missing or non-finite values")
            h = summary.get("horizon_h") if summary is not None else None
            if _is_number(h) and float(ts.time_h.max()) >= float(h):  # type: ignore[arg-type]
                problems.append(f"timeseries.parquet: hours up to {ts.time_h.max():g}, past the summary's horizon {h:g} h")
            if summary is not None and isinstance(summary.get("sites"), list):
                names = {x.get("site") for x in summary["sites"] if isinstance(x, dict)}
                extra = sorted(set(map(str, ts.site.unique())) - {str(n) for n in names})
                if extra:
                    problems.append(f"timeseries.parquet: site {extra[0]!r} is not in summary.json: two runs mixed")
    return problems


def check_run_dir(run_dir: str | Path) -> list[str]:
    """Departures of a run directory from docs/contracts.md (empty when it conforms)."""
    path = Path(run_dir)
    problems = [f"missing {f}" for f in RUN_FILES if not (path / f).exists()]

    def read(f: str, fn: Any) -> Any:
        try:
            return fn(path / f) if (path / f).exists() else None
        except RainierError as exc:
            problems.append(str(exc))
            return None

    scenario_text = read("scenario.yaml", _read_scenario)
    problems += contract_problems(read("summary.json", _read_json), read("manifest.json", _read_json),
                                  load_yaml(scenario_text) if scenario_text else None,
                                  {f: read(f, _read_parquet) for f in REQUIRED_COLUMNS})
    return problems


# ---------------------------------------------------------------------------------------------- series


def bin_hours(horizon_h: float) -> int:
    """Bin width of the default view: at most ~750 points per series."""
    if horizon_h <= 24 * 31:
        return 1
    if horizon_h <= 24 * 125:
        return 6
    return 24


def time_axis(horizon_h: float) -> tuple[float, str]:
    """Divisor of time_h and the axis title: days beyond three days, hours otherwise."""
    return (24.0, "days from start") if horizon_h > 72 else (1.0, "hours from start")


def downsample(df: pd.DataFrame, bin_h: int, how: str = "mean") -> pd.DataFrame:
    """Aggregate a frame indexed by time_h into bins of ``bin_h`` hours (index: bin start, hours)."""
    if bin_h <= 1 or df.empty:
        return df
    key = (np.floor(df.index.to_numpy(dtype=np.float64) / bin_h) * bin_h)
    return df.groupby(key).agg(how)


def _num(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in cols:
        out[c] = pd.to_numeric(df[c], errors="coerce").fillna(0.0) if c in df.columns else 0.0
    return out


def site_rows(ts: pd.DataFrame) -> pd.DataFrame:
    return ts[ts["tenant"].astype(str) == "*"] if "tenant" in ts.columns else ts


def tenant_rows(ts: pd.DataFrame) -> pd.DataFrame:
    return ts[ts["tenant"].astype(str) != "*"] if "tenant" in ts.columns else ts.iloc[:0]


def fleet_series(ts: pd.DataFrame) -> pd.DataFrame:
    """Fleet totals per hour (sum over sites of the site-total rows)."""
    cols = ["chips_installed", "chips_busy", "chips_idle", "chips_failed", "chips_undelivered", "power_mw",
            "power_cap_mw", "tokens_per_s_served", "tokens_per_s_demanded"]
    s = site_rows(ts)
    frame = _num(s, cols)
    frame["time_h"] = pd.to_numeric(s["time_h"], errors="coerce")
    return frame.groupby("time_h").sum().sort_index()


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


# ------------------------------------------------------------------------------------------- headline


def _energy(mwh: Any) -> str:
    if mwh is None:
        return "–"
    v = float(mwh)
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.2f} TWh"
    if abs(v) >= 1e3:
        return f"{v / 1e3:,.1f} GWh"
    return f"{v:,.0f} MWh"


def _money(usd: Any) -> str:
    return "–" if usd is None else "$" + fmt_num(float(usd))


def _power(mw: Any) -> str:
    if mw is None:
        return "–"
    v = float(mw)
    return f"{v / 1e3:,.2f} GW" if abs(v) >= 1e3 else f"{v:,.1f} MW"


def headline(run: RunData) -> list[tuple[str, str, str]]:
    """(label, value, small print) of the headline figures; the CLI prints the same list."""
    t = run.totals
    sites = run.summary.get("sites") or []
    cap = sum(float(s.get("power_cap_mw") or 0) for s in sites)
    peak = t.get("peak_power_mw")
    undeliv_end = None
    if run.ts is not None and len(run.ts) and "chips_undelivered" in run.ts.columns:
        fs = fleet_series(run.ts)
        undeliv_end = float(fs["chips_undelivered"].iloc[-1])
    inst = t.get("chips_installed_end")
    lost = sum(float(v) for v in (run.summary.get("goodput_loss_by_cause_chip_hours") or {}).values())
    demanded = t.get("tokens_demanded") or 0
    return [
        ("chips installed", fmt_num(inst), f"{fmt_num(undeliv_end)} still undelivered at the end" if undeliv_end else "at the end of the run"),
        ("peak power", _power(peak), f"cap {_power(cap)} ({fmt_pct(float(peak) / cap) if peak and cap else '–'})" if cap else ""),
        ("utilization", fmt_pct(t.get("utilization")), "busy / installed chip-hours"),
        ("energy", _energy(t.get("energy_mwh")), "facility, metered"),
        ("cost", _money(t.get("cost_usd")), f"over {run.horizon_h / 24:,.0f} days" if run.horizon_h >= 48 else f"over {run.horizon_h:g} h"),
        ("goodput", fmt_pct(t.get("goodput")), f"{fmt_num(lost)} chip-hours of work lost"),
        ("SLO attainment", fmt_pct(t.get("slo_attainment")) if demanded else "–", "of inference tokens" if demanded else "no inference in this run"),
        ("jobs finished", f"{fmt_num(t.get('jobs_finished'))} / {fmt_num(t.get('jobs_submitted'))}", f"{fmt_num(t.get('failures'))} failures"),
        ("tokens served", fmt_num(t.get("tokens_served")), f"of {fmt_num(demanded)} demanded (input + output)" if demanded else ""),
    ]


# ------------------------------------------------------------------------------------------- sections


def _add_headline(page: Page, run: RunData) -> None:
    sec = page.section("Summary", "summary")
    sec.kpis(headline(run))
    m = run.manifest
    meta = [("scenario", run.name), ("seed", run.summary.get("seed", m.get("seed"))),
            ("horizon", f"{run.horizon_h:,.0f} h ({run.horizon_h / 24:,.1f} days)"),
            ("config sha256", str(run.summary.get("config_sha256") or m.get("config_sha256") or "–")[:16]),
            ("rainier version", m.get("rainier_version", "–")),
            ("simulated in", f"{float(m['wall_s']):,.1f} s" if m.get("wall_s") is not None else "–"),
            ("events processed", m.get("events_processed")), ("run directory", str(run.path))]
    sec.table(["run", ""], [(k, Cell(fmt_num(v))) for k, v in meta])


def _add_power(page: Page, run: RunData) -> None:
    sec = page.section("Power by site", "power")
    if run.ts is None or run.ts.empty:
        sec.text("No timeseries.parquet in this run.")
        return
    bin_h = bin_hours(run.horizon_h)
    div, xlabel = time_axis(run.horizon_h)
    s = site_rows(run.ts)
    fig = go.Figure()
    site_names = list(dict.fromkeys(s["site"].astype(str)))
    top_power = top_cap = 0.0
    for i, site in enumerate(site_names):
        rows = s[s["site"].astype(str) == site]
        df = _num(rows, ["power_mw", "power_cap_mw"]).set_index(pd.to_numeric(rows["time_h"]).to_numpy())
        mean, peak = downsample(df, bin_h, "mean"), downsample(df, bin_h, "max")
        x = _f32(mean.index.to_numpy() / div)
        c = PALETTE[i % len(PALETTE)]
        top_power = max(top_power, float(peak.power_mw.max()))
        top_cap = max(top_cap, float(peak.power_cap_mw.max()))
        fig.add_trace(go.Scatter(x=x, y=_f32(mean.power_mw), name=f"{site}", legendgroup=site, mode="lines",
                                 line=dict(color=c, width=1.8),
                                 hovertemplate=f"{site}<br>%{{x:.1f}}: %{{y:,.1f}} MW mean<extra></extra>"))
        if bin_h > 1:
            fig.add_trace(go.Scatter(x=x, y=_f32(peak.power_mw), name=f"{site} peak", legendgroup=site,
                                     mode="lines", line=dict(color=c, width=0.8, dash="dot"), showlegend=False,
                                     hovertemplate=f"{site}<br>%{{x:.1f}}: %{{y:,.1f}} MW peak<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=_f32(peak.power_cap_mw), name=f"{site} cap", legendgroup=site,
                                 mode="lines", line=dict(color=c, width=1.2, dash="dash"), showlegend=False,
                                 hovertemplate=f"{site} cap<br>%{{y:,.1f}} MW<extra></extra>"))
    fig.update_layout(xaxis_title=xlabel, yaxis_title="MW", yaxis_rangemode="tozero")
    if top_power > 0 and top_cap > 3 * top_power:
        # A cap far above the draw would flatten the power lines against the axis: scale to the power
        # and say where the caps are.
        fig.update_layout(yaxis_range=[0, 1.25 * top_power])
        fig.add_annotation(xref="paper", yref="paper", x=1, y=1, xanchor="right", yanchor="top", showarrow=False,
                           text=f"caps ({_power(top_cap)} max) above the scale", font=dict(size=11, color="#5b6577"))
    agg = {1: "hourly", 6: "6-hourly", 24: "daily"}[bin_h]
    sec.figure(fig, caption=f"Facility power per site ({agg} mean, solid"
               + ("; bin maximum, dotted" if bin_h > 1 else "") + ") against the site's power cap (dashed).")
    rows = []
    for si in run.summary.get("sites") or []:
        cap, peak = si.get("power_cap_mw"), si.get("peak_power_mw")
        over = cap and peak is not None and float(peak) > float(cap) * (1 + 1e-9)
        rows.append((si.get("site"), Cell(_power(cap)), Cell(_power(peak), "worse" if over else ""),
                     Cell(fmt_pct(float(peak) / float(cap)) if cap and peak is not None else "–", "worse" if over else ""),
                     Cell(_energy(si.get("energy_mwh"))), Cell(fmt_num(si.get("chips_installed_end")))))
    if rows:
        sec.table(["site", "power cap", "peak power", "peak / cap", "energy", "chips at end"], rows)


def _add_states(page: Page, run: RunData) -> None:
    sec = page.section("Chips by state", "chips")
    if run.ts is None or run.ts.empty:
        sec.text("No timeseries.parquet in this run.")
        return
    bin_h = bin_hours(run.horizon_h)
    div, xlabel = time_axis(run.horizon_h)
    fs = downsample(fleet_series(run.ts), bin_h, "mean")
    x = _f32(fs.index.to_numpy() / div)
    fig = go.Figure()
    for st in STATES:
        fig.add_trace(go.Scatter(x=x, y=_f32(fs[f"chips_{st}"]), name=st, stackgroup="chips", mode="lines",
                                 line=dict(width=0.5, color=STATE_COLORS[st]), fillcolor=STATE_COLORS[st],
                                 hovertemplate=f"{st}: %{{y:,.0f}} chips<extra></extra>"))
    fig.update_layout(xaxis_title=xlabel, yaxis_title="chips", hovermode="x unified")
    _mark_events(fig, run, div)
    sec.figure(fig, caption="Every chip of the plan is busy, idle, failed (awaiting repair) or not yet delivered; "
               "the stack is the planned fleet. Dotted lines mark outages, supply slips and demand spikes.")
    t = run.totals
    ch = {st: float(t.get(f"chip_hours_{st}") or 0) for st in STATES}
    total = sum(ch.values())
    installed = total - ch["undelivered"]
    sec.table(["state", "chip-hours", "share of plan", "share of installed"],
              [(st, Cell(fmt_num(ch[st])), Cell(fmt_pct(ch[st] / total) if total else "–"),
                Cell(fmt_pct(ch[st] / installed) if installed and st != "undelivered" else "–"))
               for st in STATES])


def _tenant_busy(run: RunData, bin_h: int) -> pd.DataFrame:
    tr = tenant_rows(run.ts)
    if tr.empty:
        return pd.DataFrame()
    df = pd.DataFrame({"time_h": pd.to_numeric(tr["time_h"]), "tenant": tr["tenant"].astype(str),
                       "busy": pd.to_numeric(tr.get("chips_busy", 0), errors="coerce")})
    wide = df.pivot_table(index="time_h", columns="tenant", values="busy", aggfunc="sum").fillna(0.0)
    return downsample(wide.sort_index(), bin_h, "mean")


def _add_tenants(page: Page, run: RunData) -> None:
    sec = page.section("Tenants: usage against commitment", "tenants")
    tenants = run.summary.get("tenants") or []
    if not tenants:
        sec.text("The summary lists no tenants.")
        return
    names = [str(t.get("tenant")) for t in tenants]
    committed = np.array([float(t.get("committed_chip_hours") or 0) for t in tenants])
    delivered = np.array([float(t.get("delivered_chip_hours") or 0) for t in tenants])
    fig = go.Figure([
        go.Bar(x=names, y=_f32(committed), name="committed", marker_color="#bbbbbb",
               hovertemplate="%{x}: %{y:,.3s} chip-hours committed<extra></extra>"),
        go.Bar(x=names, y=_f32(delivered), name="delivered", marker_color=PALETTE[0],
               text=[fmt_pct(d / c) if c else "" for d, c in zip(delivered, committed, strict=True)],
               textposition="outside", hovertemplate="%{x}: %{y:,.3s} chip-hours delivered<extra></extra>"),
    ])
    fig.update_layout(barmode="group", yaxis_title="chip-hours")
    figs = [(fig, "Chip-hours each tenant was promised and received over the run (label: delivered / committed).")]
    if run.ts is not None and not run.ts.empty:
        bin_h = bin_hours(run.horizon_h)
        div, xlabel = time_axis(run.horizon_h)
        wide = _tenant_busy(run, bin_h)
        if not wide.empty:
            f2 = go.Figure()
            x = _f32(wide.index.to_numpy() / div)
            for i, t in enumerate(tenants):
                name, col = str(t.get("tenant")), PALETTE[i % len(PALETTE)]
                if name in wide.columns:
                    f2.add_trace(go.Scatter(x=x, y=_f32(wide[name]), name=name, legendgroup=name, mode="lines",
                                            line=dict(color=col, width=1.6),
                                            hovertemplate=f"{name}: %{{y:,.0f}} chips busy<extra></extra>"))
                # The commitment as average chips: committed chip-hours / hours is what the tenant was
                # entitled to (a nominal commitment larger than the fleet is scaled down to it).
                cch = t.get("committed_chip_hours")
                cc = float(cch) / run.horizon_h if cch and run.horizon_h else t.get("committed_chips")
                if cc:
                    f2.add_trace(go.Scatter(x=[x[0], x[-1]], y=[float(cc), float(cc)], name=f"{name} commitment",
                                            legendgroup=name, showlegend=False, mode="lines",
                                            line=dict(color=col, width=1, dash="dash"),
                                            hovertemplate=f"{name} commitment: %{{y:,.0f}} chips<extra></extra>"))
            f2.update_layout(xaxis_title=xlabel, yaxis_title="chips busy", yaxis_rangemode="tozero")
            figs.append((f2, "Chips each tenant kept busy (solid) against its commitment (dashed: committed "
                             "chip-hours / hours, the average chips it was entitled to)."))
    sec.row(*figs)
    rows = []
    for t in tenants:
        c, dlv = float(t.get("committed_chip_hours") or 0), float(t.get("delivered_chip_hours") or 0)
        share = dlv / c if c else None
        rows.append((t.get("tenant"), Cell(fmt_num(t.get("committed_chips"))), Cell(fmt_num(c)), Cell(fmt_num(dlv)),
                     Cell(fmt_pct(share), "worse" if share is not None and share < 0.95 else ""),
                     Cell(f"{fmt_num(t.get('jobs_finished'))} / {fmt_num(t.get('jobs_submitted'))}"),
                     Cell(fmt_num(t.get("queue_wait_mean_h"))), Cell(fmt_num(t.get("queue_wait_p95_h"))),
                     Cell(wait_summary(t.get("queue_wait_chip_hours_by_reason") or {}) or "–"),
                     Cell(fmt_pct(t.get("goodput"))),
                     Cell(fmt_pct(t.get("slo_attainment")) if t.get("tokens_demanded") else "–")))
    warn = " ".join(f"Warning: {w}." for w in (run.summary.get("commitments") or {}).get("warnings", []))
    sec.table(["tenant", "committed chips", "committed chip-h", "delivered chip-h", "delivered / committed",
               "jobs finished", "queue wait mean h", "queue wait p95 h", "queued chip-h: waiting for", "goodput",
               "SLO attainment"], rows,
              caption="Red: a tenant received less than 95 % of its commitment. Waiting for: the first reason a queued "
                      "job could not start (supply: too few systems installed; repairs; site outage; other gangs; "
                      "inference: held by services; power: the site's cap; scheduler: startable but ran others first)."
                      + (" " + warn if warn else ""))


def _segments(start: np.ndarray, end: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of horizontal segments start->end at ``row``, NaN-separated: one SVG path for any count."""
    n = len(start)
    x = np.full(3 * n, np.nan, dtype=np.float32)
    y = np.full(3 * n, np.nan, dtype=np.float32)
    x[0::3], x[1::3] = start, end
    y[0::3], y[1::3] = row, row
    return x, y


def _merge_segments(start: np.ndarray, end: np.ndarray, row: np.ndarray, tol: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join segments of one row that overlap or lie closer than ``tol``: at screen resolution they
    are one line, and a year-long job that failed a thousand times would otherwise cost a thousand."""
    if len(start) == 0:
        return start, end, row
    df = pd.DataFrame({"s": start, "e": end, "r": row}).sort_values(["r", "s"], kind="stable")
    reach = df.groupby("r")["e"].cummax()
    prev_reach = reach.groupby(df["r"]).shift()
    new = prev_reach.isna() | (df["s"] > prev_reach + tol)
    g = df.assign(g=new.cumsum()).groupby("g").agg(s=("s", "min"), e=("e", "max"), r=("r", "first"))
    return g["s"].to_numpy(), g["e"].to_numpy(), g["r"].to_numpy()


def _add_gantt(page: Page, run: RunData, max_jobs: int = MAX_GANTT_JOBS) -> None:
    """Jobs as rows, attempts as segments coloured by outcome, failures and restarts marked.

    Drawn to a fixed budget whatever the run's size: at most ``max_jobs`` rows (the largest by
    chip-hours); attempts of all statuses as one NaN-separated line per status (one SVG path each);
    failures and restarts as markers up to MAX_MARKERS, beyond that failures as a heat strip (failures
    per job and time bin, one image) and restarts implied; hover text per attempt up to MAX_MARKERS,
    beyond that per job.
    """
    sec = page.section("Training jobs", "jobs")
    j = run.jobs
    if j is None or j.empty:
        sec.text("No training jobs in this run (jobs.parquet is absent or empty).")
        return
    if "kind" in j.columns:
        j = j[j["kind"].astype(str) == "training"]
    need = {"job_id", "start_h", "end_h", "status"}
    if j.empty or not need <= set(j.columns):
        sec.text(f"jobs.parquet has no training attempts with columns {sorted(need)}.")
        return
    horizon = run.horizon_h or float(pd.to_numeric(j["end_h"], errors="coerce").max())
    div, xlabel = time_axis(horizon)
    j = j.copy()
    j["job_id"] = j["job_id"].astype(str)
    for c in ("submit_h", "start_h", "end_h", "chips", "attempt", "lost_chip_hours"):
        j[c] = pd.to_numeric(j[c], errors="coerce") if c in j.columns else np.nan
    j["status"] = j["status"].astype(str)
    j["_end"] = j["end_h"].fillna(horizon)
    j["_chip_h"] = (j["chips"].fillna(0) * (j["_end"] - j["start_h"]).clip(lower=0)).fillna(0)
    per_job = j.groupby("job_id", sort=False).agg(chip_h=("_chip_h", "sum"), submit=("submit_h", "min"))
    n_all = len(per_job)
    keep = per_job.nlargest(max_jobs, "chip_h") if n_all > max_jobs else per_job
    keep = keep.sort_values(["submit", "chip_h"], ascending=[True, False])
    row_of = {jid: i for i, jid in enumerate(keep.index)}
    j = j[j["job_id"].isin(row_of)].copy()
    j["_row"] = j["job_id"].map(row_of).astype(np.int32)
    names = j["name"].astype(str) if "name" in j.columns else j["job_id"]
    j["_label"] = names + (" · " + j["tenant"].astype(str) if "tenant" in j.columns else "")
    # attempts may count from 0 or 1: a restart is any attempt after the job's first
    j["_restart"] = j["attempt"].fillna(0) > j.groupby("job_id")["attempt"].transform("min").fillna(0)
    ran = j[j["start_h"].notna()]
    n_rows = len(keep)
    n_att = len(ran)
    detail = n_att <= MAX_MARKERS

    def hover(df: pd.DataFrame) -> list[str]:
        cause = df["failure_cause"].fillna("").astype(str) if "failure_cause" in df.columns else pd.Series("", index=df.index)
        return [f"{lab}<br>attempt {int(a) if a == a else 0} · {st}{' (' + cz + ')' if cz else ''}"
                f"<br>{fmt_num(ch)} chips · {s:,.1f}–{e:,.1f} h"
                for lab, a, st, cz, ch, s, e in zip(df["_label"], df["attempt"], df["status"], cause, df["chips"],
                                                     df["start_h"], df["_end"], strict=True)]

    height = int(min(1400, max(320, 110 + n_rows * (22 if n_rows <= 40 else 4))))
    px_row = (height - 110) / max(n_rows, 1)
    width = float(max(1.0, min(14.0, 0.7 * px_row)))
    fig = go.Figure()
    # Queueing: from submission to the first start (or to the end of the run if never started).
    first = j.groupby("job_id").agg(row=("_row", "first"), submit=("submit_h", "min"), start=("start_h", "min"),
                                    end=("_end", "max"), label=("_label", "first"), chips=("chips", "max"),
                                    attempts=("status", "size"), failures=("status", lambda s: int((s == "failed").sum())),
                                    last=("status", "last"))
    first["start"] = first["start"].fillna(horizon)
    q = first[(first["start"] - first["submit"]) > 0]
    if len(q):
        x, y = _segments(q["submit"].to_numpy() / div, q["start"].to_numpy() / div, q["row"].to_numpy())
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="queued", hoverinfo="skip",
                                 line=dict(color=GANTT_COLORS["queued"], width=max(1.0, width * 0.6))))
    statuses = ["finished", "running", "preempted", "failed"]
    for st in [*statuses, "other"]:
        d = ran[ran["status"] == st] if st != "other" else ran[~ran["status"].isin(statuses)]
        if d.empty:
            continue
        segs = _merge_segments(d["start_h"].to_numpy() / div, d["_end"].to_numpy() / div, d["_row"].to_numpy(),
                               tol=horizon / div / 2500)
        x, y = _segments(*segs)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="failed (interrupted)" if st == "failed" else st,
                                 hoverinfo="skip", line=dict(color=GANTT_COLORS[st], width=width)))
    fails = ran[ran["status"] == "failed"]
    restarts = ran[ran["_restart"]]
    if len(fails) and len(fails) <= MAX_MARKERS:
        fig.add_trace(go.Scatter(x=_f32(fails["_end"] / div), y=fails["_row"].to_numpy(np.int32), mode="markers",
                                 name="failure", marker=dict(symbol="x", size=7, color="#B2182B"),
                                 hovertext=hover(fails), hoverinfo="text"))
    elif len(fails):
        nb = 200
        bins = np.minimum((fails["_end"].to_numpy() / horizon * nb).astype(np.int64), nb - 1)
        z = np.zeros((n_rows, nb), dtype=np.float32)
        np.add.at(z, (fails["_row"].to_numpy(), bins), 1.0)
        z[z == 0] = np.nan
        fig.add_trace(go.Heatmap(z=z, x0=0.5 * horizon / nb / div, dx=horizon / nb / div, y0=0, dy=1,
                                 colorscale=[[0, "#f4a582"], [0.5, "#d6604d"], [1, "#67001f"]], name="failures",
                                 showscale=True, colorbar=dict(title="failures", thickness=10, len=min(0.5, 300 / height),
                                                               y=1, yanchor="top"),
                                 hovertemplate="%{z:.0f} failures<extra></extra>", showlegend=True, opacity=0.9))
    if len(restarts) and len(restarts) <= MAX_MARKERS:
        fig.add_trace(go.Scatter(x=_f32(restarts["start_h"] / div), y=restarts["_row"].to_numpy(np.int32),
                                 mode="markers", name="restart",
                                 marker=dict(symbol="triangle-right", size=7, color="#1d2433"),
                                 hovertext=hover(restarts), hoverinfo="text"))
    # Hover: per attempt while there are few, else per job (two points: its first start and last end).
    if detail and n_att:
        fig.add_trace(go.Scatter(x=_f32((ran["start_h"] + ran["_end"]) / 2 / div), y=ran["_row"].to_numpy(np.int32),
                                 mode="markers", marker=dict(size=max(4, width), opacity=0), showlegend=False,
                                 name="attempts", hovertext=hover(ran), hoverinfo="text"))
    else:
        txt = [f"{lab}<br>{fmt_num(ch)} chips · {int(na)} attempts · {int(nf)} failures · last {ls}"
               f"<br>submitted {s:,.1f} h · ran {a:,.1f}–{e:,.1f} h"
               for lab, ch, na, nf, ls, s, a, e in zip(first["label"], first["chips"], first["attempts"], first["failures"],
                                                       first["last"], first["submit"], first["start"], first["end"],
                                                       strict=True)]
        fig.add_trace(go.Scatter(x=_f32(np.concatenate([first["start"], first["end"]]) / div),
                                 y=np.concatenate([first["row"], first["row"]]).astype(np.int32), mode="markers",
                                 marker=dict(size=max(4, width), opacity=0), showlegend=False, name="jobs",
                                 hovertext=txt + txt, hoverinfo="text"))
    yaxis: dict[str, Any] = dict(autorange="reversed", title="job", showgrid=False, zeroline=False,
                                 range=[n_rows - 0.5, -0.5])
    if n_rows <= 40:
        yaxis.update(tickmode="array", tickvals=list(range(n_rows)),
                     ticktext=[str(x) for x in first.sort_values("row")["label"]], title="")
    else:
        yaxis.update(showticklabels=False)
    fig.update_layout(xaxis_title=xlabel, yaxis=yaxis, xaxis_range=[0, horizon / div])
    shown = f"the {n_rows} largest (by chip-hours) of {n_all} jobs" if n_all > n_rows else f"all {n_all} jobs"
    marks = ("× marks a failure, ▸ a restart" if len(fails) <= MAX_MARKERS else
             f"{len(fails):,} failures are too many to mark one by one: the heat strip counts them per job and "
             f"{horizon / 200:,.3g} h, and every failure is followed by a restart")
    sec.figure(fig, height=height,
               caption=f"One row per job ({shown}), earliest submission at the top: grey is queueing, each "
                       f"segment an attempt coloured by how it ended (slate: cut short by a failure); {marks}.")
    allj = run.jobs
    cnt = allj["status"].astype(str).value_counts() if allj is not None and "status" in allj.columns \
        else pd.Series(dtype=int)
    rows = [(k, Cell(fmt_num(int(v)))) for k, v in cnt.items()]
    rows.append(("jobs", Cell(fmt_num(n_all))))
    sec.table(["attempts", "count"], rows)


def _add_inference(page: Page, run: RunData) -> None:
    sec = page.section("Inference: demand and service", "inference")
    if run.ts is None or run.ts.empty:
        sec.text("No timeseries.parquet in this run.")
        return
    demanded = float(run.totals.get("tokens_demanded") or 0)
    if demanded == 0 and "tokens_per_s_demanded" in run.ts.columns:
        demanded = float(pd.to_numeric(run.ts["tokens_per_s_demanded"], errors="coerce").fillna(0).sum())
    if demanded == 0:
        sec.text("No inference demand in this run.")
        return
    bin_h = bin_hours(run.horizon_h)
    div, xlabel = time_axis(run.horizon_h)
    fs = downsample(fleet_series(run.ts)[["tokens_per_s_served", "tokens_per_s_demanded"]], bin_h, "mean")
    x = _f32(fs.index.to_numpy() / div)
    fig = go.Figure([
        go.Scatter(x=x, y=_f32(fs.tokens_per_s_demanded), name="demanded", mode="lines",
                   line=dict(color="#D55E00", width=1.4), hovertemplate="demanded %{y:,.3s} tok/s<extra></extra>"),
        go.Scatter(x=x, y=_f32(fs.tokens_per_s_served), name="served", mode="lines", fill="tozeroy",
                   line=dict(color=PALETTE[0], width=1.4), fillcolor="rgba(0,114,178,0.18)",
                   hovertemplate="served %{y:,.3s} tok/s<extra></extra>"),
    ])
    fig.update_layout(xaxis_title=xlabel, yaxis_title="tokens / s", hovermode="x unified")
    _mark_events(fig, run, div)
    figs = [(fig, "Tokens per second demanded and served across the fleet (bin means); the gap is unmet demand.")]
    ten = [x for x in run.summary.get("tenants") or [] if x.get("tokens_demanded")]
    if ten:
        names = [str(x.get("tenant")) for x in ten]
        slo = [float(x.get("slo_attainment")) if x.get("slo_attainment") is not None else float("nan") for x in ten]
        served = [float(x.get("tokens_served") or 0) / float(x.get("tokens_demanded")) for x in ten]
        f2 = go.Figure([
            go.Bar(x=names, y=_f32(slo), name="SLO attainment", marker_color=PALETTE[2],
                   text=[fmt_pct(v) for v in slo], textposition="outside",
                   hovertemplate="%{x}: %{y:.1%} of tokens within SLO<extra></extra>"),
            go.Bar(x=names, y=_f32(served), name="served / demanded", marker_color=PALETTE[4],
                   hovertemplate="%{x}: %{y:.1%} of demand served<extra></extra>"),
        ])
        f2.update_layout(barmode="group", yaxis=dict(tickformat=".0%", range=[0, 1.1]))
        figs.append((f2, "Per tenant: the share of demanded tokens served within the latency SLO, and served at all."))
    sec.row(*figs)


def _add_cost(page: Page, run: RunData) -> None:
    sec = page.section("Cost and energy", "cost")
    tenants = run.summary.get("tenants") or []
    sites = run.summary.get("sites") or []
    figs = []
    if tenants:
        names = [str(t.get("tenant")) for t in tenants]
        f = go.Figure([go.Bar(x=names, y=_f32([float(t.get("cost_usd") or 0) for t in tenants]), name="cost",
                              marker_color=PALETTE[1], hovertemplate="%{x}: $%{y:,.4s}<extra></extra>")])
        f.update_layout(yaxis_title="USD", title="cost by tenant")
        figs.append((f, "Cost charged to each tenant over the run."))
        f = go.Figure([go.Bar(x=names, y=_f32([float(t.get("energy_mwh") or 0) for t in tenants]), name="tenants",
                              marker_color=PALETTE[2], hovertemplate="%{x}: %{y:,.4s} MWh<extra></extra>")])
        if sites:
            f.add_trace(go.Bar(x=[str(s.get("site")) for s in sites],
                               y=_f32([float(s.get("energy_mwh") or 0) for s in sites]), name="sites",
                               marker_color=PALETTE[0], hovertemplate="%{x}: %{y:,.4s} MWh<extra></extra>"))
        f.update_layout(yaxis_title="MWh", title="energy by tenant and by site")
        figs.append((f, "Facility energy attributed to tenants, and metered at each site."))
    loss = run.summary.get("goodput_loss_by_cause_chip_hours") or {}
    fails = run.summary.get("failures_by_cause") or {}
    if loss or fails:
        causes = sorted(set(loss) | set(fails), key=lambda c: -float(loss.get(c, 0)))
        f = go.Figure([
            go.Bar(x=causes, y=_f32([float(loss.get(c, 0)) for c in causes]), name="chip-hours lost",
                   marker_color="#D55E00", hovertemplate="%{x}: %{y:,.4s} chip-hours lost<extra></extra>"),
            go.Scatter(x=causes, y=_f32([float(fails.get(c, 0)) for c in causes]), name="failures", yaxis="y2",
                       mode="markers", marker=dict(size=10, color="#1d2433", symbol="diamond"),
                       hovertemplate="%{x}: %{y:,.0f} failures<extra></extra>"),
        ])
        f.update_layout(yaxis_title="chip-hours lost", title="goodput lost by cause",
                        yaxis2=dict(overlaying="y", side="right", title="failures", rangemode="tozero", showgrid=False))
        figs.append((f, "Chip-hours of work lost by cause (failures lose the work since the last checkpoint; checkpointing costs its save time); diamonds count failures."))
    for k in range(0, len(figs), 3):
        sec.row(*figs[k:k + 3])
    t = run.totals
    h = run.horizon_h or 1.0
    busy = float(t.get("chip_hours_busy") or 0)
    rows = [("energy", Cell(_energy(t.get("energy_mwh")))), ("cost", Cell(_money(t.get("cost_usd")))),
            ("average power", Cell(_power(float(t.get("energy_mwh") or 0) / h))),
            ("cost per busy chip-hour", Cell(f"${float(t.get('cost_usd') or 0) / busy:,.2f}" if busy else "–")),
            ("energy per busy chip-hour", Cell(f"{1e3 * float(t.get('energy_mwh') or 0) / busy:,.2f} kWh" if busy else "–"))]
    served = float(t.get("tokens_served") or 0)
    if served:
        rows.append(("cost per million tokens served, input + output (all cost)", Cell(f"${float(t.get('cost_usd') or 0) / served * 1e6:,.4f}")))
    sec.table(["total", ""], rows)


ROUTINE_EVENTS = {"job_submit", "job_start", "job_end", "job_interrupt", "failure", "repair", "preempt"}
MAX_EVENT_MARKS = 30  # vertical marks for notable events on the time charts
MAX_EVENT_ROWS = 100  # rows of the notable-events table


def _notable_events(run: RunData) -> pd.DataFrame:
    """Events that are not the routine of jobs and repairs: deliveries, slips, outages, demand spikes."""
    e = run.events
    if e is None or e.empty or "kind" not in e.columns or "time_h" not in e.columns:
        return pd.DataFrame(columns=["time_h", "kind"])
    e = e[~e["kind"].astype(str).isin(ROUTINE_EVENTS)].copy()
    e["time_h"] = pd.to_numeric(e["time_h"], errors="coerce")
    return e.sort_values("time_h", kind="stable")


def _mark_events(fig: go.Figure, run: RunData, div: float) -> None:
    """Mark outages, slips and demand spikes (deliveries show as steps already): a shaded band from an
    event to its ``<kind>_end`` at the same site, else a dotted line; labels staggered so they do not
    overprint one another."""
    e = _notable_events(run)
    e = e[e["kind"].astype(str) != "delivery"]
    site = e["site"].astype(object).where(e["site"].notna(), "") if "site" in e.columns else pd.Series("", index=e.index)
    kinds = e["kind"].astype(str)
    ends = e[kinds.str.endswith("_end")]
    used: set[Any] = set()
    for n, (idx, t, kind) in enumerate(zip(e.index, e["time_h"], kinds, strict=True)):
        if n >= MAX_EVENT_MARKS:
            break
        if kind.endswith("_end") or not np.isfinite(t):
            continue
        where = f" {site[idx]}" if site[idx] else ""
        stop = ends[(ends["kind"].astype(str) == f"{kind}_end") & (site[ends.index] == site[idx])
                    & (ends["time_h"] >= t) & ~ends.index.isin(used)]
        y = 1.0 - 0.07 * (len(fig.layout.annotations) % 4)
        if len(stop):
            used.add(stop.index[0])
            fig.add_vrect(x0=float(t) / div, x1=float(stop["time_h"].iloc[0]) / div, fillcolor="#7f7f7f",
                          opacity=0.15, line_width=0, layer="above")
        else:
            fig.add_vline(x=float(t) / div, line=dict(color="#7f7f7f", width=1, dash="dot"))
        fig.add_annotation(x=float(t) / div, y=y, xref="x", yref="paper", text=f"{kind}{where}", showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=10, color="#5b6577"),
                           bgcolor="rgba(255,255,255,0.7)")


def _add_events(page: Page, run: RunData) -> None:
    sec = page.section("Events", "events")
    e = run.events
    if e is None or e.empty or "kind" not in e.columns:
        sec.text("No events.parquet in this run.")
        return
    counts = e["kind"].astype(str).value_counts()
    fail = e[e["kind"].astype(str) == "failure"]
    if len(fail) and "cause" in fail.columns:
        # counts, not levels: coarser bins than the series so bars are not mostly empty
        bin_h = next(b for b in (1, 6, 24, 168) if (b >= 6 or run.horizon_h <= 72) and run.horizon_h / b <= 400
                     or b == 168)
        div, xlabel = time_axis(run.horizon_h)
        t = pd.to_numeric(fail["time_h"], errors="coerce")
        key = np.floor(t.to_numpy() / bin_h) * bin_h
        tab = pd.crosstab(key, fail["cause"].fillna("unknown").astype(str))
        order = tab.sum().sort_values(ascending=False).index
        # stacked areas, not bars: a year of days x causes as bars is thousands of SVG elements
        full = tab.reindex(np.arange(0.0, max(run.horizon_h, 1.0), bin_h), fill_value=0)
        fig = go.Figure([go.Scatter(x=_f32(full.index.to_numpy() / div), y=_f32(full[c]), name=c, mode="lines",
                                    stackgroup="causes", line=dict(width=0.5, color=PALETTE[i % len(PALETTE)]),
                                    hovertemplate=f"{c}: %{{y:,.0f}}<extra></extra>", line_shape="hv")
                         for i, c in enumerate(order)])
        fig.update_layout(xaxis_title=xlabel, yaxis_title="failures", hovermode="x unified")
        _mark_events(fig, run, div)
        per = {1: "hour", 6: "6 hours", 24: "day"}.get(bin_h, f"{bin_h} h")
        sec.figure(fig, caption=f"Failures per {per} by cause; dotted lines mark outages, supply slips and "
                                "demand spikes.")
    sec.table(["event", "count"], [(k, Cell(fmt_num(int(v)))) for k, v in counts.items()])
    notable = _notable_events(run)
    deliv = notable[notable["kind"].astype(str) == "delivery"]
    if len(deliv) and "site" in deliv.columns:
        chips = pd.to_numeric(deliv["chips"], errors="coerce") if "chips" in deliv.columns else pd.Series(0, index=deliv.index)
        g = deliv.assign(_chips=chips).groupby(deliv["site"].astype(str), sort=False).agg(
            n=("kind", "size"), chips=("_chips", "sum"), first=("time_h", "min"), last=("time_h", "max"))
        sec.table(["site", "deliveries", "chips delivered", "first at h", "last at h"],
                  [(site, Cell(fmt_num(r.n)), Cell(fmt_num(r.chips)), Cell(f"{r.first:,.1f}"), Cell(f"{r.last:,.1f}"))
                   for site, r in g.iterrows()], caption="Deliveries by site.")
    notable = notable[notable["kind"].astype(str) != "delivery"]
    if len(notable):
        cols = [c for c in ("time_h", "kind", "site", "tenant", "chips", "cause", "detail") if c in notable.columns]
        rows = [[Cell(f"{float(r['time_h']):,.1f}")]
                + [Cell(fmt_num(r[c]) if pd.notna(r[c]) else "–", "" if c == "chips" else "text") for c in cols[1:]]
                for _, r in notable.head(MAX_EVENT_ROWS).iterrows()]
        more = f" (the first {MAX_EVENT_ROWS} of {len(notable):,})" if len(notable) > MAX_EVENT_ROWS else ""
        sec.table(cols, rows, caption=f"Supply slips, outages, demand spikes and other scenario events{more}.")



def _add_scenario(page: Page, run: RunData) -> None:
    sec = page.section("Resolved scenario", "scenario")
    sec.text(f"The fully resolved scenario this run executed ({run.path / 'scenario.yaml'}); "
             "re-running it with the same seed reproduces the run.")
    sec.pre(run.scenario_text or "(no scenario.yaml in this run directory)")


def build_run_page(run: RunData) -> Page:
    t0 = run.totals
    sub = (f"{run.label} · {run.horizon_h / 24:,.1f} days · "
           f"{fmt_num(t0.get('chips_installed_end'))} chips · utilization {fmt_pct(t0.get('utilization'))}")
    page = Page(f"Fleet run: {run.name}", sub, kind="run")
    _add_headline(page, run)
    _add_power(page, run)
    _add_states(page, run)
    _add_tenants(page, run)
    _add_gantt(page, run)
    _add_inference(page, run)
    _add_cost(page, run)
    _add_events(page, run)
    _add_scenario(page, run)
    page.footer.append(f"from {run.path}")
    return page


def write_run_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Build the HTML report of a run directory; default ``RUN_DIR/report.html``. Returns its path."""
    run = load_run(run_dir)
    path = Path(out) if out is not None else run.path / "report.html"
    if path.is_dir():
        path = path / "report.html"
    return build_run_page(run).write(path)
