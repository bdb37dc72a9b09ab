"""`rainier plan`: least-cost chip mix, sites and timing that meet a demand (MILP, HiGHS)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from rainier.cli import app
from rainier.cli.common import (
    CatalogOpt,
    JsonOpt,
    QuietOpt,
    busy,
    console,
    distinct_kinds,
    emit_json,
    load_catalog,
    parse_duration_flag,
    parse_gbps,
    parse_int,
    parse_length,
    report_target,
    split_names,
)
from rainier.errors import RainierError
from rainier.io import Staged, check_output_path, report_path
from rainier.plan.capacity import (
    PlanRow,
    ServingFit,
    WorkloadFit,
    check_job_sites,
    fmt_ef,
    plan_capacity,
    serving_rates,
    workload_utilization,
)
from rainier.units import fmt_count, fmt_money, fmt_power, parse_count, parse_flops, parse_power

# A bare number (no unit) in --demand is EF/s: '2026:500' is 500 EF/s, as in the help text.
_BARE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


MAX_TOKENS_PER_S = 1e15  # ~1e7 x today's largest services: beyond is a typo
_TOKENS = re.compile(r"((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([kMGTP]?)tok/s")
_SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_demand(text: str, flops_per_token: float | None = None) -> tuple[list[int], list[float]]:
    """'2026:500EF,2027:1500EF' -> ([2026, 2027], [5e20, 1.5e21]) delivered FLOP/s (bare numbers are EF/s).

    With ``flops_per_token`` (a workload), a figure may also be training tokens per second: '2026:20Mtok/s'.
    A demand of zero in every year is an error: there is nothing to plan.
    """
    years, flops = [], []
    for part in split_names(text, "--demand"):
        m = re.fullmatch(r"(\d{4}):(.+)", part.strip())
        if not m:
            raise RainierError(f"cannot read '{part}'", field="--demand", fix="write it like 2026:500EF,2027:1500EF")
        value = m.group(2).strip()
        if int(m.group(1)) > 2100:
            raise RainierError(f"year {m.group(1)} is past 2100, beyond any catalog chip's or site's data",
                               field="--demand", fix="give calendar years, e.g. 2026:500EF,2027:1500EF")
        years.append(int(m.group(1)))
        if value.startswith("-") and _TOKENS.fullmatch(value[1:].strip()):
            raise RainierError(f"must not be negative (got {value} in {m.group(1)})", field="--demand",
                               fix="e.g. 2026:20Mtok/s (training tokens per second) or 2026:500EF")
        tok = _TOKENS.fullmatch(value)
        if tok:
            if flops_per_token is None:
                raise RainierError(f"'{value}' is tokens per second, which needs a model to count FLOPs",
                                   field="--demand", fix="add --workload MODEL, or give FLOP/s: 2026:500EF")
            flops.append(float(tok.group(1)) * _SI[tok.group(2)] * flops_per_token)
            continue
        if _BARE.fullmatch(value):
            if float(value) < 0:
                raise RainierError(f"must not be negative (got {value} EF/s in {m.group(1)})", field="--demand",
                                   fix="e.g. 2026:500EF")
            value += "EF"
        flops.append(parse_flops(value, "--demand"))
    if not flops:
        raise RainierError("no demand given", field="--demand", fix="write it like 2026:500EF,2027:1500EF")
    if not any(f > 0 for f in flops):
        raise RainierError("nothing to plan: the demand is zero in every year", field="--demand",
                           fix="give a positive demand in at least one year, e.g. 2026:500EF")
    return years, flops


def parse_serve_demand(text: str) -> dict[int, float]:
    """'2026:50Mtok/s,2027:200Mtok/s' -> {2026: 5e7, 2027: 2e8}: output tokens per second to serve."""
    out: dict[int, float] = {}
    for part in split_names(text, "--serve-demand"):
        m = re.fullmatch(r"(\d{4}):(.+)", part.strip())
        tok = _TOKENS.fullmatch(m.group(2).strip()) if m else None
        if not m or not tok:
            unit = " (a figure needs its unit, tok/s)" if m and _BARE.fullmatch(m.group(2).strip()) else ""
            raise RainierError(f"cannot read '{part}'{unit}", field="--serve-demand",
                               fix="write output tokens per second by year, like 2026:50Mtok/s,2027:200Mtok/s")
        year = int(m.group(1))
        if year > 2100:
            raise RainierError(f"year {year} is past 2100, beyond any catalog chip's or site's data",
                               field="--serve-demand", fix="give calendar years, e.g. 2026:50Mtok/s")
        if year in out:
            raise RainierError(f"{year} is given twice", field="--serve-demand", fix="give one figure per year")
        out[year] = float(tok.group(1)) * _SI[tok.group(2)]
        if not out[year] <= MAX_TOKENS_PER_S:
            raise RainierError(f"{tok.group(0)} in {year} is beyond any fleet (at most 1e15 tokens/s)",
                               field="--serve-demand", fix="e.g. 2026:50Mtok/s")
    if not any(v > 0 for v in out.values()):
        raise RainierError("nothing to serve: the serving demand is zero in every year", field="--serve-demand",
                           fix="give a positive figure in at least one year, e.g. 2026:50Mtok/s")
    return out


def _share(text: str, field: str) -> float:
    """'5%' or '0.05' -> 0.05: a share from 0 to 1."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise RainierError(f"cannot read '{text}'", field=field, fix="write a share like 5% or 0.05") from None
    if not 0.0 <= v <= 1.0:
        raise RainierError(f"must be from 0% to 100% (got {text})", field=field, fix="e.g. 5%")
    return v


