"""Achieved compute time of one kernel on one accelerator: roofline times a shape-dependent efficiency.

A GEMM ``C[m,n] = A[m,k] @ B[k,n]`` (``batch`` of them) does ``2 m n k`` FLOPs and moves at least
``(m k + k n + m n)`` elements through HBM. Its time is the roofline (Williams, Waterman & Patterson,
CACM 2009) with achieved, not peak, rates::

    t = max( flops / (peak(precision) * eff(m, n, k)),   bytes / (hbm_bw * mem_eff) )

    eff(m, n, k) = gemm_peak_eff * prec_ratio * s(m) * s(n) * s(k),     s(x) = x / (x + dim_half)

``s`` is a saturation in each matrix dimension: a large GEMM reaches ``gemm_peak_eff`` of the dense
peak; a dimension comparable to ``dim_half`` (tile size, wave quantisation, pipeline fill) loses
about half. This is the usual shape of measured cuBLAS / XLA / NKI GEMM sweeps (e.g. NVIDIA's
"Matrix Multiplication Background" guide; Calculon's and vTrain's efficiency tables) reduced to a
few named parameters per accelerator family:

================  =======================================================================
gemm_peak_eff     fraction of dense peak reached by a large GEMM (bf16)
dim_half          matrix dimension at which the saturation ``s`` is one half
fp8_ratio         fp8 GEMM efficiency relative to bf16 (scaling / casting overheads)
attn_eff          efficiency of fused (flash) attention relative to ``gemm_peak_eff`` (inference)
mem_eff           fraction of HBM bandwidth reached by streaming kernels
attn_bwd_ratio    flash-attention backward efficiency relative to its forward (training)
host_s_per_expert host (CPU) time to issue one local expert's kernels, forward + backward, of
                  one MoE layer and microbatch, on an x86 host (training; ``perf.training``)
================  =======================================================================

Training attention (``flash_attention_time_s``) does not borrow the GEMM efficiency: a flash
attention kernel's achieved rate is the kernel's, set by how it overlaps the softmax (exponentials on
the special-function units) with the matrix units, not by cuBLAS tiles. Its forward efficiency is a
published kernel measurement per chip family and kernel class (``ATTENTION_KERNELS``, not fitted);
the backward (five matmuls, S recomputed, dQ accumulated across blocks) runs at ``attn_bwd_ratio``
of the forward's efficiency on 2.5x its FLOPs, the FlashAttention papers' accounting.

Which parameters are per family and which are shared (and why; also in the file's ``parameters``):

* ``gemm_peak_eff`` -- per family: the chip's own (clock under its power limit, tensor-core
  generation, memory hierarchy, kernel-library maturity).
* ``fp8_ratio`` -- one value shared by all NVIDIA families, fitted jointly: the fp8/bf16 efficiency
  ratio is a property of the FP8 training recipe (Transformer Engine scaling, casts, amax reductions
  around each GEMM), the same software on Hopper and Blackwell.
* ``dim_half`` -- one value shared by all NVIDIA families: tile and wave quantisation follow the
  CUTLASS/cuBLAS tile shapes, common to Ampere..Blackwell. Other vendors keep the prior.
* ``attn_eff``, ``mem_eff`` -- the vendor-neutral prior: no fit row identifies them.
* ``attn_bwd_ratio`` -- one value shared by all NVIDIA families, fitted on the declared long-context
  row (the only rows where attention is a large enough share of the work to identify it). An effective
  value (0.405): the kernels alone run their backward at 0.87 of the forward's efficiency (timed on an H100,
  ``perf.validate_kernels``), and with that ratio one layer timed whole matches the model within 3%; the
  published long-context runs pay about twice the kernel's backward time, which the fit puts here.
* ``host_s_per_expert`` -- one value shared by all NVIDIA families (the same PyTorch / Transformer
  Engine / Megatron software issues the kernels on every generation), fitted on the declared MoE row
  with the most local experts per chip (the only kind of row where the host's issue rate binds). Zero
  for stacks that compile the whole step into one graph (XLA on TPU, the Neuron compiler on Trainium:
  no per-op host dispatch) and for AMD (no measured MoE row; ROCm PyTorch is eager like CUDA, so this
  is optimistic there).

The values live in ``perf/fits/efficiency.json``, written by ``scripts/fit_efficiency.py`` from the
measured runs in ``perf/data/training-measured.csv``, on a fit set chosen by a fixed rule (stated in
that script and in the file's ``fit_rule``). Each family's entry holds its full set of values (the
shared ones copied in), so lookups stay per family. Families without measured rows use a prior,
stated in the file beside each entry (``source``):

* google-tpu, amd-cdna3 and aws-neuron-v2 are fitted (``gemm_peak_eff`` alone, the rest at the
  vendor-neutral prior) on rows of other vendors' published runs that rainier added to the table (MaxText on TPU v5p/v6e/Ironwood, AWS
  Neuron on Trainium1, AMD Primus on MI325X); the other usable rows of those families are held out.
* amd-cdna4 (MI355X): the amd-cdna3 fit (same ROCm / hipBLASLt stack; no dense MI355X row).
* any family outside the table: the ``default`` entry, the mean of the fitted NVIDIA families'
  ``gemm_peak_eff`` and their shared ``dim_half``, with the vendor-neutral prior for the rest.
* aws-neuron-v3, aws-neuron-v4 (Trainium2, Trainium3): the Trainium1 (aws-neuron-v2) fit, because the
  achieved efficiency is mostly the software stack's (Neuron compiler, collectives, NxD), shared by
  the three generations, and the one measured Neuron row puts it at about half of NVIDIA's. Likely
  pessimistic if Trainium2's newer compiler and larger on-chip memory do better; no data either way.

Estimates on a family with a prior say so in their notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from rainier.catalog.schema import Accelerator
from rainier.errors import RainierError

__all__ = [
    "EffParams",
    "efficiency_params",
    "gemm_efficiency",
    "gemm_time_s",
    "attention_time_s",
    "memory_time_s",
    "elementwise_time_s",
    "flash_attention_time_s",
    "ATTENTION_KERNELS",
    "ATTENTION_KERNEL_CLASSES",
    "bytes_per_element",
    "load_fits",
    "heldout_accuracy",
    "accuracy_summary",
]

# fp4 carries its block scales: NVFP4's one fp8 scale per 16 elements, 4.5 bits an element (the serving memory
# plan's figure, inference.WEIGHT_BYTES: a GEMM reads what the memory holds)
_BYTES = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "fp4": 0.5625,
          # weight-only GEMMs (serving on a chip with no native rate for the weights' type: Marlin-class kernels
          # dequantise 8- or 4-bit weights into bf16 tiles): the weights' bytes at the bf16 rate (peak_flops falls
          # back to bf16 for these names, and no fp8 / fp4 ratio applies)
          "w8a16": 1, "w4a16": 0.5625}
# GEMM precisions below 16 bit with a rate of their own: they run only where the chip lists a native rate, on
# quantised copies of weights and activations (training keeps 1-byte ones for both: perf.memory)
LOW_PRECISION = ("fp8", "fp4")


def bytes_per_element(precision: str) -> float:
    try:
        return float(_BYTES[precision])
    except KeyError:
        raise RainierError(f"unknown precision '{precision}'", field="--precision",
                           fix=f"use one of {', '.join(_BYTES)}") from None


@dataclass(frozen=True)
class EffParams:
    """The named parameters of one family's achieved-efficiency curve (see the module docstring)."""

    gemm_peak_eff: float = 0.70
    dim_half: float = 48.0
    fp8_ratio: float = 0.80
    fp4_ratio: float = 0.64
    attn_eff: float = 0.75
    mem_eff: float = 0.80
    attn_bwd_ratio: float = 0.80
    host_s_per_expert: float = 0.0
    overlap_eff: float = 1.0  # share of an overlapped DP collective hidden under compute (perf.training.exposed);
    #                           derived, not fitted: 1 - 20/132 on GPUs, 1 on TPU / Trainium (fit_efficiency.py)
    family: str = "default"
    fitted: bool = False

    def with_(self, **kw: Any) -> EffParams:
        return replace(self, **kw)


