"""`rainier serve` (one deployment's throughput, latency, cost) and `rainier validate inference`."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rainier.cli import app, validate_app
from rainier.cli.common import (
    RATIO_LINES,
    CatalogOpt,
    JsonOpt,
    QuietOpt,
    busy,
    cloud_dollars,
    console,
    dollars,
    emit_comparison,
    emit_json,
    load_catalog,
    one_kind_report,
    parse_duration_flag,
    parse_int,
    parse_length,
    parse_power_flag,
    parse_share,
    progress_bar,
    report_target,
    side_by_side,
    split_names,
)
from rainier.errors import RainierError
from rainier.units import fmt_duration, fmt_power, plural


def _pcts(d: dict[str, float | None], keys: tuple[str, ...]) -> str:
    return " / ".join(fmt_duration(v) if (v := d.get(k)) is not None and v == v else "-" for k in keys)


def _comparison_table(c: Any) -> Table:
    basis = f"{c.chips:,} chips each" if c.basis == "chips" else f"{fmt_power(c.power_w)} of facility power each"
    title = f"Serving {c.model}: {basis} (x: relative to {next(r.chip for r in c.rows if r.result is not None)})"
    return side_by_side(title, c.rows, [
        ("chips", lambda r: f"{r.chips:,}"),
        ("facility power", lambda r: fmt_power(r.facility_power_mw * 1e6)),
        ("replicas x TP/PP/EP", lambda r: f"{r.result.config['replicas']:,} x {r.result.config['tp']}/"
                                          f"{r.result.config['pp']}/{r.result.config['ep']}"
                                          + (f", attention dp {r.result.config['attention_dp']}"
                                             if r.result.config.get("attention_dp", 1) > 1 else "")),
        ("max rate meeting the SLO", lambda r: f"{r.max_qps:,.4g} req/s" if r.max_qps is not None else "-"),
        ("output tokens/s (per chip)", lambda r: f"{r.output_tokens_per_s:,.0f} "
                                                 f"({r.result.output_tokens_per_s_per_chip:,.0f})"),
        ("TTFT p99", lambda r: _pcts(r.result.ttft_s, ("p99",))),
        ("TPOT p99", lambda r: _pcts(r.result.tpot_s, ("p99",))),
        ("$ per M output tokens (owner)", lambda r: dollars(r.usd_per_million_tokens)),
        ("$ per M output tokens (cloud)", cloud_dollars),
        ("J per output token", lambda r: f"{r.joules_per_token:,.3f}"),
        *RATIO_LINES,
    ])


def _latency(text: str, flag: str) -> float:
    """A latency with its unit: a bare '100' would read as 100 s, which nobody serving tokens means."""
    return parse_duration_flag(text, flag, ("ms", "s"))


@app.command("serve")
def serve_cmd(
    model: Annotated[str, typer.Option("--model", help="model name or YAML file")],
    chip: Annotated[str, typer.Option(
        "--chip", help="accelerator name or YAML file; several (h100,trn2,mi300x) compare the kinds side by side")],
    chips: Annotated[str | None, typer.Option("--chips", help="chips in the deployment (or --power)")] = None,
    power: Annotated[str | None, typer.Option(
        "--power", help="instead of --chips: every chip of the whole systems this facility power carries (5MW)")] = None,
    tp: Annotated[str | None, typer.Option("--tp", help="tensor parallelism per replica (default: searched)")] = None,
    ep: Annotated[str | None, typer.Option("--ep", help="expert parallelism (MoE; divides --tp)")] = None,
    pp: Annotated[str | None, typer.Option("--pp", help="pipeline stages per replica")] = None,
    attention_dp: Annotated[str | None, typer.Option(
        "--attention-dp", help="MoE: data-parallel attention groups per replica (divides --tp; SGLang's "
                               "--enable-dp-attention --dp N): each group attends to its own requests, MLA's latent KV "
                               "held once; 1 = tensor-parallel attention (default: searched, 1 or tp)")] = None,
    replicas: Annotated[str | None, typer.Option("--replicas", help="replicas behind the router")] = None,
    precision: Annotated[str, typer.Option("--precision", help="weights: bf16, fp16 (modelled as bf16), fp8, int8 or fp4; fp8, int8 and fp4 run at the chip's own rate for them, or weight-only (W8A16 / W4A16: dequantised into bf16 GEMMs) where it lists none")] = "bf16",
    input_len: Annotated[str | None, typer.Option("--input-len", help="input tokens per request (1024, 8k; k = 1,024 here)")] = None,
    output_len: Annotated[str | None, typer.Option("--output-len", help="output tokens per request")] = None,
    lengths: Annotated[str | None, typer.Option("--lengths", help="named length distribution (default openorca: MLPerf Llama-2-70B); not with --input-len/--output-len or --trace")] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="CSV trace: timestamp, input and output tokens (Azure LLM trace format)")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="all requests at once (MLPerf Offline; the default without --qps, --concurrency, --trace or an SLO)")] = False,
    qps: Annotated[float | None, typer.Option("--qps", help="Poisson arrivals, requests per second")] = None,
    concurrency: Annotated[str | None, typer.Option("--concurrency", help="keep this many requests in flight")] = None,
    requests: Annotated[str | None, typer.Option("--requests", help="requests to simulate (default: enough for steady state)")] = None,
    slo_ttft: Annotated[str | None, typer.Option("--slo-ttft", help="p99 time-to-first-token target, e.g. 2s")] = None,
    slo_tpot: Annotated[str | None, typer.Option("--slo-tpot", help="p99 time-per-output-token target, e.g. 200ms")] = None,
    max_batch: Annotated[str | None, typer.Option("--max-batch", help="max requests per replica batch (default: from memory/SLO)")] = None,
    token_budget: Annotated[str | None, typer.Option("--token-budget", help="max tokens per iteration of a replica (default 8192; with --attention-dp shared by its groups: TensorRT-LLM's per-rank max_num_tokens x groups)")] = None,
    prefill_replicas: Annotated[str | None, typer.Option("--prefill-replicas", help="disaggregate: replicas that only prefill; 0 serves co-located (default: co-located, or a split the search picks under an SLO)")] = None,
    decode_attention: Annotated[str, typer.Option("--decode-attention", help="decode attention kernel: grouped (GQA-aware, default) or per-head (TensorRT-LLM before XQA)")] = "grouped",
    kv_policy: Annotated[str, typer.Option("--kv-policy", help="KV cache admission: paged (default) or reserve (input + output held from admission)")] = "paged",
    step_overhead: Annotated[str | None, typer.Option("--step-overhead", help="the serving stack's host time per engine iteration (scheduling, sampling, launches), e.g. 10ms (default: the fit's 2 ms)")] = None,
    attention_dtype: Annotated[str, typer.Option("--attention-dtype", help="prefill attention's matmuls: bf16 (default) or fp8 (FlashAttention-3 FP8, TensorRT-LLM's FP8 context FMHA; a chip with an fp8 rate)")] = "bf16",
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="KV cache element type: bf16 or fp8 (vLLM's --kv-cache-dtype fp8 under bf16 weights); default: fp8 with fp8/fp4/int8 weights, else bf16")] = None,
    prefix_hit: Annotated[str | None, typer.Option("--prefix-hit", help="share of each prompt found in the prefix cache (0.6 or 60%): not prefilled, still attended to and held in KV per request (default 0)")] = None,
    shared_prefix: Annotated[str | None, typer.Option("--shared-prefix", help="tokens every prompt starts with (a system prompt, tool definitions; 2k): cached, not prefilled, KV held once per replica (default 0)")] = None,
    prefix_attention: Annotated[str, typer.Option("--prefix-attention", help="with --shared-prefix: how decodes read it: per-request (default; SGLang, TensorRT-LLM) or cascade (once per iteration: vLLM V1, FlashInfer)")] = "per-request",
    draft: Annotated[str | None, typer.Option("--draft", help="speculative decoding: a draft model (same tokenizer) or mtp (the model's own one-layer MTP/EAGLE head)")] = None,
    spec_tokens: Annotated[str | None, typer.Option("--spec-tokens", help="with --draft: tokens proposed per step (default 3)")] = None,
    spec_accept: Annotated[str | None, typer.Option("--spec-accept", help="with --draft: probability each proposed token is accepted (0.7 or 70%; default 0.7, an assumption: measure yours)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="random seed (0 or more)")] = 0,
    workers: Annotated[str | None, typer.Option(
        "--workers", help="with several --chip kinds: processes simulating them (default: one per kind, up to the "
                          "CPUs; 1 runs them one after another)")] = None,
    system: Annotated[str | None, typer.Option("--system", help="system holding the chips (default: the chip's)")] = None,
    report: Annotated[str | None, typer.Option("--report", help="also write an HTML report here")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Serve a model on N chips: tokens/s, TTFT/TPOT percentiles, cost per million tokens, J/token."""
    from rainier.perf.inference import estimate_serving

    cat = load_catalog(catalog)
    if (chips is None) == (power is None):
        raise RainierError("give exactly one of --chips and --power", field="--chips",
                           fix="e.g. --chips 8, or --power 5MW for every chip that facility power carries")
    kinds = split_names(chip, "--chip") if "," in chip else [chip]
    one_kind_report(kinds, report)
    serve_args: dict[str, Any] = dict(
            tp=parse_int(tp, "--tp"), ep=parse_int(ep, "--ep"), pp=parse_int(pp, "--pp"),
            attention_dp=parse_int(attention_dp, "--attention-dp"),
            replicas=parse_int(replicas, "--replicas"), precision=precision.lower(), input_len=parse_length(input_len, "--input-len"),
            output_len=parse_length(output_len, "--output-len"), lengths=lengths, qps=qps,
            concurrency=parse_int(concurrency, "--concurrency"), offline=offline, trace=trace,
            requests=parse_int(requests, "--requests"),
            slo_ttft_s=_latency(slo_ttft, "--slo-ttft") if slo_ttft is not None else None,
            slo_tpot_s=_latency(slo_tpot, "--slo-tpot") if slo_tpot is not None else None,
            seed=seed, max_batch=parse_int(max_batch, "--max-batch"),
            token_budget=parse_length(token_budget, "--token-budget"), prefill_replicas=parse_int(prefill_replicas, "--prefill-replicas", minimum=0),
            decode_attention=decode_attention.lower(), kv_policy=kv_policy.lower(),
            step_overhead_s=_latency(step_overhead, "--step-overhead") if step_overhead is not None else None,
            kv_dtype=kv_dtype.lower() if kv_dtype is not None else None, attention_dtype=attention_dtype.lower(),
            prefix_hit=parse_share(prefix_hit, "--prefix-hit") or 0.0, draft=draft,
            shared_prefix=parse_length(shared_prefix, "--shared-prefix", minimum=0) or 0,
            prefix_attention=prefix_attention.lower(),
            spec_tokens=parse_int(spec_tokens, "--spec-tokens"), spec_accept=parse_share(spec_accept, "--spec-accept"),
        )
    n_given = parse_int(workers, "--workers")
    if n_given is not None and n_given < 1:  # (checked with one kind too, where it is not used)
        raise RainierError(f"must be a whole number of at least 1 (got {workers})", field="--workers",
                           fix="e.g. --workers 4, or 1 to run the kinds one after another")
    if len(kinds) > 1 or power is not None:
        from rainier.plan.compare import compare_serving

        with busy("simulating the deployments...", quiet=json or quiet):
            n_workers = n_given or min(len(kinds), os.cpu_count() or 1)
            cmp = compare_serving(model, kinds, chips=parse_int(chips, "--chips"), workers=n_workers,
                                  power_w=parse_power_flag(power, "--power") if power is not None else None,
                                  catalog=cat, system=system, **serve_args)
        if len(kinds) > 1:
            emit_comparison(cmp, _comparison_table, json, quiet)
            return
        assert cmp.rows[0].result is not None  # compare_serving raises when no kind can serve
        res = cmp.rows[0].result
        res.notes.insert(0, f"chips: all {res.config['chips']:,} that {fmt_power(cmp.power_w or 0)} of facility "
                            "power carries (whole systems)")
    else:
        with busy("simulating the deployment...", quiet=json or quiet):
            res = estimate_serving(model, chip, parse_int(chips, "--chips") or 0, catalog=cat, system=system,
                                   **serve_args)
    report_file = report_target(report, [*(catalog or []), model, chip, system, trace])
    if report_file is not None:
        from rainier.report import write_serving_report

        write_serving_report(res, report_file, field="--report")
        if not quiet and not json:
            console.print(f"report: {report_file}")
    if json:
        emit_json(res)
        return
    c = res.config
    title = (f"{c['model']} on {c['chips']} x {c['chip']} ({c['system']}), {c['precision']}: "
             f"{plural(c['replicas'], 'replica')} of tp={c['tp']} pp={c['pp']}" + (f" ep={c['ep']}" if c["ep"] > 1 else "")
             + (f", attention dp={c['attention_dp']}" if c.get("attention_dp", 1) > 1 else ""))
    t = Table(title=title)
    t.add_column("")
    t.add_column("value", justify="right")
    groups = c.get("attention_dp", 1)
    kv_where = ""  # whose KV the capacity counts: MLA's latent per TP rank, or each attention group's own requests
    if c.get("mla_replicated"):
        kv_where = f"; MLA's latent is held by each of the {c['tp'] // groups} TP ranks" + (
            " of an attention group" if groups > 1 else "")
    elif groups > 1:
        kv_where = f"; {groups} attention groups, each holding only its own requests' KV"
    rows = [
        ("traffic", f"{c['mode']}" + (f" at {c['qps']:.3g} req/s" if c.get("qps") else "")
         + f", {c['requests']:,} requests, lengths {c['lengths']}"),
        ("output tokens/s (per chip)", f"{res.output_tokens_per_s:,.0f} ({res.output_tokens_per_s_per_chip:,.0f})"),
        ("total tokens/s", f"{res.total_tokens_per_s:,.0f}"),
        ("requests/s", f"{res.requests_per_s:,.2f}"),
        ("TTFT p50 / p90 / p99", _pcts(res.ttft_s, ("p50", "p90", "p99"))),
        ("TPOT p50 / p90 / p99", _pcts(res.tpot_s, ("p50", "p90", "p99"))),
        ("end-to-end p50 / p99", _pcts(res.e2e_s, ("p50", "p99"))),
        ("max batch per replica / token budget", f"{res.max_batch:,} / {c['token_budget']:,}"),
        ("KV cache per replica (HBM)", f"{res.kv_cache_gb:,.1f} GB ({res.memory['kv_capacity_tokens']:,} tokens"
                                       f"{kv_where})"),
        ("weights per chip", f"{res.memory['weights_gb_per_chip']:,.1f} GB of {res.memory['usable_gb_per_chip']:,.1f} GB "
                             f"usable ({res.memory['hbm_gb_per_chip']:,.1f} GB HBM)"),
        ("cost per M output tokens (owner)", f"${res.cost_per_mtok_usd:,.3f}" if math.isfinite(res.cost_per_mtok_usd)
         else "- (nothing served)"),
        ("cost per M output tokens (cloud price)", "-" if res.cost_per_mtok_cloud_usd is None else f"${res.cost_per_mtok_cloud_usd:,.3f}"),
        ("energy per output token (facility)", f"{res.joules_per_token:,.3f} J" if math.isfinite(res.joules_per_token)
         else "- (nothing served)"),
    ]
    if res.max_qps is not None:
        rows.insert(1, ("max Poisson rate meeting the SLO", f"{res.max_qps:,.3g} req/s"))
    if res.slo_attainment is not None:
        rows.append(("SLO attainment", f"{res.slo_attainment:.1%}"))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if not quiet:
        for n in res.notes:
            console.print(f"note: {n}")
        others = [a for a in res.alternatives or [] if not a.get("chosen")]
        if others:
            alts = ", ".join(f"tp{a['tp']}/pp{a['pp']}" + (f"/ep{a['ep']}" if a['ep'] > 1 else "")
                             + f" {a['output_tokens_per_s_per_chip']:,.0f}" for a in others[:3])
            console.print("searched; next best by the search's ranking (analytic steady-state output tok/s per chip, "
                          f"not simulated): {alts}")
        if report_file is not None:
            console.print(f"report: {report_file}")


