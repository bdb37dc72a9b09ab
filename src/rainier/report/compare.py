"""Two fleet runs side by side, differences highlighted: what-if analysis from the runs' files.

A comparison answers "what changed if we use another scheduler, or the supply slips a quarter?".
It reads both run directories exactly as the single-run report does. Headline metrics are tabulated
A, B, B - A and the relative change; a change beyond ``THRESHOLD`` is coloured green where it is an
improvement and red where it is a regression (the direction of "better" is per metric; metrics
without one are marked as changed). Time series of both runs are overlaid on one axis (same bins),
the per-tenant figures are grouped bars, chip states and the job Gantt charts stand side by side,
and the resolved scenarios are shown as a unified diff.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from rainier.io import load_yaml
from rainier.report.html import STATE_COLORS, Cell, Page, fmt_num, fmt_pct
from rainier.report.run_report import (
    STATES,
    RunData,
    _add_gantt,
    _f32,
    bin_hours,
    downsample,
    fleet_series,
    load_run,
    time_axis,
)

__all__ = ["build_compare_page", "write_compare_report", "compare_metrics", "METRICS", "THRESHOLD"]

THRESHOLD = 0.005  # relative change below which two runs count as equal on a metric
RUN_COLORS = ("#0072B2", "#D55E00")

# (key in totals, label, +1 higher is better / -1 lower is better / 0 neutral, kind)
METRICS: list[tuple[str, str, int, str]] = [
    ("chips_installed_end", "chips installed (end)", +1, "count"),
    ("utilization", "utilization", +1, "pct"),
    ("goodput", "goodput", +1, "pct"),
    ("slo_attainment", "SLO attainment", +1, "pct"),
    ("jobs_finished", "jobs finished", +1, "count"),
    ("jobs_submitted", "jobs submitted", 0, "count"),
    ("failures", "failures", -1, "count"),
    ("tokens_served", "tokens served", +1, "count"),
    ("tokens_demanded", "tokens demanded", 0, "count"),
    ("chip_hours_capacity", "chip-hours of site capacity (installed + undelivered)", +1, "count"),
    ("chip_hours_busy", "chip-hours busy", +1, "count"),
    ("chip_hours_idle", "chip-hours idle", -1, "count"),
    ("chip_hours_failed", "chip-hours failed", -1, "count"),
    ("chip_hours_undelivered", "chip-hours undelivered", -1, "count"),
    ("peak_power_mw", "peak power, MW", 0, "count"),
    ("energy_mwh", "energy, MWh", -1, "count"),
    ("cost_usd", "cost, USD", -1, "count"),
]


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if a == 0:
        return 0.0 if b == 0 else float("inf")
    return (b - a) / abs(a)


def _cls(direction: int, rel: float | None) -> str:
    if rel is None or abs(rel) < THRESHOLD:
        return ""
    if direction == 0:
        return "changed"
    return "better" if rel * direction > 0 else "worse"


def compare_metrics(a: RunData, b: RunData) -> list[dict[str, Any]]:
    """One record per headline metric: label, a, b, delta, rel, verdict (better/worse/changed/'')."""
    ta, tb = a.totals, b.totals
    out = []
    for key, label, direction, kind in METRICS:
        va, vb = ta.get(key), tb.get(key)
        va = None if va is None else float(va)
        vb = None if vb is None else float(vb)
        rel = _rel(va, vb)
        out.append({"metric": key, "label": label, "kind": kind, "a": va, "b": vb,
                    "delta": None if va is None or vb is None else vb - va, "rel": rel,
                    "verdict": _cls(direction, rel)})
    return out


def _fmt(v: float | None, kind: str) -> str:
    return fmt_pct(v) if kind == "pct" else fmt_num(v)


def _fmt_delta(d: float | None, kind: str) -> str:
    if d is None:
        return "–"
    if kind == "pct":
        return f"{100 * d:+.1f} pt"
    return ("+" if d > 0 else "") + fmt_num(d)


def _fmt_rel(r: float | None) -> str:
    if r is None:
        return "–"
    if r == float("inf"):
        return "new"
    return f"{100 * r:+.1f} %"


def _scenario_diff(a: RunData, b: RunData) -> str:
    lines = list(difflib.unified_diff(a.scenario_text.splitlines(), b.scenario_text.splitlines(),
                                      fromfile=f"A: {a.path / 'scenario.yaml'}", tofile=f"B: {b.path / 'scenario.yaml'}",
                                      lineterm="", n=3))
    if not lines:
        return ""
    out = []
    for ln in lines:
        e = html.escape(ln)
        if ln.startswith(("+++", "---")):
            out.append(f"<b>{e}</b>")
        elif ln.startswith("@@"):
            out.append(f'<span class="hunk">{e}</span>')
        elif ln.startswith("+"):
            out.append(f'<span class="add">{e}</span>')
        elif ln.startswith("-"):
            out.append(f'<span class="del">{e}</span>')
        else:
            out.append(e)
    # span lines are display:block, so they carry their own line break
    return "".join(x if x.startswith('<span') else x + "\n" for x in out)


def _overlay(runs: list[RunData], col: str, bin_h: int, div: float, how: str = "mean", cap: str | None = None,
             ratio: tuple[str, str] | None = None) -> go.Figure:
    fig = go.Figure()
    for tag, run, color in zip("AB", runs, RUN_COLORS, strict=True):
        if run.ts is None or run.ts.empty:
            continue
        fs = fleet_series(run.ts)
        if ratio is not None:
            num, den = downsample(fs[[ratio[0]]], bin_h, "sum"), downsample(fs[[ratio[1]]], bin_h, "sum")
            y = num[ratio[0]].to_numpy() / np.maximum(den[ratio[1]].to_numpy(), 1e-9)
            x = num.index.to_numpy()
        else:
            d = downsample(fs[[col] + ([cap] if cap else [])], bin_h, how)
            y, x = d[col].to_numpy(), d.index.to_numpy()
        fig.add_trace(go.Scatter(x=_f32(x / div), y=_f32(y), name=f"{tag}: {run.name}", mode="lines",
                                 line=dict(color=color, width=1.6),
                                 hovertemplate=f"{tag}: %{{y:,.4s}}<extra></extra>"))
        if cap:
            fig.add_trace(go.Scatter(x=_f32(x / div), y=_f32(d[cap]), name=f"{tag} cap", mode="lines",
                                     line=dict(color=color, width=1, dash="dash"),
                                     hovertemplate=f"{tag} cap: %{{y:,.4s}}<extra></extra>"))
    return fig


def scenario_changes(a: RunData, b: RunData) -> list[str]:
    """What differs between the two runs' resolved scenarios, as dotted keys (``scheduler.name``, ``seed``,
    ``sites``): the what-if the comparison answers. Lists and deeper structures are named, not walked."""
    import yaml

    try:
        da, db = load_yaml(a.scenario_text or "") or {}, load_yaml(b.scenario_text or "") or {}
    except yaml.YAMLError:
        return []

    def walk(x: Any, y: Any, path: str, depth: int) -> list[str]:
        if isinstance(x, dict) and isinstance(y, dict) and depth < 2:
            return [c for k in sorted(set(x) | set(y), key=str) for c in walk(x.get(k), y.get(k), f"{path}{k}.", depth + 1)]
        return [path.rstrip(".")] if x != y else []

    return walk(da, db, "", 0)


def build_compare_page(a: RunData, b: RunData) -> Page:
    changed = scenario_changes(a, b)
    what = (f" · the scenarios differ in {', '.join(changed[:6])}{' …' if len(changed) > 6 else ''}" if changed
            else " · identical scenarios (only the seed or the code differs)")
    page = Page(f"Fleet runs compared: {a.name} vs {b.name}", f"A = {a.label} · B = {b.label}{what}", kind="compare")
    metrics = compare_metrics(a, b)

    sec = page.section("Headline differences", "summary")
    n_better = sum(m["verdict"] == "better" for m in metrics)
    n_worse = sum(m["verdict"] == "worse" for m in metrics)
    sec.text(f"B against A: {n_better} metrics better (green), {n_worse} worse (red), changes under "
             f"{100 * THRESHOLD:g} % are not highlighted.")
    sec.table(["metric", "A", "B", "B − A", "change"],
              [(m["label"], Cell(_fmt(m["a"], m["kind"])), Cell(_fmt(m["b"], m["kind"])),
                Cell(_fmt_delta(m["delta"], m["kind"]), m["verdict"]), Cell(_fmt_rel(m["rel"]), m["verdict"]))
               for m in metrics], cls="compare")
    meta = []
    for k in ("scenario", "seed", "horizon_h", "config_sha256"):
        va, vb = a.summary.get(k, a.manifest.get(k)), b.summary.get(k, b.manifest.get(k))
        meta.append((k, Cell(str(va)[:16]), Cell(str(vb)[:16], "changed" if va != vb else "")))
    meta.append(("run directory", Cell(str(a.path)), Cell(str(b.path))))
    sec.table(["run", "A", "B"], meta)

    horizon = max(a.horizon_h, b.horizon_h)
    bin_h = bin_hours(horizon)
    div, xlabel = time_axis(horizon)
    runs = [a, b]
    have_ts = any(r.ts is not None and not r.ts.empty for r in runs)
    sec = page.section("Power and utilization over time", "power")
    if have_ts:
        f1 = _overlay(runs, "power_mw", bin_h, div, "mean", cap="power_cap_mw")
        f1.update_layout(xaxis_title=xlabel, yaxis_title="MW", yaxis_rangemode="tozero")
        top = [float(np.nanmax(t.y)) if len(t.y) else 0.0 for t in f1.data]
        power_top = max(top[0::2], default=0.0)
        cap_top = max(top[1::2], default=0.0)
        if power_top > 0 and cap_top > 3 * power_top:  # caps far above the draw would flatten it
            f1.update_layout(yaxis_range=[0, 1.25 * power_top])
            f1.add_annotation(xref="paper", yref="paper", x=1, y=1, xanchor="right", yanchor="top", showarrow=False,
                              text=f"caps ({cap_top:,.0f} MW) above the scale", font=dict(size=11, color="#5b6577"))
        f2 = _overlay(runs, "", bin_h, div, ratio=("chips_busy", "chips_installed"))
        f2.update_layout(xaxis_title=xlabel, yaxis=dict(title="utilization", tickformat=".0%"))
        sec.row((f1, "Fleet facility power (bin mean) and the summed site caps (dashed)."),
                (f2, "Utilization: busy / installed chips in each bin."))
        f3 = _overlay(runs, "chips_busy", bin_h, div)
        f3.update_layout(xaxis_title=xlabel, yaxis_title="chips busy", yaxis_rangemode="tozero")
        f4 = _overlay(runs, "chips_installed", bin_h, div)
        f4.update_layout(xaxis_title=xlabel, yaxis_title="chips installed", yaxis_rangemode="tozero")
        sec.row((f3, "Chips busy across the fleet."), (f4, "Chips installed (deliveries) across the fleet."))
    else:
        sec.text("Neither run has a timeseries.parquet.")

    sec = page.section("Chips by state, side by side", "chips")
    figs = []
    for tag, run in zip("AB", runs, strict=True):
        if run.ts is None or run.ts.empty:
            continue
        fs = downsample(fleet_series(run.ts), bin_h, "mean")
        x = _f32(fs.index.to_numpy() / div)
        f = go.Figure([go.Scatter(x=x, y=_f32(fs[f"chips_{st}"]), name=st, stackgroup="c", mode="lines",
                                  line=dict(width=0.5, color=STATE_COLORS[st]), fillcolor=STATE_COLORS[st],
                                  hovertemplate=f"{st}: %{{y:,.0f}}<extra></extra>") for st in STATES])
        f.update_layout(xaxis_title=xlabel, yaxis_title="chips", title=f"{tag}: {run.name}", hovermode="x unified")
        figs.append((f, f"{tag}: busy, idle, failed and undelivered chips."))
    if figs:
        ymax = max(max((max(t.y) if len(t.y) else 0) for t in f.data) for f, _ in figs)
        for f, _ in figs:  # one scale, so the eye compares heights
            f.update_yaxes(range=[0, 1.05 * float(ymax) * 1.0])
        sec.row(*figs)
    else:
        sec.text("Neither run has a timeseries.parquet.")

    sec = page.section("Tenants", "tenants")
    ta = {str(t.get("tenant")): t for t in a.summary.get("tenants") or []}
    tb = {str(t.get("tenant")): t for t in b.summary.get("tenants") or []}
    names = list(dict.fromkeys([*ta, *tb]))
    if names:
        def share(t: dict | None) -> float | None:
            if not t or not t.get("committed_chip_hours"):
                return None
            return float(t.get("delivered_chip_hours") or 0) / float(t["committed_chip_hours"])

        f = go.Figure()
        for tag, tt, color in zip("AB", (ta, tb), RUN_COLORS, strict=True):
            vals = [share(tt.get(n)) for n in names]
            f.add_trace(go.Bar(x=names, y=_f32([np.nan if v is None else v for v in vals]), name=f"{tag}",
                               marker_color=color, hovertemplate=f"{tag} %{{x}}: %{{y:.1%}} of commitment<extra></extra>"))
        f.add_hline(y=1.0, line=dict(color="#555", dash="dash", width=1))
        f.update_layout(barmode="group", yaxis=dict(title="delivered / committed", tickformat=".0%"))
        f2 = go.Figure()
        for tag, tt, color in zip("AB", (ta, tb), RUN_COLORS, strict=True):
            f2.add_trace(go.Bar(x=names, y=_f32([float((tt.get(n) or {}).get("queue_wait_mean_h") or 0) for n in names]),
                                name=tag, marker_color=color, hovertemplate=f"{tag} %{{x}}: %{{y:,.1f}} h<extra></extra>"))
        f2.update_layout(barmode="group", yaxis_title="mean queue wait, h")
        sec.row((f, "Share of each tenant's committed chip-hours delivered."), (f2, "Mean queue wait of training jobs."))
        rows = []
        for n in names:
            ra: dict[str, Any] = ta.get(n) or {}
            rb: dict[str, Any] = tb.get(n) or {}
            sa, sb = share(ra), share(rb)
            cells: list[Any] = [n]
            for key, kind, direction in (("share", "pct", +1), ("queue_wait_mean_h", "num", -1),
                                         ("goodput", "pct", +1), ("slo_attainment", "pct", +1), ("cost_usd", "num", -1)):
                va = sa if key == "share" else ra.get(key)
                vb = sb if key == "share" else rb.get(key)
                rel = _rel(None if va is None else float(va), None if vb is None else float(vb))
                f_ = fmt_pct if kind == "pct" else fmt_num
                cells += [Cell(f_(va)), Cell(f_(vb), _cls(direction, rel))]
            rows.append(cells)
        sec.table(["tenant", "delivered/commit A", "B", "queue wait h A", "B", "goodput A", "B",
                   "SLO A", "B", "cost A", "B"], rows, caption="B's cell is green where B is better for that tenant, red where worse.")
    else:
        sec.text("Neither summary lists tenants.")

    if any(r.ts is not None and not r.ts.empty and float(r.totals.get("tokens_demanded") or 0) > 0 for r in runs):
        sec = page.section("Inference", "inference")
        f = _overlay(runs, "tokens_per_s_served", bin_h, div)
        for tag, run, color in zip("AB", runs, RUN_COLORS, strict=True):
            if run.ts is None or run.ts.empty:
                continue
            d = downsample(fleet_series(run.ts)[["tokens_per_s_demanded"]], bin_h, "mean")
            f.add_trace(go.Scatter(x=_f32(d.index.to_numpy() / div), y=_f32(d.tokens_per_s_demanded),
                                   name=f"{tag} demanded", mode="lines", line=dict(color=color, width=1, dash="dot"),
                                   hovertemplate=f"{tag} demanded: %{{y:,.4s}}<extra></extra>"))
        f.update_layout(xaxis_title=xlabel, yaxis_title="tokens / s")
        sec.figure(f, caption="Tokens per second served (solid) and demanded (dotted).")

    sec = page.section("Failures", "failures")
    fa, fb = a.summary.get("failures_by_cause") or {}, b.summary.get("failures_by_cause") or {}
    la = a.summary.get("goodput_loss_by_cause_chip_hours") or {}
    lb = b.summary.get("goodput_loss_by_cause_chip_hours") or {}
    causes = sorted(set(fa) | set(fb) | set(la) | set(lb))
    if causes:
        f = go.Figure([go.Bar(x=causes, y=_f32([float(d.get(c, 0)) for c in causes]), name=tag, marker_color=col,
                              hovertemplate=f"{tag} %{{x}}: %{{y:,.0f}}<extra></extra>")
                       for tag, d, col in zip("AB", (fa, fb), RUN_COLORS, strict=True)])
        f.update_layout(barmode="group", yaxis_title="failures")
        g = go.Figure([go.Bar(x=causes, y=_f32([float(d.get(c, 0)) for c in causes]), name=tag, marker_color=col,
                              hovertemplate=f"{tag} %{{x}}: %{{y:,.4s}} chip-hours<extra></extra>")
                       for tag, d, col in zip("AB", (la, lb), RUN_COLORS, strict=True)])
        g.update_layout(barmode="group", yaxis_title="chip-hours lost")
        sec.row((f, "Failures by cause."), (g, "Chip-hours lost by cause."))
    else:
        sec.text("No failures recorded in either run.")

    # Gantt charts side by side: reuse the single-run section in two half-width pages' worth of parts.
    sec = page.section("Training jobs, side by side", "jobs")
    cols = []
    for tag, run in zip("AB", runs, strict=True):
        tmp = Page("", "")
        tmp._figs = page._figs  # share the page's chart list so ids stay unique
        _add_gantt(tmp, run, max_jobs=150)
        cols.append(f'<div class="col"><h3>{tag}: {html.escape(run.name)}</h3>{"".join(tmp.sections[0].parts)}</div>')
    sec.raw(f'<div class="cols cols-2">{"".join(cols)}</div>')

    sec = page.section("Scenario differences", "scenario")
    diff = _scenario_diff(a, b)
    if diff:
        sec.text("Unified diff of the resolved scenarios (A → B): removed lines red, added lines green.")
        sec.pre(diff, cls="diff")
    else:
        sec.text("The two resolved scenarios are identical" + (" (only the seed or the code differs)." if a.scenario_text else "."))
    page.footer.append(f"A = {a.path} · B = {b.path}")
    return page


def write_compare_report(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Build the comparison report of two run directories; default ``RUN_A/compare-<B>.html``."""
    a, b = load_run(run_a), load_run(run_b)
    path = Path(out) if out is not None else a.path / f"compare-{b.path.name}.html"
    if path.is_dir():
        path = path / f"compare-{a.path.name}-{b.path.name}.html"
    return build_compare_page(a, b).write(path)
