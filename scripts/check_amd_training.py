"""Out-of-sample check of the training model on AMD Instinct runs that are NOT in the validation table.

Nothing is fitted on these rows. Two sources (a helper transcribed them; numbers as published):

* ``MAD_V252``: ROCm/MAD's "ROCm PyTorch Training Container (v25.2)" README (``benchmark/pytorch_train``;
  ROCm 6.3, PyTorch 2.7.0a0, Transformer Engine 1.11, FlashAttention 2.6.3; tests of 01/29/2025), 8 GPUs
  of one node, TFLOP/s per GPU. Llama 3.1 8B runs AMD's ``pytorch-training-benchmark`` ``train_fsdp.py``:
  FSDP full shard per decoder block, the stated per-GPU batch, 8 accumulation micro-steps, no activation
  checkpointing in the code, torch.compile for BF16, Transformer Engine layers with delayed scaling for FP8.
  Llama 3.1 70B runs AMD's torchtitan fork with FSDP2, as full recomputation (torchtitan's Llama 3 70B
  training config; the README does not state it). Its Mistral 7B
  rows are left out: the Mistral version (with or without the 4k sliding window) is not stated.
  The TFLOP/s convention, read in the benchmark code (torchtitan's is the same): 3x the forward FLOPs of
  every GEMM including the LM head (6 per parameter, the input embedding excluded) plus non-causal
  attention, 12 L s (heads x head dim) per token; timed per micro-step, so the optimizer step is out.
  The table converts through that count into tokens/s per GPU, which is what is compared.
* ``MLPERF``: MLPerf Training v5.1, AMD's MI355X Llama 3.1 8B pre-training (mlcommons/training_results_v5.1
  ``AMD/results/MI355X_EPYC_9575F_pytorch/llama31_8b/result_0.txt``, NeMo 2.3 / Megatron-Core, ROCm 7.0):
  8 GPUs, sequence 8192, global batch 32, micro batch 2, TP = PP = CP = 1, FP8; the logged steady-state
  throughput (30.69 samples/s for the whole system, blocks 2-14) gives tokens/s per GPU.

MI300X and MI325X have the same matrix peak (1307 TFLOP/s bf16): rainier's one AMD CDNA3 efficiency
(fitted on MI325X rows of the validation table) predicts nearly the same throughput for both, while the
measured MI325X runs are ~20% faster with the same software, as in MLPerf Inference (v5.1: +24%).
Run from the repository root::

    python scripts/check_amd_training.py
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from typing import Any

from oos import attempt

from rainier.catalog.loader import default_catalog
from rainier.catalog.params import param_counts
from rainier.perf.training import Options, TrainingResult, estimate_training
from rainier.perf.validate_training import estimate_as_run

# chip, model, GPUs, precision, per-GPU micro batch, seq, framework (fsdp1 | fsdp2), TFLOP/s per GPU
MAD_V252 = """
mi300x llama3-70b 8 bf16 4 8192 fsdp2 426.79
mi300x llama3-8b  8 bf16 3 8192 fsdp1 542.94
mi300x llama3-8b  8 fp8  3 8192 fsdp1 737.40
mi300x llama3-8b  8 bf16 6 4096 fsdp1 523.79
mi300x llama3-8b  8 fp8  6 4096 fsdp1 735.44
mi325x llama3-70b 8 bf16 7 8192 fsdp2 526.13
mi325x llama3-8b  8 bf16 3 8192 fsdp1 643.01
mi325x llama3-8b  8 fp8  5 8192 fsdp1 893.68
mi325x llama3-8b  8 bf16 8 4096 fsdp1 625.96
mi325x llama3-8b  8 fp8 10 4096 fsdp1 894.98
"""

GRAD_ACCUM = 8  # train_fsdp.py: optimizer step every 8 micro-steps

# chip, model, GPUs, precision, global batch, micro batch, seq, TP, PP, CP, tokens/s per GPU
MLPERF = """
mi355x llama3-8b 8 fp8 32 2 8192 1 1 1 31431
"""


def flops_per_token(model: Any, seq: int) -> float:
    """The source's count: 6 per parameter except the input embedding, plus non-causal attention."""
    pc = param_counts(model)
    return 6.0 * (pc.total - pc.embedding) + 12.0 * model.layers * seq * model.heads * model.d_head