def _carried(by_year: dict[int, float], years: list[int]) -> list[float]:
    """``by_year``'s figure in each of ``years``: a year it does not give keeps its latest earlier one (0 before
    any)."""
    return [by_year.get(y, next((by_year[z] for z in sorted(by_year, reverse=True) if z < y), 0.0)) for y in years]


def parse_keyed(text: str | None, field: str, value: Callable[[str, str], float], key: Callable[[str], str],
                years: tuple[int, int]) -> dict[str, float | dict[int, float]]:
    """'a:1GW,b:2027:2GW' -> {'a': 1e9, 'b': {2027: 2e9}}: a figure for every year, or from a year on. Names
    are made canonical by ``key`` (an alias and its name are the same entry: given twice is an error); a
    year must lie within ``years`` (the planned first and last)."""
    out: dict[str, float | dict[int, float]] = {}
    for part in split_names(text, field) if text else []:
        bits = [b.strip() for b in part.split(":")]
        if len(bits) == 2 and bits[0] and bits[1]:
            name = key(bits[0])
            if name in out:
                raise RainierError(f"'{name}' is given twice", field=field, fix="give one figure, or one per year")
            out[name] = value(bits[1], field)
        elif len(bits) == 3 and bits[0] and re.fullmatch(r"\d{4}", bits[1]):
            name, year = key(bits[0]), int(bits[1])
            if not years[0] <= year <= years[1]:
                raise RainierError(f"{year} is outside the planned years {years[0]}-{years[1]}", field=field,
                                   fix="give a year the demand covers, or extend --demand")
            cur = out.setdefault(name, {})
            if not isinstance(cur, dict) or year in cur:
                raise RainierError(f"'{name}' is given twice for {year}", field=field,
                                   fix="give one figure, or one per year")
            cur[year] = value(bits[2], field)
        else:
            raise RainierError(f"cannot read '{part}'", field=field,
                               fix="write NAME:FIGURE (every year) or NAME:YEAR:FIGURE (from that year on)")
    return out


def _cap(text: str, field: str) -> float:
    """A site's power cap: '1.5GW', '500MW'; a bare number is MW (as in the flag's help)."""
    # the bare number read as MW goes through parse_power too: its finiteness and 1 TW bounds apply to both
    return parse_power(f"{text}MW" if _BARE.fullmatch(text) and float(text) >= 0 else text, field)


def _chips(text: str, field: str) -> float:
    n = parse_count(text, field)
    if n != int(n):
        raise RainierError(f"supply must be whole chips (got {text})", field=field, fix="e.g. trn3:300k")
    return n