@lru_cache(maxsize=1)
def load_fits() -> dict[str, Any]:
    """The fitted-parameter file shipped with the package (``perf/fits/efficiency.json``)."""
    try:
        text = resources.files("rainier.perf").joinpath("fits/efficiency.json").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - broken install
        return {"families": {}}
    return json.loads(text)


_NAMES = ("gemm_peak_eff", "dim_half", "fp8_ratio", "fp4_ratio", "attn_eff", "mem_eff", "attn_bwd_ratio", "host_s_per_expert",
          "overlap_eff")


@lru_cache(maxsize=64)
def efficiency_params(family: str) -> EffParams:
    """Parameters for an accelerator family; the ``default`` prior where the family has no fit."""
    fams = load_fits().get("families", {})
    vals: dict[str, Any] = {k: float(v) for k, v in fams.get("default", {}).items() if k in _NAMES}
    base = EffParams(**vals)
    entry = fams.get(family)
    if entry is None:
        return base.with_(family="default")
    vals = {k: float(v) for k, v in entry.items() if k in _NAMES}
    return base.with_(family=family, fitted=bool(entry.get("fitted", False)), **vals)


def accuracy_summary(abs_errors_pct: list[float], perf_errors_pct: list[float], basis: str) -> dict[str, Any]:
    """The accuracy record the fit scripts store and the estimates report (``heldout`` in efficiency.json,
    ``accuracy`` in inference.json): MAPE of the rows' own-metric errors, bias and worst of their performance
    errors (negative: predicted slower than measured), each rounded to 0.1 point, and where they come from."""
    worst: float = max(perf_errors_pct, key=abs)
    return {"rows": len(abs_errors_pct), "mape_pct": round(sum(abs_errors_pct) / len(abs_errors_pct), 1),
            "bias_pct": round(sum(perf_errors_pct) / len(perf_errors_pct), 1),
            "worst_pct": round(worst, 1), "basis": basis}