def run_mad(line: str) -> tuple[TrainingResult, float, float]:
    """(rainier's estimate, predicted tokens/s/GPU, measured tokens/s/GPU) of one MAD row."""
    chip, model_name, g, prec, mb, seq, fw, tflops = line.split()
    cat = default_catalog()
    model = cat.model(model_name)
    n, s = int(g), int(seq)
    fixed: dict[str, Any] = {"tp": 1, "pp": 1, "cp": 1, "dp": n, "zero": 3, "micro_batch": int(mb)}
    # no activation checkpointing in train_fsdp.py; torchtitan's Llama 3 70B train config checkpoints every
    # layer (activation_checkpoint mode "full")
    fixed["recompute"] = "none" if fw == "fsdp1" else "full"
    kw: dict[str, Any] = dict(seq=s, global_batch=int(mb) * n * GRAD_ACCUM, parallelism=fixed, precision=prec,
                              catalog=cat)
    # a run that rainier's memory model puts just over the GPU's memory is scored with the check off, as
    # `rainier validate training` scores its memory misfits
    res = estimate_as_run(model, chip, n, options=Options(grad_dtype="bf16"), **kw)
    # timed per micro-step: the optimizer step is not in the source's figure
    step = res.step_time_s - res.breakdown.get("optimizer", 0.0)
    pred = res.tokens_per_s * res.step_time_s / step / n
    meas = float(tflops) * 1e12 / flops_per_token(model, s)
    return res, pred, meas


def run_mlperf(line: str) -> tuple[TrainingResult, float, float]:
    chip, model_name, g, prec, gbs, mb, seq, tp, pp, cp, meas = line.split()
    fixed = {"tp": int(tp), "pp": int(pp), "cp": int(cp), "micro_batch": int(mb)}
    res = estimate_training(model_name, chip, int(g), seq=int(seq), global_batch=int(gbs), parallelism=fixed,
                            precision=prec, options=Options(grad_dtype="bf16"))
    return res, res.tokens_per_s_per_chip, float(meas)


def runs() -> Iterator[tuple[str, Callable[[str], tuple[TrainingResult, float, float]], str]]:
    """(table name, its runner, table line) of every row of both tables."""
    for name, runner, rows in (("MAD", run_mad, MAD_V252), ("MLPerf", run_mlperf, MLPERF)):
        for line in rows.strip().splitlines():
            yield name, runner, line


def score() -> dict[str, list[float]]:
    """Signed errors (%) per chip over both tables."""
    out: dict[str, list[float]] = {}
    for _, runner, line in runs():
        _, pred, meas = runner(line)
        out.setdefault(line.split()[0], []).append(100.0 * (pred / meas - 1.0))
    return out


def main() -> None:
    print(f"{'table':7s} {'chip':7s} {'model':11s} {'prec':4s} {'mb':>3s} {'seq':>5s} {'measured':>9s} {'pred':>8s} "
          f"{'err':>7s}  parallelism")
    errs: dict[str, list[float]] = {}
    for name, runner, line in runs():
        f = line.split()
        got = attempt(runner, line, f"{name:7s} {f[0]:7s} {f[1]:11s}")
        if got is None:
            continue
        res, pred, meas, e = got
        errs.setdefault(f[0], []).append(e)
        p = res.parallelism
        mis = " (memory misfit: scored with the check off)" if any(
            x.startswith("memory misfit") for x in res.notes) else ""
        print(f"{name:7s} {f[0]:7s} {f[1]:11s} {f[3]:4s} {p['micro_batch']:3d} {res.seq:5d} {meas:9.0f} {pred:8.0f} "
              f"{e:+6.1f}%  ZeRO {p['zero']}, recompute {p['recompute']}, {res.memory_gb_per_chip:.0f} of "
              f"{res.memory_gb_available:.0f} GB{mis}")
    every = [abs(x) for v in errs.values() for x in v]
    for chip, v in errs.items():
        print(f"{chip}: {len(v)} rows, mean absolute error {statistics.mean(abs(x) for x in v):.1f}%, "
              f"bias {statistics.mean(v):+.1f}%")
    print(f"all: {len(every)} rows, mean absolute error {statistics.mean(every):.1f}%")


if __name__ == "__main__":
    main()
