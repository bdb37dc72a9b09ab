"""Out-of-sample check of the training model on llm-foundry's whole MPT benchmark table.

``mosaicml/llm-foundry scripts/train/benchmarking/README.md`` publishes MPT throughput (125M to 70B, sequence
512 to 65,536, 8 to 128 GPUs) on H100 80GB (BF16 and FP8), A100 80GB and A100 40GB, all with FSDP
FULL_SHARD (ZeRO-3), every microbatch and gradient-accumulation count stated. Seven H100 BF16 rows are
validation rows 67-73 (two of them fit rows, 70 and 71); every other row is scored here and nothing is
fitted on them. The table's MFU is compared as the source defines it: ``3 (2 N s + 4 L d s^2)`` FLOPs per
sequence over the GPU's dense bf16 peak (989 TFLOP/s for H100, 312 for A100), N counting the learned
position embedding (``s x d``) of the benchmark's models.

Settings from the source (``submit_benchmarks.py``): attention ``attn_impl: triton`` (an Ampere-style
Triton flash-attention kernel: rainier's ``flash2`` class), ``limit_all_gathers``, non-reentrant activation
checkpointing (``full`` recomputation where the table says checkpointing, else none); ``MP Mode`` PURE
reduces gradients in bf16, DEFAULT in fp32.

Measured (2026-11-24): bf16 tables, 184 rows, MAE 8.3% (H100 8.5% over 45, A100 80GB 6.7% over 61, A100 40GB
9.5% over 78), bias +6.6%; 166 of 184 within 15%. The one configuration run on both H100 and A100 80GB that is
far off on both is MPT-30B at 8k on 8 GPUs with microbatch 1 (validation row 68: +34% on H100, +40% on A100),
while the same model at 4k (+14%, +7%) and 2k is close: a property of that run, not of the chip. The table's
own microbatch choices point at memory: on 8 GPUs its MPT-30B runs hold 6,144 tokens per microbatch at 512, 1k
and 2k (microbatch 12, 6, 3) and take microbatch 1 at 4k (8,192 tokens would be microbatch 2), so the 8k run's
8,192 tokens per microbatch are more than the source fit at any shorter length: it runs past the memory the
other runs stop at (allocator retries), where rainier's memory model, which puts 6,144 and 8,192 tokens at 69
and 72 GB of 80.6 GB usable, sees no limit. The FP8 table is missed by +92..+178%: those
2023 runs are slower than the same models in bf16 (e.g. 3B at 2k: 27.7% vs 42-44% MFU), which no
FLOP or byte count explains. Run from the repository root::

    python scripts/check_foundry_table.py [--by size|seq|gpus|memory]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from dataclasses import replace
from typing import Any

from rainier.catalog.loader import default_catalog
from rainier.catalog.params import param_counts
from rainier.errors import RainierError
from rainier.perf.training import Options, estimate_training

# table, model, seq, GPUs, MFU %, microbatch, grad accum, global batch, checkpointing (T/F), MP mode (D/P)
H100_BF16 = """
70b 2048 64 42.57 8 4 2048 T D
70b 2048 32 36.15 2 16 1024 T D
30b 8192 8 29.92 1 21 168 T D v68
30b 4096 8 35.86 1 21 168 T D
30b 2048 32 43.92 14 3 1344 T D v67
30b 2048 16 43.07 10 3 480 T D
30b 2048 8 38.11 3 21 504 T D
30b 1024 8 38.76 6 21 1008 T D
13b 32768 8 31.68 1 3 24 T D
13b 16384 8 35.55 3 3 72 T D
13b 4096 8 41.6 10 3 240 T D
13b 2048 64 39.86 2 1 128 F D
13b 2048 32 39.95 2 1 64 F D
13b 2048 16 39.58 2 1 32 F D
13b 2048 8 39.79 2 1 16 F D
13b 1024 8 44.27 40 3 960 T D
7b 65536 8 28.59 1 2 16 T D v70
7b 32768 8 30.94 2 2 32 T D
7b 8192 8 37.14 8 2 128 T D
7b 4096 8 40.42 16 2 256 T D
7b 2048 8 46.44 6 1 48 F D v69
7b 1024 8 42.83 64 2 1024 T D
3b 65536 8 26.81 1 2 16 T D
3b 32768 8 28.84 3 6 144 T D
3b 16384 8 36.34 1 6 48 F D
3b 8192 8 40.31 3 6 144 F D
3b 4096 8 42.31 5 6 240 F D
3b 2048 64 40.8 6 3 1152 F D v71
3b 2048 32 41.7 6 3 576 F D
3b 2048 16 43.73 10 3 480 F D
3b 1024 8 46.2 20 6 960 F D
3b 512 8 46.32 40 6 1920 F D
1b 65536 8 26.34 1 2 16 T D
1b 32768 8 33.54 1 4 32 F D
1b 16384 8 35.22 2 4 64 F D
1b 8192 8 37.73 3 4 96 F D
1b 4096 8 40.26 7 4 224 F D
1b 2048 64 40.85 20 1 1280 F D v72
1b 2048 32 41.52 20 1 640 F D
1b 2048 16 42.36 20 1 320 F D
1b 2048 8 41.82 14 1 112 F D
1b 1024 8 41.95 18 4 576 F D
1b 512 8 43.21 56 4 1792 F D
760m 32768 8 31.84 1 2 16 F D
760m 16384 8 33.57 3 2 48 F D
760m 8192 8 34.84 6 2 96 F D
760m 4096 8 35.83 12 2 192 F D
760m 2048 32 37.57 24 1 768 F D v73
760m 2048 16 37.89 24 1 384 F D
760m 2048 8 34.9 24 2 384 F D
760m 1024 8 39.76 48 2 768 F D
760m 512 8 40.42 96 2 1536 F D
"""

H100_FP8 = """
3b 32768 8 14.38 3 6 144 T D
3b 8192 8 23.28 3 6 144 F D
3b 2048 8 27.7 10 6 480 F D
3b 512 8 30.25 40 6 1920 F D
1b 32768 8 17.55 1 4 32 F D
1b 8192 8 20.71 2 4 64 F D
1b 512 8 29.06 56 4 1792 F D
350m 32768 8 14.8 1 4 32 F D
350m 16384 8 15.31 2 4 64 F D
350m 512 8 17.77 56 4 1792 F D
"""

A100_80 = """
70b 2048 64 53.33 8 4 2048 T P
70b 2048 32 48.56 2 16 1024 T P
30b 8192 8 39.38 1 21 168 T D
30b 4096 8 51.37 1 21 168 T D
30b 2048 8 55.3 3 21 504 T D
30b 1024 8 55.82 6 21 1008 T D
30b 512 8 56.4 12 21 2016 T D
13b 32768 8 51.69 1 3 24 T D
13b 16384 8 54.07 3 3 72 T D
13b 8192 8 56.07 5 3 120 T D
13b 4096 8 57.62 10 3 240 T D
13b 2048 8 59.57 2 3 48 F D
13b 1024 8 59.48 40 3 960 T D
7b 65536 8 46.97 1 2 16 T D
7b 32768 8 49.46 2 2 32 T D
7b 16384 8 51.96 4 2 64 T D
7b 8192 8 54.47 8 2 128 T D
7b 4096 8 54.84 16 2 256 T D
7b 2048 8 64.23 6 2 96 F D
7b 1024 8 58.01 64 2 1024 T D
3b 65536 8 46.05 1 2 16 T D
3b 32768 8 47.18 3 6 144 T D
3b 16384 8 57.13 1 6 48 F D
3b 8192 8 59.34 3 6 144 F D
3b 4096 8 60.53 5 6 240 F D
3b 2048 8 62.11 10 2 160 F D
3b 1024 8 62.73 20 6 960 F D
3b 512 8 63.71 40 6 1920 F D
1b 65536 8 46.18 1 2 16 T D
1b 32768 8 55.52 1 4 32 F D
1b 16384 8 56.6 2 4 64 F D
1b 8192 8 56.69 3 4 96 F D
1b 4096 8 59.0 7 4 224 F D
1b 2048 8 59.86 14 4 448 F D
1b 1024 8 60.15 18 4 576 F D
1b 512 8 60.68 56 4 1792 F D
760m 65536 8 45.34 1 2 16 T D
760m 32768 8 54.57 1 2 16 F D
760m 16384 8 54.64 3 2 48 F D
760m 8192 8 55.31 6 2 96 F D
760m 4096 8 56.05 12 2 192 F D
760m 2048 8 56.85 24 2 384 F D
760m 1024 8 47.76 48 2 768 F D
760m 512 8 45.07 96 2 1536 F D
350m 65536 8 52.7 1 2 16 F D
350m 32768 8 52.46 2 2 32 F D
350m 16384 8 53.28 4 2 64 F D
350m 8192 8 53.8 8 2 128 F D
350m 4096 8 53.31 16 2 256 F D
350m 2048 8 51.62 32 2 512 F D
350m 1024 8 50.51 64 2 1024 F D
350m 512 8 50.61 128 2 2048 F D
125m 65536 8 54.13 1 2 16 F D
125m 32768 8 52.71 2 2 32 F D
125m 16384 8 50.61 4 2 64 F D
125m 8192 8 48.85 8 2 128 F D
125m 4096 8 46.08 16 2 256 F D
125m 2048 8 44.79 40 2 640 F D
125m 2048 8 44.45 32 2 512 F D
125m 1024 8 43.15 64 2 1024 F D
125m 512 8 42.56 128 2 2048 F D
"""

A100_40 = """
70b 2048 128 48.91 4 1 512 T P
70b 2048 64 35.87 2 1 128 T P
30b 2048 128 52.25 6 1 768 T P
30b 2048 32 51.74 4 1 128 T P
13b 8192 8 43.95 1 16 128 T P
13b 4096 8 44.85 2 16 256 T P
13b 2048 128 51.93 16 1 2048 T P
13b 2048 64 52.04 16 1 1024 T P
13b 2048 32 52.62 14 1 448 T P
13b 2048 16 52.5 10 1 160 T P
13b 2048 8 43.94 4 16 512 T P
13b 1024 8 44.07 8 16 1024 T P
13b 512 8 44.28 16 16 2048 T P
7b 16384 8 47.65 1 4 32 T P
7b 8192 8 49.04 3 4 96 T P
7b 4096 8 50.11 6 4 192 T P
7b 2048 128 50.14 18 1 2304 T P
7b 2048 64 50.73 18 1 1152 T P
7b 2048 32 51.55 18 1 576 T P
7b 2048 16 50.44 16 1 256 T P
7b 2048 8 50.92 12 4 384 T P
7b 1024 8 51.31 24 4 768 T P
7b 512 8 50.85 48 4 1536 T P
3b 32768 8 46.03 1 4 32 T P
3b 16384 8 46.14 2 8 128 T P
3b 8192 8 55.13 1 8 64 F P
3b 4096 8 56.18 2 8 128 F P
3b 2048 128 54.8 6 1 768 F P
3b 2048 64 55.94 6 1 384 F P
3b 2048 32 56.96 6 1 192 F P
3b 2048 16 56.02 5 1 80 F P
3b 2048 8 57.82 5 8 320 F P
3b 1024 8 58.14 10 8 640 F P
3b 512 8 59.49 20 8 1280 F P
1b 32768 8 45.07 1 4 32 T P
1b 16384 8 55.23 1 8 64 F P
1b 8192 8 55.29 2 8 128 F P
1b 4096 8 55.85 4 8 256 F P
1b 2048 128 54.41 10 1 1280 F P
1b 2048 64 55.44 10 1 640 F P
1b 2048 32 45.39 10 1 320 F P
1b 2048 16 55.69 8 1 128 F P
1b 2048 8 56.23 8 8 512 F P
1b 1024 8 57.02 16 8 1024 F P
1b 512 8 57.1 32 8 2048 F P
760m 32768 8 44.53 1 4 32 T P
760m 16384 8 53.26 1 4 32 F P
760m 8192 8 53.12 3 4 96 F P
760m 4096 8 53.0 6 4 192 F P
760m 2048 128 50.73 12 1 1536 F P
760m 2048 64 51.44 12 1 768 F P
760m 2048 32 51.97 12 1 384 F P
760m 2048 16 51.9 12 1 192 F P
760m 2048 8 52.89 12 4 384 F P
760m 1024 8 53.63 24 4 768 F P
760m 512 8 53.47 48 4 1536 F P
350m 32768 8 51.55 1 4 32 F P
350m 16384 8 51.78 2 4 64 F P
350m 8192 8 51.39 4 4 128 F P
350m 4096 8 50.38 8 4 256 F P
350m 2048 128 45.61 18 1 2304 F P
350m 2048 64 46.27 18 1 1152 F P
350m 2048 32 47.26 18 1 576 F P
350m 2048 16 48.66 18 1 288 F P
350m 2048 8 49.17 16 4 512 F P
350m 1024 8 48.73 32 4 1024 F P
350m 512 8 48.39 64 4 2048 F P
125m 32768 8 47.27 1 4 32 F P
125m 16384 8 46.77 2 3 48 F P
125m 8192 8 46.94 5 3 120 F P
125m 4096 8 44.82 13 3 312 F P
125m 2048 128 38.86 26 1 3328 F P
125m 2048 64 39.27 26 1 1664 F P
125m 2048 32 39.86 26 1 832 F P
125m 2048 16 40.93 26 1 416 F P
125m 2048 8 42.75 26 3 624 F P
125m 1024 8 40.89 52 3 1248 F P
125m 512 8 40.26 104 3 2496 F P
"""

TABLES = {  # name: (rows, chip, precision, dense bf16 peak TFLOP/s used by the table's MFU)
    "H100 80GB BF16": (H100_BF16, "h100", "bf16", 989.0),
    "H100 80GB FP8": (H100_FP8, "h100", "fp8", 989.0),
    "A100 80GB": (A100_80, "a100", "bf16", 312.0),
    "A100 40GB": (A100_40, "a100-40gb", "bf16", 312.0),
}


def _chip(name: str, cat):  # noqa: ANN001
    """A catalog chip; the A100 40GB runs in DGX A100 nodes (8 x 200 Gb/s InfiniBand), as the 80 GB part here,
    not in its default AWS p4d (the source does not name its clusters)."""
    if name == "a100-40gb":
        return cat.accelerator(name), cat.system("dgx-a100").model_copy(update={"accelerator": "a100-40gb"})
    return cat.accelerator(name), None


def run_row(line: str, chip: str, precision: str, peak: float, cat) -> dict[str, Any]:  # noqa: ANN001
    size, seq, g, mfu, mb, _acc, gbs, ckpt, mp, *tag = line.split()
    model = cat.model(f"mpt-{size}")
    acc, system = _chip(chip, cat)
    seq_i, g_i, gbs_i = int(seq), int(g), int(gbs)
    par = {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "vp": 1, "dp": g_i, "micro_batch": int(mb), "zero": 3,
           "recompute": "full" if ckpt == "T" else "none"}
    opt = Options(attention_kernel="flash2", grad_dtype="bf16" if mp == "P" else "fp32")
    out: dict[str, Any] = {"size": size, "seq": seq_i, "gpus": g_i, "measured": float(mfu), "tag": tag[0] if tag else "",
           "mb": int(mb), "ckpt": ckpt}
    kw: dict[str, Any] = dict(seq=seq_i, global_batch=gbs_i, parallelism=par, precision=precision, system=system)
    try:
        r = estimate_training(model, acc, g_i, options=opt, **kw)
        out["fits"] = True
    except RainierError as exc:
        if "memory" not in str(exc):
            out["error"] = str(exc)
            return out
        # the run happened: score it with the memory check off, and say it does not fit rainier's memory model
        r = estimate_training(model, acc, g_i, options=replace(opt, check_memory=False), **kw)
        out["fits"] = False
    n = param_counts(model).total + seq_i * model.hidden  # the benchmark's models learn position embeddings
    per_seq = 3.0 * (2.0 * n * seq_i + 4.0 * model.layers * model.hidden * seq_i ** 2)
    pred = 100.0 * per_seq * gbs_i / r.step_time_s / g_i / (peak * 1e12)
    out["predicted"] = pred
    out["err"] = 100.0 * (pred / float(mfu) - 1.0)
    out["mem_frac"] = r.memory_gb_per_chip * 1e9 / acc.hbm_bytes
    out["mfu"], out["family"] = r.mfu, acc.family  # for scripts/compare_baseline.py
    return out


def run_table(title: str, cat: Any) -> list[dict[str, Any]]:
    """Every row of one table (validation rows tagged ``v<id>``), with ``table`` set."""
    rows, chip, prec, peak = TABLES[title]
    return [{**run_row(line, chip, prec, peak, cat), "table": title} for line in rows.strip().splitlines()]


def _scored(res: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in res if "err" in r and not r["tag"]]


def score(tables: tuple[str, ...] = tuple(TABLES)) -> list[dict[str, Any]]:
    """Every scored row (validation rows excluded) of the named tables, with ``table`` and ``err`` set."""
    cat = default_catalog()
    return [r for title in tables for r in _scored(run_table(title, cat))]


BF16_TABLES = ("H100 80GB BF16", "A100 80GB", "A100 40GB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--by", choices=["size", "seq", "gpus", "memory", "ckpt"], default=None)
    ap.add_argument("--rows", action="store_true", help="print every row")
    args = ap.parse_args()
    cat = default_catalog()
    every: list[dict] = []
    for title in TABLES:
        res = run_table(title, cat)
        scored = _scored(res)
        every += scored
        errs = [r["err"] for r in scored]
        print(f"{title:16s} rows {len(scored):3d}  MAE {statistics.fmean(abs(e) for e in errs):5.1f}%  "
              f"bias {statistics.fmean(errs):+5.1f}%  within 15%: {sum(abs(e) <= 15 for e in errs)}/{len(errs)}  "
              f"worst {max(errs, key=abs):+.1f}%")
        if args.rows:
            for r in res:
                if "err" in r:
                    print(f"   {r['size']:>5s} s{r['seq']:<6d} g{r['gpus']:<4d} mb{r['mb']:<4d} ck {r['ckpt']} "
                          f"mem {r['mem_frac']:.2f}{'' if r['fits'] else ' (misfit)'}  meas {r['measured']:6.2f}  "
                          f"pred {r['predicted']:6.2f}  {r['err']:+6.1f}% {r['tag']}")
                else:
                    print(f"   {r['size']:>5s} s{r['seq']:<6d} g{r['gpus']:<4d}  not reproducible: {r['error']}")
    errs = [r["err"] for r in every if r["table"] in BF16_TABLES]
    print(f"{'BF16 tables':16s} rows {len(errs):3d}  MAE {statistics.fmean(abs(e) for e in errs):5.1f}%  "
          f"bias {statistics.fmean(errs):+5.1f}%")
    if args.by:
        groups: dict = defaultdict(list)
        for r in every:
            key = {"size": r["size"], "seq": r["seq"], "gpus": r["gpus"], "ckpt": r["ckpt"],
                   "memory": min(9, int(r["mem_frac"] * 10)) / 10}[args.by]
            groups[(r["table"], key)].append(r["err"])
        for (t, k), es in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            print(f"  {t:16s} {args.by}={k!s:8s} n={len(es):3d}  bias {statistics.fmean(es):+6.1f}%  "
                  f"MAE {statistics.fmean(abs(e) for e in es):5.1f}%")


if __name__ == "__main__":
    main()