@app.command("plan")
def plan_cmd(
    demand: Annotated[str | None, typer.Option(
        "--demand", help="delivered dense FLOP/s per year: 2026:500EF,2027:1500EF (a bare number is EF/s: 2026:500 = "
                         "500 EF/s); may be left out with --serve-demand")] = None,
    chip: Annotated[str, typer.Option("--chip", help="candidate chips, comma-separated")] = "trn2,trn3,gb200,h100",
    site: Annotated[str, typer.Option("--site", help="candidate sites (catalog), comma-separated")] = "new-carlisle,mississippi",
    utilization: Annotated[float | None, typer.Option(
        "--utilization", help="achieved fraction of peak (MFU) for every chip (default 0.4; or --workload)")] = None,
    precision: Annotated[str, typer.Option("--precision", help="bf16, fp8 or fp4 peak")] = "bf16",
    workload: Annotated[str | None, typer.Option(
        "--workload", help="instead of --utilization: a model (name or YAML file) trained on each chip kind; its "
                           "MFU x goodput from `rainier train` is each kind's utilization, and --demand may be "
                           "tokens/s (2026:20Mtok/s)")] = None,
    seq: Annotated[str, typer.Option("--seq", help="with --workload: sequence length")] = "8192",
    global_batch: Annotated[str, typer.Option("--global-batch", help="with --workload: global batch, sequences")] = "2048",
    job_chips: Annotated[str, typer.Option("--job-chips", help="with --workload: chips of one training job")] = "16384",
    whole_jobs: Annotated[bool, typer.Option(
        "--whole-jobs/--no-whole-jobs", help="with --workload: meet the demand with whole --job-chips jobs, each on "
                                             "one chip kind at one site (default), or in FLOP/s with any job size")] = True,
    spares: Annotated[str | None, typer.Option(
        "--spares", help="with whole jobs: spare systems bought with each job, as a share of its systems rounded up "
                         "(5% = one per 20, at least one), standing in for failed systems under repair; auto: the "
                         "fewest that leave a job short under 1% of the time")] = None,
    job_sites: Annotated[str, typer.Option(
        "--job-sites", help="with whole jobs: a job may also span this many sites, its systems split evenly over them, "
                            "at the rate `rainier train --sites N` gives over --cross-site-gbps")] = "1",
    cross_site_gbps_text: Annotated[str | None, typer.Option(
        "--cross-site-gbps", help="with --job-sites: capacity of the link between two sites: Gbit/s, or with a unit "
                                  "(100Tbps, 50GB/s)")] = None,
    goodput: Annotated[bool, typer.Option(
        "--goodput/--no-goodput", help="with --workload: count the time lost to failures and checkpoints")] = True,
    serve: Annotated[str | None, typer.Option(
        "--serve", help="a model (name or YAML file) also served, on chips bought for it: each kind's output tokens/s "
                        "per chip from `rainier serve`; with --serve-demand")] = None,
    serve_demand: Annotated[str | None, typer.Option(
        "--serve-demand", help="with --serve: output tokens/s to serve per year, 2026:50Mtok/s,2027:200Mtok/s")] = None,
    serve_chips: Annotated[str, typer.Option(
        "--serve-chips", help="with --serve: chips of the deployment whose rate per chip is planned")] = "64",
    serve_precision: Annotated[str, typer.Option("--serve-precision", help="with --serve: weight precision")] = "bf16",
    slo_ttft: Annotated[str | None, typer.Option(
        "--slo-ttft", help="with --serve: p99 time to first token, e.g. 2s (the rate is the highest load meeting the "
                           "SLO; without one, saturated throughput)")] = None,
    slo_tpot: Annotated[str | None, typer.Option(
        "--slo-tpot", help="with --serve: p99 time per output token, e.g. 100ms")] = None,
    power_cap: Annotated[str | None, typer.Option(
        "--power-cap", help="facility power per site instead of the catalog's build-out ramp: new-carlisle:1.5GW (every "
                            "year) or new-carlisle:2027:1.5GW (from 2027 on), comma-separated; a bare number is MW; "
                            "0 closes the site")] = None,
    supply: Annotated[str | None, typer.Option(
        "--supply", help="chips of a kind that can be bought per year over all sites: trn3:300k (every year) or "
                         "trn3:2026:100k,trn3:2027:400k (from that year on); default unlimited")] = None,
    scenario_out: Annotated[str | None, typer.Option(
        "--scenario-out", help="also write the plan as a fleet scenario YAML (its hardware, --workload's jobs, "
                               "--serve's services) for `rainier fleet run`")] = None,
    report: Annotated[str | None, typer.Option("--report", help="also write a one-page HTML report here")] = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Least-cost purchase plan (chips x sites x years) meeting a delivered-FLOP/s demand under site power caps."""
    cross_site_gbps = parse_gbps(cross_site_gbps_text, "--cross-site-gbps")
    cat = load_catalog(catalog)
    report_file = report_target(report, [*(catalog or []), chip, scenario_out])
    chips = distinct_kinds(split_names(chip, "--chip"), cat)
    prec = precision.strip().lower()
    if (serve is None) != (serve_demand is None):
        raise RainierError("--serve and --serve-demand go together", field="--serve-demand" if serve else "--serve",
                           fix="give the served model with --serve and its output tokens/s with --serve-demand")
    if serve is None:
        for flag, given in (("--slo-ttft", slo_ttft), ("--slo-tpot", slo_tpot), ("--serve-chips", serve_chips != "64"),
                            ("--serve-precision", serve_precision != "bf16")):
            if given:
                raise RainierError(f"{flag} needs --serve", field=flag, fix="add --serve MODEL --serve-demand ..., or drop it")
    if scenario_out is not None:
        check_output_path(report_path(scenario_out, "scenario.yaml"), "--scenario-out")
        # the fleet reads models from the catalog by name: a model file would give a scenario it cannot load
        for flag, name in (("--workload", workload), ("--serve", serve)):
            if name is not None and (os.path.exists(name) or name.strip().lower().endswith((".yaml", ".yml"))):
                raise RainierError(f"{flag} is a model file, which a fleet scenario cannot name", field="--scenario-out",
                                   fix=f"add the model to a catalog (--catalog DIR) and give its name to {flag}, or "
                                       "drop --scenario-out")
    if demand is None and serve_demand is None:
        raise RainierError("no demand given", field="--demand",
                           fix="give --demand 2026:500EF (training), or --serve MODEL --serve-demand 2026:50Mtok/s")
    notes: list[str] = []
    fits: list[WorkloadFit] = []
    fpt: float | None = None
    util: float | dict[str, float] = 0.4 if utilization is None else utilization
    if workload is not None:
        if utilization is not None:
            raise RainierError("give --utilization or --workload, not both", field="--utilization",
                               fix="drop --utilization: --workload derives each chip's utilization")
        from rainier.perf.training import model_flops_per_token

        mdl = cat.model(workload, "--workload")
        n_seq = parse_length(seq, "--seq") or 1
        n_gb = parse_int(global_batch, "--global-batch") or 1
        n_job = parse_int(job_chips, "--job-chips") or 1
        fits = workload_utilization(cat, chips, workload, seq=n_seq, global_batch=n_gb, job_chips=n_job,
                                    precision=prec, goodput=goodput)
        runnable = [f for f in fits if f.utilization]
        for f in fits:
            if not f.utilization:
                notes.append(f"{f.chip}: left out, it cannot run the workload ({f.error or 'no progress under failures'})")
        if not runnable:  # compare_training raises when no kind runs; a goodput of 0 everywhere lands here
            raise RainierError("no candidate chip makes progress on the workload", field="--workload",
                               fix="fewer --job-chips, --no-goodput, or another model")
        chips = [f.chip for f in runnable]
        util = {f.chip: float(f.utilization or 0.0) for f in runnable}
        fpt = model_flops_per_token(mdl, n_seq)
        notes.append("utilization per chip = MFU x goodput of the workload on --job-chips chips: " + ", ".join(
            f"{f.chip} {f.mfu:.1%} x {f.goodput:.1%}" for f in runnable))
    serve_by_year = parse_serve_demand(serve_demand) if serve_demand is not None else {}
    if demand is not None:
        years, flops = parse_demand(demand, fpt)
    else:
        years, flops = [], []
    serve_need = None
    if serve_by_year:
        # one list of years for both demands; a year given for one only keeps the other's latest earlier figure
        train_by_year = dict(zip(years, flops, strict=True))
        years = sorted(set(years) | set(serve_by_year))
        flops, serve_need = _carried(train_by_year, years), _carried(serve_by_year, years)
    if fpt is not None:
        notes.append(f"demand: model FLOP/s = training tokens/s x {fpt:.4g} FLOPs per token ({workload}, seq "
                     f"{n_seq}: 6N + attention, the MFU numerator)")
    sites = split_names(site, "--site")
    span = (years[0], years[-1])
    caps = parse_keyed(power_cap, "--power-cap", _cap, lambda k: cat.site(k, "--power-cap").name, span)
    planned = {cat.site(s, "--site").name for s in sites}
    for k in caps:
        if k not in planned:
            raise RainierError(f"power cap given for '{k}', which is not among the planned sites", field="--power-cap",
                               fix=f"add it to --site, or key the cap by one of: {', '.join(sorted(planned))}")
    by_name = {cat.accelerator(c).name: c for c in chips}  # keyed as --chip spells them; plan_capacity refuses others
    limits = {by_name.get(k, k): v for k, v in
              parse_keyed(supply, "--supply", _chips, lambda k: cat.accelerator(k, "--supply").name, span).items()}
    if workload is None and not whole_jobs:
        raise RainierError("--no-whole-jobs needs --workload", field="--no-whole-jobs",
                           fix="drop it: without --workload the plan meets FLOP/s, with no job size")
    jobs = n_job if workload is not None and whole_jobs else None
    k_sites = parse_int(job_sites, "--job-sites")
    check_job_sites(k_sites, jobs, len(sites), cross_site_gbps)  # before the estimator runs the jobs across sites
    split: dict[str, float] | None = None
    split_fits: list[WorkloadFit] = []
    if k_sites and k_sites > 1:
        try:
            split_fits = workload_utilization(cat, chips, workload or "", seq=n_seq, global_batch=n_gb,
                                              job_chips=n_job, precision=prec, goodput=goodput, sites=k_sites,
                                              cross_site_gbps=cross_site_gbps)
        except RainierError as e:  # no kind runs the job across the sites: say so in the plan's own flags
            why = re.sub(r"--[a-z][a-z-]*:?\s*", "", str(e).split(";")[0])  # the reason, without train's flags
            raise RainierError(f"no candidate chip runs a {n_job:,}-chip job across {k_sites} sites ({why})",
                               field="--job-sites", fix="drop --job-sites, or give --job-chips and --global-batch "
                                                        "that split evenly over the sites") from None
        split = {f.chip: float(f.utilization) for f in split_fits if f.utilization}
    spare_frac: float | str = 0.0
    if spares is not None:
        spare_frac = "auto" if spares.strip().lower() == "auto" else _share(spares, "--spares")
    serve_fits: list[ServingFit] = []
    rate: dict[str, float] | None = None
    replica_chips: dict[str, int] | None = None
    if serve is not None:
        n_serve = parse_int(serve_chips, "--serve-chips") or 1
        slo = {"slo_ttft_s": parse_duration_flag(slo_ttft, "--slo-ttft", ("ms", "s")) if slo_ttft is not None else None,
               "slo_tpot_s": parse_duration_flag(slo_tpot, "--slo-tpot", ("ms", "s")) if slo_tpot is not None else None}
        with busy("simulating each kind's serving...", quiet=json or quiet):
            serve_fits = serving_rates(cat, chips, serve, deployment_chips=n_serve,
                                       workers=min(len(chips), os.cpu_count() or 1),
                                       precision=serve_precision.strip().lower(), **slo)
        rate = {sf.chip: float(sf.tokens_per_s_per_chip or 0.0) for sf in serve_fits}
        replica_chips = {sf.chip: sf.replica_chips for sf in serve_fits if sf.replica_chips}
        notes.append("serving chips are bought in whole replicas: " + ", ".join(
            f"{c} {n} chips" for c, n in replica_chips.items() if rate.get(c)))
        if not any(rate.values()):
            why = "; ".join(f"{sf.chip}: {sf.error}" for sf in serve_fits)
            raise RainierError(f"no candidate chip serves {serve} on {n_serve:,}-chip deployments ({why})",
                               field="--slo-ttft/--slo-tpot" if slo_ttft or slo_tpot else "--serve",
                               fix="loosen the SLO, give --serve-chips for larger deployments, or add a chip to --chip"
                               if slo_ttft or slo_tpot else "give --serve-chips enough for one replica, or add a chip")
        for sf in serve_fits:
            if not sf.tokens_per_s_per_chip:
                notes.append(f"{sf.chip}: serves nothing of {serve} ({sf.error})")
        notes.append(f"serving: output tokens/s per chip of {serve} on {n_serve:,}-chip deployments"
                     f"{' at the SLO' if slo_ttft or slo_tpot else ' (saturated)'}: " + ", ".join(
                         f"{sf.chip} {sf.tokens_per_s_per_chip:,.0f}" for sf in serve_fits if sf.tokens_per_s_per_chip)
                     + "; serving chips are bought apart from training chips and share the sites' power")
    res = plan_capacity(cat, chips, sites, years, flops, precision=prec, utilization=util,
                        power_cap_w=caps or None, supply_chips=limits or None, job_chips=jobs, job_spares=spare_frac,
                        serve_tokens_per_s=serve_need, serve_rate=rate,
                        serve_replica_chips=replica_chips, job_sites=k_sites or 1,
                        split_utilization=split, cross_site_gbps=cross_site_gbps)
    if split_fits:
        one = util if isinstance(util, dict) else {}
        notes.append(f"jobs across {k_sites} sites (DP over a {cross_site_gbps or 0:,.0f} Gbit/s link): utilization "
                     + ", ".join(f"{f.chip} cannot span ({f.error})" if not f.utilization else
                                 f"{f.chip} {one.get(f.chip, 0.0):.1%} at one site, {f.utilization:.1%} across"
                                 if cat.accelerator(f.chip).name in res.split_utilization_by_chip else
                                 f"{f.chip} cannot span (one job takes fewer than {k_sites} of its systems)"
                                 for f in split_fits)
                     + "; a row marked 'spans' holds its site's share of jobs split over those sites (each such "
                       "job is listed at every site it spans)")
    if jobs is not None:
        def past(r: PlanRow) -> int:  # chips neither in a job nor a spare: the unused part of a job's last system
            held = (r.jobs or 0) * jobs // (len(r.spans) if r.spans else 1)  # a spanning job's share here
            return r.chips_installed - held - r.spare_systems * cat.system(r.system).chips

        idle = [r for r in res.rows if r.jobs is not None and past(r) > 0]
        where = "at one site" if k_sites == 1 else f"at one site or split evenly over {k_sites} sites"
        notes.append(f"whole jobs: the demand is met by jobs of {jobs:,} chips, each on whole systems of one chip kind "
                     f"{where}, bought together; only the jobs' chips deliver (--no-whole-jobs: FLOP/s with any "
                     "job size)")
        if spare_frac:
            notes.append("spares: " + ", ".join(f"{k} {n} system{'s' if n != 1 else ''} per job"
                                                for k, n in res.spare_systems_per_job.items())
                         + " (bought with each job, idle until a system fails)")
        if idle:
            notes.append("chips past whole jobs (idle for this workload, still powered and paid for): " + "; ".join(
                f"{r.year} {r.site} {r.chip} {past(r):,}" for r in idle[:6])
                + ("; ..." if len(idle) > 6 else "") + " (a job's last system is only partly used)")
    elif workload is not None:
        # the plan meets the demand in FLOP/s: a kind's chips at a site that are fewer than one job cannot run it
        small = [r for r in res.rows if 0 < r.chips_installed < n_job]
        if small:
            notes.append("fewer chips than one --job-chips job, so they cannot run the workload as sized: " + "; ".join(
                f"{r.year} {r.site} {r.chip} {r.chips_installed:,}" for r in small[:6])
                + ("; ..." if len(small) > 6 else "") + f" (of {n_job:,} per job: their EF/s would run smaller jobs; "
                "drop --no-whole-jobs to plan whole jobs, or give --job-chips for the jobs the fleet runs)")
    staged: Staged | None = None
    if scenario_out is not None:
        import yaml

        from rainier.plan.scenario_out import plan_scenario

        rates = split_rates = None
        if workload is not None and fpt:
            # the rate the plan counted on: MFU x goodput (the fleet's failures should use up that slack)
            rates = {cat.accelerator(f.chip).name: (f.utilization or 0.0) * cat.accelerator(f.chip).peak_flops(prec) / fpt
                     for f in fits if f.utilization}
            split_rates = {cat.accelerator(c).name: u * cat.accelerator(c).peak_flops(prec) / fpt
                           for c, u in (split or {}).items()}
        doc = plan_scenario(res, cat, workload=workload, tokens_per_s_per_chip=rates,
                            seq=n_seq if workload is not None else None,
                            global_batch=n_gb if workload is not None else None, precision=prec,
                            job_chips=n_job if workload is not None else None, serve_model=serve,
                            slo_ttft_s=slo["slo_ttft_s"] if serve is not None else None,
                            slo_tpot_s=slo["slo_tpot_s"] if serve is not None else None,
                            serve_precision=serve_precision.strip().lower(),
                            split_tokens_per_s_per_chip=split_rates)
        # staged: put in place only once the report (if any) is written too, so a failed report leaves no scenario
        staged = Staged(report_path(scenario_out, "scenario.yaml"), ("# written by `rainier plan --scenario-out`\n"
                        + yaml.safe_dump(doc, sort_keys=False)).encode("utf-8"), field="--scenario-out")
        path = staged.path
        notes.append(f"scenario: {path} ({len(doc.get('jobs', []))} training jobs, {len(doc.get('services', []))} "
                     f"services): `rainier fleet run {path}` runs the plan with failures, restarts and queueing")
    if report_file is not None:
        from rainier.report import write_plan_report

        try:
            notes.append(f"report: {write_plan_report(res.to_dict(), report_file, notes, field='--report')}")
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
    if staged is not None:
        staged.commit()
    if json:
        d = res.to_dict()
        d["notes"] = notes
        if workload is not None:
            d["workload"] = {"model": workload, "seq": n_seq, "global_batch": n_gb, "job_chips": n_job, "goodput": goodput,
                             "flops_per_token": fpt, "chips": [f.__dict__ for f in fits]}
        if serve is not None:
            d["serving"] = {"model": serve, "deployment_chips": n_serve, "precision": serve_precision.strip().lower(),
                            "slo_ttft_s": slo["slo_ttft_s"], "slo_tpot_s": slo["slo_tpot_s"],
                            "chips": [f.__dict__ for f in serve_fits]}
        emit_json(d)
        return
    t = Table(title=f"Least-cost plan ({res.status}): {fmt_money(res.total_cost_usd)} owner cost over "
                    f"{res.years[0]}-{res.years[-1]} (each year's annualised capex, power and operations; hardware "
                    f"bought {fmt_money(sum(r.capex_usd for r in res.rows))})")
    served = serve is not None
    cols = ["year", "site", "chip"] + (["use"] if served else []) + ["bought (systems)", "installed chips"] \
        + (["jobs"] if jobs is not None else []) + ["facility power", "delivered EF/s"] \
        + (["served tok/s"] if served else []) + ["hardware capex", "annual cost (owner)"]
    for col in cols:
        t.add_column(col, justify="right" if col not in ("site", "chip", "use") else "left")
    for r in res.rows:
        t.add_row(str(r.year), r.site + (f" (spans {'+'.join(r.spans)})" if r.spans else ""), r.chip, *([r.use] if served else []), fmt_count(r.systems_bought),
                  fmt_count(r.chips_installed), *([fmt_count(r.jobs or 0) if r.jobs is not None else ""]
                                                  if jobs is not None else []),
                  fmt_power(r.facility_power_w), fmt_ef(r.delivered_flops) if r.use == "training" else "",
                  *([fmt_count(r.served_tokens_per_s) if r.served_tokens_per_s is not None else ""] if served else []),
                  fmt_money(r.capex_usd), fmt_money(r.annual_cost_usd))
    console.print(t)
    y_t = Table(title="Per year: demand, power and the cost of one EF/s more (LP relaxation)")
    y_t.add_column("year", justify="right")
    y_t.add_column("demand EF/s", justify="right")
    y_t.add_column("delivered EF/s", justify="right")
    if served:
        y_t.add_column("serve tok/s", justify="right")
        y_t.add_column("served tok/s", justify="right")
    for name in res.power_cap_w_by_year:
        y_t.add_column(f"{name} used / cap", justify="right")
    y_t.add_column("1 EF/s more costs", justify="right")
    if served:
        y_t.add_column("1M tok/s more costs", justify="right")
    for i, year in enumerate(res.years):
        rows = [r for r in res.rows if r.year == year]
        cells = [str(year), fmt_ef(res.demand_flops[i]), fmt_ef(sum(r.delivered_flops for r in rows))]
        if served:
            cells += [fmt_count(res.serve_tokens_per_s[i]), fmt_count(sum(r.served_tokens_per_s or 0.0 for r in rows))]
        for name, by in res.power_cap_w_by_year.items():
            used = sum(r.facility_power_w for r in rows if r.site == name)
            cells.append(f"{fmt_power(used)} / {fmt_power(by[year])}")
        more = res.demand_cost_usd_per_ef_s.get(year)
        cells.append(fmt_money(more) if more is not None else "cannot")
        if served:
            more = res.serve_cost_usd_per_mtok_s.get(year)
            cells.append(fmt_money(more) if more is not None else "cannot")
        y_t.add_row(*cells)
    console.print(y_t)
    if quiet:
        return
    for line in res.binding():
        console.print(f"binding: {line}")
    for n in notes:
        console.print(f"note: {n}")
