"""Memory per chip in training: model states (weights, gradients, Adam) and activations.

Model states (mixed precision with Adam, Rajbhandari et al. 2020 "ZeRO"), per parameter held::

    weights bf16 2 B (+1 B fp8 copy when training in fp8)
    gradients fp32 4 B (accumulated in fp32, as Megatron's main_grad and FSDP's fp32 reduce), or
              bf16 2 B where the recipe keeps and reduces them in bf16 (Megatron-Core
              ``grad_reduce_in_fp32=False``: the gradient buffer takes the parameters' dtype)
    optimizer  12 B (fp32 master weights + Adam first and second moments)

ZeRO-1 shards the optimizer over the data-parallel group (times CP, as Megatron's distributed
optimizer: bf16 weights and fp32 gradient buffer whole, fp32 master + Adam sharded, "6 + 12/d" bytes
per parameter in Megatron-Core's distributed-optimizer table), ZeRO-2 also the gradients. ZeRO-3 is
taken as PyTorch FSDP (torchtitan's FSDP2, llm-foundry's FSDP FULL_SHARD) with a bf16 mixed-precision
policy: the sharded parameter *is* the fp32 master, so no bf16 copy is kept between uses; bf16 weights
exist only for the layers gathered at a time (the current one and the prefetched next one), and the
gradients are reduce-scattered into fp32 shards: ``16/d`` bytes per parameter plus two gathered
layers. Expert weights are sharded over EP and replicated over the expert-data-parallel group
``dp cp / ep``.

Activations per layer per microbatch follow Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", Sec. 4), bf16, ``s`` the chip's sequence length
(``seq / cp``), ``b`` microbatch, ``h`` hidden, ``a`` heads, ``t`` TP size. For a GPT layer
(gelu, ``f = 4h``, dropout) with no parallelism this is ``s b h (34 + 5 a s / h)``; with TP,
``s b h (10 + 24/t + 5 a s / (h t))``; with TP and sequence parallelism ``s b h (34/t + 5 a s/(h t))``;
selective recomputation drops the ``5 a s / h`` score term; full recomputation keeps only the layer
input ``2 s b h`` (``/t`` with SP). Partial full recomputation (Megatron's ``--recompute-method block
--recompute-num-layers k``) recomputes a fraction ``k / (L/pp)`` of each stage's layers and keeps the
others' activations whole: activations interpolate linearly between the two. The derivation term by term, which generalises to GQA, SwiGLU,
MoE, no-dropout models and flash attention (which keeps no score matrix), is in
:func:`activation_bytes_per_layer`.

Pipeline parallelism with 1F1B keeps ``min(pp, m)`` microbatches in flight on the first stage, whose
``L/pp`` layers therefore hold ``L`` layers' worth of activations; the interleaved schedule multiplies
that by ``1 + (pp - 1)/(pp vp)`` (Narayanan et al. 2021; Korthikanti et al. 2022 Sec. 4.2.3), counted
exactly from the schedule's warm-up in :func:`inflight_layers`. The last
stage also holds the fp32 logits, ``4 s b V / t``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rainier.catalog.params import ParamCounts, param_counts
from rainier.catalog.schema import Model
from rainier.perf.compute import LOW_PRECISION
from rainier.perf.ops import uses_dropout

__all__ = ["MemoryBreakdown", "activation_bytes_per_layer", "inflight_layers", "model_state_bytes", "params_per_chip",
           "training_memory", "usable_hbm_bytes", "RECOMPUTE", "RUNTIME_RESERVE_BYTES",
           "ALLOCATOR_FRAGMENTATION"]

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per chip, on the most loaded pipeline stage."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def gb(self) -> dict[str, float]:
        return {k: v / 1e9 for k, v in asdict(self).items()}


# HBM a training job cannot use for tensors: the CUDA/runtime context and communication (NCCL) buffers,
# about 1 GB per process on current stacks, and the caching allocator's fragmentation, a few percent of
# the pool (PyTorch's memory snapshots of large-model runs show 2-6% reserved-but-unallocated).
RUNTIME_RESERVE_BYTES = 1e9
ALLOCATOR_FRAGMENTATION = 0.05


def usable_hbm_bytes(hbm_bytes: float) -> float:
    """HBM a training job can use: less the allocator's fragmentation and the runtime reserve."""
    return (1.0 - ALLOCATOR_FRAGMENTATION) * hbm_bytes - RUNTIME_RESERVE_BYTES


