"""Fit the inference-specific parameters of rainier.perf.inference on a few measured rows.

Writes ``src/rainier/perf/fits/inference.json``. Run it after ``scripts/fit_efficiency.py`` (the
training fit of rainier.perf.compute), since the inference scales are relative to that fit::

    python scripts/fit_inference.py                       # fit, write, print the validation summary
    python scripts/fit_inference.py --keep-training-base  # refit the scales on the training bases the
                                                          # shipped file records (after a serving or
                                                          # collective model change)

What is fitted, and on which rows of perf/data/inference-measured.csv (every other usable row is held
out and scored by ``rainier validate inference``) follows a rule declared before fitting (revision 3,
2026-11-23; :data:`FIT_RULE`, implemented by :func:`select_fit_rows`, recorded in inference.json):

* candidates: usable rows (``validate_inference.ROWS``) with a throughput metric, lengths stated by the
  source (a row whose note says a length is assumed is never a candidate) and a certainty that is not
  unverified or uncertain; certainty ranks measured-primary > measured-vendor >
  measured-vendor-preliminary > measured-user > measured-vendor-old > measured-secondary;
* per hardware family at most two rows: (a) the highest-certainty offline row at a batch above 8
  (ties: lowest id); (b) the highest-certainty memory-bound row (the source's batch <= 8) if the family
  has one, else the next offline row by the same order;
* no server row (at most one is allowed overall: the measured-primary server rows are latencies at a
  submitted rate, and no parameter is specific to the server scenario);
* a family is fitted only if at least twice as many of its usable rows stay held out;
* free: ``compute_scale`` per fitted family; ``memory_scale`` only where pick (b) is memory-bound;
  ``dim_half`` is never free here (the training fit's value).
* revision 3 (after AMD took NVIDIA's tile scale as its prior, which makes hipBLASLt-style padded
  tiles compute-bound at batch 1): "memory-bound" is the model's verdict, not the source batch's.
  compute_scale is first fitted on pick (a) alone; if at that value 10% more HBM bandwidth speeds pick
  (b) up by less than 5%, (b) does not identify memory_scale: it stays at its prior (1) and
  compute_scale is fitted on both rows. Revision 2 let such a parameter drift to its bound.

Each fitted family also records ``training_base``, the training fit (perf/fits/efficiency.json) it was
fitted on top of, so a later training refit does not move inference predictions until this script is
re-run. The per-step and per-layer overheads are priors, not fitted (2 ms per iteration for scheduling,
sampling and launch as in vLLM / TensorRT-LLM iteration profiles; 10 us per layer of kernel launch).

Loss: sum of squared log errors over a family's fitted rows (Nelder-Mead, bounded by clipping).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from rainier.io import atomic_write_text
from rainier.perf.compute import accuracy_summary, efficiency_params
from rainier.perf.inference import _BASE_NAMES, InferenceFit
from rainier.perf.validate_inference import (
    _FAMILY,
    ROWS,
    _measured,
    measured_rows,
    predict_row,
    validate_inference,
)

OUT = Path(__file__).resolve().parents[1] / "src" / "rainier" / "perf" / "fits" / "inference.json"

FIT_RULE = (
    "declared before fitting (revision 3): candidates are usable rows with a throughput metric, lengths stated by "
    "the source (never assumed) and certainty not unverified/uncertain, ranked measured-primary > measured-vendor > "
    "measured-vendor-preliminary > measured-user > measured-vendor-old > measured-secondary. Per hardware family at "
    "most two: (a) the highest-certainty offline row at batch > 8 (ties: lowest id); (b) the highest-certainty "
    "memory-bound row (source batch <= 8) if any, else the next offline row. No server row. A family is fitted only "
    "if at least twice as many of its usable rows stay held out. Free: compute_scale per fitted family; memory_scale "
    "where (b) is memory-bound; dim_half never (training fit's). Revision 3: (b) counts as memory-bound only if, "
    "at the compute_scale fitted on (a) alone, 10% more HBM bandwidth speeds its prediction up by more than 5%; "
    "otherwise memory_scale stays at its prior and compute_scale is fitted on both rows."
)
_RANK = ("measured-primary", "measured-vendor", "measured-vendor-preliminary", "measured-user", "measured-vendor-old",
         "measured-secondary")
_THROUGHPUT = ("output_tokens_per_s", "per_chip")


def select_fit_rows(meas: dict | None = None) -> dict[str, dict[str, object]]:
    """Apply :data:`FIT_RULE`: family -> {"rows": [...], "params": [...]} (families left unfitted omitted)."""
    meas = meas or measured_rows()

    def rank(r: int) -> int:
        c = meas[r]["certainty"].strip()
        return _RANK.index(c) if c in _RANK else len(_RANK)

    fam_rows: dict[str, list[int]] = {}
    for r in ROWS:
        fam_rows.setdefault(_FAMILY.get(ROWS[r]["chip"], "other"), []).append(r)
    plan: dict[str, dict[str, object]] = {}
    for fam, rows in sorted(fam_rows.items()):
        cands = [r for r in rows if ROWS[r]["metric"] in _THROUGHPUT and rank(r) < len(_RANK)
                 and "assum" not in ROWS[r].get("note", "").lower() and ROWS[r].get("offline")]
        cands.sort(key=lambda r: (rank(r), r))
        big = [r for r in cands if ROWS[r].get("max_batch", 10**9) > 8]
        small = [r for r in cands if ROWS[r].get("max_batch", 10**9) <= 8]
        if not big:
            continue
        picks, params = [big[0]], ["compute_scale"]
        if small:
            picks.append(small[0])
            params.append("memory_scale")
        elif len(big) > 1:
            picks.append(big[1])
        while picks and len(rows) - len(picks) < 2 * len(picks):
            picks.pop()
            if params[-1] == "memory_scale":
                params.pop()
        if picks:
            plan[fam] = {"rows": picks, "params": params}
    return plan


BOUNDS = {"compute_scale": (0.3, 1.6), "memory_scale": (0.4, 1.2)}
PRIORS = {"step_overhead_s": 2.0e-3, "layer_overhead_s": 10e-6, "hbm_usable_fraction": 0.90}


# --keep-training-base: the training bases recorded in the shipped inference.json (family -> values), so that a
# refit of the inference scales (after a change to the serving or collective model) does not also take in a
# later training refit; without it, the training fit of now
KEPT_BASES: dict[str, dict[str, float]] = {}


def _base(fam: str) -> dict[str, float]:
    """The training fit (rainier.perf.compute) the inference scales multiply: the kept one (--keep-training-base)
    where the shipped file records it, else the family's training fit now."""
    if fam in KEPT_BASES:
        return dict(KEPT_BASES[fam])
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


