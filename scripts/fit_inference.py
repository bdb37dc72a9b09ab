"""Fit the inference-specific parameters of rainier.perf.inference on a few measured rows.

Writes ``src/rainier/perf/fits/inference.json``. Run it after ``scripts/fit_efficiency.py`` (the
training fit of rainier.perf.compute), since the inference scales are relative to that fit::

    python scripts/fit_inference.py            # fit, write, print the validation summary

What is fitted, and on which rows of perf/data/inference-measured.csv (every other usable row is held
out and scored by ``rainier validate inference``):

* per accelerator family, ``compute_scale`` (achieved GEMM efficiency of the family's inference stack
  relative to the training fit), and for AMD also ``memory_scale`` (achieved decode HBM bandwidth)
  and ``dim_half`` (the GEMM size at half efficiency, which small decode batches expose):

  - nvidia-hopper:    compute_scale on rows 1 and 15 (MLPerf v4.1 8x H100 Llama-2-70B offline, 2024;
                      TensorRT-LLM 0.5 H200 Llama-2-70B 128/128 batch 512, 2023: one row of each software
                      generation, whose achieved efficiency differs by ~1.4x on the same GPU class)
  - nvidia-blackwell: compute_scale on row 5  (MLPerf v4.1 1x B200 FP4 Llama-2-70B offline)
  - amd-cdna3:        compute_scale, memory_scale, dim_half on rows 12, 22, 23 (MLPerf v4.1 8x MI300X
                      offline; Llama-3.1-405B batch 1 and batch 64 latency on 8x MI300X)

* each fitted family also records ``training_base``, the training fit (perf/fits/efficiency.json) it
  was fitted on top of, so a later training refit does not move inference predictions until this
  script is re-run;

* the per-step and per-layer overheads are priors, not fitted (2 ms per iteration for scheduling,
  sampling and launch as in vLLM / TensorRT-LLM iteration profiles; 10 us per layer of kernel launch).

Loss: sum of squared log errors over a family's fitted rows (Nelder-Mead, bounded by clipping).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from rainier.perf.compute import efficiency_params
from rainier.perf.inference import _BASE_NAMES, InferenceFit
from rainier.perf.validate_inference import ROWS, _measured, measured_rows, predict_row, validate_inference

OUT = Path(__file__).resolve().parents[1] / "src" / "rainier" / "perf" / "fits" / "inference.json"

PLAN: dict[str, dict[str, object]] = {
    "nvidia-hopper": {"rows": [1, 15], "params": ["compute_scale"]},
    "nvidia-blackwell": {"rows": [5], "params": ["compute_scale"]},
    "amd-cdna3": {"rows": [12, 22, 23], "params": ["compute_scale", "memory_scale", "dim_half"]},
}
BOUNDS = {"compute_scale": (0.3, 1.6), "memory_scale": (0.4, 1.2), "dim_half": (16.0, 1024.0)}
PRIORS = {"step_overhead_s": 2.0e-3, "layer_overhead_s": 10e-6, "hbm_usable_fraction": 0.90}


def _base(fam: str) -> dict[str, float]:
    """The training fit (rainier.perf.compute) of a family now: the inference scales multiply it."""
    p = efficiency_params(fam)
    return {n: float(getattr(p, n)) for n in _BASE_NAMES}


def _fit_obj(fams: dict[str, dict[str, float]]) -> InferenceFit:
    return InferenceFit(**PRIORS, families=tuple(
        (k, v.get("compute_scale", 1.0), v.get("memory_scale", 1.0), v.get("dim_half", 0.0))
        for k, v in sorted(fams.items())),
        bases=tuple((k, *(_base(k)[n] for n in _BASE_NAMES)) for k in sorted(fams)))


def _loss(fams: dict[str, dict[str, float]], rows: list[int], meas: dict) -> float:
    f = _fit_obj(fams)
    err = 0.0
    for r in rows:
        y = _measured(meas[r], ROWS[r])
        p, _ = predict_row(r, fit=f)
        err += math.log(max(p, 1e-12) / y) ** 2
    return err


def fit() -> dict[str, dict[str, float]]:
    meas = measured_rows()
    fams: dict[str, dict[str, float]] = {}
    for fam, plan in PLAN.items():
        names: list[str] = list(plan["params"])  # type: ignore[arg-type]
        rows: list[int] = list(plan["rows"])  # type: ignore[arg-type]
        t0 = time.perf_counter()

        def unpack(x: np.ndarray, names: list[str] = names) -> dict[str, float]:
            out = {}
            for n, v in zip(names, x, strict=True):
                lo, hi = BOUNDS[n]
                out[n] = float(min(max(v, lo), hi))
            return out

        if len(names) == 1:
            lo, hi = BOUNDS[names[0]]
            res = minimize_scalar(lambda v, fam=fam, rows=rows, unpack=unpack: _loss({**fams, fam: unpack(np.array([v]))}, rows, meas),
                                  bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
            best = unpack(np.array([res.x]))
        else:
            x0 = np.array([{"compute_scale": 1.0, "memory_scale": 0.8, "dim_half": 128.0}[n] for n in names])
            res = minimize(lambda x, fam=fam, rows=rows, unpack=unpack: _loss({**fams, fam: unpack(x)}, rows, meas), x0,
                           method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxfev": 120})
            best = unpack(res.x)
        fams[fam] = {k: round(v, 4) for k, v in best.items()}
        print(f"{fam}: {fams[fam]} on rows {rows} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return fams


def main() -> int:
    fams = fit()
    rows = sorted({r for p in PLAN.values() for r in p["rows"]})  # type: ignore[attr-defined]
    doc = {
        "description": "Inference-specific parameters of rainier.perf.inference, fitted by scripts/fit_inference.py "
                       "on the rows in fitted_rows of perf/data/inference-measured.csv; all other usable rows are "
                       "held out (rainier validate inference). Scales multiply each family's training_base, the "
                       "training fit (perf/fits/efficiency.json) at the time of this fit.",
        "fitted_rows": rows,
        "params": {**PRIORS, "fitted": True},
        "priors": {"step_overhead_s": "per-iteration scheduling, sampling and launch (vLLM/TensorRT-LLM profiles)",
                   "layer_overhead_s": "kernel launch and sync per layer not hidden by graphs",
                   "hbm_usable_fraction": "framework reserve (vLLM gpu_memory_utilization 0.9)"},
        "families": {k: {**v, "rows": PLAN[k]["rows"], "training_base": _base(k)} for k, v in fams.items()},
    }
    OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    from rainier.perf.inference import load_inference_fit

    load_inference_fit.cache_clear()
    rep = validate_inference(fit=load_inference_fit())
    print(f"held-out MAPE {rep.mape:.1%} over {rep.held_out} rows; by family "
          + ", ".join(f"{k} {v:.1%}" for k, v in rep.mape_by_family.items())
          + f"; worst row {rep.worst_row} ({rep.max_abs_error:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
