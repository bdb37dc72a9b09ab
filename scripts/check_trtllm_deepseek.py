"""Out-of-sample check of serving DeepSeek-R1 with data-parallel attention: NVIDIA's TensorRT-LLM runs (not fitted).

NVIDIA's "How to get best performance on DeepSeek-R1 in TensorRT-LLM" (TensorRT-LLM repository,
``docs/source/blogs/Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM.md``; commit b626186 for the B200 runs) gives
three max-throughput runs on one 8-GPU node with the whole configuration stated: trtllm-bench, synthetic requests of
exactly 1,024 input and 2,048 output tokens (``token-norm-dist``, standard deviation 0), no speculative decoding
("max-throughput ... does not use MTP"), ``--tp 8 --ep 8`` with ``enable_attention_dp: true`` (attention data
parallel over the 8 GPUs), a closed loop of ``--concurrency`` requests; ``--max_batch_size`` and ``--max_num_tokens``
are per rank (an attention-DP rank schedules its own batch), so the replica's batch and token budget are 8 times
them. Reported: "Per GPU Output Throughput (tps/gpu)".

* 8 x B200, DeepSeek-R1-0528-FP4 with an FP8 KV cache: concurrency 7,168, batch 896 and 2,048 tokens per rank:
  5,393.3 output tokens/s per GPU;
* 8 x B200, DeepSeek-R1-FP4 with a 16-bit KV cache: concurrency 3,072, batch 384 and 1,536 tokens per rank:
  4,548.0;
* 8 x H200, DeepSeek-R1 FP8: concurrency 1,024, batch 128 and 1,151 tokens per rank: 1,436.2.

DeepSeek-R1 has DeepSeek-V3's architecture (the catalog's ``deepseek-v3``). NVIDIA's FP4 checkpoints hold the
experts in NVFP4 and attention in FP8; rainier's ``fp4`` puts every weight in fp4 (the experts are 96% of the
weights). Run from the repository root::

    python scripts/check_trtllm_deepseek.py
"""

from __future__ import annotations

from rainier.perf.inference import estimate_serving

# chip, precision, KV cache dtype, concurrency, tokens per rank, measured output tokens/s per GPU
RUNS = [
    ("b200", "fp4", "fp8", 7168, 2048, 5393.2755),
    ("b200", "fp4", "bf16", 3072, 1536, 4548.0105),
    ("h200", "fp8", "fp8", 1024, 1151, 1436.1584),
]
GPUS = 8


def predict(chip: str, precision: str, kv_dtype: str, concurrency: int, tokens_per_rank: int,
            attention_dp: int = GPUS) -> float:
    """rainier's output tokens/s per GPU for one run (``attention_dp=1``: the same run, the same replica batch and
    token budget, with TP attention)."""
    r = estimate_serving("deepseek-v3", chip, GPUS, tp=GPUS, ep=GPUS, attention_dp=attention_dp, precision=precision,
                         kv_dtype=kv_dtype, input_len=1024, output_len=2048, concurrency=concurrency,
                         max_batch=min(concurrency, 4096) if attention_dp == 1 else concurrency,
                         token_budget=tokens_per_rank * GPUS)
    return r.output_tokens_per_s_per_chip


def label(chip: str, precision: str, kv_dtype: str, concurrency: int) -> str:
    return f"{chip} x{GPUS} {precision} kv {kv_dtype} concurrency {concurrency}"


def main() -> None:
    for chip, prec, kvd, conc, tok, meas in RUNS:
        pred = predict(chip, prec, kvd, conc, tok)
        tp_attn = predict(chip, prec, kvd, conc, tok, attention_dp=1)
        print(f"{label(chip, prec, kvd, conc):38s} measured {meas:7.1f}  rainier {pred:7.1f} ({100 * (pred / meas - 1):+.0f}%)"
              f"  [with TP attention instead: {tp_attn:7.1f}]")


if __name__ == "__main__":
    main()
