"""A synthetic fleet run directory in the format of docs/contracts.md, for report tests and benchmarks.

The report is built from a run's files only; this module writes such files without running the
simulator, so the report can be tested (and benchmarked at the 1M-chip, one-year scale) on its own.
The numbers are plausible, not physical: deliveries ramp the installed base up in weekly steps,
a small Poisson-distributed share of chips is failed, tenants use roughly their commitment, inference
demand follows a daily cycle, and training jobs fail and restart at random. Chip-state series obey
``busy + idle + failed == installed`` per site and hour, and the summary totals are computed from the
written series and job table, so the files agree with one another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from rainier.io import atomic_dir, atomic_write_json, atomic_write_text

__all__ = ["write_synthetic_run"]

_SITE_NAMES = ["abilene", "council-bluffs", "mayes-county", "the-dalles", "new-albany", "richland",
               "mesa", "loudoun", "quincy", "papillion"]
_TENANT_NAMES = ["frontier-lab", "search", "ads", "assistant", "research", "cloud-a", "cloud-b", "video",
                 "code", "safety", "speech", "robotics"]
_CAUSES = ["gpu_hbm", "nvlink", "network", "host", "software", "power"]

CHIP_W = 1000.0  # facility watts per busy chip (GB200-class incl. PUE, rounded)
IDLE_FRAC = 0.35  # idle draw / busy draw
PRICE_USD_PER_CHIP_H = 3.0
ENERGY_USD_PER_MWH = 60.0


def write_synthetic_run(
    path: str | Path,
    *,
    chips: int = 20_000,
    horizon_h: int = 24 * 14,
    sites: int = 2,
    tenants: int = 3,
    jobs: int = 40,
    inference: bool = True,
    seed: int = 0,
    scheduler: str = "fair-share",
    name: str = "synthetic",
    delivery_slip_h: float = 0.0,
    failure_scale: float = 1.0,
) -> Path:
    """Write a consistent run directory at ``path`` (replacing it) and return its path."""
    rng = np.random.default_rng(seed)
    n_sites, n_ten, horizon_h = max(1, sites), max(1, tenants), max(2, int(horizon_h))
    site_names = [_SITE_NAMES[i] if i < len(_SITE_NAMES) else f"site-{i}" for i in range(n_sites)]
    ten_names = [_TENANT_NAMES[i] if i < len(_TENANT_NAMES) else f"tenant-{i}" for i in range(n_ten)]
    t = np.arange(horizon_h, dtype=np.float64)

    # Chips per site, delivered in weekly steps from 60 % to 100 % over the first 40 % of the run.
    share = rng.dirichlet(np.full(n_sites, 4.0))
    planned = np.maximum(1, np.round(share * chips)).astype(np.int64)
    ramp_end = 0.4 * horizon_h + delivery_slip_h
    frac = np.clip(0.6 + 0.4 * np.floor(t / 168.0) * 168.0 / max(ramp_end, 1.0), 0.6, 1.0)
    installed = np.floor(np.outer(frac, planned)).astype(np.int64)  # (T, S)
    undelivered = planned[None, :] - installed
    failed = np.minimum(rng.poisson(installed * 0.004), installed // 10)
    cap_mw = planned * CHIP_W * 1.02 / 1e6

    # Tenants: commitments sum to ~85 % of the planned fleet; use wanders around the commitment.
    commit_share = rng.dirichlet(np.full(n_ten, 2.0)) * 0.85
    committed = np.round(commit_share * chips).astype(np.int64)
    wander = 0.9 + 0.15 * np.sin(2 * np.pi * (t[:, None] / (24 * 9.0) + rng.random(n_ten)[None, :]))
    wander += rng.normal(0, 0.02, size=(horizon_h, n_ten))
    want = committed[None, :] * np.clip(wander, 0.5, 1.2)  # (T, N) fleet-wide
    usable = (installed - failed).astype(np.float64)  # (T, S)
    busy_tot = usable.sum(1)
    scale = np.minimum(1.0, 0.97 * busy_tot / np.maximum(want.sum(1), 1.0))
    use = want * scale[:, None]  # (T, N)
    site_w = usable / np.maximum(usable.sum(1, keepdims=True), 1.0)  # (T, S)
    busy_tn = np.floor(use[:, None, :] * site_w[:, :, None]).astype(np.int64)  # (T, S, N)
    busy = busy_tn.sum(2)
    idle = installed - failed - busy
    pw_busy = busy_tn * CHIP_W / 1e6
    power = pw_busy.sum(2) + (idle * IDLE_FRAC + failed * 0.1) * CHIP_W / 1e6  # (T, S)

    # Inference: every other tenant serves; demand follows a daily cycle, served is capped by capacity.
    serving = np.array([inference and i % 2 == 1 for i in range(n_ten)])
    tok_per_chip = 900.0
    diurnal = 0.75 + 0.35 * np.sin(2 * np.pi * (t / 24.0 - 0.3))
    demand_tn = np.where(serving[None, :], use * tok_per_chip * diurnal[:, None] * 1.02, 0.0)
    served_tn = np.minimum(demand_tn, np.where(serving[None, :], use * tok_per_chip, 0.0))

    rows = []
    for s, site in enumerate(site_names):
        rows.append(pd.DataFrame({
            "time_h": t, "site": site, "tenant": "*",
            "chips_installed": installed[:, s], "chips_busy": busy[:, s], "chips_idle": idle[:, s],
            "chips_failed": failed[:, s], "chips_undelivered": undelivered[:, s],
            "power_mw": power[:, s], "power_cap_mw": np.full(horizon_h, cap_mw[s]),
            "tokens_per_s_served": (served_tn * site_w[:, s, None]).sum(1),
            "tokens_per_s_demanded": (demand_tn * site_w[:, s, None]).sum(1),
        }))
        for n, ten in enumerate(ten_names):
            z = np.zeros(horizon_h, dtype=np.int64)
            rows.append(pd.DataFrame({
                "time_h": t, "site": site, "tenant": ten,
                "chips_installed": z, "chips_busy": busy_tn[:, s, n], "chips_idle": z, "chips_failed": z,
                "chips_undelivered": z, "power_mw": pw_busy[:, s, n], "power_cap_mw": np.zeros(horizon_h),
                "tokens_per_s_served": served_tn[:, n] * site_w[:, s], "tokens_per_s_demanded": demand_tn[:, n] * site_w[:, s],
            }))
    ts = pd.concat(rows, ignore_index=True)

    jobs_df, events_df = _jobs_and_events(rng, jobs, horizon_h, site_names, ten_names, serving, planned, failure_scale)

    energy_site = power.sum(0)  # MWh, hourly steps
    energy_ten = pw_busy.sum((0, 1))
    # Idle and failed energy is shared out in proportion to use, so tenant energy adds up to the total.
    energy_ten = energy_ten + (energy_site.sum() - energy_ten.sum()) * energy_ten / max(energy_ten.sum(), 1e-9)
    cost_ten = use.sum(0) * PRICE_USD_PER_CHIP_H + energy_ten * ENERGY_USD_PER_MWH
    tokens_served = served_tn.sum(0) * 3600
    tokens_demanded = demand_tn.sum(0) * 3600
    slo_ten = np.where(tokens_demanded > 0, 0.97 * tokens_served / np.maximum(tokens_demanded, 1e-9), 1.0)
    fin = jobs_df[jobs_df.status == "finished"]
    failed_att = jobs_df[jobs_df.status == "failed"]
    tenants_out = []
    for n, ten in enumerate(ten_names):
        j = jobs_df[jobs_df.tenant == ten]
        waits = (j.start_h - j.submit_h).dropna().to_numpy()
        lost = float(j.lost_chip_hours.sum())
        used = float((j.chips * (j.end_h.fillna(horizon_h) - j.start_h)).clip(lower=0).sum())
        tenants_out.append({
            "tenant": ten, "committed_chips": int(committed[n]), "committed_chip_hours": float(committed[n] * horizon_h),
            "delivered_chip_hours": float(use[:, n].sum()), "jobs_submitted": int(j.job_id.nunique()),
            "jobs_finished": int(fin[fin.tenant == ten].job_id.nunique()),
            "queue_wait_mean_h": float(waits.mean()) if len(waits) else 0.0,
            "queue_wait_p95_h": float(np.percentile(waits, 95)) if len(waits) else 0.0,
            "goodput": float(1 - lost / used) if used > 0 else 1.0,
            "tokens_served": float(tokens_served[n]), "tokens_demanded": float(tokens_demanded[n]),
            "slo_attainment": float(slo_ten[n]) if serving[n] else None,
            "energy_mwh": float(energy_ten[n]), "cost_usd": float(cost_ten[n]),
        })
    cap_h = float(installed.sum())
    lost_by_cause = failed_att.groupby("failure_cause").lost_chip_hours.sum()
    used_all = float((jobs_df.chips * (jobs_df.end_h.fillna(horizon_h) - jobs_df.start_h)).clip(lower=0).sum())
    total_demand = float(tokens_demanded.sum())
    totals = {
        "chips_installed_end": int(installed[-1].sum()), "chip_hours_capacity": cap_h,
        "chip_hours_busy": float(busy.sum()), "chip_hours_idle": float(idle.sum()),
        "chip_hours_failed": float(failed.sum()), "chip_hours_undelivered": float(undelivered.sum()),
        "utilization": float(busy.sum() / cap_h), "energy_mwh": float(energy_site.sum()),
        "cost_usd": float(cost_ten.sum()), "jobs_submitted": int(jobs_df.job_id.nunique()),
        "jobs_finished": int(fin.job_id.nunique()), "failures": int(len(failed_att)),
        "goodput": float(1 - jobs_df.lost_chip_hours.sum() / used_all) if used_all > 0 else 1.0,
        "tokens_served": float(tokens_served.sum()), "tokens_demanded": total_demand,
        "slo_attainment": float((slo_ten * tokens_demanded).sum() / total_demand) if total_demand > 0 else None,
        "peak_power_mw": float(power.sum(1).max()),
    }
    summary = {
        "scenario": name, "seed": seed, "horizon_h": float(horizon_h), "config_sha256": f"{seed:064x}",
        "totals": totals, "tenants": tenants_out,
        "sites": [{"site": s, "power_cap_mw": float(cap_mw[i]), "peak_power_mw": float(power[:, i].max()),
                   "energy_mwh": float(energy_site[i]), "chips_installed_end": int(installed[-1, i])}
                  for i, s in enumerate(site_names)],
        "failures_by_cause": {str(k): int(v) for k, v in failed_att.failure_cause.value_counts().items()},
        "goodput_loss_by_cause_chip_hours": {str(k): float(v) for k, v in lost_by_cause.items()},
    }
    scenario = {
        "name": name, "seed": seed, "horizon_h": horizon_h, "scheduler": scheduler,
        "chip": "gb200", "delivery_slip_h": delivery_slip_h,
        "sites": [{"name": s, "chips": int(planned[i]), "power_cap_mw": round(float(cap_mw[i]), 3)}
                  for i, s in enumerate(site_names)],
        "tenants": [{"name": ten, "committed_chips": int(committed[n]),
                     "workload": "inference" if serving[n] else "training"} for n, ten in enumerate(ten_names)],
        "failures": {"mtbf_chip_h": 50_000, "repair_h": 48},
    }
    manifest = {"scenario": name, "seed": seed, "config_sha256": summary["config_sha256"],
                "rainier_version": "synthetic", "horizon_h": float(horizon_h), "wall_s": 0.0,
                "events_processed": int(len(events_df))}
    path = Path(path)
    with atomic_dir(path) as tmp:
        ts.to_parquet(tmp / "timeseries.parquet", index=False)
        jobs_df.to_parquet(tmp / "jobs.parquet", index=False)
        events_df.to_parquet(tmp / "events.parquet", index=False)
        atomic_write_json(tmp / "summary.json", summary)
        atomic_write_json(tmp / "manifest.json", manifest)
        atomic_write_text(tmp / "scenario.yaml", yaml.safe_dump(scenario, sort_keys=False))
    return path


def _jobs_and_events(rng: np.random.Generator, n_jobs: int, horizon_h: int, sites: list[str],
                     tenants: list[str], serving: np.ndarray, planned: np.ndarray, failure_scale: float = 1.0):
    train_tenants = [t for t, s in zip(tenants, serving, strict=True) if not s] or tenants
    jrows: list[dict] = []
    erows: list[dict] = []
    for j in range(n_jobs):
        ten = train_tenants[int(rng.integers(len(train_tenants)))]
        s = int(rng.integers(len(sites)))
        chips = int(min(2 ** int(rng.integers(9, 17)), max(64, planned[s] // 4)))
        submit = float(rng.uniform(0, 0.85 * horizon_h))
        work_h = float(rng.uniform(12, max(24, 0.3 * horizon_h)))
        tokens_total = work_h * 3600 * chips * 5_000.0
        job_id = f"j{j:05d}"
        start = submit + float(rng.exponential(3.0))
        erows.append(_ev(submit, "job_submit", sites[s], ten, job_id, chips))
        attempt, done_h = 0, 0.0
        while True:
            if start >= horizon_h:
                jrows.append(_job(job_id, ten, attempt, chips, sites[s], submit, None, None, "queued", None,
                                  done_h, work_h, 0.0, tokens_total))
                break
            erows.append(_ev(start, "job_start", sites[s], ten, job_id, chips))
            fail_at = float(rng.exponential(work_h * 1.5 / failure_scale))
            remaining = work_h - done_h
            if fail_at < remaining and start + fail_at < horizon_h:
                end = start + fail_at
                cause = _CAUSES[int(rng.integers(len(_CAUSES)))]
                lost = chips * min(fail_at, 0.5 + rng.random())  # since the last checkpoint
                done_h += fail_at - lost / chips
                jrows.append(_job(job_id, ten, attempt, chips, sites[s], submit, start, end, "failed", cause,
                                  done_h, work_h, lost, tokens_total))
                erows.append(_ev(end, "failure", sites[s], ten, job_id, chips, cause))
                erows.append(_ev(end + 48, "repair", sites[s], ten, None, 1, cause))
                attempt += 1
                start = end + float(rng.uniform(0.5, 6))
                continue
            end = start + remaining
            status = "finished" if end <= horizon_h else "running"
            jrows.append(_job(job_id, ten, attempt, chips, sites[s], submit, start, end if status == "finished" else None,
                              status, None, work_h if status == "finished" else done_h + horizon_h - start, work_h,
                              0.0, tokens_total))
            if status == "finished":
                erows.append(_ev(end, "job_end", sites[s], ten, job_id, chips))
            break
    for w in range(0, horizon_h, 168):
        for site in sites:
            erows.append(_ev(float(w), "delivery", site, None, None, 0, None))
    # one scenario event of each common kind, so reports have something to mark
    erows.append(_ev(0.55 * horizon_h, "outage", sites[-1], None, None, 0, "power"))
    erows.append(_ev(0.55 * horizon_h + 6, "outage_end", sites[-1], None, None, 0, "power"))
    erows.append(_ev(0.7 * horizon_h, "demand_spike", None, tenants[-1], None, 0, None))
    jobs = pd.DataFrame(jrows)
    events = pd.DataFrame(erows).sort_values("time_h", kind="stable").reset_index(drop=True)
    return jobs, events


def _job(job_id, tenant, attempt, chips, site, submit, start, end, status, cause, done_h, work_h, lost, tokens_total):
    return {"job_id": job_id, "name": f"{tenant}-run-{job_id[1:]}", "tenant": tenant, "kind": "training",
            "attempt": attempt, "chips": chips, "site": site, "submit_h": submit,
            "start_h": np.nan if start is None else start, "end_h": np.nan if end is None else end,
            "status": status, "failure_cause": cause, "tokens_done": tokens_total * min(done_h / work_h, 1.0),
            "tokens_total": tokens_total, "lost_chip_hours": float(lost), "tokens_per_s": tokens_total / (work_h * 3600)}


def _ev(time_h, kind, site, tenant, job_id, chips, cause=None):
    return {"time_h": float(time_h), "kind": kind, "site": site, "tenant": tenant, "job_id": job_id,
            "chips": int(chips), "cause": cause, "detail": ""}
