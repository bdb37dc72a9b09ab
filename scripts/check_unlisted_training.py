"""Out-of-sample check of the training model on published runs that are NOT in the validation table.

The rows below are the other rows of the same source as validation rows 48-61: NVIDIA-NeMo/Megatron-Bridge
``docs/performance-summary.md``, "25.11 NeMo Container", pre-training tables (tokens/s/GPU as published).
Nothing is fitted on them; they are printed with the model's error, with and without the host issue-rate
bound of MoE layers (``Options(host_overhead=...)``), to show how the model generalises beyond the rows it
is scored on. Recompute and ZeRO stage are searched (the table does not state them), as in
``rainier validate training``; gradients in bf16, as the source's performance scripts set
(``grad_reduce_in_fp32 = False``). Run from the repository root::

    python scripts/check_unlisted_training.py
"""

from __future__ import annotations

from rainier.perf.training import Options, estimate_training

# system chip, model, GPUs, precision, global batch, micro batch, seq, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU
ROWS = """
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


def main() -> None:
    errs: dict[bool, list[float]] = {True: [], False: []}
    print(f"{'chip':6s} {'model':16s} {'GPUs':>5s} {'prec':4s} {'measured':>9s} {'pred':>8s} {'err':>7s} "
          f"{'no host bound':>13s}")
    for line in ROWS.strip().splitlines():
        chip, model, g, prec, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, meas = line.split()
        fixed = {"tp": int(tp), "pp": int(pp), "cp": int(cp), "vp": int(vp), "ep": int(ep), "micro_batch": int(mbs)}
        if fsdp == "1":
            fixed["zero"] = 3
        out = {}
        for host in (True, False):
            r = estimate_training(model, chip, int(g), seq=int(seq), global_batch=int(gbs), parallelism=fixed,
                                  precision=prec, options=Options(host_overhead=host, grad_dtype="bf16"))
            out[host] = 100.0 * (r.tokens_per_s_per_chip / float(meas) - 1.0)
            errs[host].append(abs(out[host]))
        pred = float(meas) * (1 + out[True] / 100)
        print(f"{chip:6s} {model:16s} {g:>5s} {prec:4s} {float(meas):9.0f} {pred:8.0f} {out[True]:+6.1f}% "
              f"{out[False]:+12.1f}%")
    for host in (True, False):
        e = errs[host]
        print(f"mean absolute error ({'with' if host else 'without'} the host bound): {sum(e) / len(e):.1f}% "
              f"over {len(e)} rows")


if __name__ == "__main__":
    main()
