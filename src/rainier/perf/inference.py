"""Analytic inference performance: per-iteration step time, memory, KV cache, batch limits, search.

One *replica* serves a model on ``tp * pp`` chips: attention and dense layers are tensor-parallel
over ``tp`` chips (Megatron-LM, Shoeybi et al. 2019), layers are split over ``pp`` pipeline stages,
and the experts of MoE layers are spread over ``ep`` of the ``tp`` chips (``ep`` divides ``tp``; each
expert is tensor-split over the remaining ``tp / ep``). A deployment is ``replicas`` such replicas
behind a router (see :mod:`rainier.perf.serving`).

Step time of one continuous-batching iteration (Orca, Yu et al. OSDI'22; chunked prefill,
Sarathi-Serve, Agrawal et al. OSDI'24) that carries ``T`` new tokens (one per decoding sequence plus
the prefill chunks), ``n_seq`` sequences, a summed decode context ``C`` and prefill attention work
``U = sum over prefill tokens of their position``::

    t_step = pp * [ t_lin(T/pp) + t_head(n_seq/pp) + t_comm(T/pp) + t_ew(T/pp) ]  (per stage, microbatch)
           + C * c_kv + U * c_attn                                                 (attention core)
           + (pp - 1) * t_p2p(T/pp) + t_step0 + L * t_layer0                        (hand-offs, overheads)

* ``t_lin`` sums the GEMMs of the stage's layers with :func:`rainier.perf.compute.gemm_time_s` (roofline
  with the fitted shape-dependent efficiency): weights are read once per microbatch, so small ``T``
  is memory-bound (decode) and large ``T`` compute-bound (prefill) -- the roofline decides.
* MoE layers read only the experts the batch touches: with uniform top-k routing the expected number
  of distinct experts hit by ``T`` tokens is ``E (1 - (1 - k/E)^T)`` (a balls-in-bins expectation),
  each doing a GEMM of ``T k / (E p)`` tokens.
* Decode attention streams the KV cache: ``c_kv`` = KV bytes per context token per chip x reads /
  achieved HBM bandwidth (or its FLOPs at attention efficiency if larger). ``reads`` is 1 for a
  GQA-grouped decode kernel (the default: FlashInfer, FlashAttention decode, TensorRT-LLM XQA from
  v0.8, ROCm vLLM) and the group size ``heads / kv_heads`` for a per-head kernel, which gives each query
  head its own thread block re-reading the shared KV head (TensorRT-LLM's masked multi-head attention
  before XQA; NVIDIA's XQA note measures 2.4x Llama-70B throughput on one H200 at 128/2048 from the
  change). Which one a deployment runs is a property of its software (``decode_attention``). Prefill attention is compute-bound:
  ``4 * heads/tp * head_dim`` FLOPs per (query, key) pair (causal, flash attention, Dao et al. 2022).
* TP: two all-reduces of ``T * hidden`` bf16 activations per layer; MoE layers with ``ep > 1`` add a
  dispatch and a combine all-to-all of ``T k hidden / ep``; PP: one p2p hand-off per stage boundary.
  All through :func:`rainier.perf.collectives.collective_time_s` over the system's scale-up tiers.
* ``t_step0`` (scheduling, sampling, launch) and ``t_layer0`` (per-layer kernel launch and sync not
  hidden by graphs) are priors kept in ``perf/fits/inference.json``. Per accelerator family that file
  also holds, fitted by ``scripts/fit_inference.py`` on a few measured rows, the achieved GEMM
  efficiency and HBM bandwidth of the family's inference software relative to the training fit of
  :mod:`rainier.perf.compute` (``compute_scale``, ``memory_scale``) and, where small decode GEMMs
  show it, the GEMM size at half efficiency (``dim_half``).

Batch limit: with the default paged KV cache a request holds its prompt plus on average half its
output, so the largest batch is ``KV (1 - watermark) / (input + output / 2)``; with ``kv_policy="reserve"``
it is ``KV / (input + output)`` (see :mod:`rainier.perf.serving`).

Memory per chip: weights (bf16 and fp16 2 B, fp8 and int8 1 B, fp4 0.5 B + one fp8 scale per 16 = 0.5625 B
per parameter; embeddings and the output head stay bf16; fp16 runs at the chip's fp16 rate, the bf16
rate where the catalog lists none; fp8, int8 or fp4 weights on a chip that lists no rate for them run weight-only,
dequantised into bf16 GEMMs: :func:`gemm_precision`) / (tp pp); activations of one token budget;
the KV cache in what remains of ``hbm_usable_fraction`` of HBM. KV bytes per token (closed form):
GQA ``2 L n_kv d b``; MLA (DeepSeek-V2/V3) caches the compressed latent ``L (kv_lora_rank + rope) b``.
The KV cache is fp8 when weights are fp8, int8 or fp4 (as MLPerf submissions run), bf16 otherwise.

Cost per million output tokens = chips x owner's cost per chip-hour (:func:`rainier.econ.chip_hour_cost`)
/ output tokens per hour; joules per output token = chips x facility watts per chip
(:func:`rainier.econ.power_chain`, nameplate) x the economics load factor (average draw / nameplate, 0.75:
the draw the owner cost prices and training's energy uses) / output tokens per second.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rainier.catalog.loader import Catalog, default_catalog
from rainier.catalog.params import param_counts
from rainier.catalog.schema import Accelerator, Model, System
from rainier.errors import RainierError
from rainier.perf import collectives as _coll
from rainier.perf import compute as _comp
from rainier.perf.speculative import (
    SpecConfig,
    SpecStep,
    check_draft_fits,
    draft_weight_bytes,
    gain_and_tokens,
    make_spec,
    spec_note,
)
from rainier.units import plural

__all__ = [
    "WEIGHT_BYTES",
    "check_precision",
    "DECODE_ATTENTION",
    "InferenceFit",
    "load_inference_fit",
    "kv_bytes_per_token",
    "MemoryPlan",
    "memory_plan",
    "StepModel",
    "step_model",
    "SteadyState",
    "steady_state",
    "Candidate",
    "search_configs",
    "tp_problem",
    "attention_dp_problem",
    "tp_choices",
    "disaggregation_split",
    "ServingResult",
    "estimate_serving",
    "ReplicaCapacity",
    "replica_capacity",
]

WEIGHT_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5625}
# upper bounds of the request-level simulation's inputs (memory: every request is held, several arrays each)
MAX_CONCURRENCY = 1_000_000
MAX_REQUESTS = 10_000_000
# Weight precisions that run only where the chip lists a native rate for them. fp16 runs at the bf16 rate;
# int8 at the chip's int8 rate where the catalog lists one, else as weight-only quantisation (1-byte weights
# dequantised into bf16 GEMMs: W8A16), a common deployment mode.
NATIVE_ONLY = _comp.LOW_PRECISION
ACT_BYTES = 2.0  # activations and collectives in bf16
DEFAULT_TOKEN_BUDGET = 8192
# speculative decoding defaults when only --draft is given: three proposals (vLLM's and SGLang's EAGLE
# examples use 3-5), each accepted with probability 0.7 (EAGLE-class drafts on chat data at temperature 0)
DEFAULT_SPEC_TOKENS = 3
DEFAULT_SPEC_ACCEPT = 0.7
MAX_SLOTS = 4096
# Tokens per iteration the step model tabulates (prefill chunk + decodes); larger steps are refused.
STEP_TOKEN_CAP = 65536
# Decode-attention kernels: "grouped" reads each KV head once for all the query heads of its GQA group
# (FlashInfer, FlashAttention-2/3 decode, TensorRT-LLM XQA from v0.8, ROCm vLLM's paged attention);
# "per-head" gives every query head its own thread block that reads its KV head again (TensorRT-LLM's
# masked multi-head attention before XQA, e.g. v0.5).
DECODE_ATTENTION = ("grouped", "per-head")
# KV-cache admission (rainier.perf.serving): "paged" holds the tokens a request has, keeping this
# fraction of the cache free for the decodes' growth; "reserve" holds input + output from admission.
KV_WATERMARK = 0.05
# Server-mode (max rate under an SLO) runs: arrivals span this many request lifetimes (see estimate_serving).
SERVER_LIFETIMES = 10.0
SERVER_MAX_REQUESTS = 100_000
POISSON_SPAN_S = 300.0  # seconds of arrivals a --qps run simulates (capped at SERVER_MAX_REQUESTS requests)
# Requests per run when a subset of many identical replicas is simulated (server and --qps runs): p99 over
# the last three quarters is then taken over ~22,000 requests, ~220 beyond it
SUBSET_REQUESTS = 30_000
# Offline runs without a request count: this many full batches per replica. With variable output
# lengths the in-flight batch needs several generations to reach its length-biased steady mix (long
# requests accumulate); three batches overstate output tokens/s by ~19% on OpenOrca lengths, twenty
# are within ~1% of a 60-batch run.
OFFLINE_BATCHES = 20
OFFLINE_MAX_REQUESTS = 100_000


# --- fitted parameters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class InferenceFit:
    """Inference-specific parameters (see the module docstring); defaults are priors before fitting."""

    step_overhead_s: float = 2.0e-3
    layer_overhead_s: float = 10e-6
    hbm_usable_fraction: float = 0.90
    # (family, compute_scale, memory_scale, dim_half): achieved GEMM efficiency and HBM bandwidth of
    # the family's inference kernels relative to the training fit of rainier.perf.compute, and the
    # GEMM dimension at half efficiency (0 = the training fit's), which decode-sized GEMMs expose.
    families: tuple[tuple[str, float, float, float], ...] = ()
    # (family, gemm_peak_eff, dim_half, fp8_ratio, attn_eff, mem_eff): the training fit of
    # rainier.perf.compute at the time of the inference fit, so that refitting the training model does
    # not silently move the inference predictions of fitted families (re-run fit_inference.py instead).
    bases: tuple[tuple[str, float, float, float, float, float], ...] = ()
    fitted: bool = False
    fitted_rows: tuple[int, ...] = ()

    def scales(self, family: str) -> tuple[float, float, float]:
        for fam, c, m, d in self.families:
            if fam == family:
                return c, m, d
        return 1.0, 1.0, 0.0

    def eff_params(self, acc: Accelerator) -> Any:
        """compute.EffParams of the chip's family with this fit's inference scales applied. ``fp4_ratio`` is 1: it
        is the NVFP4 *training* recipe's cost (block scales, Hadamard transforms, casts of every gradient GEMM);
        fp4 inference GEMMs run at the fp4 rate on the family's curve, as before that parameter existed."""
        base = _comp.efficiency_params(acc.family).with_(fp4_ratio=1.0)
        for fam, g, dh, r8, at, me in self.bases:
            if fam == acc.family:
                base = base.with_(gemm_peak_eff=g, dim_half=dh, fp8_ratio=r8, attn_eff=at, mem_eff=me)
        c, m, d = self.scales(acc.family)
        return base.with_(gemm_peak_eff=min(base.gemm_peak_eff * c, 0.98), mem_eff=min(base.mem_eff * m, 0.98),
                          dim_half=d if d > 0 else base.dim_half)


_BASE_NAMES = ("gemm_peak_eff", "dim_half", "fp8_ratio", "attn_eff", "mem_eff")


def _read_inference_doc() -> dict[str, Any] | None:
    """The shipped inference.json (None where a broken install lacks it)."""
    return _comp.read_fit_file("inference.json")


@lru_cache(maxsize=1)
def load_inference_fit() -> InferenceFit:
    doc = _read_inference_doc()
    if doc is None:
        return InferenceFit()
    d = doc.get("params", {})
    names = {f for f in InferenceFit.__dataclass_fields__} - {"families", "fitted_rows"}
    kw: dict[str, Any] = {k: v for k, v in d.items() if k in names}
    kw["fitted_rows"] = tuple(int(x) for x in doc.get("fitted_rows", ()))
    fams = sorted(doc.get("families", {}).items())
    kw["families"] = tuple((k, float(v.get("compute_scale", 1.0)), float(v.get("memory_scale", 1.0)),
                            float(v.get("dim_half", 0.0))) for k, v in fams)
    kw["bases"] = tuple((k, *(float(v["training_base"][n]) for n in _BASE_NAMES)) for k, v in fams
                        if "training_base" in v)
    return InferenceFit(**kw)


@lru_cache(maxsize=1)
def _accuracy_table() -> dict[str, Any]:
    return dict((_read_inference_doc() or {}).get("accuracy", {}))


@lru_cache(maxsize=1)
def _inference_out_of_sample() -> dict[str, Any]:
    return _comp.read_fit_file("inference_out_of_sample.json") or {}


def inference_out_of_sample(family: str, model: str) -> dict[str, Any] | None:
    """The published serving runs outside the validation table that ``scripts/score_inference_out_of_sample.py``
    scored with the shipped fits (``perf/fits/inference_out_of_sample.json``: MLPerf Inference rounds, AWS's
    Trainium2 runs): ``family``, those on the chip's family, and ``model``, those of this catalog model (rows,
    mape_pct, bias_pct, worst_pct, within_25_pct, basis; None where there are none). None when neither has runs."""
    doc = _inference_out_of_sample()
    fam = doc.get("families", {}).get(family)
    mod = doc.get("models", {}).get(model)
    if not fam and not mod:
        return None
    return {"family": dict(fam) if fam else None, "model": dict(mod) if mod else None}


def _inference_out_of_sample_notes(oos: dict[str, Any] | None) -> list[str]:
    """A note per record (the model's only from ``MODEL_MIN_RUNS`` runs on, as for training: one run is an
    anecdote; the JSON carries it whatever its size)."""
    from rainier.perf.training import MODEL_MIN_RUNS

    out = []
    for part, what in (("family", "this chip family"), ("model", "this model")):
        rec = (oos or {}).get(part)
        if rec and (part == "family" or rec["rows"] >= MODEL_MIN_RUNS):
            out.append(f"accuracy, out of sample ({what}): {rec['basis']} (scripts/score_inference_out_of_sample.py): "
                       f"MAPE {rec['mape_pct']:g}% over {rec['rows']} runs, bias {rec['bias_pct']:+g}% (negative: "
                       f"predicted slower than measured), worst {rec['worst_pct']:+g}%")
    return out


def inference_accuracy(family: str) -> dict[str, Any] | None:
    """The error to expect of a serving estimate on ``family``: the inference fit's held-out published runs
    (``accuracy`` in inference.json, written by scripts/fit_inference.py: rows, mape_pct, bias_pct and worst_pct
    of the predicted performance, basis); a family without held-out runs takes every family's (``default``)."""
    table = _accuracy_table()
    got = table.get(family) or table.get("default")
    if not got:
        return None
    out = dict(got)
    if family not in table:
        out["basis"] = f"no held-out run on {family}: {out['basis']}"
    return out


