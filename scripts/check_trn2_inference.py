"""Out-of-sample check of the serving model on Trainium2: AWS's NxD Inference measurements (not fitted).

AWS publishes no Trainium2 training throughput (a helper searched every stored version of the Neuron SDK
docs: the benchmark pages cover Trn1 and Inferentia only), so these two serving runs are the only measured
Trainium2 figures with a stated configuration. Both run on one trn2.48xlarge (16 Trainium2 chips, tensor
parallelism over its 64 logical NeuronCores, i.e. all 16 chips), one request at a time (LLMPerf, concurrency
1), 10,000 input and 1,500 requested output tokens, BF16 weights, NxD Inference behind vLLM's Neuron fork
(v0.7.2 branch, Neuron 2.22):

* Llama-3.1-405B-Instruct: TTFT p50 2,442 ms, TPOT p50 37.9 ms
  (aws-neuron-sdk ``libraries/nxd-inference/tutorials/llama405b_perf_comparison.csv`` and the speculative
  decoding tutorial's baseline log);
* Llama-3.3-70B-Instruct: TTFT p50 575.6 ms, TPOT p50 19.8 ms (the NxD Inference Llama 3.3 70B tutorial).

rainier's TPOT misses both by a near-constant 8-10 ms per token (80 and 126 layers alike): the signature of a
host time per engine iteration (vLLM 0.7's scheduler, sampling and Neuron launch path) far above the 2 ms rainier
assumes by default. ``rainier serve --step-overhead`` takes a stack's own figure; these rows are reported with the
default (nothing is set from them).

Run from the repository root::

    python scripts/check_trn2_inference.py
"""

from __future__ import annotations

from rainier.perf.inference import estimate_serving

# model, TTFT p50 s, TPOT p50 s
RUNS = [("llama3.1-405b", 2.442, 0.0379), ("llama3-70b", 0.5756, 0.0198)]


def predict(model: str) -> tuple[float, float]:
    r = estimate_serving(model, "trn2", 16, tp=16, precision="bf16", input_len=10000, output_len=1500,
                         concurrency=1, requests=8)
    return r.ttft_s["p50"], r.tpot_s["p50"]


def score() -> list[tuple[str, float, float]]:
    """(model, TTFT error %, TPOT error %), latency errors signed as latency (positive: rainier slower)."""
    out = []
    for model, ttft, tpot in RUNS:
        p_ttft, p_tpot = predict(model)
        out.append((model, 100.0 * (p_ttft / ttft - 1.0), 100.0 * (p_tpot / tpot - 1.0)))
    return out


def main() -> None:
    for (model, ttft, tpot), (_, e1, e2) in zip(RUNS, score(), strict=True):
        print(f"{model:15s} TTFT measured {ttft * 1e3:7.1f} ms, rainier {ttft * (1 + e1 / 100) * 1e3:7.1f} ms "
              f"({e1:+.0f}%);  TPOT measured {tpot * 1e3:5.1f} ms, rainier {tpot * (1 + e2 / 100) * 1e3:5.1f} ms "
              f"({e2:+.0f}%)")


if __name__ == "__main__":
    main()