def activation_bytes_per_layer(model: Model, *, b: int, s: float, tp: int = 1, sp: bool = True,
                               recompute: str = "selective", fused_attention: bool = True,
                               moe_layer: bool = False, ep: int = 1, precision: str = "bf16") -> float:
    """Bytes of activations one layer keeps for backward, one microbatch, on one chip (bf16).

    ``s`` is the chip's sequence length (``seq / cp``). Terms (units of ``s b``; ``[r]`` = replicated on
    every TP rank without sequence parallelism, otherwise divided by ``t``):

    * two norm inputs 4h [r]; QKV input 2h [r]; Q 2 a d/t; K and V 4 k d/t (``k`` KV heads per rank);
      output-projection input 2 a d/t; attention dropout mask h [r] (dropout models only);
    * MLA (DeepSeek): per-head Q 2 a d_qk/t, K and V 2 a (d_qk + d_v)/t, the latents 2 (q_r + kv_r) [r];
      selective recomputation recomputes the up-projections, keeping only the latents;
    * scores: ``5 a s/t`` (softmax out 2, dropout mask 1, dropout out 2) or ``2 a s/t`` without dropout,
      none with flash attention or selective recomputation (recomputed in backward);
    * MLP input 2h [r]; gelu: 2f/t (gelu in) + 2f/t (fc2 in); SwiGLU: 4f/t (gate, up) + 2f/t (product);
      MoE: the dispatched tokens 2h top_k cf and their expert activations; MLP dropout mask h [r].

    For a GPT layer (``f = 4h``, ``k = a``, dropout) the sum is Korthikanti's ``34 + 5 a s / h``.
    With ``precision="fp8"`` the inputs of the linear layers (QKV, output projection, fc1, fc2) are
    kept in fp8 for the weight-gradient GEMMs, as Transformer Engine does: 1 byte instead of 2.
    """
    t = max(1, tp)
    sb = s * b
    h, a = model.hidden, model.heads
    if recompute == "full":
        return 2.0 * sb * h / (t if sp else 1)
    rep = (1.0 / t) if sp else 1.0
    drop = uses_dropout(model)
    if model.mla is not None:
        c = model.mla
        q_w = a * (c.qk_nope_head_dim + c.qk_rope_head_dim)
        kv_w = a * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim)
        o_w = a * c.v_head_dim
        # compressed latents (q_r, kv_r) are small and kept too
        x = 2.0 * ((c.q_lora_rank or 0) + c.kv_lora_rank) * rep
        if recompute == "selective":
            # selective recomputation of MLA also recomputes the up-projections from the kept latents
            # (DeepSeek-V3 Sec. 3.2.3; Megatron-Core's "mla_up_proj" module): per-head Q, K, V are not kept
            q_w = kv_w = 0
    else:
        d = model.d_head
        q_w = a * d
        kv_w = 2 * max(model.n_kv_heads, t) * d
        o_w = a * d
        x = 0.0
    lb = 1.0 if precision in LOW_PRECISION else 2.0
    per = (4 * h + lb * h + (h if drop else 0)) * rep + x
    per += (2 * q_w + 2 * kv_w + lb * o_w) / t
    if not fused_attention and recompute == "none":
        per += (5.0 if drop else 2.0) * a * s / t
    elif fused_attention:
        per += 4.0 * a / t  # log-sum-exp per row (fp32)
    per += (lb * h + (h if drop else 0)) * rep
    mult = 2 if model.ffn_type == "swiglu" else 1
    if moe_layer and model.moe is not None:
        e = model.moe
        routed = e.top_k * e.capacity_factor
        per += lb * h * routed / t + (2 * mult + lb) * e.expert_ffn_hidden * routed / t
        if e.shared_experts:
            fs = (e.shared_ffn_hidden or e.expert_ffn_hidden) * e.shared_experts
            per += (2 * mult + lb) * fs / t
    else:
        per += (2 * mult + lb) * model.ffn_hidden / t
    return per * sb