def memory_bound_in_model(fam: str, rows: list[int], fams: dict[str, dict[str, float]], meas: dict) -> bool:
    """Rule revision 3: is pick (b) memory-bound in the model? compute_scale is first fitted on pick (a)
    alone; at that value, 10% more HBM bandwidth must speed (b) up by more than half that (5%).
    Otherwise (b) does not identify memory_scale, which stays at its prior, and compute_scale is
    fitted on both rows."""
    lo, hi = BOUNDS["compute_scale"]
    res = minimize_scalar(lambda v: _loss({**fams, fam: {"compute_scale": v}}, rows[:1], meas),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    c = float(res.x)
    p0, _ = predict_row(rows[-1], fit=_fit_obj({**fams, fam: {"compute_scale": c, "memory_scale": 1.0}}))
    p1, _ = predict_row(rows[-1], fit=_fit_obj({**fams, fam: {"compute_scale": c, "memory_scale": 1.1}}))
    return bool(p1 / p0 - 1.0 > 0.05)


def fit(plan_all: dict[str, dict[str, object]]) -> dict[str, dict[str, float]]:
    meas = measured_rows()
    fams: dict[str, dict[str, float]] = {}
    for fam, plan in plan_all.items():
        names: list[str] = list(plan["params"])  # type: ignore[arg-type]
        rows: list[int] = list(plan["rows"])  # type: ignore[arg-type]
        t0 = time.perf_counter()
        if "memory_scale" in names and not memory_bound_in_model(fam, rows, fams, meas):
            names.remove("memory_scale")
            plan["params"] = names
            print(f"{fam}: row {rows[-1]} is not memory-bound in the model; memory_scale stays at its prior",
                  file=sys.stderr)

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
            x0 = np.array([{"compute_scale": 1.0, "memory_scale": 0.8}[n] for n in names])
            res = minimize(lambda x, fam=fam, rows=rows, unpack=unpack: _loss({**fams, fam: unpack(x)}, rows, meas), x0,
                           method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxfev": 120})
            best = unpack(res.x)
        fams[fam] = {k: round(v, 4) for k, v in best.items()}
        print(f"{fam}: {fams[fam]} on rows {rows} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return fams


# metrics where a larger value means a slower deployment (a latency): their error's sign flips
LATENCY_METRICS = ("ttft_p50", "tpot_p50")


def heldout_accuracy(rep: object) -> dict[str, dict[str, object]]:
    """Per family, the error on the held-out rows with the scales just fitted: what ``rainier serve`` reports as
    the accuracy to expect (``ServingResult.accuracy``). MAPE as ``validate inference`` scores it; bias and worst
    are of the predicted performance (a latency's error inverted; negative: predicted slower than measured);
    ``default`` holds every family's rows for families without their own."""
    held = [r for r in rep.rows if not r.fitted]  # type: ignore[attr-defined]

    def perf_err(r: object) -> float:
        e = float(r.error)  # type: ignore[attr-defined]
        return 100.0 * (1.0 / (1.0 + e) - 1.0) if r.metric in LATENCY_METRICS else 100.0 * e  # type: ignore[attr-defined]

    def stats(rows: list, basis: str) -> dict[str, object]:
        return accuracy_summary([100.0 * abs(r.error) for r in rows], [perf_err(r) for r in rows], basis)

    out = {f: stats([r for r in held if r.family == f], f"held-out published runs on {f}")
           for f in sorted({r.family for r in held})}
    out["default"] = stats(held, "every held-out published run")
    return out


def main() -> int:
    if "--keep-training-base" in sys.argv[1:]:
        shipped = json.loads(OUT.read_text(encoding="utf-8"))
        KEPT_BASES.update({f: {n: float(v["training_base"][n]) for n in _BASE_NAMES}
                           for f, v in shipped.get("families", {}).items() if "training_base" in v})
        print(f"keeping the training bases of {sorted(KEPT_BASES)}", file=sys.stderr)
    plan = select_fit_rows()
    print(f"fit rule picks: {plan}", file=sys.stderr)
    fams = fit(plan)
    rows = sorted({r for p in plan.values() for r in p["rows"]})  # type: ignore[attr-defined]
    doc = {
        "description": "Inference-specific parameters of rainier.perf.inference, fitted by scripts/fit_inference.py "
                       "on the rows in fitted_rows of perf/data/inference-measured.csv; all other usable rows are "
                       "held out (rainier validate inference). Scales multiply each family's training_base, the "
                       "training fit (perf/fits/efficiency.json) at the time of this fit.",
        "fit_rule": FIT_RULE,
        "fitted_rows": rows,
        "params": {**PRIORS, "fitted": True},
        "priors": {"step_overhead_s": "per-iteration scheduling, sampling and launch (vLLM/TensorRT-LLM profiles)",
                   "layer_overhead_s": "kernel launch and sync per layer not hidden by graphs",
                   "hbm_usable_fraction": "framework reserve (vLLM gpu_memory_utilization 0.9)"},
        "families": {k: {**v, "rows": plan[k]["rows"], "free": plan[k]["params"], "training_base": _base(k)}
                     for k, v in fams.items()},
    }
    # score the held-out rows with the fit exactly as load_inference_fit will read it back, then write once
    rep = validate_inference(fit=replace(_fit_obj(fams), fitted=True, fitted_rows=tuple(rows)))
    doc["accuracy"] = heldout_accuracy(rep)
    atomic_write_text(OUT, json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)
    print(f"held-out MAPE {rep.mape:.1%} over {rep.held_out} rows; by family "
          + ", ".join(f"{k} {v:.1%}" for k, v in rep.mape_by_family.items())
          + f"; worst row {rep.worst_row} ({rep.max_abs_error:.1%})")
    print("the serving out-of-sample scores depend on these values: now run "
          "python scripts/score_inference_out_of_sample.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
