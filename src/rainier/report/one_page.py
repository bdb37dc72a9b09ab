"""One-page reports of a single result: sizing ("what 5 GW buys"), a training step, a serving deployment.

Results are read through ``rainier.io.to_jsonable`` as plain dicts and every field is optional here:
the result dataclasses grow additively (docs/contracts.md), and a page that ignores a field it does not
know is better than one that fails. Figures are in SI inside the results and converted only for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from rainier.io import to_jsonable
from rainier.perf.training import MODEL_MIN_RUNS
from rainier.report.html import PALETTE, Cell, Page, Section, fmt_num, fmt_pct
from rainier.units import fmt_count, fmt_duration, fmt_money, fmt_power

__all__ = ["build_sizing_page", "build_training_page", "build_serving_page", "build_plan_page", "write_sizing_report",
           "write_training_report", "write_serving_report", "write_plan_report"]


def _f(d: dict[str, Any], *keys: str, default: float | None = None) -> float | None:
    """The first present numeric field of ``d`` (dotted keys reach into nested dicts)."""
    for k in keys:
        v: Any = d
        for part in k.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            return float(v)
    return default


def _secs(s: float | None) -> str:
    return "–" if s is None else fmt_duration(s)


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar leaves of a nested dict as (dotted key, value)."""
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return out


def _kv_table(sec: Section, title: str, d: Any) -> None:
    rows = [(k, Cell(fmt_num(v) if not isinstance(v, list) else ", ".join(map(str, v))))
            for k, v in _flat(d) if not isinstance(v, list) or len(v) < 12]
    if rows:
        sec.table([title, ""], rows)


# ---------------------------------------------------------------------------------------------- sizing


