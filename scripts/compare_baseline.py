"""rainier's training model against a fixed-efficiency model on the same published runs, fit rows and metrics.

The issue asks rainier to be measurably more accurate than the existing estimators; the ones it names (Calculon,
llm-analysis) cannot run here, but the simplest of them, llm-analysis, is a fixed efficiency: step time = model
FLOPs / (chips x peak x a constant). This script scores that model as a baseline, given every advantage rainier
has: one constant MFU per hardware family, fitted on exactly the rows rainier's efficiency is fitted on (the fit
rows of ``perf/fits/efficiency.json``), the same model FLOPs (PaLM: 6N + 12 L H Q T per token) and the same
peak (dense, at the run's GEMM precision), and each row converted into its source's metric the way
``rainier validate training`` converts rainier's own prediction. What differs is all of rainier's physics:
shape-dependent GEMM efficiency, attention kernels, memory-bound operations, exposed TP / CP / EP / PP / DP
communication over the topology, the pipeline bubble, recomputation, host-bound MoE layers.

The constant of a family is the geometric mean over its fit rows of the MFU that reproduces each row exactly
(least squares on log error); a family's held-out rows are then scored with it (the model is
``rainier.perf.validate_training.fixed_efficiency_baseline``, whose summary ``rainier validate training`` prints),
and so are the out-of-sample tables of ``check_foundry_table.py`` and ``check_nemo_tables.py``. This script adds
the per-family and out-of-sample tables. Run from the repository root::

    python scripts/compare_baseline.py
"""

from __future__ import annotations

import statistics
from typing import Any

from rainier.perf.validate_training import ADDED_ROWS, validate_training


def score() -> dict[str, Any]:
    """Held-out MAPE of rainier and of the baseline (``validate_training``'s ``baseline``): the reference table's
    rows, the added rows, both, per family."""
    rep = validate_training()
    base = rep.baseline
    out: dict[str, Any] = {"constants": base["constants"], "rows": []}
    for r in rep.rows:
        if r.id in base["errors_pct"]:
            out["rows"].append({"id": r.id, "family": r.family, "added": r.id in ADDED_ROWS, "model": r.model,
                                "rainier_err": r.error_pct, "baseline_err": base["errors_pct"][r.id]})

    def mape(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.mean(abs(r[key]) for r in rows)

    for name, sel in (("reference", lambda r: not r["added"]), ("added", lambda r: r["added"]),
                      ("all", lambda r: True)):
        rs = [r for r in out["rows"] if sel(r)]
        out[name] = {"rows": len(rs), "rainier": mape(rs, "rainier_err"), "baseline": mape(rs, "baseline_err"),
                     "rainier_within_25": sum(abs(r["rainier_err"]) <= 25 for r in rs),
                     "baseline_within_25": sum(abs(r["baseline_err"]) <= 25 for r in rs)}
    fams = sorted({r["family"] for r in out["rows"]})
    out["by_family"] = {f: {"rows": len(rs), "rainier": mape(rs, "rainier_err"), "baseline": mape(rs, "baseline_err")}
                        for f in fams for rs in [[r for r in out["rows"] if r["family"] == f]]}
    return out


def score_out_of_sample(consts: dict[str, float]) -> dict[str, dict[str, Any]]:
    """The same comparison on the published runs outside the validation set that are scored in a throughput
    metric: llm-foundry's MPT tables (MFU) and the NVIDIA tables of ``check_nemo_tables.py`` (tokens/s/GPU)."""
    import check_foundry_table
    import check_nemo_tables

    tables = {"llm-foundry bf16 tables": check_foundry_table.score(check_foundry_table.BF16_TABLES),
              "NVIDIA tables (check_nemo_tables)": [r for rows in check_nemo_tables.score().values() for r in rows]}
    out = {}
    for name, rows in tables.items():
        rs = [r for r in rows if "err" in r and r.get("family") in consts]
        base = [100.0 * (r["predicted"] * consts[r["family"]] / r["mfu"] / r["measured"] - 1.0) for r in rs]
        out[name] = {"rows": len(rs), "rainier": statistics.mean(abs(r["err"]) for r in rs),
                     "baseline": statistics.mean(abs(b) for b in base)}
    return out


def main() -> None:
    res = score()
    print("fixed-efficiency baseline: one MFU per family, fitted on rainier's fit rows")
    for f, c in sorted(res["constants"].items()):
        print(f"  {f:18s} MFU {100 * c:5.1f}%")
    print(f"{'held-out set':22s} {'rows':>4s} {'rainier':>8s} {'baseline':>9s}  within 25% (rainier / baseline)")
    for name in ("reference", "added", "all"):
        s = res[name]
        print(f"{name:22s} {s['rows']:4d} {s['rainier']:7.1f}% {s['baseline']:8.1f}%  "
              f"{s['rainier_within_25']} / {s['baseline_within_25']}")
    for f, s in res["by_family"].items():
        print(f"  {f:20s} {s['rows']:4d} {s['rainier']:7.1f}% {s['baseline']:8.1f}%")
    print("out of sample (nothing fitted on these; the baseline keeps the constants above):")
    for name, s in score_out_of_sample(res["constants"]).items():
        print(f"  {name:36s} {s['rows']:4d} {s['rainier']:7.1f}% {s['baseline']:8.1f}%")


if __name__ == "__main__":
    main()