def inflight_layers(layers: int, pp: int, vp: int, microbatches: int) -> float:
    """Layer-microbatches of activations the first pipeline stage holds at its peak.

    1F1B: ``min(pp, m)`` microbatches of its ``L/pp`` layers. Interleaved 1F1B (Megatron-Core's
    schedule): the first rank runs ``2 (pp - 1) + (vp - 1) pp`` warm-up model-chunk forwards before its
    first backward, plus the one in hand, each chunk ``L/(pp vp)`` layers, capped by the ``m vp``
    chunks there are; with ``m >= pp`` this is ``L (1 + (pp - 1)/(pp vp))`` (Korthikanti et al. 2022,
    Sec. 4.2.3).
    """
    if pp <= 1:
        return float(layers) * min(1, microbatches)
    if vp <= 1:
        return layers / pp * min(pp, microbatches)
    chunks = min(microbatches * vp, 2 * (pp - 1) + (vp - 1) * pp + 1)
    return layers / (pp * vp) * chunks


def params_per_chip(model: Model, *, tp: int, pp: int, ep: int = 1, pc: ParamCounts | None = None,
                    etp: int | None = None) -> tuple[float, float]:
    """(dense, expert) parameters held by one chip of the most loaded stage (embeddings on stage 1)."""
    pc = pc or param_counts(model)
    emb = pc.embedding + pc.output if pp == 1 else max(pc.embedding, pc.output)
    expert_total = pc.moe_layers * (pc.moe_per_layer_total - _shared_router(model))
    dense_layers = pc.total - pc.embedding - pc.output - expert_total
    layers_share = dense_layers / pp
    dense = (layers_share + emb) / tp
    expert = expert_total / pp / ((etp if etp is not None else tp) * max(1, ep))
    return dense, expert


def _shared_router(model: Model) -> float:
    if model.moe is None:
        return 0.0
    from rainier.catalog.params import mlp_params

    e = model.moe
    shared = e.shared_experts * mlp_params(model, e.shared_ffn_hidden or e.expert_ffn_hidden)
    return shared + model.hidden * e.experts


