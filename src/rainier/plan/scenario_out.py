"""A capacity plan as a fleet scenario: run the planned hardware and its demand through the fleet simulator.

:func:`plan_scenario` turns a :class:`~rainier.plan.capacity.PlanResult` into a scenario document (the dict a
scenario YAML holds) that ``rainier fleet run`` accepts:

* every planned site, its power cap the plan's largest yearly cap (the plan keeps each year's draw within that
  year's cap), one system pool per planned chip kind: the first year's purchases installed at the start, each
  later year's delivered on 1 January, each year's retired ``hardware_life_years`` after it was bought;
* with a training workload (``rainier plan --workload``), each planned job slot (from 1 January of the year
  that added it until its chips retire or the plan ends) runs a series of jobs on ``job_chips`` chips of its
  kind, each ``job_days`` of training at the rate the plan counted (MFU x goodput), the next submitted when the last is
  due to end: the fleet adds failures, restarts and queueing to that, so late jobs show as waits; a slot of jobs
  the plan split over sites (``job_sites``) runs jobs marked ``cross_site``, with the scenario's ``cross_site`` link
  the plan's (``cross_site_gbps``);
* with a serving demand (``rainier plan --serve``), one service per chip kind that serves in any planned year,
  its demand stepping each 1 January to that kind's share of the year's demand as the plan serves it (as the
  fleet's input + output tokens/s at the serving simulation's mean lengths; 0 in years it serves nothing), at the
  plan's precision and SLO, with no headroom above the demand (the plan sized none).

What the fleet finds beyond the plan (waits, failures, power) is the point of running it.
"""

from __future__ import annotations

from typing import Any

from rainier.catalog.loader import Catalog
from rainier.errors import RainierError
from rainier.plan.capacity import PlanResult

__all__ = ["plan_scenario"]

# the serving simulation's default lengths (perf.workload "openorca": mean input / output tokens per request)
_IN, _OUT = 294, 290