# --- resolving names ----------------------------------------------------------------------------
def _resolve(model: Model | str, chip: Accelerator | str, system: System | str | None,
             catalog: Catalog | None) -> tuple[Catalog, Model, Accelerator, System]:
    cat = catalog or default_catalog()
    m = model if isinstance(model, Model) else cat.model(model)
    a = chip if isinstance(chip, Accelerator) else cat.accelerator(chip)
    if isinstance(system, System):
        s = system
    else:
        s = cat.system_for(a, system)
    return cat, m, a, s


def check_precision(acc: Accelerator, precision: str, field: str = "--precision") -> None:
    """Refuse a serving precision that is unknown, naming ``field`` (one without a native rate runs weight-only:
    :func:`gemm_precision`)."""
    if precision not in WEIGHT_BYTES:
        raise RainierError(f"unknown precision '{precision}'", field=field,
                           fix=f"use one of {', '.join(WEIGHT_BYTES)}")


def gemm_precision(acc: Accelerator, precision: str) -> str:
    """The GEMMs' precision for ``precision`` weights on ``acc``: their own where the chip lists a native rate, else
    weight-only (``w8a16`` / ``w4a16``: the weights' bytes, dequantised into bf16 GEMMs, as vLLM's Marlin kernels run
    fp8 on Ampere and MXFP4 gpt-oss on Hopper); int8 without a rate falls back to bf16 the same way."""
    if precision in NATIVE_ONLY and precision not in acc.peak_tflops:
        return "w8a16" if precision == "fp8" else "w4a16"
    return precision


def weight_only_note(acc: Accelerator, precision: str) -> str | None:
    if gemm_precision(acc, precision) != precision or (precision == "int8" and "int8" not in acc.peak_tflops):
        return (f"{precision} weights on {acc.name}, which lists no {precision} rate: weight-only (dequantised into "
                f"bf16 GEMMs at the bf16 rate; the weights' bytes are {precision}'s)")
    return None


def tp_problem(model: Model, tp: int) -> str | None:
    """Why tensor parallelism ``tp`` cannot split ``model``'s attention, or None.

    Valid: ``tp`` divides the query heads and the KV heads divide ``tp`` or ``tp`` divides them (KV heads
    replicated when ``tp`` exceeds them; the rule of :func:`rainier.perf.parallelism.check_parallelism`),
    or ``tp`` is a power of two: stacks such as transformers-neuronx pad the heads to a multiple of TP
    (AWS's Llama-2-13B rows run 40 heads at TP 16 or 32). The search enumerates exactly these
    (:func:`tp_choices`), so a given ``--tp`` is accepted iff the search could have chosen it.
    """
    if tp < 1:
        return f"tp={tp} must be at least 1"
    if tp & (tp - 1) == 0:
        return None
    kv = model.n_kv_heads
    if model.heads % tp:
        return f"tp={tp} does not divide {model.name}'s {model.heads} attention heads ({kv} KV heads)"
    if model.mla is None and kv % tp and tp % kv:
        return f"tp={tp} and {model.name}'s {kv} KV heads do not divide one another ({model.heads} attention heads)"
    return None


def attention_dp_problem(model: Model, tp: int, pp: int, attention_dp: int) -> str | None:
    """Why ``attention_dp`` data-parallel attention groups cannot serve ``model`` at (tp, pp), or None.

    Data-parallel attention (SGLang's ``--enable-dp-attention``, vLLM's data parallelism with expert-parallel
    MoE, TensorRT-LLM's attention DP) splits a replica's ``tp`` ranks into ``attention_dp`` groups of ``tp /
    attention_dp``: each group attends to its own requests with its own copy of the attention weights, and the
    groups meet at the MoE layers (tokens all-gathered or dispatched to the experts, which stay split over all
    ``tp`` ranks). Its point: MLA's compressed KV (and any KV head fewer than the ranks) is replicated on every
    rank of a tensor-parallel attention; in a group of one rank it is held once. Needs a MoE model, ``tp``
    divisible by ``attention_dp`` and one pipeline stage.
    """
    if attention_dp < 1:
        return f"attention_dp={attention_dp} must be at least 1"
    if attention_dp == 1:
        return None
    if model.moe is None:
        return (f"{model.name} is dense: data-parallel attention serves MoE models (the attention groups meet at "
                "the experts)")
    if tp % attention_dp:
        return f"attention_dp={attention_dp} does not divide tp={tp} (each group takes tp / attention_dp ranks)"
    if pp > 1:
        return f"data-parallel attention runs on one pipeline stage (pp={pp})"
    return None


def tp_choices(model: Model, limit: int) -> list[int]:
    """Every valid tensor-parallel degree up to ``limit`` (see :func:`tp_problem`), ascending."""
    return [t for t in range(1, max(int(limit), 0) + 1) if tp_problem(model, t) is None]


def kv_precision(precision: str, kv_dtype: str | None = None) -> str:
    """The KV cache's element type: ``kv_dtype`` where given (``--kv-dtype``: bf16 or fp8, e.g. vLLM's
    ``--kv-cache-dtype fp8`` under bf16 weights), else fp8 with 8-bit-or-less weights, bf16 otherwise."""
    if kv_dtype is not None:
        if kv_dtype not in KV_DTYPES:
            raise RainierError(f"unknown KV cache dtype '{kv_dtype}'", field="--kv-dtype",
                               fix=f"use one of {', '.join(KV_DTYPES)}")
        return kv_dtype
    return "fp8" if precision in ("fp8", "fp4", "int8") else "bf16"


KV_DTYPES = ("bf16", "fp8")
# Prefill (flash) attention's matmul type: bf16, or fp8 where the chip has an fp8 rate (FlashAttention-3 FP8,
# TensorRT-LLM's FP8 context FMHA, vLLM / FlashInfer FP8 prefill): see rainier.perf.compute.flash_attention_time_s
ATTENTION_DTYPES = ("bf16", "fp8")


def check_attention_dtype(acc: Accelerator, attention_dtype: str) -> str:
    if attention_dtype not in ATTENTION_DTYPES:
        raise RainierError(f"unknown attention dtype '{attention_dtype}'", field="--attention-dtype",
                           fix=f"use one of {', '.join(ATTENTION_DTYPES)}")
    if attention_dtype != "bf16" and attention_dtype not in acc.peak_tflops:
        raise RainierError(f"{acc.name} lists no {attention_dtype} rate: its attention runs in bf16",
                           field="--attention-dtype", fix="use --attention-dtype bf16, or a chip with an fp8 rate")
    return attention_dtype


# --- KV cache and memory --------------------------------------------------------------------------
def kv_bytes_per_token(model: Model, kv_dtype: str = "bf16", context: float | None = None) -> float:
    """KV-cache bytes one token occupies in the whole model (closed form, GQA and MLA aware; sliding-window
    layers at ``context``, see :meth:`Model.kv_share`: the KV cache is counted in tokens (paged), so the
    model's average over the workload's typical live context, prompt plus half the output, stands for
    every request)."""
    b = WEIGHT_BYTES["fp8" if kv_dtype in ("fp8", "fp4", "int8") else "bf16"]
    k = model.kv_share(context)
    if model.mla is not None:
        return float(model.layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * b * k)
    return float(2 * model.layers * model.n_kv_heads * model.d_head * b * k)


def _kv_heads_per_chip(model: Model, tp: int) -> float:
    return max(model.n_kv_heads / tp, 1.0)