def build_sizing_page(results: Sequence[Any]) -> Page:
    rs = [to_jsonable(r) for r in results]
    if not rs:
        page = Page("Sizing", "no results")
        page.section("Sizing").text("No chip kinds were sized.")
        return page
    r0 = rs[0]
    basis = r0.get("basis", "power")
    if basis == "power":
        # whole systems leave each chip a little under the envelope; 3 figures recover the envelope
        env = max(_f(r, "facility_power_w", default=0) or 0 for r in rs)
        env = float(f"{env:.3g}") if env > 0 else env
        title = f"What {fmt_power(env)} of facility power buys"
    elif basis == "chips":
        title = f"What {fmt_count(max(_f(r, 'chips', default=0) or 0 for r in rs))} chips take"
    else:
        title = f"What {fmt_money(_f(r0, 'budget_usd', default=0) or 0)} over {_f(r0, 'years', default=0):g} years buys"
    labels = [str(r.get("chip_label") or r.get("chip")) + (" *" if r.get("estimate") else "") for r in rs]
    page = Page(title, "chip by chip: " + ", ".join(labels), kind="sizing")

    sec = page.section("Chip by chip", "table")
    def row(label: str, fn: Any) -> list[Any]:
        return [label, *[Cell(fn(r)) for r in rs]]
    wpc = lambda r, k: _f(r, f"watts_per_chip.{k}", default=0) or 0  # noqa: E731
    cost = lambda r, k: _f(r, f"cost_breakdown_per_chip_hour.{k}", default=0) or 0  # noqa: E731
    bf16_pf_per_chip = lambda r: (_f(r, "peak_bf16_flops", default=0) or 0) / max(_f(r, "chips", default=1) or 1, 1) / 1e15  # noqa: E731
    sec.table(["", *labels], [
        row("system", lambda r: str(r.get("system", "–"))),
        row("chips", lambda r: fmt_count(_f(r, "chips", default=0) or 0)),
        row("systems", lambda r: fmt_count(_f(r, "systems", default=0) or 0)),
        row("racks", lambda r: fmt_count(_f(r, "racks", default=0) or 0)),
        row("W per chip: chip / IT / facility", lambda r: f"{wpc(r, 'chip_w'):,.0f} / {wpc(r, 'it_w'):,.0f} / {wpc(r, 'facility_w'):,.0f}"),
        row("IT power", lambda r: fmt_power(_f(r, "it_power_w", default=0) or 0)),
        row("facility power (PUE)", lambda r: f"{fmt_power(_f(r, 'facility_power_w', default=0) or 0)} ({_f(r, 'pue', default=0):.2f})"),
        row("peak dense BF16", lambda r: f"{(_f(r, 'peak_bf16_flops', default=0) or 0) / 1e18:,.1f} EF"),
        row("peak dense FP8", lambda r: f"{(_f(r, 'peak_fp8_flops', default=0) or 0) / 1e18:,.1f} EF"
            if _f(r, "peak_fp8_flops", default=0) else "– (no FP8)"),
        row("HBM", lambda r: f"{(_f(r, 'hbm_bytes', default=0) or 0) / 1e15:,.1f} PB"),
        row("capex (hardware + facility)", lambda r: fmt_money(_f(r, "capex_usd", default=0) or 0)),
        row("annual energy", lambda r: f"{(_f(r, 'annual_energy_mwh', default=0) or 0) / 1e6:,.2f} TWh"),
        row("annual energy cost", lambda r: fmt_money(_f(r, "annual_energy_cost_usd", default=0) or 0)),
        row("annual owner cost", lambda r: fmt_money(_f(r, "annual_cost_usd", default=0) or 0)),
        row("cost per chip-hour (owner)", lambda r: f"${_f(r, 'cost_per_chip_hour_usd', default=0):.2f}"),
        row("cloud price per chip-hour", lambda r: "–" if _f(r, "cloud_price_per_chip_hour_usd") is None else f"${_f(r, 'cloud_price_per_chip_hour_usd'):.2f}"),
        row("$ per dense BF16 PF-hour", lambda r: f"${(_f(r, 'cost_per_chip_hour_usd', default=0) or 0) / bf16_pf_per_chip(r):.2f}" if bf16_pf_per_chip(r) else "–"),
    ], caption="* figures marked estimate in the catalog (chip TDP, system power or capex).")

    sec = page.section("What it buys", "compute")
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(rs))]
    f1 = go.Figure(go.Bar(x=labels, y=[_f(r, "chips", default=0) for r in rs], marker_color=colors,
                          text=[fmt_count(_f(r, "chips", default=0) or 0) for r in rs], textposition="outside",
                          hovertemplate="%{x}: %{y:,.0f} chips<extra></extra>"))
    f1.update_layout(title="chips", yaxis_title="chips", showlegend=False)
    f2 = go.Figure([go.Bar(x=labels, y=[(_f(r, k, default=0) or 0) / 1e18 for r in rs], name=n, marker_color=c,
                           hovertemplate=f"%{{x}}: %{{y:,.1f}} EF {n}<extra></extra>")
                    for k, n, c in (("peak_bf16_flops", "BF16", PALETTE[0]), ("peak_fp8_flops", "FP8", PALETTE[1]))])
    f2.update_layout(title="peak dense compute", yaxis_title="exaFLOP/s", barmode="group")
    f3 = go.Figure(go.Bar(x=labels, y=[(_f(r, "hbm_bytes", default=0) or 0) / 1e15 for r in rs], marker_color=colors,
                          hovertemplate="%{x}: %{y:,.1f} PB<extra></extra>"))
    f3.update_layout(title="HBM", yaxis_title="PB", showlegend=False)
    sec.row((f1, "Chips the envelope holds (whole systems)."), (f2, "Aggregate dense peak compute."),
            (f3, "Aggregate high-bandwidth memory."))

    sec = page.section("What it costs", "cost")
    comps = [("hardware_usd", "hardware"), ("facility_usd", "facility"), ("power_usd", "power"), ("om_usd", "O&M")]
    f4 = go.Figure([go.Bar(x=labels, y=[cost(r, k) for r in rs], name=n, marker_color=PALETTE[i],
                           hovertemplate=f"%{{x}} {n}: $%{{y:.2f}}/chip-h<extra></extra>") for i, (k, n) in enumerate(comps)])
    cloud = [_f(r, "cloud_price_per_chip_hour_usd") for r in rs]
    if any(c is not None for c in cloud):
        f4.add_trace(go.Scatter(x=labels, y=[c if c is not None else None for c in cloud], mode="markers",
                                name="cloud price", marker=dict(symbol="diamond", size=11, color="#1d2433"),
                                hovertemplate="%{x} cloud: $%{y:.2f}/chip-h<extra></extra>"))
    f4.update_layout(title="cost per chip-hour", barmode="stack", yaxis_title="USD per chip-hour")
    f5 = go.Figure([go.Bar(x=labels, y=[(_f(r, k, default=0) or 0) / 1e9 for r in rs], name=n, marker_color=c,
                           hovertemplate=f"%{{x}} {n}: $%{{y:,.1f}}B<extra></extra>")
                    for k, n, c in (("hardware_capex_usd", "hardware", PALETTE[0]), ("facility_capex_usd", "facility", PALETTE[1]))])
    f5.update_layout(title="capex", barmode="stack", yaxis_title="USD billions")
    f6 = go.Figure([go.Bar(x=labels, y=[wpc(r, k) for r in rs], name=n, marker_color=PALETTE[i],
                           hovertemplate=f"%{{x}} {n}: %{{y:,.0f}} W<extra></extra>")
                    for i, (k, n) in enumerate((("chip_w", "chip"), ("system_w", "system share"), ("it_w", "IT"),
                                                ("facility_w", "facility")))])
    f6.update_layout(title="watts per chip along the power chain", barmode="group", yaxis_title="W")
    sec.row((f4, "Owner's cost of one chip-hour by component (diamond: cloud list price)."),
            (f5, "Up-front capital: hardware and facility."), (f6, "Power per chip from die to utility meter."))
    page.footer.append("owner cost = capex (CRF) + facility + power + O&M; see `rainier catalog show`")
    return page


