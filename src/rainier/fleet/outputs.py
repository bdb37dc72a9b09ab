"""The run directory (docs/contracts.md, "Fleet run directory"): tidy records to Parquet, summary JSON.

Files: ``scenario.yaml`` (fully resolved, SI units), ``manifest.json``, ``summary.json``,
``jobs.parquet`` (one row per job attempt), ``events.parquet``, ``timeseries.parquet`` (hourly, long
format, one row per (time_h, site, tenant); tenant ``*`` rows are site totals).

Determinism: rows are in a fixed order (jobs by job_id, attempt; events in kernel order, which is
deterministic; timeseries by time, site, tenant), Parquet is written from explicit Arrow schemas (no
pandas metadata) with fixed settings, JSON with fixed key order; the only wall-clock value anywhere is
``manifest.json``'s ``wall_s``. The directory is written atomically (``rainier.io.atomic_dir``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rainier.econ import J_PER_MWH
from rainier.fleet.state import WAIT_REASONS
from rainier.io import atomic_dir, to_jsonable
from rainier.units import fmt_count

if TYPE_CHECKING:
    from rainier.fleet.simulation import RunResult, Simulation

__all__ = ["build_result", "write_run_dir", "wait_summary", "JOBS_SCHEMA", "EVENTS_SCHEMA", "TIMESERIES_SCHEMA"]

H = 3600.0

JOBS_SCHEMA = pa.schema([
    ("job_id", pa.int64()), ("name", pa.string()), ("tenant", pa.string()), ("kind", pa.string()),
    ("attempt", pa.int64()), ("chips", pa.int64()), ("site", pa.string()), ("submit_h", pa.float64()),
    ("start_h", pa.float64()), ("end_h", pa.float64()), ("status", pa.string()), ("failure_cause", pa.string()),
    ("tokens_done", pa.float64()), ("tokens_total", pa.float64()), ("lost_chip_hours", pa.float64()),
    ("tokens_per_s", pa.float64()),
])
EVENTS_SCHEMA = pa.schema([
    ("time_h", pa.float64()), ("kind", pa.string()), ("site", pa.string()), ("tenant", pa.string()),
    ("job_id", pa.int64()), ("chips", pa.float64()), ("cause", pa.string()), ("detail", pa.string()),
])
TIMESERIES_SCHEMA = pa.schema([
    ("time_h", pa.float64()), ("site", pa.string()), ("tenant", pa.string()), ("chips_installed", pa.float64()),
    ("chips_busy", pa.float64()), ("chips_idle", pa.float64()), ("chips_failed", pa.float64()),
    ("chips_undelivered", pa.float64()), ("power_mw", pa.float64()), ("power_cap_mw", pa.float64()),
    ("tokens_per_s_served", pa.float64()), ("tokens_per_s_demanded", pa.float64()),
])


_WAIT_WORDS = {"supply": "supply", "repairs": "repairs", "site_outage": "site outage", "training": "other gangs",
               "inference": "inference", "power": "power", "policy": "scheduler"}


def wait_summary(by_reason: dict[str, float]) -> str:
    """'1.2M: supply 61%, power 30%, scheduler 9%' (reasons of at least 1%), or '' when nothing waited."""
    total = sum(by_reason.values())
    if total <= 0:
        return ""
    parts = [f"{_WAIT_WORDS.get(k, k)} {v / total:.0%}" for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1])
             if v / total >= 0.01]
    return f"{fmt_count(total)}: " + ", ".join(parts)


def _p95(x: list[float]) -> float:
    return float(np.percentile(np.asarray(x), 95)) if x else 0.0


def build_result(sim: Simulation) -> RunResult:
    from rainier.fleet.simulation import RunResult

    sc = sim.sc
    site_names = [s.name for s in sim.sites]
    tenant_names = [t.name for t in sim.tenants]
    T, S = len(tenant_names), len(site_names)

    # --- jobs: one row per attempt, plus queued rows for submitted jobs that never started ----------
    rows = list(sim.attempts)
    for job in sim.jobs:
        if job.status == "queued":
            rows.append((job.id, job.name, tenant_names[job.tenant], job.attempt + 1, job.chips, None, job.submit_s / H,
                         None, None, "queued", job.restart_cause, job.tokens_done, job.tokens_total, 0.0, None))
    rows.sort(key=lambda r: (r[0], r[3]))
    cols = ["job_id", "name", "tenant", "attempt", "chips", "site", "submit_h", "start_h", "end_h", "status",
            "failure_cause", "tokens_done", "tokens_total", "lost_chip_hours", "tokens_per_s"]
    jobs: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    jobs["kind"] = ["training"] * len(rows)

    # --- events ---------------------------------------------------------------------------------
    log = sim.log
    events: dict[str, list[Any]] = {
        "time_h": [r[0] / H for r in log],
        "kind": [r[1] for r in log],
        "site": [None if r[2] is None else site_names[r[2]] for r in log],
        "tenant": [None if r[3] is None else tenant_names[r[3]] for r in log],
        "job_id": [r[4] for r in log],
        "chips": [float(r[5]) for r in log],
        "cause": [r[6] for r in log],
        "detail": [r[7] for r in log],
    }

    # --- timeseries -----------------------------------------------------------------------------
    L = sim.L
    t0 = np.array([r[0] for r in sim.ts_rows])
    t1 = np.array([r[1] for r in sim.ts_rows])
    dt = np.maximum(t1 - t0, 1e-12)
    integ = np.stack([r[2] for r in sim.ts_rows]) if sim.ts_rows else np.zeros((0, S, L.ncol))
    avg = integ / dt[:, None, None]
    nh = len(t0)
    cap_chips = np.array([s.capacity_chips for s in sim.sites], dtype=float)
    cap_mw = np.array([s.cap_w / 1e6 for s in sim.sites])
    inst = avg[:, :, sim.c_inst]
    busy = avg[:, :, sim.c_busy]
    failed = avg[:, :, sim.c_failed]
    served_t = np.stack([avg[:, :, c] for c in sim.c_tserved], axis=2) if T else np.zeros((nh, S, 0))
    demand_t = np.stack([avg[:, :, c] for c in sim.c_tdemand], axis=2) if T else np.zeros((nh, S, 0))
    nrow = nh * S * (T + 1)
    ts: dict[str, Any] = {}
    ts["time_h"] = np.repeat(t0 / H, S * (T + 1))
    ts["site"] = np.tile(np.repeat(np.array(site_names, dtype=object), T + 1), nh)
    ts["tenant"] = np.tile(np.array(["*"] + tenant_names, dtype=object), nh * S)

    def block(site_vals: np.ndarray, tenant_vals: np.ndarray | None) -> np.ndarray:
        out = np.zeros((nh, S, T + 1))
        out[:, :, 0] = site_vals
        if tenant_vals is not None:
            out[:, :, 1:] = tenant_vals
        flat = out.reshape(nrow)
        # every column is a non-negative level: drop float dust from the pre-credited integrals (and -0.0).
        # The dust is rounding of integrals that grow to (largest level x horizon): relative to that, 1e-12
        # is ~5,000 ulps, while a real level that small is below any figure a report shows.
        tol = 1e-6 + 1e-12 * float(np.abs(flat).max(initial=0.0)) * max(1.0, sc.horizon_s / H)
        flat[np.abs(flat) < tol] = 0.0
        return flat + 0.0

    ts["chips_installed"] = block(inst, None)
    ts["chips_busy"] = block(busy, np.stack([avg[:, :, c] for c in sim.c_tbusy], axis=2))
    ts["chips_idle"] = block(avg[:, :, sim.c_idle], None)
    ts["chips_failed"] = block(failed, None)
    ts["chips_undelivered"] = block(cap_chips[None, :] - inst, None)
    ts["power_mw"] = block(avg[:, :, sim.c_power] / 1e6, np.stack([avg[:, :, c] for c in sim.c_tpower], axis=2) / 1e6)
    ts["power_cap_mw"] = block(np.broadcast_to(cap_mw, (nh, S)), None)
    ts["tokens_per_s_served"] = block(served_t.sum(axis=2), served_t)
    ts["tokens_per_s_demanded"] = block(demand_t.sum(axis=2), demand_t)

    # --- summary ----------------------------------------------------------------------------------
    tot = L.total  # whole-run integrals, (S, ncol), unit x seconds
    horizon_h = sc.horizon_s / H
    cap_ch = float(cap_chips.sum() * horizon_h)
    inst_ch = float(tot[:, sim.c_inst].sum() / H)
    busy_ch = float(tot[:, sim.c_busy].sum() / H)
    failed_ch = float(tot[:, sim.c_failed].sum() / H)
    idle_ch = float(tot[:, sim.c_idle].sum() / H)
    served = float(sum(sv.served_tokens for sv in sim.services))
    demanded = float(sum(sv.demanded_tokens for sv in sim.services))
    submitted = [j for j in sim.jobs if j.status != "pending"]
    finished = [j for j in sim.jobs if j.status == "finished"]
    useful = float(sim.useful_chip_s.sum())
    trainbusy = float(sim.train_busy_chip_s.sum())
    totals = {
        "chips_installed_end": float(sum(row[sim.c_inst] for row in L.level)),
        "chip_hours_capacity": cap_ch,
        "chip_hours_busy": busy_ch,
        "chip_hours_idle": idle_ch,
        "chip_hours_failed": failed_ch,
        "chip_hours_undelivered": cap_ch - inst_ch,
        "utilization": busy_ch / inst_ch if inst_ch > 0 else 0.0,
        "energy_mwh": float(tot[:, sim.c_power].sum()) / J_PER_MWH,
        "cost_usd": float(tot[:, sim.c_cost].sum()),
        "jobs_submitted": len(submitted),
        "jobs_finished": len(finished),
        "failures": int(sum(sim.failures_by_cause.values())),
        "goodput": useful / trainbusy if trainbusy > 0 else 1.0,
        "tokens_served": served,
        "tokens_demanded": demanded,
        # served / demanded inference tokens; null ("does not apply") where no inference was demanded
        "slo_attainment": served / demanded if demanded > 0 else None,
        "peak_power_mw": sim.fleet_peak_w / 1e6,
    }
    tenants: list[dict[str, Any]] = []
    for tn in sim.tenants:
        i = tn.index
        mine = [j for j in submitted if j.tenant == i]
        # a job's first wait; one still queued at the end counts its wait so far (censored at the horizon), so a
        # policy that starves jobs does not read as "no wait"
        waits = [(j.waits_s[0] if j.waits_s else sc.horizon_s - j.submit_s) / H for j in mine
                 if j.waits_s or j.status == "queued"]
        never = sum(1 for j in mine if not j.waits_s and j.status == "queued")
        sv_served = sum(sv.served_tokens for sv in sim.services if sv.tenant == i)
        sv_dem = sum(sv.demanded_tokens for sv in sim.services if sv.tenant == i)
        tb = float(sim.train_busy_chip_s[i])
        tenants.append({
            "tenant": tn.name,
            "committed_chips": float(getattr(tn, "committed_chips_nominal", 0.0)),
            "committed_chip_hours": float(sim.committed_chip_s[i] / H),
            "delivered_chip_hours": float(tot[:, sim.c_tbusy[i]].sum() / H),
            "jobs_submitted": len(mine),
            "jobs_finished": sum(1 for j in mine if j.status == "finished"),
            "queue_wait_mean_h": float(np.mean(waits)) if waits else 0.0,
            "queue_wait_p95_h": _p95(waits),
            # additive: jobs submitted that never started (their waits, censored at the horizon, are in the above)
            "jobs_never_started": never,
            "goodput": float(sim.useful_chip_s[i]) / tb if tb > 0 else 1.0,
            "tokens_served": float(sv_served),
            "tokens_demanded": float(sv_dem),
            "slo_attainment": float(sv_served / sv_dem) if sv_dem > 0 else None,
            "energy_mwh": float(tot[:, sim.c_tpower[i]].sum()) / J_PER_MWH,
            "cost_usd": float(tot[:, sim.c_tcost[i]].sum()),
            # additive: queued chip-hours by the first reason that blocked the job (simulation.WAIT_REASONS)
            "queue_wait_chip_hours_by_reason": {r: float(sim.wait_chip_s[i, k] / H) for k, r in enumerate(WAIT_REASONS)},
        })
    # additive: what no tenant holds (idle, failed and repairing systems' draw and cost), so that the tenants' energy
    # and cost with these add up to the totals
    for k in ("energy_mwh", "cost_usd"):
        held = sum(float(t[k]) for t in tenants)
        totals[f"{k}_unattributed"] = max(0.0, float(totals[k] or 0.0) - held)
    sites = [{
        "site": s.name,
        "power_cap_mw": s.cap_w / 1e6,
        "peak_power_mw": s.peak_power_w / 1e6,
        "energy_mwh": float(tot[s.index, sim.c_power]) / J_PER_MWH,
        "chips_installed_end": float(L.level[s.index][sim.c_inst]),
    } for s in sim.sites]
    from rainier.fleet.scenario import config_sha256

    summary = {
        "scenario": sc.name,
        "seed": sc.seed,
        "horizon_h": horizon_h,
        "config_sha256": config_sha256(sc),
        "totals": totals,
        "tenants": tenants,
        "sites": sites,
        "failures_by_cause": dict(sorted(sim.failures_by_cause.items())),
        "goodput_loss_by_cause_chip_hours": dict(sorted(sim.loss_by_cause.items())),
        # additive to the contract: gang chip-hours spent waiting in the queue to restart after an
        # interruption (spares short, repairs pending, or preempted), by the interrupting cause
        "restart_wait_chip_hours_by_cause": dict(sorted(sim.restart_wait_by_cause.items())),
        "queue_wait_chip_hours_by_reason": {r: float(sim.wait_chip_s[:, k].sum() / H) for k, r in enumerate(WAIT_REASONS)},
        "commitments": sim.commitment_report(),
        "deliveries_deferred_by_power_systems": sim.deferred_deliveries,
    }
    return RunResult(sc, jobs, events, ts, summary, sim.k.events_processed, sim.perf.backend,
                     list(sim.perf.fallbacks), sim.audit)


def _table(data: dict[str, Any], schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        v = data[f.name]
        arrays.append(pa.array(v.tolist() if isinstance(v, np.ndarray) and v.dtype == object else v, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, version="2.6", data_page_version="1.0", row_group_size=1 << 20)


def write_run_dir(result: RunResult, out: str | Path, wall_s: float) -> Path:
    """Write the run directory atomically; returns its path."""
    from rainier import __version__
    from rainier.fleet.scenario import resolved_yaml

    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / "scenario.yaml").write_text(resolved_yaml(result.scenario), encoding="utf-8")
        _write_parquet(_table(result.jobs, JOBS_SCHEMA), tmp / "jobs.parquet")
        _write_parquet(_table(result.events, EVENTS_SCHEMA), tmp / "events.parquet")
        _write_parquet(_table(result.timeseries, TIMESERIES_SCHEMA), tmp / "timeseries.parquet")
        (tmp / "summary.json").write_text(json.dumps(to_jsonable(result.summary), indent=2) + "\n", encoding="utf-8")
        manifest = {
            "scenario": result.scenario.name,
            "seed": result.scenario.seed,
            "config_sha256": result.summary["config_sha256"],
            "rainier_version": __version__,
            "horizon_h": result.summary["horizon_h"],
            "wall_s": round(wall_s, 3),
            "events_processed": result.events_processed,
            "perf_backend": result.perf_backend,
            "perf_fallbacks": result.perf_fallbacks,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out