@validate_app.command("inference")
def validate_inference_cmd(
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predicted vs measured for every usable row of the inference reference table; MAPE on held-out rows."""
    from rainier.perf.validate_inference import validate_inference

    with progress_bar("simulating the published inference runs", quiet=json or quiet) as update:
        rep = validate_inference(catalog=load_catalog(catalog), progress=update)
    if json:
        emit_json(rep)
        return
    t = Table(title="rainier inference model vs published measurements (F = fitted, excluded from the score)")
    for col in ("id", "model", "chip", "chips", "metric", "measured", "predicted", "error", "config"):
        t.add_column(col, justify="right" if col in ("chips", "measured", "predicted", "error") else "left")
    for r in rep.rows:
        cfg = f"tp{r.config['tp']} pp{r.config['pp']} x{r.config['replicas']} b{r.config['max_batch']}"
        t.add_row(f"{r.id}{' F' if r.fitted else ''}", r.model, r.chip, str(r.chips), r.metric, f"{r.measured:,.4g}",
                  f"{r.predicted:,.4g}", f"{r.error:+.1%}", cfg)
    console.print(t)
    console.print(f"held-out MAPE {rep.mape:.1%} over {rep.held_out} rows (target <= 15%); worst row {rep.worst_row} "
                  f"at {rep.max_abs_error:.1%} (target <= 35%)")
    console.print("per family: " + ", ".join(f"{k} {v:.1%}" for k, v in rep.mape_by_family.items()))
    if quiet:
        return
    console.print(f"fitted rows: {', '.join(map(str, rep.fitted_rows)) or 'none'}")
    console.print("not reproducible:")
    for rid, why in sorted(rep.not_reproducible.items()):
        console.print(f"  {rid}: {why}")