# -------------------------------------------------------------------------------------------- training


def _goodput_kpi(g: Any) -> list[tuple[str, str, str]]:
    if not isinstance(g, dict) or _f(g, "fraction") is None:
        return []
    days, mtti = _f(g, "time_to_train_days"), _f(g, "mtti_hours")
    sub = (f"{days:,.1f} days with failures" if days is not None else
           (f"an interruption every {fmt_duration(mtti * 3600)}" if mtti is not None else "no failures"))
    return [("goodput", fmt_pct(_f(g, "fraction")), sub)]


def build_training_page(result: Any) -> Page:
    d: dict[str, Any] = to_jsonable(result) or {}
    par = d.get("parallelism") or {}
    par_s = " ".join(f"{k}={v}" for k, v in par.items() if isinstance(v, int | str) and not isinstance(v, bool))
    title = f"Training {d.get('model', '?')} on {fmt_num(d.get('chips'))} × {d.get('chip', '?')}"
    page = Page(title, f"{d.get('system', '')} · seq {fmt_num(d.get('seq'))} · global batch {fmt_num(d.get('global_batch'))} "
                f"· {d.get('precision', '')} · {par_s}", kind="training")
    sec = page.section("Summary", "summary")
    mem, avail = _f(d, "memory_gb_per_chip"), _f(d, "memory_gb_available")
    ttt = _f(d, "time_to_train_days")
    sec.kpis([
        ("step time", _secs(_f(d, "step_time_s")), f"{fmt_num(d.get('microbatches'))} microbatches"),
        ("tokens / s", fmt_num(_f(d, "tokens_per_s")), f"{fmt_num(_f(d, 'tokens_per_s_per_chip'))} per chip"),
        ("MFU", fmt_pct(_f(d, "mfu")), f"HFU {fmt_pct(_f(d, 'hfu'))}"),
        ("TFLOP/s per chip", fmt_num(_f(d, "tflops_per_chip")), "model FLOPs achieved"),
        ("memory per chip", f"{mem:,.1f} GB" if mem is not None else "–", f"of {avail:,.0f} GB" if avail else ""),
        ("time to train", f"{ttt:,.1f} days" if ttt is not None else "–", f"{fmt_num(d.get('tokens'))} tokens" if d.get("tokens") else "give --tokens"),
        ("energy", f"{_f(d, 'energy_mwh'):,.0f} MWh" if _f(d, "energy_mwh") is not None else "–", f"{_f(d, 'power_mw', default=0):,.1f} MW facility"),
        ("cost", fmt_money(_f(d, "cost_usd", default=0) or 0) if _f(d, "cost_usd") is not None else "–",
         f"cloud {fmt_money(_f(d, 'cloud_cost_usd', default=0) or 0)}" if _f(d, "cloud_cost_usd") is not None
         else "owner cost"),
    ] + _goodput_kpi(d.get("goodput")) + _accuracy_kpi(d))
    sec = page.section("Where a step's time goes", "breakdown")
    bd = {k: float(v) for k, v in (d.get("breakdown") or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
    zero = [k for k, v in bd.items() if v <= 0]
    bd = {k: v for k, v in bd.items() if v > 0}
    figs = []
    if bd:
        items = sorted(bd.items(), key=lambda kv: -kv[1])
        f = go.Figure(go.Bar(y=[k for k, _ in items], x=[v for _, v in items], orientation="h",
                             marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(items))],
                             text=[_secs(v) for _, v in items], textposition="outside",
                             hovertemplate="%{y}: %{x:.4g} s<extra></extra>"))
        step = _f(d, "step_time_s")
        f.update_layout(title="step-time breakdown" + (f" (step {_secs(step)})" if step else ""),
                        xaxis=dict(title="seconds per step", range=[0, 1.3 * items[0][1]]),
                        yaxis=dict(autorange="reversed"), showlegend=False)
        figs.append((f, "Time per step by component (exposed communication and bubbles count where they are not "
                        "overlapped)." + (f" Zero: {', '.join(zero)}." if zero else "")))
    mb = {k: float(v) for k, v in (d.get("memory_breakdown_gb") or {}).items()
          if k != "total" and isinstance(v, int | float) and not isinstance(v, bool)}
    if mb:
        f = go.Figure([go.Bar(x=["per chip"], y=[v], name=k, marker_color=PALETTE[i % len(PALETTE)],
                              hovertemplate=f"{k}: %{{y:,.2f}} GB<extra></extra>") for i, (k, v) in enumerate(mb.items())])
        if avail:
            f.add_hline(y=avail, line=dict(color="#B2182B", dash="dash"), annotation_text=f"HBM {avail:,.0f} GB")
        f.update_layout(title="memory per chip", barmode="stack", yaxis_title="GB")
        figs.append((f, "Memory per chip by component against the HBM available."))
    if figs:
        sec.row(*figs)
    else:
        sec.text("The result carries no step-time or memory breakdown.")
    g = d.get("goodput")
    if isinstance(g, dict):
        sec = page.section("Failures and checkpoints", "goodput")
        sec.text("The share of wall time that trains when the job stops at every failure, restarts and redoes the "
                 "work since its last checkpoint (perf.goodput: Poisson interruptions at the catalog's rate per "
                 "chip-hour, exact expected time per checkpoint segment).")
        _kv_table(sec, "goodput", g)
    sec = page.section("Parallelism and alternatives", "parallelism")
    _kv_table(sec, "parallelism", par)
    alts = [a for a in d.get("alternatives") or [] if isinstance(a, dict)]
    if alts:
        def plabel(a: dict[str, Any]) -> str:
            p = a.get("parallelism") or {}
            return " ".join(f"{k}{v}" for k, v in p.items() if k in ("tp", "pp", "dp", "cp", "ep") and v not in (None, 1)) or "dp"
        xs = [f"#{i + 1} {plabel(a)}" + (f" {(a.get('parallelism') or {}).get('recompute')}" if (a.get('parallelism') or {}).get('recompute') not in (None, 'none') else "")
              for i, a in enumerate(alts)]
        f = go.Figure(go.Bar(x=xs, y=[_f(a, "step_time_s") for a in alts], marker_color=PALETTE[0],
                             text=[f"{_secs(_f(a, 'step_time_s'))} · MFU {fmt_pct(_f(a, 'mfu'))}" for a in alts],
                             textposition="outside", hovertemplate="%{x}: %{y:.4g} s/step<extra></extra>"))
        f.update_layout(title="step time of the best parallelisms", yaxis_title="seconds per step", height=340)
        sec.figure(f, caption="The search's best layouts, fastest first.")
        keys = sorted({k for a in alts for k in (a.get("parallelism") or {})}, key=lambda k: ["tp", "pp", "dp", "cp", "ep"].index(k) if k in ["tp", "pp", "dp", "cp", "ep"] else 9)
        sec.table(["#", *keys, "step time", "tokens/s", "MFU", "memory GB/chip"],
                  [[str(i + 1), *[Cell(fmt_num((a.get("parallelism") or {}).get(k))) for k in keys],
                    Cell(_secs(_f(a, "step_time_s"))), Cell(fmt_num(_f(a, "tokens_per_s"))), Cell(fmt_pct(_f(a, "mfu"))),
                    Cell(fmt_num(_f(a, "memory_gb_per_chip")))] for i, a in enumerate(alts)])
    notes = d.get("notes") or []
    if notes:
        sec = page.section("Notes", "notes")
        sec.raw("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    return page


def _accuracy_kpi(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    """How far to trust the estimate: the held-out MAPE of its family and kind of model, the out-of-sample runs',
    and its model's own bias where at least ``MODEL_MIN_RUNS`` of that model's runs were scored."""
    acc = d.get("accuracy") if isinstance(d.get("accuracy"), dict) else None
    raw = d.get("accuracy_out_of_sample")
    oos: dict[str, Any] = raw if isinstance(raw, dict) else {}
    fam, mod = oos.get("family") or {}, oos.get("model") or {}
    if not acc and not fam:
        return []
    head = f"±{acc['mape_pct']:g}% MAPE" if acc else f"±{fam['mape_pct']:g}% MAPE"
    sub = []
    if acc:
        sub.append(f"{acc['rows']} held-out runs")
    if fam:
        sub.append(f"{fam['mape_pct']:g}% over {fam['rows']} out-of-sample runs")
    if mod and mod.get("rows", 0) >= MODEL_MIN_RUNS:
        sub.append(f"this model: bias {mod['bias_pct']:+g}% over {mod['rows']} runs")
    return [("expected error", head, " · ".join(sub))]


def _esc(x: Any) -> str:
    from rainier.report.html import esc

    return esc(x)


# --------------------------------------------------------------------------------------------- serving


def build_serving_page(result: Any) -> Page:
    d = to_jsonable(result) or {}
    cfg = d.get("config") or {}
    title = f"Serving {cfg.get('model', d.get('model', '?'))} on {cfg.get('chip', d.get('chip', '?'))}"
    sub_keys = ("system", "chips", "tp", "pp", "ep", "attention_dp", "replicas", "precision", "mode", "qps", "concurrency",
                "lengths")
    sub = " · ".join(f"{k.replace('_', ' ')} {fmt_num(cfg[k])}" for k in sub_keys
                     if cfg.get(k) is not None and not isinstance(cfg[k], bool) and not (k == "attention_dp" and cfg[k] == 1))
    page = Page(title, sub, kind="serving")
    sec = page.section("Summary", "summary")
    cloud = _f(d, "cost_per_mtok_cloud_usd")
    sec.kpis([
        ("output tokens / s", fmt_num(_f(d, "output_tokens_per_s")), f"{fmt_num(_f(d, 'output_tokens_per_s_per_chip'))} per chip"),
        ("requests / s", fmt_num(_f(d, "requests_per_s")), f"max {fmt_num(_f(d, 'max_qps'))} at the SLO" if _f(d, "max_qps") else ""),
        ("TTFT p50", _secs(_f(d, "ttft_s.p50", "ttft_s.median", "ttft_s.mean")), f"p99 {_secs(_f(d, 'ttft_s.p99'))}"),
        ("TPOT p50", _secs(_f(d, "tpot_s.p50", "tpot_s.median", "tpot_s.mean")), f"p99 {_secs(_f(d, 'tpot_s.p99'))}"),
        ("cost per M tokens", f"${_f(d, 'cost_per_mtok_usd'):,.3f}" if _f(d, "cost_per_mtok_usd") is not None else "–",
         f"cloud ${cloud:,.3f}" if cloud is not None else "owner cost"),
        ("energy per token", f"{_f(d, 'joules_per_token'):,.3g} J" if _f(d, "joules_per_token") is not None else "–", "facility"),
        ("SLO attainment", fmt_pct(_f(d, "slo_attainment")),
         f"goodput {fmt_num(_f(d, 'goodput_tokens_per_s'))} tok/s" if _f(d, "goodput_tokens_per_s")
         else ("" if _f(d, "slo_attainment") is not None else "no SLO given")),
        ("batch / KV cache", f"{fmt_num(d.get('max_batch'))}", f"{_f(d, 'kv_cache_gb', default=0):,.1f} GB KV cache"),
    ])
    sec = page.section("Latency", "latency")
    lat = {name: {k: float(v) for k, v in (d.get(key) or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
           for name, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("end to end", "e2e_s"))}
    figs = []
    for i, (name, vals) in enumerate(lat.items()):
        if not vals:
            continue
        f = go.Figure(go.Bar(x=list(vals), y=[v * 1e3 for v in vals.values()], marker_color=PALETTE[i],
                             text=[_secs(v) for v in vals.values()], textposition="outside",
                             hovertemplate=f"{name} %{{x}}: %{{y:,.4g}} ms<extra></extra>"))
        f.update_layout(title=name, yaxis_title="ms", showlegend=False)
        figs.append((f, f"{name} percentiles."))
    if figs:
        sec.row(*figs)
    else:
        sec.text("The result carries no latency percentiles.")
    nums = {k: float(v) for k, v in (d.get("breakdown") or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
    step = next((nums[k] for k in ("step_s", "total_s", "total") if k in nums), None)
    bd = {k.removesuffix("_s"): v for k, v in nums.items() if k not in ("step_s", "total_s", "total") and v > 0}
    mem = d.get("memory") or {}
    gb = {k.removesuffix("_per_chip").removesuffix("_gb"): float(v) for k, v in mem.items()
          if k.endswith(("_gb", "_gb_per_chip")) and k not in ("hbm_gb_per_chip", "usable_gb_per_chip")
          and isinstance(v, int | float) and not isinstance(v, bool)}
    figs = []
    if bd:
        items = sorted(bd.items(), key=lambda kv: -kv[1])
        f = go.Figure(go.Bar(y=[k for k, _ in items], x=[v * 1e3 for _, v in items], orientation="h",
                             marker_color=PALETTE[4], text=[_secs(v) for _, v in items], textposition="outside",
                             hovertemplate="%{y}: %{x:.4g} ms<extra></extra>"))
        f.update_layout(title="time per iteration by component" + (f" (iteration {_secs(step)})" if step else ""),
                        xaxis=dict(title="ms", range=[0, 1.3e3 * items[0][1]]), yaxis=dict(autorange="reversed"),
                        showlegend=False)
        figs.append((f, "Where the time of a typical batched iteration goes."))
    if gb:
        f = go.Figure([go.Bar(x=["per chip"], y=[v], name=k, marker_color=PALETTE[i % len(PALETTE)],
                              hovertemplate=f"{k}: %{{y:,.2f}} GB<extra></extra>") for i, (k, v) in enumerate(gb.items())])
        for key, label, dash in (("hbm_gb_per_chip", "HBM", "dash"), ("usable_gb_per_chip", "usable", "dot")):
            v = mem.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                f.add_hline(y=float(v), line=dict(color="#B2182B", dash=dash),
                            annotation_text=f"{label} {float(v):,.0f} GB")
        f.update_layout(title="memory per chip", barmode="stack", yaxis_title="GB")
        figs.append((f, "Weights, activations and KV cache per chip against the HBM."))
    if figs:
        sec = page.section("Breakdown", "breakdown")
        sec.row(*figs)
    sec = page.section("Configuration", "config")
    _kv_table(sec, "deployment", cfg)
    _kv_table(sec, "memory", mem)
    _kv_table(sec, "queue", d.get("queue") or {})
    alts = [a for a in d.get("alternatives") or [] if isinstance(a, dict)]
    if alts:
        keys = [k for k, v in alts[0].items() if isinstance(v, int | float | str) and not isinstance(v, bool)][:10]
        sec.table(["#", *keys], [[str(i + 1), *[Cell(fmt_num(a.get(k))) for k in keys]] for i, a in enumerate(alts)],
                  caption="Alternatives considered, ranked by their analytic steady state (only the chosen layout "
                          "is simulated).")
    notes = d.get("notes") or []
    if notes:
        page.section("Notes", "notes").raw("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    return page


# ------------------------------------------------------------------------------------------------ plan


def build_plan_page(result: Any, notes: Sequence[str] = ()) -> Page:
    """A capacity plan (``rainier plan``): what is bought where and when, power against each site's cap, and
    delivered against demand, per year (training FLOP/s and, with a serving demand, output tokens/s)."""
    d: dict[str, Any] = to_jsonable(result) or {}
    rows = [r for r in d.get("rows") or [] if isinstance(r, dict)]
    years = [int(y) for y in d.get("years") or []]
    serving = bool(d.get("serve_tokens_per_s"))
    page = Page(f"Least-cost plan: {fmt_money(_f(d, 'total_cost_usd', default=0) or 0)} owner cost",
                f"{years[0]}-{years[-1]} · {d.get('status', '')} · "
                f"{', '.join(dict.fromkeys(str(r.get('chip')) for r in rows))} at "
                f"{', '.join(dict.fromkeys(str(r.get('site')) for r in rows))}" if years else "no years", kind="plan")
    sec = page.section("Summary", "summary")
    last = [r for r in rows if r.get("year") == (years[-1] if years else None)]
    capex = sum(_f(r, "capex_usd", default=0) or 0 for r in rows)
    kpis = [("owner cost", fmt_money(_f(d, "total_cost_usd", default=0) or 0),
             f"summed over the {len(years)} planned year{'s' if len(years) != 1 else ''}"),
            ("hardware capex", fmt_money(capex), "systems bought over the plan"),
            (f"chips in {years[-1] if years else ''}", fmt_count(sum(_f(r, "chips_installed", default=0) or 0 for r in last)),
             f"{fmt_power(sum(_f(r, 'facility_power_w', default=0) or 0 for r in last))} facility power")]
    if d.get("job_chips"):
        # a job split over sites is listed at each of them: count it at the first
        once = [r for r in last if not r.get("spans") or r.get("site") == list(r["spans"])[0]]
        kpis.append((f"jobs in {years[-1]}", fmt_count(sum(_f(r, "jobs", default=0) or 0 for r in once)),
                     f"of {fmt_count(d['job_chips'])} chips each"))
    sec.kpis(kpis)
    by_use = sorted({(str(r.get("chip")), str(r.get("use", "training"))) for r in rows})
    def series(chip: str, use: str, key: str) -> list[float]:
        return [sum(_f(r, key, default=0) or 0 for r in rows
                    if r.get("year") == y and r.get("chip") == chip and r.get("use", "training") == use) for y in years]
    f1 = go.Figure([go.Bar(x=years, y=series(c, u, "chips_installed"), name=f"{c} {u}" if serving else c,
                           marker_color=PALETTE[i % len(PALETTE)],
                           hovertemplate=f"{c} {u} %{{x}}: %{{y:,.0f}} chips<extra></extra>")
                    for i, (c, u) in enumerate(by_use)])
    f1.update_layout(title="chips installed", barmode="stack", yaxis_title="chips", xaxis=dict(dtick=1))
    caps = d.get("power_cap_w_by_year") or {}
    f2 = go.Figure()
    for i, (site, by) in enumerate(caps.items()):
        used = [sum(_f(r, "facility_power_w", default=0) or 0 for r in rows if r.get("site") == site and r.get("year") == y)
                / 1e6 for y in years]
        cap = [float(by.get(str(y), by.get(y, 0)) or 0) / 1e6 for y in years] if isinstance(by, dict) else []
        color = PALETTE[i % len(PALETTE)]
        f2.add_trace(go.Bar(x=years, y=used, name=f"{site} used", marker_color=color,
                            hovertemplate=f"{site} %{{x}}: %{{y:,.1f}} MW used<extra></extra>"))
        f2.add_trace(go.Scatter(x=years, y=cap, name=f"{site} cap", mode="lines+markers", line=dict(color=color, dash="dash"),
                                hovertemplate=f"{site} %{{x}} cap: %{{y:,.1f}} MW<extra></extra>"))
    f2.update_layout(title="facility power against each site's cap", barmode="group", yaxis_title="MW", xaxis=dict(dtick=1))
    sec = page.section("What is bought, where and when", "buy")
    sec.row((f1, "Chips installed per year by kind" + (" and use" if serving else "") + " (retired after the hardware life)."),
            (f2, "Facility power drawn at full load per site and year (bars) against its cap (dashed)."))
    def against(key: str, need: list[Any], scale: float, unit: str, title: str, axis: str, color: str) -> go.Figure:
        got = [sum(_f(r, key, default=0) or 0 for r in rows if r.get("year") == y) / scale for y in years]
        fig = go.Figure([go.Bar(x=years, y=got, name="delivered", marker_color=color,
                                hovertemplate=f"%{{x}}: %{{y:,.1f}} {unit} delivered<extra></extra>"),
                         go.Scatter(x=years, y=[float(v) / scale for v in need], name="demand", mode="lines+markers",
                                    line=dict(color="#1d2433", dash="dash"),
                                    hovertemplate=f"%{{x}}: %{{y:,.1f}} {unit} demand<extra></extra>")])
        fig.update_layout(title=title, yaxis_title=axis, xaxis=dict(dtick=1))
        return fig

    figs = [(against("delivered_flops", d.get("demand_flops") or [], 1e18, "EF/s", "training: delivered against demand",
                     "EF/s (delivered dense FLOP/s)", PALETTE[0]),
             "Training FLOP/s the plan delivers each year (chips x peak x utilization) against the demand.")]
    if serving:
        figs.append((against("served_tokens_per_s", d.get("serve_tokens_per_s") or [], 1e6, "M tokens/s",
                             "serving: served against demand", "million output tokens/s", PALETTE[1]),
                     "Output tokens/s the serving chips serve (chips x each kind's simulated rate) against the demand."))
    sec = page.section("Delivered against demand", "demand")
    sec.row(*figs)
    sec = page.section("The plan, row by row", "table")
    header = ["year", "site", "chip"] + (["use"] if serving else []) + ["bought (systems)", "installed chips"] \
        + (["jobs"] if d.get("job_chips") else []) + ["facility power", "delivered EF/s"] \
        + (["served tok/s"] if serving else []) + ["hardware capex", "annual owner cost"]
    table = []
    for r in rows:
        spans = r.get("spans")
        site = f"{r.get('site')} (spans {'+'.join(str(x) for x in spans)})" if isinstance(spans, list | tuple) and spans \
            else r.get("site")
        cells: list[Any] = [r.get("year"), site, r.get("chip")] + ([r.get("use")] if serving else [])
        cells += [fmt_count(_f(r, "systems_bought", default=0) or 0), fmt_count(_f(r, "chips_installed", default=0) or 0)]
        if d.get("job_chips"):
            cells.append(fmt_count(_f(r, "jobs", default=0) or 0) if r.get("jobs") is not None else "")
        cells += [fmt_power(_f(r, "facility_power_w", default=0) or 0),
                  fmt_num((_f(r, "delivered_flops", default=0) or 0) / 1e18) if r.get("use", "training") == "training" else ""]
        if serving:
            cells.append(fmt_count(_f(r, "served_tokens_per_s", default=0) or 0) if r.get("served_tokens_per_s") is not None
                         else "")
        cells += [fmt_money(_f(r, "capex_usd", default=0) or 0), fmt_money(_f(r, "annual_cost_usd", default=0) or 0)]
        table.append([Cell(str(c)) if not isinstance(c, Cell) else c for c in cells])
    sec.table(header, table, caption="; ".join(d.get("binding") or []) or "no power cap or supply limit binds")
    for n in notes:
        page.footer.append(str(n))
    return page


def write_plan_report(result: Any, path: str | Path, notes: Sequence[str] = (), field: str | None = None) -> Path:
    return build_plan_page(result, notes).write(path, field)


def write_sizing_report(results: Sequence[Any], path: str | Path, field: str | None = None) -> Path:
    return build_sizing_page(results).write(path, field)


def write_training_report(result: Any, path: str | Path, field: str | None = None) -> Path:
    return build_training_page(result).write(path, field)


def write_serving_report(result: Any, path: str | Path, field: str | None = None) -> Path:
    return build_serving_page(result).write(path, field)