def heldout_accuracy(family: str, moe: bool) -> dict[str, Any] | None:
    """The error to expect of a training estimate on ``family``: the fit's held-out published runs of the same
    kind of model (dense or MoE), as ``scripts/fit_efficiency.py`` scored them (``heldout`` in efficiency.json:
    rows, mape_pct, bias_pct and worst_pct of the predicted throughput, basis). A family outside the file takes
    the ``default`` entry's (every family's runs)."""
    fams = load_fits().get("families", {})
    kind = "moe" if moe else "dense"
    entry = fams.get(family) or fams.get("default", {})
    got = entry.get("heldout", {}).get(kind) or fams.get("default", {}).get("heldout", {}).get(kind)
    return dict(got) if got else None


def read_fit_file(name: str) -> dict[str, Any] | None:
    """A shipped file of ``perf/fits`` (``name``: e.g. "out_of_sample.json"), parsed; None where a broken install
    lacks it."""
    try:
        text = resources.files("rainier.perf").joinpath(f"fits/{name}").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - broken install
        return None
    return dict(json.loads(text))


def error_record(errors_pct: list[float], basis: str) -> dict[str, Any]:
    """The out-of-sample record of signed throughput errors (positive: predicted faster than measured): rows,
    mape_pct, bias_pct, worst_pct, basis (``accuracy_summary``) and the share within 25%, within_25_pct."""
    within = round(100.0 * sum(abs(e) <= 25.0 for e in errors_pct) / len(errors_pct), 1)
    return {**accuracy_summary([abs(e) for e in errors_pct], errors_pct, basis), "within_25_pct": within}


@lru_cache(maxsize=1)
def _out_of_sample() -> dict[str, Any]:
    return read_fit_file("out_of_sample.json") or {}


def out_of_sample_summary() -> dict[str, Any]:
    """The shipped out-of-sample scores without the per-model records: generated_by, runs, overall, families,
    sources (empty without the file)."""
    return {k: v for k, v in _out_of_sample().items() if k != "models"}


def out_of_sample_accuracy(family: str, moe: bool, model: str) -> dict[str, Any] | None:
    """The published runs outside the validation table that ``scripts/score_out_of_sample.py`` scored with the
    shipped parameters (``perf/fits/out_of_sample.json``): ``family``, those of the same kind of model (dense or
    MoE) on ``family`` (rows, mape_pct, bias_pct, worst_pct, within_25_pct, basis); ``model``, every scored run of
    this catalog model not fitted on (the validation table's held-out rows too), on any chip. A family without runs
    of that kind takes those of the family whose fit it takes (``prior_from`` in efficiency.json: Trainium2/3 take
    Trainium1's), and says so. Either is None where no run was scored; the whole is None when neither was."""
    doc = _out_of_sample()
    kind = "moe" if moe else "dense"
    fam = doc.get("families", {}).get(family, {}).get(kind)
    src = load_fits().get("families", {}).get(family, {}).get("prior_from")
    if fam is None and src and doc.get("families", {}).get(src, {}).get(kind):
        fam = {**doc["families"][src][kind], "basis": f"none measured on {family}: the out-of-sample {kind} runs of "
                                                      f"{src}, whose fit it takes"}
    mod = doc.get("models", {}).get(model)
    if fam is None and mod is None:
        return None
    return {"family": dict(fam) if fam else None, "model": dict(mod) if mod else None}


