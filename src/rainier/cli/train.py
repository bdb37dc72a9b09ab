"""`rainier train` (step time, MFU, memory, time/energy/cost to train) and `rainier validate training`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from rainier.cli import app, common, validate_app
from rainier.cli.common import (
    RATIO_LINES,
    CatalogOpt,
    JsonOpt,
    QuietOpt,
    cloud_dollars,
    console,
    dollars,
    emit_comparison,
    emit_json,
    load_catalog,
    one_kind_report,
    parse_duration_flag,
    parse_int,
    parse_power_flag,
    parse_share,
    side_by_side,
    split_names,
)
from rainier.errors import DoesNotFitError, RainierError
from rainier.units import (
    fmt_count,
    fmt_duration,
    fmt_gbps,
    fmt_money,
    fmt_power,
    fmt_share,
    fmt_si,
    parse_bandwidth,
    parse_count,
)


def _recompute_text(p: dict[str, Any]) -> str:
    """'full (10% of layers)' where only a share of the layers is recomputed (``--recompute-layers``)."""
    frac = float(p.get("recompute_fraction", 1.0) or 1.0)
    return f"full ({frac:.1%} of layers)" if p["recompute"] == "full" and frac < 1.0 else str(p["recompute"])


def _result_table(r: Any) -> Table:
    t = Table(title=f"Training {r.model} on {fmt_count(r.chips)} x {r.chip} ({r.system}), seq {r.seq}, "
                    f"batch {r.global_batch} seqs, {r.precision}")
    t.add_column("")
    t.add_column("value", justify="right")
    p = r.parallelism
    rows = [
        ("parallelism", f"TP {p['tp']} x PP {p['pp']} (vp {p['vp']}) x DP {p['dp']} x CP {p['cp']}, EP {p['ep']}"
                        + (f" (expert TP {p['etp']})" if p.get('etp', p['tp']) != p['tp'] else "")),
        ("micro-batch / microbatches", f"{p['micro_batch']} / {r.microbatches}"),
        ("recompute / ZeRO", f"{_recompute_text(p)} / {p['zero']}"),
        ("step time", fmt_duration(r.step_time_s)),
        ("tokens/s (per chip)", f"{fmt_count(r.tokens_per_s)} ({r.tokens_per_s_per_chip:,.0f})"),
        ("MFU / HFU", f"{100 * r.mfu:.1f}% / {100 * r.hfu:.1f}%"),
        ("model TFLOP/s per chip", f"{r.tflops_per_chip:,.0f}"),
        ("memory per chip", f"{r.memory_gb_per_chip:.1f} GB of {r.memory_gb_available:.1f} GB usable"),
    ]
    for k, v in r.breakdown.items():
        if k != "recompute_in_compute" and v > 0:
            rows.append((f"  {k}", f"{fmt_duration(v)} ({100 * v / r.step_time_s:.1f}%)"))
    if r.time_budget_days is not None:
        rows.append((f"tokens trained in {r.time_budget_days:,.4g} days", f"{fmt_si(r.tokens or 0)} with failures"))
    g = r.goodput
    # with failures modelled, the first figures are the failure-free run's (the goodput block gives the run's)
    ff = ", failure-free" if g is not None and g.get("mtti_hours") is not None else ""
    if r.time_to_train_days is not None:
        rows += [
            (f"time to train {fmt_si(r.tokens or 0)} tokens{ff}", f"{r.time_to_train_days:,.1f} days"),
            (f"energy{ff}", f"{r.energy_mwh:,.0f} MWh ({r.power_mw:,.1f} MW average)"),
            (f"cost (owner){ff}", fmt_money(r.cost_usd) if r.cost_usd is not None else "-"),
            (f"cost (cloud price){ff}", fmt_money(r.cloud_cost_usd) if r.cloud_cost_usd is not None else "-"),
        ]
    if g is not None:
        rows.append(("goodput (failures, checkpoints)",
                     fmt_share(g["fraction"]) + (f", MTTI {fmt_duration(g['mtti_hours'] * 3600)}"
                                                      if g["mtti_hours"] is not None else ", no failures")))
        if g.get("time_to_train_days") is not None:
            rows += [
                ("  time to train with failures", f"{g['time_to_train_days']:,.1f} days (~{g['expected_interruptions']:,.0f} "
                                                  f"interruption{'' if round(g['expected_interruptions']) == 1 else 's'})"),
                ("  cost with failures (owner)", fmt_money(g["cost_usd"]) if g["cost_usd"] is not None else "-"),
                ("  energy with failures", f"{g['energy_mwh']:,.0f} MWh" if g.get("energy_mwh") is not None else "-"),
            ]
    for label, v in rows:
        t.add_row(label, v)
    return t


def _comparison_table(c: Any) -> Table:
    basis = f"{fmt_count(c.chips)} chips each" if c.basis == "chips" else f"{fmt_power(c.power_w)} of facility power each"
    title = (f"Training {c.model}, seq {c.seq}, batch {c.global_batch} seqs, {c.precision}: {basis} "
             f"(x: relative to {next(r.chip for r in c.rows if r.result)})")
    lines: list[tuple[str, Any]] = [
        ("chips (of those bought)", lambda r: f"{fmt_count(r.chips)} ({fmt_count(r.chips_available)})")
        if c.basis == "power" else ("chips", lambda r: fmt_count(r.chips)),
        ("facility power", lambda r: fmt_power(r.facility_power_mw * 1e6)),
        ("parallelism TP/PP/DP/CP/EP", lambda r: "/".join(str(r.result.parallelism[k])
                                                         for k in ("tp", "pp", "dp", "cp", "ep"))),
        ("step time", lambda r: fmt_duration(r.result.step_time_s)),
        ("tokens/s", lambda r: fmt_count(r.result.tokens_per_s)),
        ("MFU", lambda r: f"{100 * r.result.mfu:.1f}%"),
        ("memory per chip", lambda r: f"{r.result.memory_gb_per_chip:.0f} GB"),
        ("$ per 1M tokens (owner, failure-free)", lambda r: dollars(r.usd_per_million_tokens)),
        *([("  paying for every chip bought", lambda r: dollars(r.usd_per_million_tokens * r.chips_available / r.chips)
            if r.usd_per_million_tokens is not None and r.chips else "-")] if c.basis == "power" else []),
        ("$ per 1M tokens (cloud)", cloud_dollars),
        ("kWh per 1M tokens (failure-free)", lambda r: f"{r.kwh_per_million_tokens:.3g}"),
        ("goodput (failures, checkpoints)", lambda r: fmt_share(r.result.goodput["fraction"])),
        ("$ per 1M tokens with failures", lambda r: dollars(r.usd_per_million_tokens / r.result.goodput["fraction"])
         if r.usd_per_million_tokens is not None and r.result.goodput["fraction"] > 0 else "-"),
        *RATIO_LINES,
    ]
    xs = next((r.result.cross_site for r in c.rows if r.result is not None and r.result.cross_site), None)
    if xs is not None:
        title += f"; across {xs['sites']} sites, {xs['dim'].upper()} over a {fmt_gbps(xs['gbps'])} link"

        def _within(r: Any) -> str:
            v = (r.result.cross_site or {}).get("gbps_within", {}).get("5%")
            return fmt_gbps(v) if v is not None else "never"

        lines += [("vs the same chips at one site", lambda r: f"{r.result.cross_site['slowdown']:+.1%}"
                   if r.result.cross_site else "-"),
                  ("link for within 5% of one site", _within)]
    if any(r.result is not None and r.result.time_budget_days is not None for r in c.rows):
        lines.append(("tokens trained (with failures)", lambda r: fmt_si(r.result.tokens or 0)))
    if c.tokens:
        lines += [
            (f"days to train {fmt_si(c.tokens)} tokens", lambda r: f"{r.result.time_to_train_days:,.1f}"),
            ("  with failures", lambda r: f"{r.result.goodput['time_to_train_days']:,.1f}"
                                          if r.result.goodput.get("time_to_train_days") is not None else "-"),
            ("cost with failures (owner)", lambda r: fmt_money(r.result.goodput["cost_usd"])
             if r.result.goodput.get("cost_usd") is not None else "-"),
            ("energy with failures", lambda r: f"{r.result.goodput['energy_mwh']:,.0f} MWh"
             if r.result.goodput.get("energy_mwh") is not None else "-"),
            ("energy, failure-free", lambda r: f"{r.result.energy_mwh:,.0f} MWh"),
            ("cost (owner)", lambda r: fmt_money(r.result.cost_usd) if r.result.cost_usd is not None else "-"),
        ]
    return side_by_side(title, c.rows, lines)


def _nearest_count(e: RainierError, model: str, chip: str, n: int, system: str | None,
                   args: dict[str, Any]) -> int | None:
    """The largest chip count below ``n`` (whole systems x a power of two, or a power of two) on which the job
    has a valid layout, when ``n`` has none (1,000,000 chips: no batch of 2048 divides over its odd factor)."""
    if e.field != "parallelism" or "no tp x pp x cp x dp" not in str(e):
        return None
    from rainier.perf.training import estimate_training
    from rainier.plan.compare import chip_counts_below

    cat = args["catalog"]
    sys_chips = cat.system_for(cat.accelerator(chip), system).chips
    for c in chip_counts_below(n, sys_chips)[1:40]:
        try:
            estimate_training(model, chip, c, system=system, **{**args, "top": 1})
            return c
        except RainierError:
            continue
    return None


@app.command("train")
def train_cmd(
    model: Annotated[str, typer.Option("--model", help="model name or YAML file")],
    chip: Annotated[str, typer.Option(
        "--chip", help="accelerator name or YAML file; several (trn2,h100,gb200) compare the kinds side by side")],
    seq: Annotated[str, typer.Option("--seq", help="sequence length in tokens: 8192, 8k, 128k (k = 1,024 here)")],
    global_batch: Annotated[str, typer.Option("--global-batch", help="global batch in sequences")],
    chips: Annotated[str | None, typer.Option("--chips", help="number of chips: 16384, 1M (or --power)")] = None,
    tp: Annotated[str | None, typer.Option("--tp", help="tensor parallel size (searched if absent)")] = None,
    pp: Annotated[str | None, typer.Option("--pp", help="pipeline parallel size")] = None,
    dp: Annotated[str | None, typer.Option("--dp", help="data parallel size")] = None,
    cp: Annotated[str | None, typer.Option("--cp", help="context parallel size")] = None,
    ep: Annotated[str | None, typer.Option("--ep", help="expert parallel size")] = None,
    etp: Annotated[str | None, typer.Option(
        "--etp", help="expert tensor parallel size (default: tp); 1 folds EP over the TP ranks too")] = None,
    vp: Annotated[str | None, typer.Option("--vp", help="interleaved virtual stages per pipeline rank")] = None,
    micro_batch: Annotated[str | None, typer.Option("--micro-batch", help="microbatch size in sequences")] = None,
    recompute: Annotated[str | None, typer.Option("--recompute", help="none | selective | full")] = None,
    recompute_layers: Annotated[str | None, typer.Option(
        "--recompute-layers", help="with --recompute full: the share of layers recomputed, 0.25 or 25% "
                                   "(Megatron's --recompute-num-layers over the layers; default: searched)")] = None,
    zero: Annotated[str | None, typer.Option("--zero", help="ZeRO stage 0-3 (3 = FSDP)")] = None,
    precision: Annotated[str, typer.Option("--precision", help="bf16 | fp16 | fp8 | fp4 (NVFP4-style: linear-layer GEMMs in 4 bit)")] = "bf16",
    tokens: Annotated[str | None, typer.Option("--tokens", help="tokens to train on: 15T")] = None,
    time: Annotated[str | None, typer.Option(
        "--time", help="instead of --tokens: a wall-clock budget (30d); reports the tokens trained in it with "
                       "failures")] = None,
    sites: Annotated[int, typer.Option("--sites", help="data centers the job spans")] = 1,
    cross_site_gbps: Annotated[str | None, typer.Option("--cross-site-gbps", help="capacity of the link between sites: Gbit/s, or with a unit (100Tbps, 50GB/s)")] = None,
    cross_site_dim: Annotated[str, typer.Option("--cross-site-dim", help="dimension spanning the sites: dp or pp")] = "dp",
    attention_kernel: Annotated[str, typer.Option(
        "--attention-kernel",
        help="flash3 (the chip's best: FA3/cuDNN/TE) | flash2 (Ampere-style: FlashAttention-2, PyTorch SDPA)")] = "flash3",
    host_overhead: Annotated[bool, typer.Option(
        "--host-overhead/--no-host-overhead",
        help="MoE layers wait for the host to issue each local expert's kernels (eager PyTorch, no CUDA graphs); "
             "--no-host-overhead for a stack that graphs the expert loop or dispatches on the device")] = True,
    overlap_ep: Annotated[bool, typer.Option(
        "--overlap-ep/--no-overlap-ep",
        help="MoE: hide the EP all-to-all under another microbatch's compute (DeepSeek's DualPipe, Megatron-Core's "
             "EP overlap); default: exposed")] = False,
    grad_dtype: Annotated[str | None, typer.Option(
        "--grad-dtype",
        help="gradient buffer and its DP reduction: fp32 | bf16 (default: fp32, or fp16 when training in fp16)")] = None,
    moe_dispatch: Annotated[str, typer.Option(
        "--moe-dispatch",
        help="MoE token routing: permute (sort and gather by expert: Megatron, MaxText sparse) | einsum (GShard "
             "one-hot dispatch/combine einsums: MaxText's dropping path)")] = "permute",
    optimizer_dtype: Annotated[str, typer.Option(
        "--optimizer-dtype",
        help="Adam state: fp32 (12 B per parameter) | bf16 (6 B: bf16 moments, master weights as bf16 + "
             "16-bit remainders: NeMo's distributed_fused_adam with dtype bf16)")] = "fp32",
    moe_a2a: Annotated[str, typer.Option(
        "--moe-a2a",
        help="EP all-to-all: flat (NCCL, one copy per routed expert: Megatron's alltoall dispatcher) | hierarchical "
             "(DeepEP / HybridEP: one copy per destination node, fanned out over the scale-up links)")] = "flat",
    moe_capacity_factor: Annotated[float | None, typer.Option(
        "--moe-capacity-factor",
        help="expert capacity as a multiple of the balanced load (overflow dropped, every slot computed); "
             "default: the model's (dropless). The same time as a dropless run whose busiest expert-parallel "
             "rank gets CF x the mean load: --moe-capacity-factor 1.2 prices a router 20% out of balance")] = None,
    power: Annotated[str | None, typer.Option(
        "--power", help="instead of --chips: the whole systems this facility power carries (100MW), per chip kind")] = None,
    top: Annotated[int, typer.Option("--top", help="also list the next-best configurations")] = 1,
    checkpoint: Annotated[str, typer.Option(
        "--checkpoint", help="async (the job stalls for the copy to host memory; the write runs behind) | sync "
                             "(it stalls for the write to storage)")] = "async",
    checkpoint_interval: Annotated[str | None, typer.Option(
        "--checkpoint-interval", help="training time between checkpoints (stalls not counted): 30min (default: the "
                                      "interval that maximises goodput)")] = None,
    restart_time: Annotated[str | None, typer.Option(
        "--restart-time", help="detect a failure, reschedule and reinitialise the job: 10min (default: the catalog's; "
                               "the checkpoint read is added)")] = None,
    failure_scale: Annotated[float, typer.Option(
        "--failure-scale", help="multiplies the catalog's interruption rate per chip-hour (Llama 3's); 0: no failures")] = 1.0,
    checkpoint_bandwidth: Annotated[str | None, typer.Option(
        "--checkpoint-bandwidth", help="the job's aggregate storage bandwidth for checkpoints: 2TB/s (default: the "
                                       "catalog's per chip x chips)")] = None,
    system: Annotated[str | None, typer.Option("--system", help="system to run in (default: the chip's)")] = None,
    report: Annotated[str | None, typer.Option("--report", help="also write an HTML report here")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """How long training a model takes on N chips, at what MFU, memory, energy and cost."""
    from rainier.perf.goodput import Resilience
    from rainier.perf.training import Options, estimate_training

    cat = load_catalog(catalog)
    fixed: dict[str, Any] = {}
    for name, val in (("tp", tp), ("pp", pp), ("dp", dp), ("cp", cp), ("ep", ep), ("etp", etp), ("vp", vp),
                      ("micro_batch", micro_batch)):
        n = parse_int(val, f"--{name.replace('_', '-')}")
        if n is not None:
            fixed[name] = n
    if recompute is not None:
        recompute = recompute.strip().lower()
        if recompute not in ("none", "selective", "full"):
            raise RainierError(f"'{recompute}' is not a recomputation mode", field="--recompute",
                               fix="use none, selective or full")
        fixed["recompute"] = recompute
    if recompute_layers is not None:
        share = parse_share(recompute_layers, "--recompute-layers")
        if share is None or not 0.0 < share <= 1.0:
            raise RainierError(f"the share of layers recomputed must be in (0, 1] (got {recompute_layers})",
                               field="--recompute-layers", fix="e.g. --recompute-layers 0.25 or 25%")
        if fixed.get("recompute", "full") != "full":
            raise RainierError(f"a share of layers is recomputed only under --recompute full (got {recompute})",
                               field="--recompute-layers", fix="add --recompute full, or drop --recompute-layers")
        fixed["recompute"] = "full"
        fixed["recompute_fraction"] = share
    if zero is not None:
        stage = zero.strip().lower()
        stage = stage.removeprefix("zero").lstrip("-_ ") if stage.startswith("zero") else stage
        if stage not in ("0", "1", "2", "3"):
            raise RainierError(f"'{zero}' is not a ZeRO stage", field="--zero", fix="use 0, 1, 2 or 3 (3 = FSDP)")
        fixed["zero"] = int(stage)
    if top < 1:
        raise RainierError("must be at least 1", field="--top")
    cross_site_dim, attention_kernel, moe_dispatch, moe_a2a, optimizer_dtype = (
        v.strip().lower() for v in (cross_site_dim, attention_kernel, moe_dispatch, moe_a2a, optimizer_dtype))
    grad_dtype = grad_dtype.strip().lower() if grad_dtype is not None else None
    if cross_site_dim not in ("dp", "pp"):
        raise RainierError(f"'{cross_site_dim}' cannot span sites", field="--cross-site-dim", fix="use dp or pp")
    if (chips is None) == (power is None):
        raise RainierError("give exactly one of --chips and --power", field="--chips",
                           fix="e.g. --chips 16384, or --power 100MW for the chips that facility power carries")
    kinds = split_names(chip, "--chip") if "," in chip else [chip]
    n_chips = parse_int(chips, "--chips") if chips is not None else None
    power_w = parse_power_flag(power, "--power") if power is not None else None
    opts = Options(cross_site_dim=cross_site_dim, attention_kernel=attention_kernel, host_overhead=host_overhead,
                   grad_dtype=grad_dtype, moe_dispatch=moe_dispatch, overlap_ep=overlap_ep, moe_capacity_factor=moe_capacity_factor,
                   moe_a2a=moe_a2a, optimizer_dtype=optimizer_dtype)
    resilience = Resilience(
        checkpoint=checkpoint.strip().lower(), failure_scale=failure_scale,
        interval_s=(parse_duration_flag(checkpoint_interval, "--checkpoint-interval", ("min", "h"))
                    if checkpoint_interval is not None else None),
        restart_s=parse_duration_flag(restart_time, "--restart-time", ("min", "s")) if restart_time is not None else None,
        storage_bytes_per_s=(parse_bandwidth(checkpoint_bandwidth, "--checkpoint-bandwidth")
                             if checkpoint_bandwidth is not None else None))
    resilience.check()
    common_args: dict[str, Any] = dict(
        seq=common.parse_length(seq, "--seq") or 1, global_batch=parse_int(global_batch, "--global-batch") or 1,
        parallelism=fixed or None, precision=precision.strip().lower(),
        tokens=parse_count(tokens, "--tokens") if tokens is not None else None, sites=sites,
        cross_site_gbps=common.parse_gbps(cross_site_gbps, "--cross-site-gbps"), catalog=cat, top=top, options=opts, resilience=resilience,
        time_s=parse_duration_flag(time, "--time", ("d", "h")) if time is not None else None)
    if len(kinds) > 1 or power_w is not None:
        from rainier.plan.compare import compare_training

        one_kind_report(kinds, report)
        cmp = compare_training(model, kinds, chips=n_chips, power_w=power_w, system=system, **common_args)
        if len(kinds) > 1:
            emit_comparison(cmp, _comparison_table, json, quiet)
            return
        row = cmp.rows[0]
        assert row.result is not None  # compare_training raises when no kind can run the job
        res = row.result
        res.notes.insert(0, f"chips: {res.chips:,} of the {row.chips_available:,} that {fmt_power(power_w or 0)} of "
                            f"facility power carries (whole systems; the largest count with a valid layout)")
    else:
        try:
            res = estimate_training(model, chip, n_chips or 1, system=system, **common_args)
        except DoesNotFitError:
            raise
        except RainierError as e:
            near = _nearest_count(e, model, chip, n_chips or 1, system, common_args) if not fixed else None
            if near is None:
                raise
            raise RainierError(str(e).split("; ")[0].removeprefix(f"{e.field}: ") if e.field else str(e),
                               field="--chips", fix=f"try --chips {near:,} (the largest count below with a valid "
                                                  "layout) or another --global-batch") from None
    report_file = common.report_target(report, [*(catalog or []), model, chip, system])
    if report_file is not None:
        from rainier.report import write_training_report

        write_training_report(res, report_file, field="--report")
        if not quiet and not json:
            console.print(f"report: {report_file}")
    if json:
        emit_json(res)
        return
    console.print(_result_table(res))
    if res.alternatives:
        t = Table(title="alternatives")
        for col in ("TP", "PP", "VP", "DP", "CP", "EP", "ETP", "mb", "recompute", "ZeRO", "step", "MFU", "GB/chip"):
            t.add_column(col, justify="right")
        for a in res.alternatives:
            ap = a["parallelism"]
            t.add_row(*(str(ap[k]) for k in ("tp", "pp", "vp", "dp", "cp", "ep")), str(ap.get("etp", ap["tp"])),
                      str(ap["micro_batch"]), _recompute_text(ap),
                      str(ap["zero"]),
                      fmt_duration(a["step_time_s"]), f"{100 * a['mfu']:.1f}%", f"{a['memory_gb_per_chip']:.1f}")
        console.print(t)
    if not quiet:
        for note in res.notes:
            console.print(f"note: {note}")


@validate_app.command("training")
def validate_training_cmd(
    row: Annotated[list[int] | None, typer.Option(
        "--row", help="show these rows in full instead (repeatable): rainier's estimate, parallelism, step-time "
                      "breakdown, memory, the row's settings and notes")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predicted vs measured for every usable published training run; MAPE on held-out rows."""
    from rainier.perf.validate_training import ADDED_ROWS, explain_rows, validate_training

    if row:
        _explain(explain_rows(list(row), load_catalog(catalog)), json)
        return
    rep = validate_training(load_catalog(catalog))
    if json:
        emit_json(rep)
        return
    t = Table(title="rainier training model vs published measurements (F = used for fitting, excluded from score; "
                    "+ = added to the reference table, scored apart)")
    for c in ("id", "", "source", "model", "hardware", "chips", "metric", "measured", "predicted", "error"):
        t.add_column(c, justify="right" if c in ("chips", "measured", "predicted", "error") else "left")
    for r in rep.rows:
        if not r.usable:
            continue
        t.add_row(str(r.id), ("F" if r.fitted else "") + ("+" if r.added else ""), r.source[:28], r.model[:26], r.hardware[:24],
                  str(r.chips), r.unit, f"{r.measured:,.4g}", f"{r.predicted:,.4g}", f"{r.error_pct:+.1f}%")
    console.print(t)
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    console.print(f"held-out rows: {rep.n_heldout}, MAPE {rep.mape_heldout:.1f}% (target <= {rep.target_mape:g}%: "
                  f"{met(rep.mape_heldout <= rep.target_mape)}), max |error| {rep.max_abs_err_heldout:.1f}% (row "
                  f"{rep.max_err_row}; target <= {rep.target_max_err:g}%: "
                  f"{met(rep.max_abs_err_heldout <= rep.target_max_err)})")
    console.print("per family (held out): " + ", ".join(f"{k} {v:.1f}%" for k, v in rep.mape_by_family.items()))
    if quiet:
        return
    if rep.n_heldout_added:
        console.print(f"rows added to the reference table (ids {min(ADDED_ROWS)}-{max(ADDED_ROWS)}: other vendors' "
                      f"published runs), held out: {rep.n_heldout_added}, MAPE {rep.mape_heldout_added:.1f}%, "
                      f"max |error| {rep.max_abs_err_heldout_added:.1f}%; both sets together: "
                      f"MAPE {rep.mape_heldout_all:.1f}%")
        console.print("per family, both sets (held out): "
                      + ", ".join(f"{k} {v:.1f}%" for k, v in rep.mape_by_family_all.items()))
    b = rep.baseline
    if b.get("mape_heldout") is not None:
        console.print(f"the same held-out rows by a fixed-efficiency model ({b['model']}): MAPE "
                      f"{b['mape_heldout']:.1f}% on the reference rows, {b['mape_heldout_all']:.1f}% on both sets "
                      "(scripts/compare_baseline.py: per family and out of sample)")
    oos = rep.out_of_sample
    if oos.get("runs"):
        o = oos["overall"]
        console.print(f"out of sample: {oos['runs']} published runs outside this table from {len(oos['sources'])} "
                      f"source tables, MAPE {o['mape_pct']:g}%, bias {o['bias_pct']:+g}%, {o['within_25_pct']:g}% "
                      "within 25% (shipped scores: python scripts/score_out_of_sample.py); per family: "
                      + ", ".join(f"{f} {k} {v['mape_pct']:g}% over {v['rows']}" for f, kinds in oos["families"].items()
                                  for k, v in kinds.items()))
    if rep.mape_fitted is not None:
        console.print(f"fitted rows: {rep.n_fitted}, MAPE {rep.mape_fitted:.1f}% (not part of the score)")
    if rep.fit_rule:
        console.print(f"fit rule: {rep.fit_rule}")
    mis = [r for r in rep.rows if r.usable and r.memory_fits is False]
    console.print(f"memory: {len(mis)} published configuration(s) do not fit rainier's memory model "
                  "(scored with the check off)")
    for r in mis:
        console.print(f"  {r.id}: {r.model} ({r.hardware}): {r.memory_misfit}")
    rc = [r for r in rep.rows if r.usable and "recompute" in r.searched and (r.parallelism or {}).get("recompute") == "full"]
    if rc:
        console.print("recomputation chosen by the search where the source states none: " + ", ".join(
            f"{r.id} ({100 * float((r.parallelism or {}).get('recompute_fraction', 1.0)):.0f}% of layers)" for r in rc))
    console.print("row settings (applied only where the source states them):")
    for r in rep.rows:
        if r.usable and r.settings:
            console.print(f"  {r.id}: " + "; ".join(x.split(":")[0] for x in r.settings))
    console.print(f"unusable rows: {rep.n_unusable}")
    for r in rep.rows:
        if not r.usable:
            console.print(f"  {r.id}: {r.model} ({r.hardware}): {r.reason}")


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


