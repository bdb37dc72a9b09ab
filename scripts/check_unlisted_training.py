"""Out-of-sample check of the training model on published runs that are NOT in the validation table.

Two tables of NVIDIA-NeMo/Megatron-Bridge ``docs/performance-summary.md`` (pre-training, tokens/s/GPU as
published); nothing is fitted on them:

* ``ROWS_2511``: the "25.11 NeMo Container" rows that are not validation rows 48-61, printed with the model's
  error with and without the host issue-rate bound of MoE layers (``Options(host_overhead=...)``);
* ``ROWS_2602``: the final "26.02 NeMo Container" table (as kept in ``docs/performance-summary-archive.md``,
  e.g. commit 0a25f911b2ed6c6905a539504fdb8e5b40e3438b), every BF16 / FP8 / MXFP8 row (MXFP8 run as fp8;
  NVFP4 rows skipped: FP4 training is not modelled). Where EP exceeds DP (Qwen3-235B on H100: TP 2, EP 32)
  the table's layout can only be Megatron-Core's MoE parallel folding, run as ``etp = 1``.

Recompute and ZeRO stage are searched (the tables do not state them), as in ``rainier validate training``;
gradients in bf16, as the source's performance scripts set (``grad_reduce_in_fp32 = False``); FSDP as
ZeRO-3. Run from the repository root::

    python scripts/check_unlisted_training.py
"""

from __future__ import annotations

from typing import Any

from rainier.errors import RainierError
from rainier.perf.training import Options, TrainingResult, estimate_training

# system chip, model, GPUs, precision, global batch, micro batch, seq, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU
ROWS_2511 = """
gb300 gpt-oss-120b    64  bf16 1280 2 8192 0 1 1 1 1 64 18347
b200  gpt-oss-120b    64  bf16 512  4 4096 0 1 1 1 1 8  8213
gb300 deepseek-v3     256 fp8  4096 1 4096 0 1 2 1 4 32 4357
gb200 qwen3-235b-a22b 256 bf16 8192 1 4096 0 1 8 1 3 32 4916
b200  qwen3-235b-a22b 64  fp8  1024 1 4096 0 1 8 1 2 8  3269
gb300 llama3.1-405b   256 fp8  1536 1 8192 0 2 8 2 4 1  999
gb200 llama3.1-405b   256 fp8  1536 1 8192 0 4 16 1 4 1 813
b200  llama3.1-405b   128 fp8  64   1 8192 0 4 8 2 8 1  661
h100  llama3.1-405b   1024 fp8 512  1 8192 0 8 8 2 8 1  292
gb300 qwen3-30b-a3b   8   fp8  512  4 4096 0 1 1 1 1 8  28934
gb200 qwen3-30b-a3b   8   fp8  512  4 4096 0 1 1 1 1 8  23766
b200  qwen3-30b-a3b   8   fp8  512  1 4096 0 1 1 1 1 8  9299
h100  qwen3-30b-a3b   16  fp8  512  2 4096 0 1 2 1 24 8 5275
"""