def _params(acc: Accelerator, params: EffParams | None) -> EffParams:
    return params if params is not None else efficiency_params(acc.family)


def _sat(x: float, half: float) -> float:
    return x / (x + half)


def gemm_efficiency(acc: Accelerator, m: float, n: float, k: float, precision: str = "bf16",
                    params: EffParams | None = None) -> float:
    """Achieved fraction of the dense peak for an ``m x k @ k x n`` GEMM."""
    p = _params(acc, params)
    eff = p.gemm_peak_eff * _sat(m, p.dim_half) * _sat(n, p.dim_half) * _sat(k, p.dim_half)
    if precision == "fp8" and "fp8" in acc.peak_tflops:
        eff *= p.fp8_ratio
    elif precision == "fp4" and "fp4" in acc.peak_tflops:
        eff *= p.fp4_ratio
    return eff


def gemm_time_s(acc: Accelerator, m: float, n: float, k: float, precision: str = "bf16", batch: float = 1,
                params: EffParams | None = None, out_bytes: float = 2.0) -> float:
    """Time of ``batch`` GEMMs of shape ``(m x k) @ (k x n)``: roofline with achieved rates.

    ``precision`` is the operand precision (``bf16`` or ``fp8``); outputs are written in bf16 unless
    ``out_bytes`` says otherwise (a weight-gradient GEMM that accumulates into an fp32 gradient buffer
    reads and writes it: 8 bytes per output element).
    """
    if m <= 0 or n <= 0 or k <= 0 or batch <= 0:
        return 0.0
    p = _params(acc, params)
    flops = 2.0 * m * n * k * batch
    rate = acc.peak_flops(precision) * gemm_efficiency(acc, m, n, k, precision, p)
    if precision in ("fp8", "fp4"):
        # a narrow GEMM is never slower than the wider datapath it runs on where the chip lists no faster rate
        # for it (TPU v5p / v6e and Trainium1 list fp8 at their bf16 rate): there it runs at the wider
        # precision's efficiency, without the fp8_ratio / fp4_ratio of a recipe that trades accuracy for speed
        wider = "fp8" if precision == "fp4" and "fp8" in acc.peak_tflops else "bf16"
        rate = max(rate, acc.peak_flops(wider) * gemm_efficiency(acc, m, n, k, wider, p))
    t_flops = flops / rate
    b_in = bytes_per_element(precision)
    nbytes = ((m * k + k * n) * b_in + m * n * out_bytes) * batch
    t_mem = nbytes / (acc.hbm_bw_bytes_s * p.mem_eff)
    return max(t_flops, t_mem)


def attention_time_s(acc: Accelerator, flops: float, nbytes: float, q_len: float, head_dim: float,
                     params: EffParams | None = None) -> float:
    """Time of fused (flash) attention doing ``flops`` FLOPs and moving ``nbytes`` (bf16 always).

    Flash attention (Dao et al. 2022) tiles Q/K/V in on-chip memory, so it is compute-bound at a
    fraction ``attn_eff`` of the GEMM efficiency; short sequences and small heads saturate less.
    """
    if flops <= 0:
        return 0.0
    p = _params(acc, params)
    t_flops = flops / (acc.peak_flops("bf16") * _relative_attention_eff(p, q_len, head_dim, acc.systolic_dim, acc))
    return max(t_flops, nbytes / (acc.hbm_bw_bytes_s * p.mem_eff))


def _relative_attention_eff(p: EffParams, q_len: float, head_dim: float, systolic_dim: int | None = None,
                            acc: Accelerator | None = None) -> float:
    """The vendor-neutral prior: flash attention at ``attn_eff`` of the family's GEMM efficiency.

    ``attn_eff`` is the ratio at head dim 128 (the published kernels' reference); other head dims scale
    as the kernels' do (``_head_dim_factor``), not by the GEMM tile scale ``dim_half``: the head dim is
    the inner dimension of a tile held on chip, not a matrix a library tiles and waves over the chip.
    On a chip with a systolic matrix unit of side ``systolic_dim`` (TPU MXU, Trainium tensor engine) the
    head dim is QK^T's contraction and PV's output dimension: each per-head matmul fills only
    ``min(1, head_dim / systolic_dim)`` of the array (head dim 64 on a 256 x 256 MXU: a quarter).
    """
    hd = min(1.0, head_dim / systolic_dim) if systolic_dim else _head_dim_factor(head_dim, acc)
    return p.gemm_peak_eff * p.attn_eff * _sat(q_len, p.dim_half) * hd