@validate_app.command("kernels")
def validate_kernels_cmd(
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The compute model against GEMM, MoE, attention and memory kernels and whole layers timed on an H100."""
    from rainier.perf.validate_kernels import validate_kernels

    rep = validate_kernels(load_catalog(catalog))
    if json:
        emit_json(rep.to_dict())
        return
    t = Table(title=f"rainier compute model vs kernels timed on one {rep.device} ({rep.measured}; nothing fitted to "
                    "them); error = measured / predicted time - 1 (> 0: the model is faster)")
    for col in ("kernels", "rows", "MAPE", "median |error|", "median error", "worst", "beyond 2x"):
        t.add_column(col, justify="left" if col == "kernels" else "right")
    for s in rep.sections:
        t.add_row(s.name, str(s.rows), f"{s.mape_pct:.1f}%", f"{s.median_abs_err_pct:.1f}%",
                  f"{s.median_err_pct:+.1f}%", f"{s.worst_pct:+.0f}%", str(s.outliers))
    console.print(t)
    lt = Table(title="one Llama-3-8B layer, microbatch 1, timed whole (fwd, fwd + bwd) vs rainier's layer model")
    for col in ("attention", "seq", "fwd measured", "fwd predicted", "error", "fwd+bwd measured",
                "fwd+bwd predicted", "error", "with the kernel's bwd ratio", "error"):
        lt.add_column(col, justify="right")
    for lc in rep.layer:
        lt.add_row(lc.kernel, fmt_count(lc.seq), f"{lc.measured_fwd_ms:.2f} ms", f"{lc.predicted_fwd_ms:.2f} ms",
                   f"{lc.err_fwd_pct:+.1f}%", f"{lc.measured_fwd_bwd_ms:.2f} ms", f"{lc.predicted_fwd_bwd_ms:.2f} ms",
                   f"{lc.err_fwd_bwd_pct:+.1f}%", f"{lc.predicted_fwd_bwd_kernel_ratio_ms:.2f} ms",
                   f"{lc.err_fwd_bwd_kernel_ratio_pct:+.1f}%")
    console.print(lt)
    if quiet:
        return
    for f in rep.findings:
        console.print(f"- {f}")


def _explain(explained: list[Any], json: bool) -> None:
    if json:
        emit_json({"rows": [e.to_dict() for e in explained]})
        return
    for e in explained:
        r = e.row
        mark = " (fit row: excluded from the score)" if r.fitted else (" (added row)" if r.added else "")
        console.print(f"row {r.id}{mark}: {r.model} on {r.chips} x {r.hardware}; {r.source}")
        if not r.usable:
            console.print(f"  unusable: {r.reason}")
            continue
        console.print(f"  {r.metric}: measured {_num(r.measured)} {r.unit}, predicted {_num(r.predicted)} "
                      f"({r.error_pct:+.1f}%); searched: {', '.join(r.searched) or 'nothing'}")
        for x in r.settings:
            console.print(f"  setting: {x}")
        if r.note:
            console.print(f"  note: {r.note}")
        if r.memory_misfit:
            console.print(f"  memory misfit: {r.memory_misfit}")
        console.print(_result_table(e.estimate))
        for n in e.estimate.notes:
            console.print(f"  model note: {n}")