ROWS_2602 = """
gb300  llama3-70b         64 fp8   256 1 8192 0 1  4 1 5  1 4596
gb200  llama3-70b         64 fp8   256 1 8192 0 2  4 1 5  1 3613
gb300  llama3-70b         64 fp8   256 2 8192 1 1  1 1 1  1 5003
gb200  llama3-70b         64 fp8   256 2 8192 1 1  1 1 1  1 4040
h100   llama3-70b         64 fp8   256 1 8192 0 4  8 1 5  1 1621
gb300  llama3.1-405b     256 fp8  1536 1 8192 0 2  8 2 4  1 931
gb200  llama3.1-405b     256 fp8  1536 1 8192 0 4 16 1 8  1 786
gb300  llama3.1-405b     256 fp8  1536 1 8192 0 4  8 1 4  1 988
gb200  llama3.1-405b     256 fp8  1536 1 8192 0 4 16 1 4  1 793
h100   llama3.1-405b    1024 fp8  1536 1 8192 0 8  8 2 8  1 311
gb300  deepseek-v3       256 fp8  4096 2 4096 0 1  2 1 8 32 4612
gb200  deepseek-v3       256 fp8  4096 1 4096 0 1  4 1 4 64 3955
b300   deepseek-v3       256 fp8  4096 1 4096 0 1 16 1 1  8 2983
b200   deepseek-v3       256 fp8  4096 1 4096 0 1 16 1 1  8 2689
gb300  gpt-oss-120b       64 bf16 1280 4 4096 0 1  1 1 1 64 19412
gb200  gpt-oss-120b       64 bf16 1280 4 4096 0 1  1 1 1 64 15784
b300   gpt-oss-120b       64 bf16 1280 4 4096 0 1  1 1 1 64 8359
b200   gpt-oss-120b       64 bf16 1280 4 4096 0 1  1 1 1 64 8047
h100   gpt-oss-120b       64 bf16 1280 1 4096 0 1  4 1 1  8 5993
gb300  qwen3-30b-a3b       8 fp8   512 8 4096 0 1  1 1 1  8 30376
gb200  qwen3-30b-a3b       8 fp8   512 4 4096 0 1  1 1 1  8 26084
b300   qwen3-30b-a3b       8 fp8   512 8 4096 0 1  1 1 1  8 29521
b200   qwen3-30b-a3b       8 fp8   512 1 4096 0 1  1 1 1  8 9691
h100   qwen3-30b-a3b      16 fp8  1024 1 4096 0 1  2 1 12  8 5113
gb300  qwen3-235b-a22b   256 fp8  8192 2 4096 0 1  4 1 1 32 6583
gb200  qwen3-235b-a22b   256 fp8  8192 1 4096 0 1  8 1 1 32 5448
b300   qwen3-235b-a22b   256 fp8  8192 1 4096 0 1  8 1 4  8 2691
b200   qwen3-235b-a22b   256 fp8  8192 1 4096 0 1  8 1 1  8 3805
h100   qwen3-235b-a22b   256 fp8  8192 1 4096 0 2  8 1 4 32 1633
"""


def estimate_row(line: str, options: Options) -> tuple[TrainingResult, float]:
    """Run one table line (chip, model, GPUs, precision, global batch, micro batch, seq, FSDP, TP, PP, CP, VP, EP,
    tokens/s/GPU) with its stated sizes; the rest is searched. Returns the result and the measured figure."""
    chip, model, g, prec, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, meas = line.split()
    fixed: dict[str, Any] = {"tp": int(tp), "pp": int(pp), "cp": int(cp), "vp": int(vp), "ep": int(ep),
                             "micro_batch": int(mbs)}
    if fsdp == "1":
        fixed["zero"] = 3
    dp_cp = int(g) // (int(tp) * int(pp))
    if int(ep) > 1 and dp_cp % int(ep):
        fixed["etp"] = 1  # EP larger than DP: only Megatron-Core's parallel folding (expert-TP 1) lays it out
    r = estimate_training(model, chip, int(g), seq=int(seq), global_batch=int(gbs), parallelism=fixed,
                          precision=prec, options=options)
    return r, float(meas)


def run_line(line: str, host: bool = True) -> float:
    r, meas = estimate_row(line, Options(host_overhead=host, grad_dtype="bf16"))
    return 100.0 * (r.tokens_per_s_per_chip / meas - 1.0)


def _table(title: str, rows: str, both: bool) -> list[float]:
    print(title)
    print(f"{'chip':6s} {'model':16s} {'GPUs':>5s} {'prec':4s} {'measured':>9s} {'pred':>8s} {'err':>7s}"
          + (f" {'no host bound':>13s}" if both else ""))
    errs: list[float] = []
    for line in rows.strip().splitlines():
        chip, model, g, prec, *_, meas = line.split()
        head = f"{chip:6s} {model:16s} {g:>5s} {prec:4s} {float(meas):9.0f}"
        try:
            e = run_line(line)
        except RainierError as exc:
            print(f"{head}  not reproducible: {exc}"[:160])
            continue
        errs.append(abs(e))
        tail = f" {run_line(line, host=False):+12.1f}%" if both else ""
        print(f"{head} {float(meas) * (1 + e / 100):8.0f} {e:+6.1f}%{tail}")
    print(f"mean absolute error: {sum(errs) / len(errs):.1f}% over {len(errs)} rows\n")
    return errs


def main() -> None:
    _table("Megatron-Bridge 25.11, rows outside the validation table", ROWS_2511, both=True)
    _table("Megatron-Bridge 26.02 (final table), BF16 / FP8 / MXFP8 rows", ROWS_2602, both=False)


if __name__ == "__main__":
    main()