def _head_dim_factor(head_dim: float, acc: Accelerator | None = None, backward: bool = False,
                     precision: str = "bf16") -> float:
    """Flash-attention efficiency at ``head_dim`` relative to the kernel figure (head dim 128).

    On a chip whose exponential throughput is known (``exp_tera_per_s``: GPU special-function units), from
    the softmax: every attention score costs one exponential and ``4 x head_dim`` matmul FLOPs in the
    forward (QK^T and PV), ``10 x head_dim`` in the backward (QK^T recomputed, dV, dP, dQ, dK); with the
    exponentials and the matmuls issued one after the other, time per score is proportional to
    ``1 + r(d)``, ``r(d) = peak / (c d x exp rate)``. The factor is ``(1 + r_ref(128)) / (1 + r(d))``, with
    ``r_ref`` the ratio of the chip the kernel figure was measured on (``_KERNEL_REF_PEAK_PER_EXP``; the chip
    itself where it carries its own ``attention_fwd_eff``), so more exponential throughput never slows a
    kernel. On the H100 (989 TFLOP/s, 3.9 T exp/s) this gives 0.75 at head dim 64 and 1.20 at 256,
    FlashAttention-3's measured 0.77 and 1.18 (Shah et al. 2024, Fig. 5); the A100's lower matmul/exp
    ratio penalises head dim 64 less (0.83), B200's more (0.69). Elsewhere the FA3 curve itself,
    ``d / (d + 54)`` normalised at 128. An fp8 kernel (``precision="fp8"``: FlashAttention-3 FP8, TensorRT-LLM's FP8
    context FMHA) does its matmuls at the fp8 rate against the same exponential units: ``r(d)`` at the fp8 peak, the
    reference still the bf16 kernel's (0.75 at head dim 128 on an H100: with the doubled rate, 1.5x the bf16
    kernel's throughput).
    """
    rate = acc.exp_tera_per_s if acc is not None else None
    if acc is None or not rate:
        return _sat(head_dim, _HEAD_DIM_HALF) / _HEAD_DIM_REF
    c = 10.0 if backward else 4.0
    peak_per_exp = acc.peak_flops(precision) / (rate * 1e12)
    ref = peak_per_exp if acc.attention_fwd_eff else _KERNEL_REF_PEAK_PER_EXP.get(acc.family, peak_per_exp)
    return (1.0 + ref / (c * 128.0)) / (1.0 + peak_per_exp / (c * max(head_dim, 1.0)))


# dense bf16 peak / exponential rate of the chip each family's kernel figure (ATTENTION_KERNELS) was measured
# on: A100 312 TFLOP/s / 2.44 T exp/s, H100 989.4 / 3.9, B200 2,250 / 4.8 (the catalog's sourced values)
_KERNEL_REF_PEAK_PER_EXP = {"nvidia-ampere": 312.0 / 2.44, "nvidia-hopper": 989.4 / 3.9,
                            "nvidia-blackwell": 2250.0 / 4.8}