def model_state_bytes(dense: float, expert: float, *, zero: int, dp_shard: int, ep: int,
                      precision: str = "bf16", gathered_params: float = 0.0,
                      grad_bytes: float = 4.0, expert_dp: float | None = None,
                      optimizer_bytes: float = 12.0) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per chip; ``dp_shard`` = dp x cp (the ZeRO group).

    ZeRO 0-2: bf16 weights (+1 B fp8 copy in fp8 training), fp32 gradients, 12 B of fp32 master and
    Adam moments (``grad_bytes`` 2 for a bf16 gradient buffer; ``optimizer_bytes`` 6 for Adam moments in
    bf16 with the master weights kept as the bf16 weights plus their 16-bit remainders: Apex / NeMo
    ``distributed_fused_adam`` with ``dtype: bf16``). ZeRO-3 (PyTorch FSDP): no persistent bf16 copy (the fp32 shard in the optimizer's
    12 B is the parameter), only ``gathered_params`` held in bf16 (+ fp8) while in use.
    """
    w_b = 2.0 + (1.0 if precision in LOW_PRECISION else 0.0)
    g_b, o_b = grad_bytes, optimizer_bytes

    def part(n: float, d: float) -> tuple[float, float, float]:
        return (0.0 if zero >= 3 else n * w_b, n * g_b / (d if zero >= 2 else 1.0),
                n * o_b / (d if zero >= 1 else 1.0))

    wd, gd, od = part(dense, float(max(1, dp_shard)))
    we, ge, oe = part(expert, max(1.0, expert_dp if expert_dp is not None else dp_shard / max(1, ep)))
    w = wd + we + (gathered_params * w_b if zero >= 3 else 0.0)
    return w, gd + ge, od + oe


def training_memory(model: Model, *, b: int, seq: int, tp: int, pp: int, cp: int, ep: int, vp: int,
                    microbatches: int, recompute: str, zero: int, dp: int, sp: bool = True,
                    precision: str = "bf16", fused_attention: bool = True,
                    pc: ParamCounts | None = None,
                    params_chip: tuple[float, float] | None = None,
                    recompute_fraction: float = 1.0, grad_bytes: float = 4.0,
                    expert_dp: float | None = None, optimizer_bytes: float = 12.0) -> MemoryBreakdown:
    """Peak bytes per chip (most loaded stage) for a training configuration.

    ``recompute_fraction`` (with ``recompute="full"``): the share of layers fully recomputed; the
    others keep their whole (selective-mode) activations.
    """
    s = seq / cp
    L = model.layers
    moe_layers = model.moe_layer_count
    dense_layers = L - moe_layers
    kw = dict(b=b, s=s, tp=tp, sp=sp, recompute=recompute, fused_attention=fused_attention, ep=ep,
              precision=precision)
    a_dense = activation_bytes_per_layer(model, moe_layer=False, **kw) if dense_layers else 0.0  # type: ignore[arg-type]
    a_moe = activation_bytes_per_layer(model, moe_layer=True, **kw) if moe_layers else 0.0  # type: ignore[arg-type]
    per_layer_avg = (dense_layers * a_dense + moe_layers * a_moe) / L
    per_layer_max = max(a_dense, a_moe)
    f = min(1.0, max(0.0, recompute_fraction))
    if recompute == "full" and f < 1.0:
        kw_sel = {**kw, "recompute": "selective"}
        s_dense = activation_bytes_per_layer(model, moe_layer=False, **kw_sel) if dense_layers else 0.0  # type: ignore[arg-type]
        s_moe = activation_bytes_per_layer(model, moe_layer=True, **kw_sel) if moe_layers else 0.0  # type: ignore[arg-type]
        sel_avg = (dense_layers * s_dense + moe_layers * s_moe) / L
        per_layer_avg = f * per_layer_avg + (1.0 - f) * sel_avg
        per_layer_max = max(s_dense, s_moe)
    acts = per_layer_avg * inflight_layers(L, pp, vp, microbatches)
    if recompute == "full":
        acts += activation_bytes_per_layer(model, moe_layer=moe_layers > 0, **{**kw, "recompute": "selective"})  # type: ignore[arg-type]
    acts = max(acts, per_layer_max)
    logits = 4.0 * s * b * model.vocab / tp
    dense, expert = params_chip or params_per_chip(model, tp=tp, pp=pp, ep=ep, pc=pc)
    layer_params = (dense + expert) / max(1.0, L / pp)
    w, g, o = model_state_bytes(dense, expert, zero=zero, dp_shard=dp * cp, ep=ep, precision=precision,
                                gathered_params=min(2 * layer_params, dense + expert),  # (never more than the
                                # stage holds: a stage of under two layers gathers what it has)
                                grad_bytes=grad_bytes, expert_dp=expert_dp,
                                optimizer_bytes=optimizer_bytes)
    stage1 = acts + (logits if pp == 1 else 0.0)
    last = per_layer_avg * (L / pp) + logits if pp > 1 else stage1
    on_last = pp == 1 or last > stage1
    act_peak = max(stage1, last)
    lg = logits if on_last else 0.0
    return MemoryBreakdown(weights=w, gradients=g, optimizer=o, activations=act_peak - lg, logits=lg,
                           total=w + g + o + act_peak)