def _kv_bytes_token_layer_chip(model: Model, tp: int, kv_dtype: str) -> float:
    b = WEIGHT_BYTES[kv_dtype]
    if model.mla is not None:  # the latent is replicated on every TP rank
        return float((model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * b)
    return float(2 * _kv_heads_per_chip(model, tp) * model.d_head * b)


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per chip of one replica and the KV-cache capacity it leaves (tokens per replica)."""

    hbm_bytes: float
    usable_bytes: float
    weights_bytes: float
    activation_bytes: float
    kv_bytes_per_token_chip: float
    kv_bytes: float
    kv_capacity_tokens: int
    fits: bool
    attention_dp: int = 1  # data-parallel attention groups: each holds 1/attention_dp of the capacity

    @property
    def group_capacity_tokens(self) -> int:
        """KV tokens one attention group holds: the longest request the replica can take."""
        return self.kv_capacity_tokens // self.attention_dp

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "hbm_gb_per_chip": self.hbm_bytes / 1e9,
            "usable_gb_per_chip": self.usable_bytes / 1e9,
            "weights_gb_per_chip": self.weights_bytes / 1e9,
            "activations_gb_per_chip": self.activation_bytes / 1e9,
            "kv_cache_gb_per_chip": self.kv_bytes / 1e9,
            "kv_bytes_per_token_per_chip": self.kv_bytes_per_token_chip,
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "fits": self.fits,
        }


def weight_bytes_per_chip(model: Model, precision: str, tp: int, pp: int, attention_dp: int = 1) -> float:
    """Weight bytes per chip; with data-parallel attention (``attention_dp`` groups of ``tp / attention_dp``
    ranks) each group holds the attention weights whole, split only within the group."""
    pc = param_counts(model)
    emb = pc.embedding + pc.output
    w = ((pc.total - emb) * WEIGHT_BYTES[precision] + emb * ACT_BYTES) / (tp * pp)
    if attention_dp > 1:
        attn = model.layers * pc.attention_per_layer * WEIGHT_BYTES[precision]
        w += attn / (tp // attention_dp * pp) - attn / (tp * pp)
    return w


def memory_plan(model: Model, acc: Accelerator, precision: str, tp: int, pp: int, *,
                token_budget: int = DEFAULT_TOKEN_BUDGET, max_batch: int = 1024,
                fit: InferenceFit | None = None, kv_context: float | None = None,
                kv_dtype: str | None = None, spec: SpecConfig | None = None, attention_dp: int = 1) -> MemoryPlan:
    """Bytes per chip of a replica at (tp, pp) and the KV tokens left; a speculative draft (``spec``) adds its
    weights and its own KV per token (it runs beside the target at the same TP). With data-parallel attention
    (``attention_dp`` groups) a group's ranks hold only its own requests' KV, split over the group's ``tp /
    attention_dp`` ranks (MLA's latent: replicated on those ranks only), so the replica holds ``attention_dp``
    times the tokens one group does."""
    f = fit or load_inference_fit()
    kvd = kv_precision(precision, kv_dtype)
    ta = tp // attention_dp
    w = weight_bytes_per_chip(model, precision, tp, pp, attention_dp)
    ffn = model.moe.expert_ffn_hidden * model.moe.top_k if model.moe else model.ffn_hidden
    act = token_budget * ACT_BYTES * (4 * model.hidden + 3 * ffn / tp) + max_batch * model.vocab / tp * 4.0
    usable = acc.hbm_bytes * f.hbm_usable_fraction
    per_tok = _kv_bytes_token_layer_chip(model, ta, kvd) * math.ceil(model.layers / pp) * model.kv_share(kv_context)
    if spec is not None:
        d = spec.draft
        w += draft_weight_bytes(spec, WEIGHT_BYTES[precision], ACT_BYTES, tp)
        per_tok += _kv_bytes_token_layer_chip(d, ta, kvd) * d.layers * d.kv_share(kv_context)
    kv = usable - w - act
    cap = int(kv // per_tok) * attention_dp if kv > 0 else 0
    return MemoryPlan(acc.hbm_bytes, usable, w, act, per_tok, max(kv, 0.0), cap, cap > 0, attention_dp)


def _longest(work: Any) -> int:
    """The longest request (input + output tokens) a workload holds: a trace's longest request, a fixed length,
    a clipped distribution's caps, an empirical distribution's longest pair (0 when a distribution states none)."""
    from rainier.perf.workload import EmpiricalLengths, FixedLengths, Requests

    if isinstance(work, Requests):
        return int((work.input_len + work.output_len).max())
    if isinstance(work, FixedLengths):
        return work.input_len + work.output_len
    if isinstance(work, EmpiricalLengths):
        return max(i + o for i, o in zip(work.inputs, work.outputs, strict=True))
    cap_in, cap_out = getattr(work, "max_in", None), getattr(work, "max_out", None)
    return int(cap_in) + int(cap_out) if cap_in is not None and cap_out is not None else 0


def _check_positions(m: Model, work: Any, name: str) -> None:
    """Refuse requests longer than a model with learned position embeddings has positions for. (A rotary or
    ALiBi model serves longer requests at their cost; its catalog max_seq is a trained length, not a limit.)"""
    from rainier.perf.workload import FixedLengths, Requests

    if not m.learned_pos_emb:
        return
    longest = _longest(work)
    if longest <= m.max_seq:
        return
    if isinstance(work, Requests):
        over = int(((work.input_len + work.output_len) > m.max_seq).sum())
        what = (f"{over:,} of the trace's {len(work):,} requests {'is' if over == 1 else 'are'} longer than "
                f"{m.max_seq:,} tokens (longest {longest:,}; the whole trace is checked, as --qps and --offline "
                "draw from all of it)")
        field, fix = "--trace", f"drop the trace's requests longer than {m.max_seq:,} tokens"
    elif isinstance(work, FixedLengths):
        what = f"{work.input_len:,} + {work.output_len:,} tokens exceed {m.max_seq:,}"
        field, fix = "--input-len/--output-len", f"keep input + output within {m.max_seq:,} tokens"
    else:
        what = f"the {name} lengths reach {longest:,} tokens, beyond {m.max_seq:,}"
        field, fix = "--lengths", (f"use a distribution whose input + output caps stay within {m.max_seq:,} tokens "
                                   "(openorca: 1,024 + 1,024), fixed lengths, or a trace")
    raise RainierError(f"{what}: {m.name}'s learned position embeddings have {m.max_seq:,} positions",
                       field=field, fix=fix)


def _not_fit_error(model: Model, acc: Accelerator, precision: str, tp: int, pp: int, mp: MemoryPlan,
                   need_tokens: int, *, field: str = "--tp/--pp", fix: str | None = None) -> RainierError:
    return RainierError(
        f"{model.name} at {precision} on {tp * pp} x {acc.name} (tp={tp}, pp={pp}) does not fit: "
        f"weights {mp.weights_bytes / 1e9:.1f} GB + activations {mp.activation_bytes / 1e9:.1f} GB per chip "
        f"of {mp.usable_bytes / 1e9:.1f} GB usable leave {mp.kv_bytes / 1e9:.1f} GB for the KV cache "
        f"({mp.kv_capacity_tokens:,} tokens; one request needs {need_tokens:,})",
        field=field, fix=fix or "use more chips per replica (--tp, --pp), a lower --precision, or shorter requests")


# --- the step model --------------------------------------------------------------------------------
def _sat_grid(cap: int) -> np.ndarray:
    g = np.concatenate([np.arange(1, 65, dtype=float), np.geomspace(64, max(cap, 65), 56)])
    return np.unique(np.round(g))


class StepModel:
    """Per-iteration time of one replica as a vectorizable function of the batch's aggregates."""

    def __init__(self, model: Model, acc: Accelerator, system: System, catalog: Catalog | None, *,
                 tp: int, pp: int, ep: int, precision: str, fit: InferenceFit | None = None,
                 token_cap: int = STEP_TOKEN_CAP, decode_attention: str = "grouped",
                 kv_context: float | None = None, kv_dtype: str | None = None, attention_dp: int = 1,
                 attention_dtype: str = "bf16"):
        self.model, self.acc, self.system = model, acc, system
        self.attention_dtype = check_attention_dtype(acc, attention_dtype)
        self.tp, self.pp, self.ep, self.precision = int(tp), int(pp), int(ep), precision
        # data-parallel attention (see attention_dp_problem): adp groups of ta = tp / adp ranks, each group
        # attending to its own requests with its own copy of the attention weights
        self.adp = int(attention_dp)
        self.ta = self.tp // self.adp
        self.gemm_precision = gemm_precision(acc, precision)
        if decode_attention not in DECODE_ATTENTION:
            raise RainierError(f"unknown decode attention kernel '{decode_attention}'", field="--decode-attention",
                               fix=f"use one of {', '.join(DECODE_ATTENTION)}")
        self.decode_attention = decode_attention
        self.fit = fit or load_inference_fit()
        self.kv_dtype = kv_precision(precision, kv_dtype)
        self.topo = _coll.Topology.from_system(system, catalog)
        self.layers_stage = model.layers / pp
        pc = param_counts(model)
        self.moe_layers_stage = pc.moe_layers / pp
        self.dense_layers_stage = pc.dense_layers / pp
        self.eff = self.fit.eff_params(acc)
        # the tables cover a full token budget beside every group's decodes
        self.grid = _sat_grid(token_cap + MAX_SLOTS * (self.adp - 1))
        # the attention projections of one attention group holding t tokens
        self.t_attn = np.array([self._attn_lin(float(t)) for t in self.grid])
        parts = np.array([self._stage_parts(float(t)) for t in self.grid])
        self.t_lin, self.t_comm, self.t_ew, self.t_p2p = parts.T
        self.t_head = np.array([self._head(float(t)) for t in self.grid])
        self.t_stage = self.t_lin + self.t_comm + self.t_ew
        # Attention core coefficients (seconds per unit, per iteration over all layers). With data-parallel
        # attention each group holds 1/adp of the requests (balanced), so a unit of the replica's context or
        # prefill work costs 1/adp of its time on one group.
        ta, adp = self.ta, self.adp
        kv_b = _kv_bytes_token_layer_chip(model, ta, self.kv_dtype)
        # attention reads each cached token once per layer that still holds it: a sliding-window layer only
        # its window (decode reads and, approximately, prefill pairs at the workload's typical context)
        swa = model.kv_share(kv_context)
        mem_c = _comp.memory_time_s(acc, 1e9, self.eff) / 1e9
        heads = math.ceil(model.heads / ta)
        if model.mla is not None:
            c = model.mla
            dec_flops = heads * 2.0 * (2 * c.kv_lora_rank + c.qk_rope_head_dim)  # absorbed MLA decode
            pf_flops = heads * 2.0 * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim)
            hd = c.qk_nope_head_dim + c.qk_rope_head_dim
        else:
            dec_flops = heads * 4.0 * model.d_head
            pf_flops = dec_flops
            hd = model.d_head
        # Prefill attention is a flash-attention forward: the kernel's measured efficiency where one is
        # published (the same figures as training's), else the relative prior.
        attn_c = _comp.flash_attention_time_s(acc, 1e12, 0.0, 512, hd, self.eff,
                                              precision=self.attention_dtype) / 1e12
        attn_dec_c = _comp.attention_time_s(acc, 1e12, 0.0, 64, hd, self.eff) / 1e12
        # A per-head decode kernel reads each KV head once per query head that uses it (GQA group).
        self.kv_reads = (max(heads / _kv_heads_per_chip(model, ta), 1.0)
                         if decode_attention == "per-head" and model.mla is None else 1.0)
        # a decode query's attention per token of context: the KV bytes it reads, or its FLOPs when those take longer
        self._kv_read_s = model.layers * swa * (kv_b * self.kv_reads * mem_c) / adp
        self._kv_flop_s = model.layers * swa * (dec_flops * attn_dec_c) / adp
        self.c_kv = max(self._kv_read_s, self._kv_flop_s)
        self.c_attn = model.layers * swa * pf_flops * attn_c / adp
        self.t_fixed = self.fit.step_overhead_s + self.fit.layer_overhead_s * model.layers

    def kv_coeff(self, queries: int) -> float:
        """Seconds per token of context for ``queries`` positions of one request attending to its KV at once
        (speculative verification): the KV is read once, the FLOPs scale with the queries."""
        return max(self._kv_read_s, queries * self._kv_flop_s)

    # per-stage pieces for a microbatch of T tokens
    def _gemm(self, m: float, n: float, k: float, batch: float = 1.0, precision: str | None = None) -> float:
        p = precision or self.gemm_precision
        if m <= 0 or batch <= 0:
            return 0.0
        return _comp.gemm_time_s(self.acc, m, n, k, p, batch, self.eff)

    def _attn_lin(self, T: float) -> float:
        """The attention projections of one layer on a rank of an attention group holding ``T`` tokens."""
        m, ta = self.model, self.ta
        h = m.hidden
        heads = math.ceil(m.heads / ta)
        g = self._gemm
        if m.mla is not None:
            c = m.mla
            q_w = heads * (c.qk_nope_head_dim + c.qk_rope_head_dim)
            q = g(T, c.q_lora_rank, h) + g(T, q_w, c.q_lora_rank) if c.q_lora_rank else g(T, q_w, h)
            return (q + g(T, c.kv_lora_rank + c.qk_rope_head_dim, h)
                    + g(T, heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank)
                    + g(T, h, heads * c.v_head_dim))
        d = m.d_head
        return g(T, (heads + 2 * _kv_heads_per_chip(m, ta)) * d, h) + g(T, h, heads * d)

    def _stage_parts(self, T: float) -> tuple[float, float, float, float]:
        m, tp, ep, adp = self.model, self.tp, self.ep, self.adp
        h = m.hidden
        g = self._gemm
        # each attention group projects its share of the tokens (balanced; a group's GEMM of under one token
        # still reads every weight: the table's first point)
        attn = float(np.interp(T / adp, self.grid, self.t_attn))
        mats_up = 2 if m.ffn_type == "swiglu" else 1

        def mlp(ffn: float, tokens: float, batch: float = 1.0, split: float = tp) -> float:
            return g(tokens, mats_up * ffn / split, h, batch) + g(tokens, h, ffn / split, batch)

        dense = mlp(m.ffn_hidden, T)
        moe = 0.0
        if m.moe is not None:
            e = m.moe
            E, k = e.experts, e.top_k
            split = tp / ep
            p_hit = 1.0 - (1.0 - k / E) ** T
            touched = (E / ep) * p_hit
            tokens_local = T * k / ep
            m_e = tokens_local / max(touched, 1e-12)
            moe = mlp(e.expert_ffn_hidden, m_e, touched, split) + g(T, E, h)
            if e.shared_experts:
                moe += mlp((e.shared_ffn_hidden or e.expert_ffn_hidden) * e.shared_experts, T)
        lin = self.layers_stage * attn + self.dense_layers_stage * dense + self.moe_layers_stage * moe
        # Collectives per layer: the attention's all-reduce within its group (T / adp tokens over ta ranks), then
        # the MLP's: an all-reduce over tp (TP attention: the MLP's own; data-parallel attention: the all-gather
        # of every group's tokens before the MLP and the reduce-scatter after it, one all-reduce's bytes), or the
        # experts' dispatch and combine all-to-alls
        ar = _coll.collective_time_s(self.topo, "all_reduce", T * h * ACT_BYTES, tp) if tp > 1 else 0.0
        ar_attn = (_coll.collective_time_s(self.topo, "all_reduce", T / adp * h * ACT_BYTES, self.ta)
                   if self.ta > 1 else 0.0)
        comm = self.dense_layers_stage * (ar_attn + ar)
        if m.moe is not None:
            if ep > 1:
                a2a = _coll.collective_time_s(self.topo, "all_to_all", T * m.moe.top_k * h * ACT_BYTES / ep, ep)
                comm += self.moe_layers_stage * (ar_attn + 2 * a2a)
            else:
                comm += self.moe_layers_stage * (ar_attn + ar)
        ffn_local = (m.moe.expert_ffn_hidden * m.moe.top_k if m.moe else m.ffn_hidden) / tp
        ew_bytes = (T * ACT_BYTES * (8 * h + 3 * ffn_local)
                    + T / adp * _kv_bytes_token_layer_chip(m, self.ta, self.kv_dtype))
        ew = self.layers_stage * _comp.elementwise_time_s(self.acc, ew_bytes, self.eff)
        p2p = 0.0
        if self.pp > 1:
            p2p = _coll.collective_time_s(self.topo, "p2p", T * h * ACT_BYTES, 2, stride=tp)
        return lin, comm, ew, p2p

    def dp_imbalance_s(self, ndec: Any, tok_pf: Any, nseq_pf: Any, units: Any, max_chunk: Any = None,
                       max_units: Any = None) -> Any:
        """Data-parallel attention: the busiest group's prefill work beyond the balanced share that
        :meth:`step_time_s` counts (arrays or scalars; 0 with tensor-parallel attention). A request is prefilled
        by the one group holding it, so a step's prefill chunks (``nseq_pf`` requests, ``tok_pf`` tokens, the largest
        ``max_chunk`` tokens doing ``max_units`` of the attention work; the mean chunk where not given) load at most
        ``min(adp, nseq_pf)`` groups, the busiest holding at least the largest chunk, while the ``ndec`` decodes'
        projections spread over all ``adp``: the groups wait for the busiest at the experts (TensorRT-LLM's
        attention-DP balance note: "the iteration time is dominated by the slowest rank"). A prompt prefilled alone
        pays its attention projections and core on one group. The decodes' context: :meth:`dp_ctx_factor`."""
        if self.adp == 1:
            return 0.0 * np.asarray(tok_pf, dtype=float)
        adp = float(self.adp)
        ndec, tok_pf = np.asarray(ndec, dtype=float), np.asarray(tok_pf, dtype=float)
        units = np.asarray(units, dtype=float)
        busy = np.clip(np.asarray(nseq_pf, dtype=float), 1.0, adp)
        hot_tok, hot_units = tok_pf / busy, units / busy
        if max_chunk is not None:
            hot_tok = np.maximum(hot_tok, np.asarray(max_chunk, dtype=float))
        if max_units is not None:
            hot_units = np.maximum(hot_units, np.asarray(max_units, dtype=float))
        g, a = self.grid, self.t_attn
        hot = np.interp(hot_tok + ndec / adp, g, a)
        even = np.interp((tok_pf + ndec) / adp, g, a)
        return self.layers_stage * (hot - even) + self.c_attn * (adp * hot_units - units)

    def dp_ctx_factor(self, ndec: Any) -> Any:
        """Data-parallel attention: the busiest group's decode context over the balanced share ``c_kv`` prices
        (``adp / min(adp, ndec)``: fewer decodes than groups leave a group holding a whole request's context; 1 with
        tensor-parallel attention or a decode on every group)."""
        n = np.asarray(ndec, dtype=float)
        if self.adp == 1:
            return 1.0 + 0.0 * n
        return self.adp / np.clip(n, 1.0, float(self.adp))

    def _head(self, n_seq: float) -> float:
        m = self.model
        # Logits of the last position of each sequence; the head stays bf16.
        return self._gemm(n_seq, m.vocab / self.tp, m.hidden, precision="bf16")

    # vectorized step time
    def step_time_s(self, tokens: Any, n_seq: Any, ctx_sum: Any, prefill_units: Any) -> Any:
        """Seconds of one iteration (arrays or scalars): see the module docstring's equation."""
        pp = self.pp
        t_mb = np.asarray(tokens, dtype=float) / pp
        s_mb = np.asarray(n_seq, dtype=float) / pp
        t = pp * (np.interp(t_mb, self.grid, self.t_stage) + np.interp(s_mb, self.grid, self.t_head))
        if pp > 1:
            t = t + (pp - 1) * np.interp(t_mb, self.grid, self.t_p2p)
        t = t + np.asarray(ctx_sum, dtype=float) * self.c_kv + np.asarray(prefill_units, dtype=float) * self.c_attn
        return np.where(np.asarray(tokens) > 0, t + self.t_fixed, 0.0)

    def fast_step_s(self, tokens: np.ndarray, n_seq: np.ndarray, prefill_units: np.ndarray) -> np.ndarray:
        """:meth:`step_time_s` without the decode-context term, for float arrays (the simulator's hot path)."""
        if self.pp != 1:
            return self.step_time_s(tokens, n_seq, 0.0, prefill_units)
        g = self.grid
        t = np.interp(tokens, g, self.t_stage) + np.interp(n_seq, g, self.t_head) + prefill_units * self.c_attn
        t += self.t_fixed
        return t * (tokens > 0)

    def decode_step_s(self, batch: float, context: float) -> float:
        return float(self.step_time_s(batch, batch, batch * context, 0.0))

    def prefill_s(self, tokens: float) -> float:
        return float(self.step_time_s(tokens, 1, 0.0, tokens * (tokens + 1) / 2))

    def breakdown(self, tokens: float, n_seq: float, ctx_sum: float, prefill_units: float) -> dict[str, float]:
        pp = self.pp
        t_mb, s_mb = tokens / pp, n_seq / pp
        return {
            "gemm_s": pp * float(np.interp(t_mb, self.grid, self.t_lin) + np.interp(s_mb, self.grid, self.t_head)),
            "attention_decode_s": ctx_sum * self.c_kv,
            "attention_prefill_s": prefill_units * self.c_attn,
            "collectives_s": pp * float(np.interp(t_mb, self.grid, self.t_comm))
            + (pp - 1) * float(np.interp(t_mb, self.grid, self.t_p2p)),
            "elementwise_s": pp * float(np.interp(t_mb, self.grid, self.t_ew)),
            "overhead_s": self.t_fixed,
        }


_STEP_CACHE: dict[tuple[Any, ...], tuple[StepModel, tuple[Any, ...]]] = {}


def step_model(model: Model, acc: Accelerator, system: System, catalog: Catalog | None, *, tp: int, pp: int = 1,
               ep: int = 1, precision: str = "bf16", fit: InferenceFit | None = None,
               decode_attention: str = "grouped", kv_context: float | None = None,
               kv_dtype: str | None = None, attention_dp: int = 1, attention_dtype: str = "bf16") -> StepModel:
    """A :class:`StepModel`, cached per (objects, parallelism, precision, fit).

    Catalog entries hold dicts and are not hashable, so the cache keys on identity and keeps the
    objects alive beside the value (an id is never reused while its object lives).
    """
    f = fit or load_inference_fit()
    ctx = kv_context if model.sliding_fraction else None
    key = (id(model), id(acc), id(system), id(catalog), int(tp), int(pp), int(ep), precision, f, decode_attention, ctx,
           kv_precision(precision, kv_dtype), int(attention_dp), attention_dtype)
    hit = _STEP_CACHE.get(key)
    if hit is not None:
        return hit[0]
    sm = StepModel(model, acc, system, catalog, tp=tp, pp=pp, ep=ep, precision=precision, fit=f,
                   decode_attention=decode_attention, kv_context=ctx, kv_dtype=kv_dtype, attention_dp=attention_dp,
                   attention_dtype=attention_dtype)
    if len(_STEP_CACHE) > 512:
        _STEP_CACHE.clear()
    _STEP_CACHE[key] = (sm, (model, acc, system, catalog))
    return sm


# --- steady state (fluid) -----------------------------------------------------------------------
@dataclass(frozen=True)
class SteadyState:
    """Fluid steady state of a full batch: every slot busy, prefill chunks fill the token budget."""

    batch: float
    step_s: float
    requests_per_step: float
    output_tokens_per_s: float
    total_tokens_per_s: float
    requests_per_s: float
    ttft_s: float


def steady_state(sm: StepModel, batch: float, mean_in: float, mean_out: float,
                 token_budget: int = DEFAULT_TOKEN_BUDGET, *, prefix_hit: float = 0.0,
                 spec: SpecStep | None = None, shared: SharedPrefix | None = None) -> SteadyState:
    """Throughput of one replica with ``batch`` requests in flight (offline / saturated).

    Each request holds a slot for ``mean_out`` iterations (one prefill, ``mean_out - 1`` decodes), so
    ``x = batch / mean_out`` requests complete per iteration unless the prefill chunks overflow the
    token budget, ``x <= budget / (mean_in + mean_out - 1)``. With a prefix cache (``prefix_hit``) a
    request prefills ``(1 - prefix_hit) mean_in`` tokens, attending to the cached ones too; with
    speculative decoding (``spec``) it decodes in ``(mean_out - 1) / E`` iterations of ``k + 1`` tokens each.
    With cascade attention over a shared prefix (``shared.cascade``) the decodes read the prefix once per
    iteration (:func:`cascade_terms`).
    """
    b = max(float(batch), 1.0)
    g, k = gain_and_tokens(spec)
    if spec is None and prefix_hit == 0.0:
        x = min(b / mean_out, token_budget / (mean_in + mean_out - 1))
    else:
        dec_iters = (mean_out - 1) / g
        x = min(b / (1.0 + dec_iters), token_budget / (mean_in * (1.0 - prefix_hit) + (k + 1) * dec_iters))
    n_dec, pf, ctx, units = _aggregates(x, mean_in, mean_out, prefix_hit, g)
    saved, once = _cascade(sm, shared)
    ctx -= n_dec * saved
    if spec is None:
        dt = float(sm.step_time_s(n_dec + x * pf, n_dec + x, ctx, units)) + (once if n_dec > 0 else 0.0)
    else:
        dt = float(spec.step_time_s(n_dec, x * pf, x, ctx, units))
    dt += _dp_skew_s(sm, spec, n_dec, x * pf, x, ctx, units)
    return SteadyState(b, dt, x, x * mean_out / dt, x * (mean_in + mean_out) / dt, x / dt,
                       _prefill_alone_s(sm, spec, pf, mean_in - pf, token_budget))


def _dp_skew_s(sm: StepModel, spec: SpecStep | None, n_dec: float, tok_pf: float, n_pf: float, ctx_sum: float,
               units: float) -> float:
    """Data-parallel attention: the busiest group's prefill (:meth:`StepModel.dp_imbalance_s`) and decode context
    (:meth:`StepModel.dp_ctx_factor`) beyond the balanced share the step model prices, for an iteration of ``n_dec``
    decodes (``k + 1`` positions each under a draft) and ``n_pf`` prompts' ``tok_pf`` tokens; 0 with TP attention."""
    if sm.adp == 1:
        return 0.0
    _, k = gain_and_tokens(spec)
    c_kv = sm.c_kv if spec is None else spec.c_kv
    return (float(sm.dp_imbalance_s(n_dec * (k + 1), tok_pf, n_pf, units))
            + ctx_sum * c_kv * (float(sm.dp_ctx_factor(n_dec)) - 1.0))


def _prefill_alone_s(sm: StepModel, spec: SpecStep | None, tokens: float, cached: float, token_budget: int) -> float:
    """Time to first token of a prompt prefilled alone: its ``tokens`` in chunks of the token budget, each chunk
    attending to the ``cached`` prefix and the chunks before it (a 32k prompt under an 8k budget is four
    iterations, the last attending to 24k tokens before it). The search's TTFT: a light load's, no queueing."""
    t, done, left = 0.0, cached, tokens
    while True:
        c = min(left, float(token_budget))
        u = c * (c + 1) / 2 + c * done
        t += float(sm.step_time_s(c, 1, 0.0, u) if spec is None else spec.step_time_s(0.0, c, 1, 0.0, u))
        t += float(sm.dp_imbalance_s(0.0, c, 1.0, u))
        done, left = done + c, left - c
        if left <= 0:
            return t


def _aggregates(x: float, mean_in: float, mean_out: float, prefix_hit: float,
                gain: float) -> tuple[float, float, float, float]:
    """What one steady-state iteration carries when ``x`` requests complete per iteration: the decoding requests,
    the tokens each request prefills, the decodes' summed context and the prefill attention units (cached prefix
    included)."""
    if prefix_hit == 0.0 and gain == 1.0:
        n_dec = x * (mean_out - 1)
        return n_dec, mean_in, n_dec * (mean_in + mean_out / 2), x * mean_in * (mean_in + 1) / 2
    pf = mean_in * (1.0 - prefix_hit)
    n_dec = x * (mean_out - 1) / gain
    return n_dec, pf, n_dec * (mean_in + mean_out / 2), x * (pf * (pf + 1) / 2 + pf * (mean_in - pf))


def spec_step(sm: StepModel, spec: SpecConfig | None, catalog: Catalog | None, *, kv_context: float | None = None,
              fit: InferenceFit | None = None) -> SpecStep | None:
    """The iteration model of ``sm`` decoding speculatively with ``spec``'s draft at the same TP (None without)."""
    if spec is None:
        return None
    f = dataclasses.replace(fit or sm.fit, step_overhead_s=0.0)  # the target's iteration pays the host time
    d = step_model(spec.draft, sm.acc, sm.system, catalog, tp=sm.tp, pp=1,
                   ep=sm.ep if spec.mtp and spec.draft.moe is not None else 1, precision=sm.precision, fit=f,
                   decode_attention=sm.decode_attention, kv_context=kv_context, kv_dtype=sm.kv_dtype,
                   attention_dp=sm.adp, attention_dtype=sm.attention_dtype)
    return SpecStep(sm, d, spec)


# --- configuration search ------------------------------------------------------------------------
def _pow2_upto(n: int) -> list[int]:
    out, v = [], 1
    while v <= n:
        out.append(v)
        v *= 2
    return out


@dataclass(frozen=True)
class Candidate:
    tp: int
    pp: int
    ep: int
    replicas: int
    max_batch: int
    kv_capacity_tokens: int
    output_tokens_per_s: float
    output_tokens_per_s_per_chip: float
    step_s: float
    ttft_s: float
    meets_slo: bool
    attention_dp: int = 1

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.pp


@dataclass(frozen=True)
class SharedPrefix:
    """A prefix every prompt starts with, as the analytic model sees it: ``tokens`` held once per replica;
    ``mean_shared`` and ``mean_cached``: the mean over the workload's prompts of the part of a prompt that is
    the prefix (all but its last token at most) and of the part not prefilled (with a prefix hit too). Means
    over the prompts, not of the mean prompt: a prompt shorter than the prefix holds more of its own."""

    tokens: int
    mean_shared: float
    mean_cached: float
    cascade: bool = False  # decodes read the prefix once per iteration (cascade attention), not once per request

    @classmethod
    def of(cls, input_len: np.ndarray, tokens: int, prefix_hit: float = 0.0, cascade: bool = False) -> SharedPrefix:
        from rainier.perf.serving import cached_tokens, shared_tokens

        x = np.asarray(input_len, dtype=np.int64)
        return cls(int(tokens), float(shared_tokens(x, tokens).mean()), float(cached_tokens(x, prefix_hit, tokens).mean()),
                   cascade)


def cascade_terms(sm: StepModel, tokens: float) -> tuple[float, float]:
    """Cascade attention over a shared prefix (FlashInfer's cascade kernel, vLLM V1's cascade attention): the
    decodes' queries attend to the prefix together, as a prefill chunk attends to its context, so the prefix's KV
    is read once per iteration and its FLOPs run at the prefill kernel's efficiency. Returns (the share of a
    prefix token's per-request decode cost that this saves, ``1 - c_attn / c_kv``; seconds of the one read per
    iteration, ``tokens x`` the KV-read time per token; with data-parallel attention every group reads its own copy,
    so a token's read costs a group ``adp`` times the balanced share). Where the prefill kernel's FLOPs cost more
    than a decode's read (no saving), a stack keeps the per-request kernel: (0, 0)."""
    if sm.c_attn >= sm.c_kv:
        return 0.0, 0.0
    return 1.0 - sm.c_attn / sm.c_kv, tokens * sm._kv_read_s * sm.adp


def _cascade(sm: StepModel, shared: SharedPrefix | None) -> tuple[float, float]:
    """(context tokens of each decode that cascade attention takes off the per-request term, seconds of its one
    read per iteration with decodes); (0, 0) without cascade attention."""
    if shared is None or not shared.cascade:
        return 0.0, 0.0
    cut, once = cascade_terms(sm, shared.tokens)
    return shared.mean_shared * cut, once


PREFIX_ATTENTION = ("per-request", "cascade")


def _shared(sp: SharedPrefix | None, attention_dp: int = 1) -> tuple[int, float]:
    """(tokens held once per replica, once per attention group with data-parallel attention; mean tokens of a
    request that are the prefix)."""
    return (sp.tokens * attention_dp, sp.mean_shared) if sp is not None else (0, 0.0)


def _batch_for(sm: StepModel, kv_tokens: int, mean_in: float, mean_out: float, token_budget: int,
               slo_tpot_s: float | None, batch_cap: int | None, kv_policy: str = "paged", *,
               prefix_hit: float = 0.0, spec: SpecStep | None = None,
               shared: SharedPrefix | None = None) -> tuple[int, SteadyState]:
    # Tokens a request holds on average over its life: all of input + output when reserved, the
    # prompt plus half the output when paged (less the watermark kept free for growth); plus the
    # draft's proposals under speculative decoding. A shared prefix is held once (off the capacity), not
    # per request.
    per_tok, k = gain_and_tokens(spec)  # the TPOT a request sees is the step time over the tokens it gains per step
    store, per_req = _shared(shared, sm.adp)
    kv_tokens, own_in = kv_tokens - store, mean_in - per_req
    if kv_policy == "paged":
        bmax = max(1, int(max(kv_tokens, 0) * (1.0 - KV_WATERMARK) // max(own_in + mean_out / 2 + k, 1.0)))
    else:
        bmax = max(1, int(max(kv_tokens, 0) // max(own_in + mean_out + k, 1.0)))
    bmax = min(bmax, MAX_SLOTS * sm.adp)  # the slot cap is per attention group
    if batch_cap is not None:
        bmax = min(bmax, int(batch_cap))
    kw: dict[str, Any] = dict(prefix_hit=prefix_hit, spec=spec, shared=shared)
    st = steady_state(sm, bmax, mean_in, mean_out, token_budget, **kw)
    if slo_tpot_s is None or st.step_s / per_tok <= 0.85 * slo_tpot_s:
        return bmax, st
    lo, hi = 1, bmax
    best = steady_state(sm, 1, mean_in, mean_out, token_budget, **kw)
    while lo < hi:  # step time grows with batch: bisect the largest batch under the TPOT target
        mid = (lo + hi + 1) // 2
        s = steady_state(sm, mid, mean_in, mean_out, token_budget, **kw)
        if s.step_s / per_tok <= 0.85 * slo_tpot_s:
            lo, best = mid, s
        else:
            hi = mid - 1
    return lo, best


def pp_choices(model: Model, chips: int) -> list[int]:
    """Pipeline depths the search tries: powers of two and the divisors of the layers, up to 16 stages and the chips
    (Llama 3.1 405B's 126 layers on 12 H100: tp 4 x pp 3)."""
    cap = min(chips, 16)
    return sorted({p for p in _pow2_upto(cap) if p <= model.layers}
                  | {d for d in range(3, cap + 1) if model.layers % d == 0})


MIN_QPS = 1e-6  # one request in 11.6 days: slower rates run every clock in the simulation past float precision


def search_configs(model: Model, acc: Accelerator, system: System, catalog: Catalog | None, chips: int, *,
                   precision: str, mean_in: float, mean_out: float, tp: int | None = None,
                   pp: int | None = None, ep: int | None = None, replicas: int | None = None,
                   slo_ttft_s: float | None = None, slo_tpot_s: float | None = None,
                   max_batch: int | None = None, token_budget: int = DEFAULT_TOKEN_BUDGET,
                   fit: InferenceFit | None = None, decode_attention: str = "grouped",
                   kv_policy: str = "paged", kv_dtype: str | None = None, prefix_hit: float = 0.0,
                   spec: SpecConfig | None = None, shared: SharedPrefix | None = None,
                   attention_dp: int | None = None, concurrency: int | None = None,
                   attention_dtype: str = "bf16") -> list[Candidate]:
    """Every feasible (tp, pp, ep, attention_dp) on ``chips`` chips, best output tokens/s per chip first.

    Fixed flags are honoured; the rest are enumerated: tp over the valid degrees within the scale-up
    domain (:func:`tp_choices`: even splits of the heads and powers of two), pp over powers of two
    up to the layers' count, ep over power-of-two divisors of tp (MoE), attention_dp 1 (tensor-parallel
    attention) or tp (data-parallel attention, one rank a group: MoE models on one pipeline stage,
    :func:`attention_dp_problem`).
    Scored analytically (:func:`steady_state`) at the largest batch memory (and ``max_batch``, and a TPOT target)
    allows, or, with a closed loop of ``concurrency`` requests, at the batch that leaves each replica (at most
    ``concurrency / replicas``): a layout is ranked at the load it will see. SLO-meeting candidates rank first.
    With speculative decoding (``spec``) a replica is one pipeline stage (the draft runs beside the target).
    """
    dom = system.scaleup_domain_chips
    tps = [tp] if tp else tp_choices(model, min(chips, dom))
    pps = [pp] if pp else ([1] if spec is not None else pp_choices(model, chips))
    out: list[Candidate] = []
    need = int(mean_in + mean_out) + (spec.tokens if spec is not None else 0)
    store, per_req = _shared(shared)
    shared_extra = max(0, int(math.ceil(store - per_req)))  # the prefix beyond a mean request's shared part
    kv_ctx = mean_in + mean_out / 2.0  # a request's typical live context (sliding-window KV)
    for t in tps:
        for p in pps:
            per = t * p
            if per > chips:
                continue
            if replicas is not None and replicas * per > chips:
                continue
            eps = [ep] if ep else ([e for e in _pow2_upto(t) if t % e == 0] if model.moe else [1])
            for e in eps:
                if model.moe is None and e != 1:
                    continue
                if model.moe is not None and (t % e or e > model.moe.experts):
                    continue
                adps = [attention_dp] if attention_dp else ([1, t] if model.moe is not None and t > 1 else [1])
                for d in adps:
                    if attention_dp_problem(model, t, p, d):
                        continue
                    mp = memory_plan(model, acc, precision, t, p, token_budget=token_budget,
                                     max_batch=max_batch or 1024, fit=fit, kv_context=kv_ctx, kv_dtype=kv_dtype,
                                     spec=spec, attention_dp=d)
                    # the shared prefix and one request (its own part) in one attention group's share
                    if mp.group_capacity_tokens < need + shared_extra:
                        continue
                    sm = step_model(model, acc, system, catalog, tp=t, pp=p, ep=e, precision=precision, fit=fit,
                                    decode_attention=decode_attention, kv_context=kv_ctx, kv_dtype=kv_dtype,
                                    attention_dp=d, attention_dtype=attention_dtype)
                    ss = spec_step(sm, spec, catalog, kv_context=kv_ctx, fit=fit)
                    r = replicas or chips // per
                    cap = max_batch
                    busy = r  # replicas that get requests: fewer in flight than replicas leave some idle
                    if concurrency is not None:
                        cap = min(cap or MAX_SLOTS * d, max(1, math.ceil(concurrency / r)))
                        busy = min(r, math.ceil(concurrency / cap))
                    b, st = _batch_for(sm, mp.kv_capacity_tokens, mean_in, mean_out, token_budget, slo_tpot_s,
                                       cap, kv_policy, prefix_hit=prefix_hit, spec=ss, shared=shared)
                    tpot = st.step_s / (spec.gain if spec is not None else 1.0)
                    meets = ((slo_tpot_s is None or tpot <= slo_tpot_s)
                             and (slo_ttft_s is None or st.ttft_s <= slo_ttft_s))
                    tok = st.output_tokens_per_s * busy
                    out.append(Candidate(t, p, e, r, b, mp.kv_capacity_tokens, tok, tok / chips, st.step_s, st.ttft_s,
                                         meets, d))
    out.sort(key=lambda c: (not c.meets_slo, -c.output_tokens_per_s_per_chip, c.tp * c.pp, c.attention_dp))
    return out


def disaggregation_split(sm: StepModel, replicas: int, mean_in: float, mean_out: float, kv_tokens: int,
                         token_budget: int, slo_tpot_s: float | None, colocated_batch: int, *,
                         prefix_hit: float = 0.0, spec: SpecStep | None = None,
                         shared: SharedPrefix | None = None) -> int | None:
    """Prefill replicas of the best disaggregated split, or None when co-location serves more.

    Analytic capacities (requests/s): a prefill replica runs full token budgets at 80% utilization
    (queueing headroom for TTFT); a decode replica runs the largest batch whose decode-only step meets
    the TPOT target and whose KV reservations fit. The split maximizes ``min(prefill, decode)`` capacity
    (Splitwise / DistServe); it is chosen only if it beats co-located serving by 5%.
    """
    if mean_out <= 1:
        return None
    colo = steady_state(sm, colocated_batch, mean_in, mean_out, token_budget, prefix_hit=prefix_hit,
                        spec=spec, shared=shared).requests_per_s * replicas
    chunk = float(token_budget)
    pf_in = mean_in * (1.0 - prefix_hit) if prefix_hit else mean_in
    units = chunk * (pf_in + 1) / 2 + chunk * (mean_in - pf_in)
    if spec is None:
        pf_step = float(sm.step_time_s(chunk, max(1.0, chunk / pf_in), 0.0, units))
    else:
        pf_step = float(spec.step_time_s(0.0, chunk, max(1.0, chunk / pf_in), 0.0, units))
    pf_step += float(sm.dp_imbalance_s(0.0, chunk, max(1.0, chunk / pf_in), units))
    pf_rps = 0.8 * (chunk / pf_in) / pf_step
    ctx = mean_in + mean_out / 2
    g, k = gain_and_tokens(spec)
    saved, once = _cascade(sm, shared)
    ctx -= saved

    def dec_step(b: float) -> float:  # seconds per output token of a request
        skew = _dp_skew_s(sm, spec, b, 0.0, 0.0, b * ctx, 0.0)  # the busiest attention group's context beyond its share
        if spec is None:
            return float(sm.step_time_s(b, b, b * ctx, 0.0)) + once + skew
        return (float(spec.step_time_s(b, 0.0, 0.0, b * ctx, 0.0)) + skew) / g

    store, per_req = _shared(shared, sm.adp)
    own = mean_in - per_req + mean_out + k  # the shared prefix is held once (per attention group)
    bmax = max(1, min(MAX_SLOTS * sm.adp, int(max(kv_tokens - store, 0) // own)))
    target = 0.85 * slo_tpot_s if slo_tpot_s else None
    b = bmax
    if target is not None and dec_step(b) > target:
        lo, hi = 1, bmax
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if dec_step(mid) <= target:
                lo = mid
            else:
                hi = mid - 1
        b = lo
    if target is not None and dec_step(b) > target:
        return None
    dec_rps = b / (mean_out - 1) / dec_step(b)  # b requests, each mean_out - 1 tokens at dec_step per token
    best_k, best_rate = None, 0.0
    for k in range(1, replicas):
        rate = min(k * pf_rps, (replicas - k) * dec_rps)
        if rate > best_rate:
            best_k, best_rate = k, rate
    return best_k if best_k is not None and best_rate > 1.05 * colo else None


# --- results --------------------------------------------------------------------------------------
@dataclass
class ServingResult:
    """What `rainier serve --json` prints (one deployment at one traffic level)."""

    output_tokens_per_s: float
    output_tokens_per_s_per_chip: float
    total_tokens_per_s: float
    requests_per_s: float
    ttft_s: dict[str, float | None]
    tpot_s: dict[str, float | None]  # None where no request has a second token (output length 1)
    e2e_s: dict[str, float | None]
    max_batch: int
    kv_cache_gb: float
    slo_attainment: float | None
    goodput_tokens_per_s: float | None
    cost_per_mtok_usd: float
    cost_per_mtok_cloud_usd: float | None
    joules_per_token: float
    max_qps: float | None
    config: dict[str, Any]
    memory: dict[str, Any]
    queue: dict[str, float]
    breakdown: dict[str, float]
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    # the error to expect: the inference fit's held-out published runs on this family (inference_accuracy);
    # None when the caller passes its own fit or none is shipped
    accuracy: dict[str, Any] | None = None
    # and the published runs outside the validation table scored with the shipped fits (inference_out_of_sample):
    # {"family": record or None, "model": record or None}; None when neither has runs or with a caller's fit
    accuracy_out_of_sample: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _econ(cat: Catalog, acc: Accelerator, system: System) -> tuple[float, float | None, float]:
    from rainier.econ import chip_hour_cost, power_chain

    econ = cat.economics()
    cost = chip_hour_cost(acc, system, econ)
    chain = power_chain(acc, system, econ)
    return cost.total_usd, cost.cloud_price_usd, chain.facility_w


def estimate_serving(model: Model | str, chip: Accelerator | str, chips: int, *, tp: int | None = None,
                     ep: int | None = None, pp: int | None = None, replicas: int | None = None,
                     precision: str = "bf16", input_len: int | None = None, output_len: int | None = None,
                     lengths: str | Any | None = None, qps: float | None = None, concurrency: int | None = None,
                     offline: bool = False, trace: str | Path | None = None, requests: int | None = None,
                     slo_ttft_s: float | None = None, slo_tpot_s: float | None = None, seed: int = 0,
                     system: str | System | None = None, max_batch: int | None = None,
                     token_budget: int | None = None, prefill_replicas: int | None = None,
                     decode_attention: str = "grouped", kv_policy: str = "paged",
                     catalog: Catalog | None = None, fit: InferenceFit | None = None,
                     step_overhead_s: float | None = None, kv_dtype: str | None = None,
                     prefix_hit: float = 0.0, draft: Model | str | None = None, spec_tokens: int | None = None,
                     spec_accept: float | None = None, shared_prefix: int = 0,
                     prefix_attention: str = "per-request", attention_dp: int | None = None,
                     attention_dtype: str = "bf16") -> ServingResult:
    """Serve ``model`` on ``chips`` chips of kind ``chip``: throughput, latency percentiles, cost, energy.

    Traffic: ``offline`` (all requests at t = 0), ``qps`` (Poisson), ``concurrency`` (closed loop) or a
    ``trace`` file; with an SLO and none of those, the highest Poisson rate whose p99 TTFT and TPOT meet
    it is found (MLPerf Server) and returned as ``max_qps``. Without ``tp``/``pp``/``ep`` the best
    configuration is searched. ``prefill_replicas`` splits the replicas into disaggregated prefill and
    decode pools (Splitwise / DistServe) with KV transfer over the scale-out network.
    ``step_overhead_s`` replaces the fit's host time per engine iteration (scheduling, sampling, launches:
    a property of the serving software, 2 ms by default); it adds to every prefill and decode step.
    ``prefill_replicas=0`` serves co-located (every replica prefills and decodes) and keeps the search
    from choosing a disaggregated split; None lets it choose one. ``kv_dtype`` (bf16 or fp8) stores the KV
    cache in its own type (capacity and decode reads); None: fp8 with 8-bit-or-less weights, else bf16.
    ``prefix_hit`` is the share of each prompt found in the prefix cache (its prefill is skipped; its KV is
    still held per request). ``shared_prefix``: the first tokens of every prompt are one prefix (a system prompt,
    tool definitions) found in the prefix cache: not prefilled, attended to, and its KV held once per replica
    (requests in flight share its blocks, as vLLM's automatic prefix caching and SGLang's radix cache do);
    ``prefix_attention``: how decodes read it, ``per-request`` (each request's attention reads it: SGLang,
    TensorRT-LLM) or ``cascade`` (once per iteration: vLLM V1's cascade attention, FlashInfer). ``draft`` (a model, or ``"mtp"`` for the target's one-layer head) decodes
    speculatively, proposing ``spec_tokens`` (3) tokens per step, each accepted with probability
    ``spec_accept`` (0.7): see :mod:`rainier.perf.speculative`. ``attention_dp``: data-parallel attention groups
    per replica (:func:`attention_dp_problem`; 1: tensor-parallel attention; None: searched for MoE models, 1 or tp).
    ``attention_dtype``: prefill attention's matmuls in bf16 (default) or fp8 (a chip with an fp8 rate).
    Arguments mirror the `rainier serve` flags, and errors name the flags.
    """
    call = dict(locals())  # the arguments, to serve co-located as well when the search picks a split
    from rainier.perf import serving as _srv
    from rainier.perf.workload import FixedLengths, load_trace, named_dist, round_robin_arrivals

    t0 = time.perf_counter()
    cat, m, a, s = _resolve(model, chip, system, catalog)
    check_precision(a, precision)
    kvd = kv_precision(precision, kv_dtype)
    check_attention_dtype(a, attention_dtype)
    f = fit or load_inference_fit()
    if step_overhead_s is not None:
        if not step_overhead_s >= 0 or math.isinf(step_overhead_s):
            raise RainierError(f"must be a finite duration >= 0 (got {step_overhead_s})", field="--step-overhead",
                               fix="give the serving stack's host time per iteration, e.g. 2ms")
        f = dataclasses.replace(f, step_overhead_s=float(step_overhead_s))
    chips = int(chips)
    if chips < 1:
        raise RainierError(f"need at least one chip (got {chips})", field="--chips", fix="give --chips 8")
    if attention_dp is not None and (isinstance(attention_dp, bool) or not isinstance(attention_dp, (int, np.integer))):
        raise RainierError(f"must be a whole number of groups (got {attention_dp!r})", field="--attention-dp",
                           fix="give e.g. --attention-dp 8 (or 1: tensor-parallel attention)")
    for name, v in (("--tp", tp), ("--pp", pp), ("--ep", ep), ("--replicas", replicas), ("--requests", requests),
                    ("--attention-dp", attention_dp)):
        if v is not None and v < 1:
            raise RainierError(f"must be at least 1 (got {v})", field=name, fix=f"give {name} 1 or more")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RainierError(f"must be a whole number of at least 0 (got {seed})", field="--seed",
                           fix="give e.g. --seed 0")
    if prefill_replicas is not None and prefill_replicas < 0:
        raise RainierError(f"must be at least 0 (got {prefill_replicas})", field="--prefill-replicas",
                           fix="give 0 (co-located) or 1 and more prefill-only replicas")
    if prefill_replicas and concurrency is not None:  # before the layout search, whose errors would come first
        raise RainierError("disaggregated pools take open-loop traffic", field="--concurrency",
                           fix="use --qps or --offline with --prefill-replicas")
    if decode_attention not in DECODE_ATTENTION:
        raise RainierError(f"unknown decode attention kernel '{decode_attention}'", field="--decode-attention",
                           fix=f"use one of {', '.join(DECODE_ATTENTION)}")
    if not (isinstance(prefix_hit, (int, float)) and 0.0 <= prefix_hit < 1.0):
        raise RainierError(f"must be a share in [0, 1) (got {prefix_hit})", field="--prefix-hit",
                           fix="give the share of prompt tokens found in the prefix cache, e.g. 0.5")
    prefix_hit = float(prefix_hit)
    if isinstance(shared_prefix, bool) or not isinstance(shared_prefix, (int, np.integer)) or shared_prefix < 0:
        raise RainierError(f"must be a whole number of tokens, 0 or more (got {shared_prefix})", field="--shared-prefix",
                           fix="give the tokens every prompt starts with, e.g. --shared-prefix 2k")
    shared_prefix = int(shared_prefix)
    if prefix_attention not in PREFIX_ATTENTION:
        raise RainierError(f"unknown prefix attention '{prefix_attention}'", field="--prefix-attention",
                           fix=f"use one of {', '.join(PREFIX_ATTENTION)}")
    cascade = prefix_attention == "cascade"
    if cascade and not shared_prefix:
        raise RainierError("cascade attention reads a shared prefix once per iteration: there is none",
                           field="--prefix-attention", fix="add --shared-prefix N, or drop --prefix-attention")
    if cascade and draft is not None:
        raise RainierError("cascade attention with speculative decoding is not modelled", field="--prefix-attention",
                           fix="drop --prefix-attention cascade or --draft")
    spec: SpecConfig | None = None
    if draft is None and (spec_tokens is not None or spec_accept is not None):
        flag = "--spec-tokens" if spec_tokens is not None else "--spec-accept"
        raise RainierError("speculative decoding needs a draft", field=flag,
                           fix="add --draft mtp (the model's own one-layer head) or --draft MODEL")
    if draft is not None:
        if pp is not None and pp > 1:
            raise RainierError("speculative decoding runs on one pipeline stage (the draft beside the target)",
                               field="--pp", fix="drop --pp, or drop --draft")
        if isinstance(draft, str) and draft.lower() == "mtp":
            dm = None
        else:
            try:
                dm = draft if isinstance(draft, Model) else cat.model(draft)
            except RainierError as e:  # the catalog names --model: this name came from --draft
                msg = str(e).removeprefix(f"{e.field}: ") if e.field else str(e)
                raise RainierError(msg + " (or mtp: the model's own one-layer head)", field="--draft") from None
        spec = make_spec(m, dm, spec_tokens if spec_tokens is not None else DEFAULT_SPEC_TOKENS,
                         spec_accept if spec_accept is not None else DEFAULT_SPEC_ACCEPT)
        check_draft_fits(spec, m)
        pp = 1
    if kv_policy not in _srv.KV_POLICIES:
        raise RainierError(f"unknown KV policy '{kv_policy}'", field="--kv-policy",
                           fix=f"use one of {', '.join(_srv.KV_POLICIES)}")
    if sum(x is not None and x is not False for x in (qps, concurrency)) + bool(offline) > 1:
        raise RainierError("give only one of --offline, --qps, --concurrency", field="--offline/--qps/--concurrency",
                           fix="pick one traffic mode")
    if qps is not None and not (MIN_QPS <= qps < math.inf):
        raise RainierError(f"must be a finite rate of at least {MIN_QPS:g} requests/s (got {qps})", field="--qps",
                           fix="give e.g. --qps 10")
    if concurrency is not None and concurrency < 1:
        raise RainierError(f"must be at least 1 (got {concurrency})", field="--concurrency", fix="give e.g. --concurrency 64")
    # the request-level simulation holds every request in memory (~100 B each, several arrays)
    for flag, v, cap in (("--concurrency", concurrency, MAX_CONCURRENCY), ("--requests", requests, MAX_REQUESTS)):
        if v is not None and v > cap:
            raise RainierError(f"{v:,} is more than the request-level simulation takes ({cap:,})", field=flag,
                               fix=f"give {flag} {cap:,} or fewer (the steady state is reached long before)")
    for flag, lim in (("--slo-ttft", slo_ttft_s), ("--slo-tpot", slo_tpot_s)):
        if lim is not None and not lim > 0:
            raise RainierError(f"must be positive (got {lim})", field=flag, fix="give e.g. 2s or 200ms")
    if (tp is not None or pp is not None) and (tp or 1) * (pp or 1) > chips:
        flag = "--tp/--pp" if tp is not None and pp is not None else ("--tp" if tp is not None else "--pp")
        what = "tp x pp = " if tp is not None and pp is not None else f"{flag[2:]}="
        raise RainierError(f"{what}{(tp or 1) * (pp or 1)} exceeds the {chips} chips", field=flag,
                           fix=f"lower {flag} or raise --chips")
    if tp is not None and tp > s.scaleup_domain_chips:
        raise RainierError(f"tp={tp} spans more than the {s.scaleup_domain_chips}-chip scale-up domain of {s.name}",
                           field="--tp", fix=f"use --tp {max(tp_choices(m, s.scaleup_domain_chips) or [1])} or less "
                                             f"(a divisor of {m.name}'s heads within the domain)")
    tp_limit = min(chips, s.scaleup_domain_chips)
    if tp is not None and (why := tp_problem(m, tp)):
        raise RainierError(why, field="--tp",
                           fix=f"use one of {', '.join(map(str, tp_choices(m, tp_limit)))}")
    if replicas is not None and replicas * (tp or 1) * (pp or 1) > chips:
        per = (tp or 1) * (pp or 1)
        # without tp or pp, replicas > chips >= 1: "replicas" is plural there
        need = (f"{plural(replicas, 'replica')} x tp {tp or 1} x pp {pp or 1} = {replicas * per} chips"
                if tp is not None or pp is not None else f"{replicas} replicas need at least {replicas} chips")
        raise RainierError(f"{need}, more than the {chips} chips given", field="--replicas",
                           fix=f"give --replicas {chips // per} or less, or more --chips")
    if pp is not None and pp > m.layers:
        raise RainierError(f"pp={pp} exceeds {m.name}'s {m.layers} layers", field="--pp", fix=f"use --pp {m.layers} or less")
    if ep is not None and m.moe is None and ep != 1:
        raise RainierError(f"{m.name} is dense; expert parallelism needs a MoE model", field="--ep", fix="drop --ep")
    if ep is not None and tp is not None and tp % ep:
        raise RainierError(f"ep={ep} must divide tp={tp} (experts are spread over the TP group)", field="--ep",
                           fix="give an --ep that divides --tp")
    if ep is not None and m.moe is not None:
        if ep > m.moe.experts:
            raise RainierError(f"ep={ep} exceeds {m.name}'s {m.moe.experts} experts", field="--ep",
                               fix=f"give --ep {m.moe.experts} or less")
        if tp is None and not any(t % ep == 0 for t in tp_choices(m, tp_limit)):
            raise RainierError(f"ep={ep} must divide tp, and tp is at most {tp_limit} here (chips and the "
                               f"{s.scaleup_domain_chips}-chip scale-up domain)", field="--ep",
                               fix="give an --ep that divides one of the tensor-parallel sizes "
                                   f"{', '.join(str(t) for t in tp_choices(m, tp_limit))}")

    if attention_dp is not None and attention_dp > 1:
        if m.moe is None:
            raise RainierError(str(attention_dp_problem(m, attention_dp, 1, attention_dp)), field="--attention-dp",
                               fix="drop --attention-dp (or give 1)")
        if pp is not None and pp > 1:
            raise RainierError(f"data-parallel attention runs on one pipeline stage (pp={pp})", field="--attention-dp",
                               fix="drop --pp, or --attention-dp")
        if tp is not None and tp % attention_dp:
            raise RainierError(f"attention_dp={attention_dp} does not divide tp={tp} (each group takes tp / "
                               "attention_dp ranks)", field="--attention-dp",
                               fix=f"give a divisor of --tp {tp}, e.g. --attention-dp {tp}")
        if tp is None and not any(t % attention_dp == 0 for t in tp_choices(m, tp_limit)):
            ok = [d for d in range(2, tp_limit + 1) if any(t % d == 0 for t in tp_choices(m, tp_limit))]
            raise RainierError(f"attention_dp={attention_dp} must divide tp, and no tensor-parallel size up to "
                               f"{tp_limit} here (chips and the {s.scaleup_domain_chips}-chip scale-up domain) is a "
                               "multiple of it", field="--attention-dp",
                               fix=f"give one of {', '.join(map(str, ok))}" if ok else "give --attention-dp 1")

    # Workload.
    trace_reqs = None
    dist: Any
    if lengths is not None and (trace is not None or input_len is not None or output_len is not None):
        other = "--trace" if trace is not None else "--input-len/--output-len"
        raise RainierError(f"a named length distribution contradicts {other}", field="--lengths",
                           fix="give one or the other")
    if trace is not None:
        if input_len is not None or output_len is not None:
            raise RainierError("give either --trace or --input-len/--output-len", field="--trace", fix="drop one")
        trace_reqs = load_trace(trace)
        dist_name = f"trace:{Path(trace).name}"
        mean_in, mean_out = trace_reqs.mean_input, trace_reqs.mean_output
        dist = None
    elif input_len is not None or output_len is not None:
        if input_len is None or output_len is None:
            missing = "--output-len" if output_len is None else "--input-len"
            raise RainierError("fixed lengths need both --input-len and --output-len", field=missing,
                               fix=f"add {missing}")
        dist = FixedLengths(int(input_len), int(output_len))
        dist_name, mean_in, mean_out = f"fixed {input_len}/{output_len}", float(input_len), float(output_len)
    else:
        dist = named_dist("openorca" if lengths is None else lengths) if lengths is None or isinstance(lengths, str) \
            else lengths
        dist_name, mean_in, mean_out = dist.name, dist.mean_input, dist.mean_output

    _check_positions(m, trace_reqs if trace_reqs is not None else dist, dist_name)
    beyond_context = None
    if (longest := _longest(trace_reqs if trace_reqs is not None else dist)) > m.max_seq:
        beyond_context = (f"requests reach {longest:,} tokens, beyond {m.label}'s trained context of {m.max_seq:,}: costed "
                          "as given (its position encoding extends), though the model may not serve them well")
    if shared_prefix and shared_prefix >= mean_in:
        raise RainierError(f"a shared prefix of {shared_prefix:,} tokens is not shorter than the mean prompt "
                           f"({mean_in:,.0f} tokens of {dist_name})", field="--shared-prefix",
                           fix="give fewer tokens than a prompt holds (the prefix is part of each prompt), or longer "
                               "prompts (--input-len)")
    shared: SharedPrefix | None = None
    pshare = prefix_hit  # the steady state's cached share of a prompt
    if shared_prefix:
        # the means over the prompts themselves (a trace's, or a fixed-seed sample of the distribution's)
        xs = trace_reqs.input_len if trace_reqs is not None else dist.sample(np.random.default_rng(0), 20_000)[0]
        shared = SharedPrefix.of(xs, shared_prefix, prefix_hit, cascade)
        pshare = shared.mean_cached / float(np.mean(xs))

    budget = int(token_budget if token_budget is not None else DEFAULT_TOKEN_BUDGET)
    # per attention group: the replica's batch with --attention-dp (within what the step tables take beside a budget)
    slot_cap = min(MAX_SLOTS * (attention_dp or 1), STEP_TOKEN_CAP - MAX_SLOTS)
    if max_batch is not None and not 1 <= max_batch <= slot_cap:
        raise RainierError(f"max batch {max_batch:,} is outside 1..{slot_cap:,}", field="--max-batch",
                           fix=f"give 1 to {slot_cap:,} requests in flight per replica"
                               + ("" if attention_dp else f" ({MAX_SLOTS:,} per attention group: more with "
                                                          "--attention-dp on a MoE model)"))
    if not 1 <= budget <= STEP_TOKEN_CAP - MAX_SLOTS:
        raise RainierError(f"token budget {budget:,} is outside 1..{STEP_TOKEN_CAP - MAX_SLOTS:,}", field="--token-budget",
                           fix=f"give at most {STEP_TOKEN_CAP - MAX_SLOTS:,} tokens per iteration (the step model's "
                               f"tables cover {STEP_TOKEN_CAP:,} tokens with up to {MAX_SLOTS:,} decodes)")
    searched = tp is None or pp is None or (m.moe is not None and (ep is None or attention_dp is None))
    if attention_dp is not None and attention_dp > 1:
        pp = 1  # data-parallel attention runs on one pipeline stage
    slo_for_search = slo_tpot_s
    # layouts are ranked at the load they will see: a closed loop's requests, or an offline run's when it is
    # given a count (4 requests on 8 one-chip replicas leave 4 idle)
    rank_conc = concurrency
    if (rank_conc is None and requests is not None and qps is None and trace is None and slo_ttft_s is None
            and slo_tpot_s is None):
        rank_conc = requests
    cands = search_configs(m, a, s, cat, chips, precision=precision, mean_in=mean_in, mean_out=mean_out,
                           tp=tp, pp=pp, ep=ep if m.moe else 1, replicas=replicas, slo_ttft_s=slo_ttft_s,
                           slo_tpot_s=slo_for_search, max_batch=max_batch, token_budget=budget, fit=f,
                           decode_attention=decode_attention, kv_policy=kv_policy, kv_dtype=kvd,
                           prefix_hit=pshare, spec=spec, shared=shared, attention_dp=attention_dp,
                           concurrency=rank_conc, attention_dtype=attention_dtype)
    if prefill_replicas and any(c.replicas > prefill_replicas for c in cands):
        # disaggregation asked for: only layouts with a decode replica beside the prefill ones
        cands = [c for c in cands if c.replicas > prefill_replicas]
    if not cands:
        # Report the largest replica the flags allow: the most memory per chip the search had.
        per_max = chips // replicas if replicas is not None else chips
        p_ = pp or 1
        t_ = tp or max(tp_choices(m, min(per_max // p_, s.scaleup_domain_chips)) or [1])
        if pp is None:
            p_ = max(pp_choices(m, per_max // t_) or [1])
        if attention_dp is not None and attention_dp > 1:
            # the widest replica whose TP splits into the groups; one stage; the room is one group's
            t_ = tp or max([t for t in tp_choices(m, min(per_max, s.scaleup_domain_chips)) if t % attention_dp == 0]
                           or [attention_dp])
            mp = memory_plan(m, a, precision, t_, 1, token_budget=budget, fit=f, kv_context=mean_in + mean_out / 2.0,
                             kv_dtype=kvd, spec=spec, attention_dp=attention_dp)
            mp = dataclasses.replace(mp, kv_capacity_tokens=mp.group_capacity_tokens, attention_dp=1)
            raise _not_fit_error(m, a, precision, t_, 1, mp, int(mean_in + mean_out) + (spec.tokens if spec else 0),
                                 field="--attention-dp",
                                 fix=f"use more chips per replica (--tp), a lower --precision, shorter requests, or "
                                     f"--attention-dp 1 (each of the {attention_dp} groups holds the attention weights "
                                     "whole)")
        mp = memory_plan(m, a, precision, t_, p_, token_budget=budget, fit=f, kv_context=mean_in + mean_out / 2.0,
                         kv_dtype=kvd, spec=spec)
        if replicas is not None and (tp is None or pp is None) and replicas > 1:
            raise _not_fit_error(m, a, precision, t_, p_, mp, int(mean_in + mean_out), field="--replicas",
                                 fix=f"give fewer --replicas ({replicas} replicas leave {per_max} of the {chips} "
                                     "chips to each), a lower --precision, or shorter requests")
        if spec is not None:
            raise _not_fit_error(m, a, precision, t_, p_, mp, int(mean_in + mean_out) + spec.tokens,
                                 fix="use more chips per replica (--tp; speculative decoding runs on one pipeline "
                                     "stage), a lower --precision, shorter requests, or a smaller draft")
        if mp.kv_capacity_tokens > 0:
            # the weights fit and a request's KV does not: its length is what to change (or the KV's size)
            fld = "--trace" if trace is not None else ("--lengths" if lengths is not None and input_len is None
                                                       else "--input-len/--output-len")
            kv_fix = ", --kv-dtype fp8" if kvd == "bf16" and "fp8" in a.peak_tflops else ""
            raise _not_fit_error(m, a, precision, t_, p_, mp, int(mean_in + mean_out), field=fld,
                                 fix=f"serve shorter requests{kv_fix}, or give each replica more chips (more "
                                     f"--chips{'' if tp is None else ', a larger --tp'})")
        if tp is None or pp is None:
            raise _not_fit_error(m, a, precision, t_, p_, mp, int(mean_in + mean_out), field="--chips",
                                 fix=f"give more --chips (the widest replica {chips:,} chips allow is tp={t_}, pp={p_}) "
                                     "or a lower --precision")
        raise _not_fit_error(m, a, precision, t_, p_, mp, int(mean_in + mean_out))
    best = cands[0]
    kv_ctx = mean_in + mean_out / 2.0
    sm = step_model(m, a, s, cat, tp=best.tp, pp=best.pp, ep=best.ep, precision=precision, fit=f,
                    decode_attention=decode_attention, kv_context=kv_ctx, kv_dtype=kvd, attention_dp=best.attention_dp,
                    attention_dtype=attention_dtype)
    mp = memory_plan(m, a, precision, best.tp, best.pp, token_budget=budget, max_batch=best.max_batch, fit=f,
                     kv_context=kv_ctx, kv_dtype=kvd, spec=spec, attention_dp=best.attention_dp)
    ss = spec_step(sm, spec, cat, kv_context=kv_ctx, fit=f)
    sk: dict[str, Any] = dict(prefix_hit=pshare, spec=ss, shared=shared)  # the steady-state model's workload keywords
    reps = best.replicas
    notes: list[str] = [n for n in (beyond_context, weight_only_note(a, precision)) if n]
    # Every running request takes at least one token of an iteration's budget (its decode token; k + 1 when a
    # draft's k proposals are verified), so the batch cannot exceed the budget over that: vLLM refuses
    # max_num_batched_tokens < max_num_seqs for the same reason.
    per_req = 1 + (spec.tokens if spec is not None else 0)
    what = ("one token of it" if per_req == 1 else
            f"{per_req} tokens of it: its own and the draft's {per_req - 1} to verify")
    if max_batch is not None and token_budget is not None and max_batch * per_req > budget:
        raise RainierError(f"max batch {max_batch:,} exceeds the token budget of {budget:,} tokens per iteration "
                           f"(each running request needs {what} per iteration)", field="--max-batch",
                           fix=f"give --max-batch at most {budget // per_req:,}, or raise --token-budget")
    if max_batch is not None:
        slots = int(max_batch)
        budget = max(budget, slots * per_req)  # only the default budget can be below an explicit batch
        if budget > STEP_TOKEN_CAP - MAX_SLOTS:
            raise RainierError(f"max batch {max_batch:,} x {per_req} tokens per iteration is more than the step "
                               f"model's tables cover ({STEP_TOKEN_CAP - MAX_SLOTS:,} tokens)", field="--max-batch",
                               fix=f"give --max-batch at most {(STEP_TOKEN_CAP - MAX_SLOTS) // per_req:,}")
    else:
        slots = max(1, min(MAX_SLOTS * best.attention_dp,
                           int(1.5 * best.max_batch) if slo_for_search is None else best.max_batch))
        if slots * per_req > budget:
            notes.append(f"batch limited to {budget // per_req:,} by the token budget of {budget:,} tokens per "
                         f"iteration (memory allows {slots:,})")
            slots = max(1, budget // per_req)
    if budget < mean_in / 64:
        notes.append(f"a mean prompt of {mean_in:,.0f} tokens is prefilled in {math.ceil(mean_in / budget):,} chunks "
                     f"of {budget:,} tokens: slow to serve and slow to simulate; raise --token-budget")
    if reps * best.tp * best.pp < chips:
        notes.append(f"{plural(chips - reps * best.tp * best.pp, 'chip')} left idle (replicas of {plural(best.tp * best.pp, 'chip')})")
    if m.heads % best.tp:
        notes.append(f"tp={best.tp} does not divide the {m.heads} attention heads: stacks pad heads to a multiple "
                     f"of TP (e.g. transformers-neuronx); modelled as an even split, so slightly optimistic")

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n_req = requests
    mode: str
    sim_kw: dict[str, Any] = dict(slots=slots, token_budget=budget, kv_capacity_tokens=mp.kv_capacity_tokens,
                                  kv_policy=kv_policy, kv_watermark=KV_WATERMARK, spec=ss)
    if spec is not None:
        notes.append(spec_note(spec))
    if prefix_hit:
        notes.append(f"prefix cache: {prefix_hit:.0%} of each prompt's tokens are cached (not prefilled; attended "
                     "to); their KV is counted per request, as for earlier turns of one conversation (for a system "
                     "prompt the requests share, --shared-prefix holds its KV once)")
    if shared_prefix:
        how = ("read once per iteration by the decodes together (cascade attention)" if cascade else
               "read by every request's attention (--prefix-attention cascade: once per iteration)")
        where = "replica" if best.attention_dp == 1 else "attention group"
        notes.append(f"shared prefix: the first {shared_prefix:,} tokens of every prompt are one cached prefix (a "
                     f"system prompt): not prefilled, attended to, its KV held once per {where} and {how}")
    wl: dict[str, Any] = dict(prefix_hit=prefix_hit, shared_prefix=shared_prefix, cascade=cascade)  # the runs' prompts
    pool = _srv.Pool(sm, reps, **sim_kw)
    pf_pool = None
    auto_split = False
    if (prefill_replicas is None and searched and slo_for_search is not None and concurrency is None
            and not offline and reps >= 2):
        split = disaggregation_split(sm, reps, mean_in, mean_out, mp.kv_capacity_tokens, budget, slo_tpot_s,
                                     best.max_batch, **sk)
        if split is not None:
            auto_split = True
            prefill_replicas = split
            notes.append(f"search chose disaggregated pools: {split} prefill + {reps - split} decode replicas")
    if prefill_replicas:  # 0: co-located
        if reps < 2:
            raise RainierError(f"disaggregation needs two replicas and the deployment has {reps} (of "
                               f"{best.tp * best.pp} chips each)", field="--prefill-replicas",
                               fix="give more --chips, a smaller --tp / --pp, or drop --prefill-replicas")
        if not 0 < prefill_replicas < reps:
            raise RainierError(f"prefill replicas must be between 1 and {reps - 1} (got {prefill_replicas})",
                               field="--prefill-replicas",
                               fix="split the replicas into two non-empty pools, or give 0 to co-locate")
        pf_pool = _srv.Pool(sm, prefill_replicas, **sim_kw)
        pool = _srv.Pool(sm, reps - prefill_replicas, **sim_kw)
    max_qps = None

    def _reqs(n: int, qps_: float | None) -> Any:
        if trace_reqs is not None and qps_ is None and not offline:
            return trace_reqs if n >= len(trace_reqs) else _srv.subset(trace_reqs, n)
        if trace_reqs is not None:
            from rainier.perf.workload import EmpiricalLengths

            d = EmpiricalLengths(tuple(trace_reqs.input_len.tolist()), tuple(trace_reqs.output_len.tolist()))
            from rainier.perf.workload import make_requests

            return make_requests(d, n, rng, qps=qps_)
        from rainier.perf.workload import make_requests

        assert dist is not None
        return make_requests(dist, n, rng, qps=qps_)

    auto_n = max(1000, min(OFFLINE_MAX_REQUESTS, OFFLINE_BATCHES * reps * best.max_batch))
    # Offline replicas are independent and identical (all requests at t = 0, spread evenly), so when the
    # request cap would leave each replica short of OFFLINE_BATCHES full batches a subset of replicas
    # is simulated and its rates scaled to the deployment.
    # With no traffic given, the run is offline (all requests at t = 0).
    offline_run = offline or (qps is None and concurrency is None and trace_reqs is None
                              and slo_ttft_s is None and slo_tpot_s is None)
    rep_scale = 1.0
    if (n_req is None and pf_pool is None and offline_run and reps > 1 and OFFLINE_BATCHES * reps * best.max_batch > OFFLINE_MAX_REQUESTS):
        r_sim = max(1, OFFLINE_MAX_REQUESTS // (OFFLINE_BATCHES * best.max_batch))
        rep_scale = reps / r_sim
        pool = _srv.Pool(sm, r_sim, **sim_kw)
        auto_n = max(1000, min(OFFLINE_MAX_REQUESTS, OFFLINE_BATCHES * r_sim * best.max_batch))
        notes.append(f"offline: {r_sim} of the {reps} identical replicas simulated ({OFFLINE_BATCHES} full batches "
                     "each), rates scaled to all of them; queue figures are those replicas'")
    if offline_run:
        mode = "offline"
        if slo_ttft_s is not None or slo_tpot_s is not None:
            notes.append("offline with an SLO: every request arrives at once, so the attainment is that of a burst "
                         "(TTFT grows with the queue); the throughput, cost and energy are the saturated ones, not "
                         "at the SLO: drop --offline for the highest rate that meets it")
        reqs = _reqs(n_req or auto_n, None)
        sim = _srv.simulate_deployment(pool, reqs, prefill_pool=pf_pool, kv_bytes_per_token=kv_bytes_per_token(m, kvd, mean_in), system=s, **wl)
    elif qps is not None:
        mode = "poisson"
        # POISSON_SPAN_S of arrivals, at most SERVER_MAX_REQUESTS requests; past the cap, SUBSET_REQUESTS
        # for a subset of the replicas fed exactly the arrivals round-robin would send them, so that each
        # sees the whole span and not only its ramp-up; rates scaled to the deployment
        if n_req is None and pf_pool is None and reps > 1 and POISSON_SPAN_S * qps > SERVER_MAX_REQUESTS:
            r_sim = max(1, int(reps * SUBSET_REQUESTS // (POISSON_SPAN_S * qps)))
            if r_sim < reps:
                n_sub = int(min(SUBSET_REQUESTS, max(3000, POISSON_SPAN_S * qps * r_sim / reps)))
                rep_scale = reps / r_sim
                pool = _srv.Pool(sm, r_sim, **sim_kw)
                base = _reqs(n_sub, None)
                reqs = base.with_arrivals(round_robin_arrivals(rng, qps, n_sub, reps, r_sim))
                notes.append(f"{r_sim} of the {reps} identical replicas simulated with the arrivals round-robin "
                             "sends them, rates scaled to all of them; queue figures are those replicas'")
        if rep_scale == 1.0:
            reqs = _reqs(n_req or int(min(SERVER_MAX_REQUESTS, max(3000, POISSON_SPAN_S * qps))), qps)
        sim = _srv.simulate_deployment(pool, reqs, prefill_pool=pf_pool, kv_bytes_per_token=kv_bytes_per_token(m, kvd, mean_in), system=s, **wl)
    elif concurrency is not None:
        mode = "concurrency"
        reqs = _reqs(n_req or max(1000, 4 * int(concurrency)), None)
        sim = _srv.simulate_deployment(pool, reqs, concurrency=int(concurrency), prefill_pool=pf_pool,
                                       kv_bytes_per_token=kv_bytes_per_token(m, kvd, mean_in), system=s, **wl)
    elif trace_reqs is not None:
        mode = "trace"
        reqs = _reqs(n_req or len(trace_reqs), None)
        sim = _srv.simulate_deployment(pool, reqs, prefill_pool=pf_pool, kv_bytes_per_token=kv_bytes_per_token(m, kvd, mean_in), system=s, **wl)
    else:  # an SLO and no traffic: the highest Poisson rate that meets it
        mode = "server-max-qps"
        st = steady_state(sm, best.max_batch, mean_in, mean_out, budget, **sk)
        # The run must reach steady state: an overloaded deployment's batch (and so its TPOT) keeps
        # growing for several request lifetimes (mean_out x step) before the queue shows, so a run of a
        # minute passes rates that a long run fails. MLPerf Server runs at least 600 s (loadgen
        # min_duration); arrivals span SERVER_LIFETIMES lifetimes at the full-batch step, at least 60 s.
        # The span (and so the requests drawn) is that of the largest batch the KV cache holds, whatever the
        # TPOT target: a deployment is searched on the same arrivals under every SLO, so a looser SLO, whose
        # only effect is a larger batch cap, is not judged on another sample (a 4% swing of the p99s otherwise)
        b_kv, _ = _batch_for(sm, mp.kv_capacity_tokens, mean_in, mean_out, budget, None, max_batch, kv_policy, **sk)
        st_kv = steady_state(sm, max(b_kv, best.max_batch), mean_in, mean_out, budget, **sk)
        # (a request lives 1 + (mean_out - 1) / E iterations; E = 1 without a draft)
        life = mean_out if ss is None else 1.0 + (mean_out - 1.0) / ss.spec.gain
        span_s = max(60.0, SERVER_LIFETIMES * life * st_kv.step_s)
        # Past the request cap, a subset of the replicas is searched, fed exactly the arrivals round-robin
        # would send them among all (each must see the whole span: a replica that sees less than its batch
        # never queues, and passes any rate); the rate found is the deployment's.
        sub = None
        if (n_req is None and pf_pool is None and reps > 1
                and span_s * st_kv.requests_per_s * reps > SERVER_MAX_REQUESTS):
            r_sim = max(1, int(SUBSET_REQUESTS // (span_s * st_kv.requests_per_s)))
            if r_sim < reps:
                sub = r_sim
                pool = _srv.Pool(sm, r_sim, **sim_kw)
                notes.append(f"{r_sim} of the {reps} identical replicas searched for the highest rate, fed the "
                             "arrivals round-robin sends them; latency and queue figures are those replicas'")
        n_auto = int(min(SUBSET_REQUESTS if sub else SERVER_MAX_REQUESTS,
                         max(2000, span_s * st_kv.requests_per_s * pool.replicas)))
        n_s = n_req or n_auto
        if n_req is not None and n_req < n_auto:
            notes.append(f"--requests {n_req:,} is shorter than the {n_auto:,} the SLO search runs by default (about "
                         f"{SERVER_LIFETIMES:g} request lifetimes at the analytic rate): a short stream builds no queue, "
                         "so the highest rate found is likely overstated (leave --requests out for the sustained rate)")
        base = _reqs(n_s, 1.0)
        if sub:
            base = base.with_arrivals(round_robin_arrivals(rng, 1.0, n_s, reps, sub))
        kvb = kv_bytes_per_token(m, kvd, mean_in)
        max_qps, sim = _srv.max_qps_under_slo(pool, base, st.requests_per_s * reps, slo_ttft_s,
                                              slo_tpot_s, prefill_pool=pf_pool, system=s, kv_bytes_per_token=kvb, **wl)
        if sub:
            rep_scale = reps / sub  # the window rates below are the subset's
        reqs = base

    if shared_prefix and (short := int((sim.input_len <= shared_prefix).sum())):
        notes.append(f"{plural(short, 'prompt')} of the {len(sim.input_len):,} simulated are not longer than the shared "
                     "prefix: all but their last token are taken as that prefix")
    usd_h, cloud_h, fac_w = _econ(cat, a, s)
    out_tps, tot_tps, rps = sim.output_tokens_per_s, sim.total_tokens_per_s, sim.requests_per_s
    if mode == "offline" and pf_pool is None:
        out_tps, tot_tps, rps = (x * rep_scale for x in sim.saturated_rates())
        if sim.saturated_window() is not None:  # (the window saturated_rates measured over)
            notes.append("offline throughput measured while every replica is saturated (ramp-up and drain excluded)")
        else:
            notes.append(f"offline throughput over the whole run, ramp-up and drain included: its {len(sim.arrival_s):,} "
                         f"requests do not keep every replica saturated for {_srv.STEADY_LIFETIMES:g} request "
                         "lifetimes (give more --requests for the sustained rate)")
    elif mode == "server-max-qps" and max_qps and max_qps > 0:
        # At a rate whose SLO is met the deployment is stable, so its steady-state throughput is the
        # offered load (Little's law; MLPerf Server reports the scheduled rate so). A finite run's
        # window rates are still ramping up when request lifetimes are long compared with the run.
        rps = float(max_qps)
        out_tps = rps * float(np.mean(sim.output_len))
        tot_tps = rps * float(np.mean(sim.output_len) + np.mean(sim.input_len))
    elif mode in ("poisson", "server-max-qps", "trace"):
        out_tps, tot_tps, rps = (x * rep_scale for x in sim.arrival_window_rates())
    if mode == "server-max-qps" and max_qps == 0.0:
        # nothing is served at the SLO: the throughput at the SLO is zero (the latencies shown are those of the
        # lightest load the search tried, to say how far off the SLO is)
        out_tps = tot_tps = rps = 0.0
        notes.append("no Poisson rate meets the SLO on this configuration (SLO infeasible): throughput at the SLO "
                     f"0; the latencies are those of the lightest load tried ({sim.requests_per_s * rep_scale:.3g} "
                     "requests/s)")
    cost = chips * usd_h / 3600.0 / out_tps * 1e6 if out_tps > 0 else float("inf")
    cloud = chips * cloud_h / 3600.0 / out_tps * 1e6 if (cloud_h and out_tps > 0) else None
    # average draw as for training and as the owner cost per chip-hour prices it: nameplate facility power x the
    # economics load factor (a saturated decode is memory-bound and draws no more than training)
    load = cat.economics().load_factor
    jpt = chips * fac_w * load / out_tps if out_tps > 0 else float("inf")
    notes.append(f"energy: facility power x load factor {load:g} (average draw / nameplate, as training and the "
                 "owner cost assume)")
    att = None
    good = None
    # The SLO search judges its p99s over the requests after the warm-up (SimResult.judged); the percentiles and
    # attainment reported are over the same requests, so a rate found to meet the SLO shows p99s within it
    judged = sim.judged() if mode == "server-max-qps" and max_qps else None
    if judged is not None:
        notes.append(f"latency percentiles and SLO attainment over the {int(judged.sum()):,} requests arriving after "
                     f"the first {_srv.SLO_WARMUP_SHARE:.0%} of the run (its warm-up), the requests the SLO search "
                     "judges")
    if slo_ttft_s is not None or slo_tpot_s is not None:
        att, share = sim.slo_attainment(slo_ttft_s, slo_tpot_s, judged)
        good = share * out_tps  # the SLO-meeting requests' share of the output, over the throughput's window
    bd_state = steady_state(sm, max(1, int(round(sim.mean_batch))) if sim.mean_batch > 0 else 1, mean_in, mean_out,
                            budget, **sk)
    x = bd_state.requests_per_step
    g, k = gain_and_tokens(ss)
    n_dec, pf_in, ctx_sum, units = _aggregates(x, mean_in, mean_out, pshare, g)
    verify = n_dec * (k + 1)  # target positions of the decodes (n_dec without a draft)
    saved, once = _cascade(sm, shared)
    ctx_sum -= n_dec * saved
    bd = sm.breakdown(verify + x * pf_in, verify + x, ctx_sum, units)
    bd["attention_decode_s"] += once if n_dec > 0 else 0.0
    if ss is not None:
        bd["attention_decode_s"] = ctx_sum * sm.kv_coeff(k + 1)
        bd["draft_s"] = float(ss.step_time_s(n_dec, x * pf_in, x, ctx_sum, units)
                              - sm.step_time_s(verify + x * pf_in, verify + x, 0.0, units) - bd["attention_decode_s"])
    if sm.adp > 1:  # the busiest attention group's work beyond the balanced share (steady_state's term)
        bd["dp_imbalance_s"] = _dp_skew_s(sm, ss, n_dec, x * pf_in, x, ctx_sum, units)
    bd["step_s"] = bd_state.step_s
    config = {
        "model": m.name, "chip": a.name, "system": s.name, "chips": chips, "tp": best.tp, "pp": best.pp,
        "ep": best.ep, "replicas": reps, "chips_per_replica": best.tp * best.pp,
        "prefill_replicas": prefill_replicas, "precision": precision, "kv_cache_dtype": kvd,
        "max_batch": slots, "token_budget": budget, "mode": mode, "qps": qps if mode == "poisson" else max_qps,
        "concurrency": concurrency, "requests": len(reqs), "lengths": dist_name, "input_len_mean": mean_in,
        "output_len_mean": mean_out, "slo_ttft_s": slo_ttft_s, "slo_tpot_s": slo_tpot_s, "seed": seed,
        "searched": searched, "decode_attention": decode_attention, "kv_policy": kv_policy, "step_overhead_s": f.step_overhead_s,
        "router": "round-robin", "scheduler": "FCFS continuous batching, chunked prefill",
        "prefix_hit": prefix_hit, "shared_prefix": shared_prefix,
        "prefix_attention": prefix_attention if shared_prefix else None, "speculative": spec.to_dict() if spec is not None else None,
        # data-parallel attention groups (1: tensor-parallel attention over all tp ranks)
        "attention_dp": best.attention_dp,
        "attention_dtype": attention_dtype,  # prefill attention's matmul type
        # MLA's compressed KV is shared by the heads, so tensor parallelism replicates it on every rank of an
        # attention group: the replica's KV HBM (kv_cache_gb) is tp / attention_dp copies of its token capacity
        "mla_replicated": m.mla is not None and best.tp // best.attention_dp > 1,
    }
    # The search ranks layouts by their analytic steady state at a full batch (not the simulation above, which
    # only the chosen layout gets): the figures say so (basis), mark the chosen one, and meets_slo is null
    # without an SLO
    has_slo = slo_ttft_s is not None or slo_tpot_s is not None
    alts = [
        {"tp": c.tp, "pp": c.pp, "ep": c.ep, "replicas": c.replicas, "max_batch": c.max_batch,
         "output_tokens_per_s_per_chip": c.output_tokens_per_s_per_chip, "step_s": c.step_s,
         "attention_dp": c.attention_dp,
         "meets_slo": c.meets_slo if has_slo else None, "basis": "analytic steady state",
         "chosen": (c.tp, c.pp, c.ep, c.attention_dp) == (best.tp, best.pp, best.ep, best.attention_dp)}
        for c in cands[:5]
    ] if searched else []
    accuracy = inference_accuracy(a.family) if fit is None else None
    if accuracy:
        notes.append(f"accuracy: {accuracy['basis']} (rainier validate inference): MAPE {accuracy['mape_pct']:g}% over "
                     f"{accuracy['rows']} runs, bias {accuracy['bias_pct']:+g}% (negative: predicted slower than "
                     f"measured), worst {accuracy['worst_pct']:+g}%")
    accuracy_oos = inference_out_of_sample(a.family, m.name) if fit is None else None
    notes += _inference_out_of_sample_notes(accuracy_oos)
    res = ServingResult(
        output_tokens_per_s=out_tps,
        output_tokens_per_s_per_chip=out_tps / chips,
        total_tokens_per_s=tot_tps,
        requests_per_s=rps,
        ttft_s=sim.pct("ttft", (50, 90, 99), judged),
        tpot_s=sim.pct("tpot", (50, 90, 99), judged),
        e2e_s=sim.pct("e2e", (50, 99), judged),
        max_batch=slots,
        kv_cache_gb=mp.kv_bytes * best.tp * best.pp / 1e9,
        slo_attainment=att,
        goodput_tokens_per_s=good,
        cost_per_mtok_usd=cost,
        cost_per_mtok_cloud_usd=cloud,
        joules_per_token=jpt,
        max_qps=max_qps,
        config=config,
        memory=mp.to_dict() | {"kv_bytes_per_token": kv_bytes_per_token(m, kvd, kv_ctx)},
        queue=sim.queue_stats(),
        breakdown=bd,
        alternatives=alts,
        notes=notes + sim.notes,
        wall_s=time.perf_counter() - t0,
        accuracy=accuracy,
        accuracy_out_of_sample=accuracy_oos,
    )
    if auto_split:
        # the split was picked on analytic capacities: simulate co-located serving too and keep what serves more
        colo = estimate_serving(**{**call, "prefill_replicas": 0})
        key = (lambda r: r.max_qps or 0.0) if mode == "server-max-qps" else (
            lambda r: r.goodput_tokens_per_s or 0.0)
        if key(colo) > key(res):
            colo.notes.insert(0, f"search: a {prefill_replicas} prefill + {reps - (prefill_replicas or 0)} decode split "
                                 f"(analytic capacities) served less in simulation ({key(res):.4g} against "
                                 f"{key(colo):.4g} {'requests/s' if mode == 'server-max-qps' else 'SLO-meeting tokens/s'}"
                                 "): co-located kept")
            colo.wall_s += res.wall_s
            return colo
        res.notes.append(f"search: the split served more in simulation than co-located replicas ({key(res):.4g} "
                         f"against {key(colo):.4g})")
        res.wall_s += colo.wall_s
    # Data-parallel or tensor-parallel attention was picked on the analytic steady state, which does not see the
    # queue a KV-bound batch builds nor how a closed loop's requests fall into waves over the groups: the best
    # layout of the other kind is simulated too (offline, closed-loop and SLO-search runs) and the better kept.
    alt_c = next((c for c in cands if c.attention_dp != best.attention_dp), None)
    if (attention_dp is None and alt_c is not None and searched
            and mode in ("offline", "concurrency", "server-max-qps")):
        alt = estimate_serving(**{**call, "attention_dp": alt_c.attention_dp})
        unit = "requests/s at the SLO" if mode == "server-max-qps" else "output tokens/s"
        score = (lambda r: r.max_qps or 0.0) if mode == "server-max-qps" else (lambda r: r.output_tokens_per_s)

        def attn_name(d: int) -> str:
            return "tensor-parallel attention" if d == 1 else f"{d} data-parallel attention groups"

        if score(alt) > score(res):
            ac = alt.config
            alt.alternatives = [{**a, "chosen": (a["tp"], a["pp"], a["ep"], a["attention_dp"])
                                 == (ac["tp"], ac["pp"], ac["ep"], ac["attention_dp"])} for a in res.alternatives]
            alt.config["searched"] = True
            alt.notes.insert(0, f"search: {attn_name(alt_c.attention_dp)} served more in simulation than the analytic pick, "
                                f"{attn_name(best.attention_dp)} ({score(alt):.4g} against {score(res):.4g} {unit})")
            alt.wall_s += res.wall_s
            return alt
        res.notes.append(f"search: {attn_name(best.attention_dp)} served more in simulation than the best layout with "
                         f"{attn_name(alt_c.attention_dp)} ({score(res):.4g} against {score(alt):.4g} {unit})")
        res.wall_s += alt.wall_s
    return res


# --- replica capacity for the fleet simulator ------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaCapacity:
    """Sustainable throughput of one replica at the SLO (analytic, steady state)."""

    chips_per_replica: int
    output_tokens_per_s: float
    total_tokens_per_s: float
    requests_per_s: float
    power_w: float
    tp: int
    pp: int
    ep: int
    max_batch: int
    tpot_s: float
    ttft_s: float
    meets_slo: bool
    cost_per_mtok_usd: float
    attention_dp: int = 1


class _Ref:
    """Hashable by identity: lets lru_cache take unhashable catalog objects."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ref) and other.obj is self.obj


def _key(x: Any) -> Any:
    return x if x is None or isinstance(x, (str, Path, Catalog)) else _Ref(x)


@lru_cache(maxsize=4096)
def _replica_capacity(model: Any, chip: Any, precision: str, input_len: float,
                      output_len: float, slo_ttft_s: float | None, slo_tpot_s: float | None,
                      catalog: Catalog | None, system: Any) -> ReplicaCapacity:
    model, chip, system = (v.obj if isinstance(v, _Ref) else v for v in (model, chip, system))
    cat, m, a, s = _resolve(model, chip, system, catalog)
    check_precision(a, precision)
    dom = s.scaleup_domain_chips
    best: Candidate | None = None
    for chips in _pow2_upto(max(dom, 1) * 4):
        cands = search_configs(m, a, s, cat, chips, precision=precision, mean_in=input_len, mean_out=output_len,
                               slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s, replicas=1)
        cands = [c for c in cands if c.tp * c.pp == chips]
        if cands and (best is None or (cands[0].meets_slo, cands[0].output_tokens_per_s_per_chip)
                      > (best.meets_slo, best.output_tokens_per_s_per_chip)):
            best = cands[0]
    if best is None:
        mp = memory_plan(m, a, precision, dom, 4)
        raise _not_fit_error(m, a, precision, dom, 4, mp, int(input_len + output_len))
    sm = step_model(m, a, s, cat, tp=best.tp, pp=best.pp, ep=best.ep, precision=precision,
                    kv_context=input_len + output_len / 2.0, attention_dp=best.attention_dp)
    st = steady_state(sm, best.max_batch, input_len, output_len)
    usd_h, _, fac_w = _econ(cat, a, s)
    n = best.tp * best.pp
    cost = n * usd_h / 3600.0 / st.output_tokens_per_s * 1e6
    return ReplicaCapacity(n, st.output_tokens_per_s, st.total_tokens_per_s, st.requests_per_s, n * fac_w,
                           best.tp, best.pp, best.ep, best.max_batch, st.step_s, st.ttft_s, best.meets_slo, cost,
                           best.attention_dp)


def replica_capacity(model: Model | str, chip: Accelerator | str, *, precision: str = "bf16",
                     input_len: float = 294.0, output_len: float = 290.0, slo_ttft_s: float | None = None,
                     slo_tpot_s: float | None = None, catalog: Catalog | None = None,
                     system: str | None = None) -> ReplicaCapacity:
    """The best replica (fewest chips per output token/s) and its throughput at the SLO; cached."""
    for name, v, low in (("input_len", input_len, 1.0), ("output_len", output_len, 1.0)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not low <= v < math.inf:
            raise RainierError(f"must be a number of tokens of at least {low:g} (got {v!r})", field=name,
                               fix=f"give e.g. {name}=1024")
    for name, slo in (("slo_ttft_s", slo_ttft_s), ("slo_tpot_s", slo_tpot_s)):
        if slo is not None and (isinstance(slo, bool) or not isinstance(slo, (int, float, np.integer, np.floating))
                              or not 0 < slo < math.inf):
            raise RainierError(f"must be a positive number of seconds (got {slo!r})", field=name,
                               fix=f"give e.g. {name}=0.1, or None for no target")
    return _replica_capacity(_key(model), _key(chip), precision, float(input_len), float(output_len),
                             None if slo_ttft_s is None else float(slo_ttft_s),
                             None if slo_tpot_s is None else float(slo_tpot_s), catalog, _key(system))
