"""Every published serving run rainier is scored on outside its fit, summed up for ``rainier serve``.

``rainier serve`` states the error to expect of an estimate from the inference fit's held-out rows of the
validation table (``accuracy`` in ``perf/fits/inference.json``). Two scripts score published serving runs that
nothing is fitted on; this one runs them both with the shipped parameters and writes
``perf/fits/inference_out_of_sample.json``:

* ``scripts/check_mlperf_inference.py``: MLPerf Inference closed-division datacenter results for Llama-2-70B
  (Offline and Server scenarios, rounds v4.0 to v6.0, H100 to MI355X), the whole system's output tokens/s; the
  rounds that are validation rows are left out;
* ``scripts/check_trn2_inference.py``: AWS's two NxD Inference runs on one trn2.48xlarge (Llama-3.1-405B and
  Llama-3.3-70B, one request at a time, 10,000 input and 1,500 output tokens), scored as the request's output
  tokens/s: 1,500 / (TTFT + 1,499 x TPOT), from the published p50 latencies;
* ``scripts/check_trtllm_deepseek.py``: NVIDIA's three TensorRT-LLM max-throughput runs of DeepSeek-R1 on 8 B200 /
  H200 with data-parallel attention (1,024 in / 2,048 out, a closed loop at the stated concurrency), output tokens/s
  per GPU.

Each run's error is of the predicted throughput (positive: predicted faster than measured), as in
``scripts/score_out_of_sample.py`` for training. The file holds per family (the catalog ``family`` of the run's
chip), per model and per source the mean absolute error, bias, worst error and share within 25%, every run's
error (``runs_detail``) and a fingerprint of the fit files the estimates came from (``fits_sha256``: the test
suite checks that the shipped file was scored with the shipped fits, and re-scores a few runs). MLPerf's server
scenario searches the highest QPS that meets the latency limits: the whole run takes about two minutes. Run from
the repository root::

    python scripts/score_inference_out_of_sample.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rainier.catalog.loader import default_catalog  # noqa: E402
from rainier.io import atomic_write_text  # noqa: E402
from rainier.perf.compute import error_record  # noqa: E402

FITS = Path(__file__).resolve().parents[1] / "src" / "rainier" / "perf" / "fits"
OUT = FITS / "inference_out_of_sample.json"
FIT_FILES = ("efficiency.json", "inference.json")  # serving estimates use both (the GEMM and attention rates)
MLPERF = "MLPerf Inference Llama-2-70B (closed, datacenter), rounds outside the validation table"
TRN2 = "AWS NxD Inference on trn2.48xlarge (concurrency 1, 10,000 in / 1,500 out)"
TRTLLM_DS = "NVIDIA TensorRT-LLM DeepSeek-R1 max-throughput (8 GPUs, attention DP 8, EP 8, 1,024 in / 2,048 out)"


def fits_sha256() -> str:
    """One digest over the fit files the serving estimates read."""
    h = hashlib.sha256()
    for name in FIT_FILES:
        h.update(name.encode())
        h.update((FITS / name).read_bytes())
    return h.hexdigest()


def mlperf_runs(only: set[tuple[str, int, str, str]] | None = None) -> list[dict[str, Any]]:
    """Every MLPerf round that is not a validation row (``only``: the (chip, chips, precision, scenario) to run)."""
    import check_mlperf_inference as m

    out = []
    for chip, n, prec, scen, meas in m.RESULTS:
        if only is not None and (chip, n, prec, scen) not in only:
            continue
        rounds = {k: v for k, v in meas.items() if not k.endswith("*")}
        if not rounds:
            continue
        pred = m.predict(chip, n, prec, scen)
        for rnd, v in rounds.items():
            out.append({"source": MLPERF, "chip": chip, "model": "llama2-70b",
                        "run": f"{chip} x{n} {prec} {scen} {rnd}", "err": round(100.0 * (pred / v - 1.0), 2)})
    return out


def trn2_runs() -> list[dict[str, Any]]:
    import check_trn2_inference as t

    out = []
    for model, ttft, tpot in t.RUNS:
        p_ttft, p_tpot = t.predict(model)
        meas, pred = ttft + 1499 * tpot, p_ttft + 1499 * p_tpot  # one request's time for 1,500 output tokens
        out.append({"source": TRN2, "chip": "trn2", "model": model, "run": f"trn2 x16 bf16 {model} concurrency 1",
                    "err": round(100.0 * (meas / pred - 1.0), 2)})
    return out


def trtllm_deepseek_runs(only: set[str] | None = None) -> list[dict[str, Any]]:
    """NVIDIA's DeepSeek-R1 runs (``only``: the chips to run)."""
    import check_trtllm_deepseek as d

    out = []
    for chip, prec, kvd, conc, tok, meas in d.RUNS:
        if only is not None and chip not in only:
            continue
        pred = d.predict(chip, prec, kvd, conc, tok)
        out.append({"source": TRTLLM_DS, "chip": chip, "model": "deepseek-v3", "run": d.label(chip, prec, kvd, conc),
                    "err": round(100.0 * (pred / meas - 1.0), 2)})
    return out


def _summary(rs: list[dict[str, Any]], basis: str) -> dict[str, Any]:
    return error_record([float(r["err"]) for r in rs], basis)


def build_doc(every: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The file's content (see the module docstring)."""
    cat = default_catalog()
    every = (mlperf_runs() + trn2_runs() + trtllm_deepseek_runs()) if every is None else every
    for r in every:
        r["family"] = cat.accelerator(r["chip"]).family

    groups: dict[str, dict[str, list[dict[str, Any]]]] = {"family": defaultdict(list), "model": defaultdict(list),
                                                          "source": defaultdict(list)}
    for r in every:
        for g in groups:
            groups[g][r[g]].append(r)
    families = {f: _summary(rs, f"published serving runs on {f} outside the validation table "
                                f"({'; '.join(sorted({r['source'] for r in rs}))})")
                for f, rs in sorted(groups["family"].items())}
    models = {m: _summary(rs, f"published serving runs of {m} outside the validation table, on "
                              f"{', '.join(sorted({r['family'] for r in rs}))}")
              for m, rs in sorted(groups["model"].items())}
    sources = {s: _summary(rs, s) for s, rs in groups["source"].items()}
    return {"generated_by": "python scripts/score_inference_out_of_sample.py",
            "sign": "predicted throughput vs measured: positive = predicted faster than measured",
            "fits_sha256": fits_sha256(), "runs": len(every), "overall": _summary(every, "every out-of-sample run"),
            "families": families, "models": models, "sources": sources,
            "runs_detail": [{k: r[k] for k in ("run", "source", "chip", "model", "err")} for r in every]}


def main() -> None:
    doc = build_doc()
    atomic_write_text(OUT, json.dumps(doc, indent=2) + "\n")
    o = doc["overall"]
    print(f"{doc['runs']} out-of-sample serving runs: MAE {o['mape_pct']}%, bias {o['bias_pct']:+}%, "
          f"{o['within_25_pct']}% within 25%")
    for part in ("families", "models", "sources"):
        print()
        for name, v in doc[part].items():
            print(f"{name[:60]:60s} {v['rows']:4d} runs  MAE {v['mape_pct']:5.1f}%  bias {v['bias_pct']:+6.1f}%  "
                  f"worst {v['worst_pct']:+6.1f}%")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