# Flash-attention forward efficiency: fraction of the dense bf16 peak reached by a causal, head-dim 128,
# long-sequence forward pass, per chip family and kernel class. Published kernel benchmarks, not fitted:
#   flash2 -- kernels written for Ampere's mma.sync path (FlashAttention-2, PyTorch SDPA's flash
#             backend up to 2.7, xformers, Triton flash attention). On Hopper they cannot use wgmma/TMA
#             and do not overlap softmax with the matrix units.
#   flash3 -- kernels for the chip's own matrix units with softmax/GEMM overlap (FlashAttention-3 and
#             cuDNN fused attention via Transformer Engine on Hopper; cuDNN / FlashAttention-4 on
#             Blackwell; the vendor's own kernel elsewhere).
ATTENTION_KERNELS: dict[str, dict[str, float]] = {
    # FlashAttention-2 (Dao 2023, Sec. 4.1): forward 50-73% of A100 peak; ~0.6 causal at head dim 128
    "nvidia-ampere": {"flash2": 0.60, "flash3": 0.60},
    # FlashAttention-3 (Shah et al. 2024, abstract and Fig. 5): FA2 reaches 35% of H100 peak; FA3 and
    # cuDNN 600-660 TFLOP/s causal at head dim 128, long sequences (~0.62 of 989)
    "nvidia-hopper": {"flash2": 0.35, "flash3": 0.62},
    # Blackwell (B200/GB200/GB300): cuDNN 9.x and FlashAttention-4 report ~60-70% of the dense bf16
    # peak in forward; no FA2-class measurement, so flash2 is the same value
    "nvidia-blackwell": {"flash2": 0.60, "flash3": 0.60},
}
# A chip can override its family's value with the catalog field ``attention_fwd_eff`` (Blackwell Ultra:
# twice the exponential throughput of B200/GB200; see the catalog's field sources).
ATTENTION_KERNEL_CLASSES = ("flash2", "flash3")
_HEAD_DIM_HALF = 54.0  # FA3 Fig. 5: head dim 64 runs at ~0.77x head dim 128 -> s(d) = d / (d + 54)
_HEAD_DIM_REF = 128.0 / (128.0 + _HEAD_DIM_HALF)  # the kernel figures are at head dim 128


def flash_attention_time_s(acc: Accelerator, flops: float, nbytes: float, q_len: float, head_dim: float,
                           params: EffParams | None = None, kernel: str = "flash3",
                           backward: bool = False, precision: str = "bf16") -> float:
    """Time of flash attention's forward (``flops`` FLOPs, ``nbytes`` through HBM) or its backward.

    Efficiency = the chip's ``attention_fwd_eff`` or else ``ATTENTION_KERNELS[family][kernel]`` (the
    forward's measured fraction of the dense bf16 peak), x head-dim and query-length saturation; the backward does 2.5x the forward FLOPs
    (QK^T recomputed, dV, dP, dQ, dK) at ``attn_bwd_ratio`` of the forward's efficiency. Families
    with no published kernel sweep (TPU, Trainium, AMD) keep the relative prior of
    ``attention_time_s``: ``attn_eff`` x their GEMM efficiency. ``precision="fp8"`` (a chip with an fp8 rate): the
    forward's matmuls at the fp8 peak, the same fraction of it as the bf16 kernel's of its own (FlashAttention-3's
    FP8 forward reaches ~1.2 PFLOP/s of an H100's 1,979, Shah et al. 2024), the exponentials unchanged
    (:func:`_head_dim_factor`).
    """
    if flops <= 0:
        return 0.0
    if kernel not in ATTENTION_KERNEL_CLASSES:
        raise RainierError(f"unknown attention kernel '{kernel}'", field="attention_kernel",
                           fix=f"use one of {', '.join(ATTENTION_KERNEL_CLASSES)}")
    p = _params(acc, params)
    if precision != "bf16" and precision not in acc.peak_tflops:
        raise RainierError(f"{acc.name} lists no {precision} rate for attention", field="--attention-dtype",
                           fix="use --attention-dtype bf16")
    kernel_eff = acc.attention_fwd_eff or ATTENTION_KERNELS.get(acc.family, {}).get(kernel)
    if kernel_eff is None:
        eff = _relative_attention_eff(p, q_len, head_dim, acc.systolic_dim, acc)
    else:
        eff = kernel_eff * _head_dim_factor(head_dim, acc, backward, precision) * _sat(q_len, p.dim_half)
    eff = min(eff, 0.95)
    if backward:
        flops, eff, nbytes = 2.5 * flops, eff * p.attn_bwd_ratio, 2.0 * nbytes
    t_flops = flops / (acc.peak_flops(precision) * eff)
    return max(t_flops, nbytes / (acc.hbm_bw_bytes_s * p.mem_eff))


def memory_time_s(acc: Accelerator, nbytes: float, params: EffParams | None = None) -> float:
    """Streaming ``nbytes`` through HBM at the achieved bandwidth (``mem_eff`` of peak)."""
    if nbytes <= 0:
        return 0.0
    p = _params(acc, params)
    return nbytes / (acc.hbm_bw_bytes_s * p.mem_eff)


def elementwise_time_s(acc: Accelerator, nbytes: float, params: EffParams | None = None) -> float:
    """Memory-bound elementwise ops (norms, activations, residual adds, optimizer): ``nbytes`` read+written."""
    return memory_time_s(acc, nbytes, params)