def plan_scenario(res: PlanResult, cat: Catalog, *, name: str = "plan", workload: str | None = None,
                  tokens_per_s_per_chip: dict[str, float] | None = None, job_chips: int | None = None,
                  serve_model: str | None = None, slo_ttft_s: float | None = None,
                  slo_tpot_s: float | None = None, serve_precision: str = "bf16", job_days: int = 90,
                  seq: int | None = None,
                  global_batch: int | None = None, precision: str = "bf16", seed: int = 0,
                  split_tokens_per_s_per_chip: dict[str, float] | None = None) -> dict[str, Any]:
    """The plan as a fleet scenario document (see the module docstring). ``tokens_per_s_per_chip``: each
    training kind's tokens/s per chip on the workload as the plan counted it (MFU x goodput with the plan's
    goodput: the fleet's own failures and restarts then use up that slack). ``seq``, ``global_batch``
    (sequences) and ``precision`` set the fleet's training estimates to the workload's. ``split_tokens_per_s_per_chip``:
    the same for jobs split over sites (default: ``tokens_per_s_per_chip``)."""
    if isinstance(job_days, bool) or not isinstance(job_days, int) or job_days < 1:
        raise RainierError(f"must be a whole number of days >= 1 (got {job_days!r})", field="job_days", fix="e.g. 90")
    if workload is not None and (tokens_per_s_per_chip is None or job_chips is None):
        raise RainierError("a workload scenario needs each kind's training rate and the job size",
                           field="--scenario-out", fix="pass tokens_per_s_per_chip and job_chips")
    years = res.years
    y0 = years[0]
    life = int(round(cat.economics().hardware_life_years))
    horizon_days = 365 * len(years)
    systems_of = {r.chip: r.system for r in res.rows}
    sites: list[dict[str, Any]] = []
    for site in dict.fromkeys(r.site for r in res.rows):
        pools = []
        for chip in dict.fromkeys(r.chip for r in res.rows if r.site == site):
            bought = {y: sum(r.systems_bought for r in res.rows if r.site == site and r.chip == chip and r.year == y)
                      for y in years}
            pool: dict[str, Any] = {"kind": systems_of[chip], "installed": bought[y0]}
            later = [{"month": f"{y}-01", "systems": n} for y, n in bought.items() if y > y0 and n > 0]
            gone = [{"month": f"{y + life}-01", "systems": n} for y, n in bought.items()
                    if n > 0 and y + life <= years[-1]]
            if later:
                pool["deliveries"] = later
            if gone:
                pool["decommission"] = gone
            pools.append(pool)
        cap = res.power_cap_w.get(site, 0.0)
        sites.append({"name": site, "power_cap": f"{cap / 1e6:.6g}MW", "systems": pools})
    doc: dict[str, Any] = {
        "name": name,
        "description": f"capacity plan {y0}-{years[-1]} ({res.status}, owner cost ${res.total_cost_usd / 1e9:,.2f}B) "
                       "run through the fleet simulator",
        "start": f"{y0}-01-01",
        "horizon": f"{horizon_days}d",
        "seed": seed,
        "sites": sites,
        "tenants": [],
    }
    if seq is not None and global_batch is not None:
        doc["perf"] = {"seq": int(seq), "global_batch_tokens": float(seq * global_batch),
                       "training_precision": precision if precision in ("bf16", "fp8") else "bf16"}
    jobs: list[dict[str, Any]] = []
    if workload is not None and tokens_per_s_per_chip is not None and job_chips is not None:
        doc["tenants"].append({"name": "training", "priority": 1})
        # where a slot's jobs run: one site, or the sites a split job spans (its rows at the first of them count it)
        placements = dict.fromkeys(r.placement for r in res.rows if r.use == "training")
        if any(len(pl) > 1 for pl in placements):
            if not res.cross_site_gbps:
                raise RainierError("the plan splits jobs over sites but names no link between them",
                                   field="--scenario-out", fix="plan with --cross-site-gbps")
            doc["cross_site"] = {"allowed": True, "gbps": float(res.cross_site_gbps)}
        for pl in placements:
            site = pl[0]
            for chip in dict.fromkeys(r.chip for r in res.rows if r.use == "training" and r.placement == pl):
                per_chip = tokens_per_s_per_chip[chip] if len(pl) == 1 else \
                    (split_tokens_per_s_per_chip or tokens_per_s_per_chip).get(chip, tokens_per_s_per_chip[chip])
                cohorts: dict[int, int] = {}  # job slots added in a year, alive until its hardware retires
                for y in years:
                    row = next((r for r in res.rows if r.site == site and r.chip == chip and r.year == y
                                and r.use == "training" and r.placement == pl), None)
                    if row is None:
                        now = 0
                    else:  # a FLOP/s plan (no job count) runs the whole jobs its chips hold
                        now = row.jobs if row.jobs is not None else row.chips_installed // job_chips
                    alive = sum(n for yb, n in cohorts.items() if yb + life > y)
                    cohorts[y] = max(0, now - alive)
                    end_day = (min(y + life, years[-1] + 1) - y0) * 365
                    for k in range(cohorts[y]):
                        # the slot runs one job after another, each job_days of failure-free training, the
                        # next submitted when the last is due to end (late ones queue behind it)
                        day = (y - y0) * 365
                        part = 0
                        while day < end_day:
                            days = min(job_days, end_day - day)
                            tokens = per_chip * job_chips * days * 86400.0
                            part += 1
                            job = {"name": f"{workload}-{chip}-{'+'.join(pl)}-{y}-{k + 1}.{part}",
                                   "tenant": "training", "model": workload, "system": systems_of[chip],
                                   "chips": job_chips, "tokens": float(f"{tokens:.6g}"), "arrival": f"{day}d",
                                   "checkpoint": {"auto": True}}
                            if len(pl) > 1:
                                job["cross_site"] = True
                            jobs.append(job)
                            day += days
        doc["jobs"] = jobs
    if serve_model is not None and res.serve_tokens_per_s:
        need = res.serve_tokens_per_s
        serving = [r for r in res.rows if r.use == "serving"]
        slo = {k: v for k, v in (("ttft", slo_ttft_s), ("tpot", slo_tpot_s)) if v is not None}
        services = []
        total = {y: sum(r.served_tokens_per_s or 0.0 for r in serving if r.year == y) for y in years}
        for chip in dict.fromkeys(r.chip for r in serving):
            # this kind's share of each year's demand, as the plan serves it (0 in years it serves nothing)
            per_year = []
            for i, y in enumerate(years):
                mine = sum(r.served_tokens_per_s or 0.0 for r in serving if r.year == y and r.chip == chip)
                per_year.append(need[i] * mine / total[y] * (_IN + _OUT) / _OUT if total[y] else 0.0)
            first = next((v for v in per_year if v > 0), 0.0)
            if first <= 0:
                continue
            svc: dict[str, Any] = {
                "name": f"serve-{serve_model}-{chip}", "tenant": "serving", "model": serve_model,
                "system": systems_of[chip], "precision": serve_precision, "input_len": _IN, "output_len": _OUT,
                "headroom": 0.0,
                "demand": {"tokens_per_s": float(f"{first:.6g}"),
                           "steps": [{"at": f"{(y - y0) * 365}d", "tokens_per_s": float(f"{v:.6g}")}
                                     for y, v in zip(years, per_year, strict=True)]},
                "sites": sorted({r.site for r in serving if r.chip == chip}),
            }
            if slo:
                svc["slo"] = {k: f"{v * 1000:g}ms" for k, v in slo.items()}
            services.append(svc)
        if services:
            doc["tenants"].append({"name": "serving", "priority": 2, "preemptible": False})
            doc["services"] = services
    if not jobs and not doc.get("services"):
        raise RainierError("the plan has no jobs or services to run", field="--scenario-out",
                           fix="plan with --workload (training jobs) or --serve (services), which give the fleet work")
    return doc
