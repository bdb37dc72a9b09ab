"""Operations of one transformer layer on one chip: GEMM shapes, attention, elementwise bytes.

For a microbatch of ``b`` sequences of length ``s`` on a chip of a tensor-parallel group of size
``t`` and a context-parallel group of size ``c`` (ring attention), the chip sees ``T = b s / c``
tokens. Its forward GEMMs are (h hidden, a heads, k kv heads, d head dim, f FFN width):

* QKV projection ``T x h @ h x (a/t + 2 max(k/t, 1)) d`` (GQA; KV heads replicate when t > k);
  MLA (DeepSeek-V2/V3): down-projections ``h -> q_r``, ``h -> kv_r + d_rope`` (replicated over TP),
  up-projections ``q_r -> a/t (d_nope + d_rope)``, ``kv_r -> a/t (d_nope + d_v)``;
* attention core ``2 T S_eff (a/t)(d_qk + d_v)`` FLOPs with ``S_eff = s/2`` for causal flash
  attention (it skips masked tiles; ring attention balances the halves across CP ranks), averaged with
  ``W - W^2/(2s)`` over the sliding-window layers of a model with a window ``W < s``, ``S_eff = s``
  for the unfused Megatron-2021 kernels (full masked score matrix materialised, ~13 bytes per score);
* output projection ``T x (a/t) d @ (a/t) d x h``;
* MLP ``T x h @ h x m f/t`` and ``T x f/t @ f/t x h`` with ``m`` = 1 (gelu) or 2 (SwiGLU gate+up);
* MoE: router ``T x h @ h x E``; each of the ``E/ep`` local experts gets ``T top_k ep / E x cf``
  tokens (balanced routing, capacity factor ``cf``); shared experts like a dense MLP. Token
  permutation: each pass reads and writes every routed copy (``2 T top_k cf h`` elements). Megatron's
  all-to-all dispatcher makes four passes per layer forward when ``ep > 1`` and a chip holds several
  experts (permute by destination rank, sort the received chunks by local expert; the reverse sort and
  the un-permute after the experts), two otherwise (permute, un-permute).
  GShard-style einsum dispatch (``moe_dispatch="einsum"``, a capacity factor dropping overflow tokens) instead
  multiplies one-hot ``(B, S, E, C)`` masks into the tokens and back: two GEMMs of ``2 s (E C) h`` FLOPs per
  sequence, ``E C = cf s top_k``, i.e. ``(2/3) cf s / f_e`` of a SwiGLU expert stack's FLOPs; the experts
  compute every capacity slot, used or not.
  Load imbalance: none is modelled. For multinomial routing the busiest of the ``ep`` ranks gets
  about ``1 + sqrt(2 ln ep) sqrt((1 - 1/ep) / (N/ep))`` times the mean load (``N = T ep top_k`` routed
  copies per microbatch): 1-3% at the token counts of the measured runs (e.g. 1.6% for gpt-oss at EP64,
  T = 8192), and the benchmark rows force balanced routing; skew from a learned router is not derivable
  from the configuration.

Backward GEMMs are twice the forward FLOPs (input and weight gradients); flash-attention backward
costs 2.5x its forward (it recomputes the scores; Dao 2023). Elementwise bytes per layer (forward):
two norms (4 T h bytes each), two residual adds (6 T h each), activation (gelu 4 T f/t, SwiGLU 6 T f/t),
rotary (4 T (a + k) d / t), dropout for GPT-style models (5 T h each of two eager; fused into the residual's
bias-dropout-add kernel, only its 1-byte mask, T h each); an eager (unfused)
PyTorch stack moves more bytes per op (``EAGER`` below: RMSNorm 36 bytes per element instead of 4,
rotary 24 instead of 4, SwiGLU 10 instead of 6, fp32 cross-entropy 30 per logit instead of 12). Without sequence
parallelism the norm/residual/dropout work is replicated on every TP rank; with it, divided by t.
Backward elementwise work is taken as twice the forward.
"""

from __future__ import annotations

from dataclasses import dataclass

from rainier.catalog.schema import Model

__all__ = ["Gemm", "LayerOps", "layer_ops", "logits_ops", "uses_dropout", "FUSED", "EAGER"]

# HBM bytes per element of each elementwise op in forward (bf16 tensors, fp32 math), for a stack with
# fused kernels (Megatron-Core / Transformer Engine / torch.compile: one read and one write per op)
# and for eager PyTorch, where each primitive is a kernel (counted from the reference code of
# torchtitan's Llama: RMSNorm = float, pow, mean, rsqrt-mul, type_as, weight-mul; RoPE = float,
# complex mul, type_as; SwiGLU = silu, mul; cross-entropy in fp32 = float, log-softmax (2 passes),
# gather, and its backward).
FUSED = {"norm": 4.0, "residual": 6.0, "swiglu": 6.0, "gelu": 4.0, "rope": 4.0, "cross_entropy": 12.0}
EAGER = {"norm": 36.0, "residual": 6.0, "swiglu": 10.0, "gelu": 4.0, "rope": 24.0, "cross_entropy": 30.0}


@dataclass(frozen=True)
class Gemm:
    """A (batched) GEMM ``(m x k) @ (k x n)``, ``batch`` times."""

    name: str
    m: float
    n: float
    k: float
    batch: float = 1.0

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k * self.batch


@dataclass(frozen=True)
class LayerOps:
    """Forward work of one layer on one chip (one microbatch)."""

    gemms: tuple[Gemm, ...]
    attn_flops: float          # attention core (QK^T and AV), as executed
    attn_bytes: float          # HBM traffic of the attention core
    attn_q_len: float
    attn_head_dim: float
    attn_fused: bool           # flash attention (True) or unfused GEMM + softmax kernels
    attn_gemms: tuple[Gemm, ...]  # the unfused QK^T and AV batched GEMMs (empty when fused)
    elementwise_bytes: float
    tp_bytes: float            # bytes of one TP all-reduce (activation T x h, bf16)
    ep_bytes: float            # bytes one chip sends in one MoE all-to-all (dispatch or combine)
    cp_kv_bytes: float         # K and V bytes of this chip's chunk (ring attention passes these)
    moe: bool

    @property
    def gemm_flops(self) -> float:
        return sum(g.flops for g in self.gemms)


def uses_dropout(model: Model) -> bool:
    """GPT-style (gelu, bias) models were trained with dropout 0.1 (Megatron, BLOOM, MPT off); Llama-style not."""
    return model.ffn_type == "gelu" and model.bias


def layer_ops(model: Model, *, b: int, s: int, tp: int = 1, cp: int = 1, ep: int = 1, sp: bool = True,
              moe_layer: bool = False, fused_attention: bool = True, act_bytes: float = 2.0,
              fused_elementwise: bool = True, etp: int | None = None, moe_dispatch: str = "permute") -> LayerOps:
    """Forward operations of one transformer layer on one chip (see the module docstring).

    ``moe_dispatch``: "permute" (tokens sorted and gathered by expert: Megatron, MaxText's sparse path) or
    "einsum" (GShard-style one-hot dispatch: MaxText's dropping path, Mesh-TF / GShard / Switch).
    """
    h, a = model.hidden, model.heads
    t = max(1, tp)
    T = b * s / cp
    a_r = a / t
    gemms: list[Gemm] = []
    if model.mla is not None:
        c = model.mla
        d_qk, d_v = c.qk_nope_head_dim + c.qk_rope_head_dim, c.v_head_dim
        if c.q_lora_rank:
            gemms.append(Gemm("q_down", T, c.q_lora_rank, h))
            gemms.append(Gemm("q_up", T, a_r * d_qk, c.q_lora_rank))
        else:  # no q compression (DeepSeek-V2-Lite): q from the hidden state
            gemms.append(Gemm("q", T, a_r * d_qk, h))
        gemms.append(Gemm("kv_down", T, c.kv_lora_rank + c.qk_rope_head_dim, h))
        gemms.append(Gemm("kv_up", T, a_r * (c.qk_nope_head_dim + d_v), c.kv_lora_rank))
        gemms.append(Gemm("out", T, h, a_r * d_v))
        kv_r = a_r  # MLA materialises per-head K and V after the up-projection
        kv_bytes = T * kv_r * (d_qk + d_v) * act_bytes
    else:
        d = model.d_head
        d_qk = d_v = d
        kv_r = max(model.n_kv_heads / t, 1.0)
        gemms.append(Gemm("qkv", T, (a_r + 2 * kv_r) * d, h))
        gemms.append(Gemm("out", T, h, a_r * d))
        kv_bytes = T * kv_r * 2 * d * act_bytes
    # attention core
    # keys per query: s/2 causal (flash skips masked tiles), less on sliding-window layers; the unfused
    # Megatron-2021 kernels materialise the whole masked s x s matrix
    s_eff = model.attended_keys(s) if fused_attention else float(s)
    attn_flops = 2.0 * T * s_eff * a_r * (d_qk + d_v)
    attn_gemms: tuple[Gemm, ...] = ()
    if fused_attention:
        attn_bytes = act_bytes * T * (a_r * (d_qk + d_v) + 2 * kv_r * d_v * cp)  # Q, O; every KV chunk
    else:
        heads_b = b * a_r
        q = s / cp
        attn_gemms = (Gemm("qk", q, s, d_qk, heads_b), Gemm("av", q, d_v, s, heads_b))
        attn_bytes = 13.0 * heads_b * q * s  # scores written, softmax, dropout, read by AV
    # MLP or MoE
    mult = 2 if model.ffn_type == "swiglu" else 1
    ep_bytes = 0.0
    if moe_layer and model.moe is not None:
        e = model.moe
        gemms.append(Gemm("router", T, e.experts, h))
        ep_ = max(1, ep)
        # expert tensor parallelism et (default: the layer's TP): each of the t/et rank groups dispatches its
        # sequence-parallel share of the tokens; experts are split et ways (et = 1: whole experts, EP folded)
        et = max(1, etp if etp is not None else t)
        tok = T * et / t * e.top_k * ep_ / e.experts * e.capacity_factor
        local = e.experts / ep_
        gemms.append(Gemm("expert_up", tok, mult * e.expert_ffn_hidden / et, h, local))
        gemms.append(Gemm("expert_down", tok, h, e.expert_ffn_hidden / et, local))
        f_act = tok * local * e.expert_ffn_hidden / t
        if e.shared_experts:
            fs = (e.shared_ffn_hidden or e.expert_ffn_hidden) * e.shared_experts
            gemms.append(Gemm("shared_up", T, mult * fs / t, h))
            gemms.append(Gemm("shared_down", T, h, fs / t))
            f_act += T * fs / t
        if ep_ > 1:
            ep_bytes = T * e.top_k * e.capacity_factor * h * act_bytes / t
        if moe_dispatch == "einsum":
            # one-hot dispatch and combine einsums over every expert's C = cf s k / E capacity slots of each
            # sequence: "BSM,BSEC->EBCM" and back, 2 s (E C) h FLOPs each per sequence, on the matrix units (a
            # chip holding s / cp of the sequence contracts its share of S); the (B, S, E, C) masks are built
            # elementwise (int32 cumsum, cast: ~8 B per mask element)
            s_loc = s / cp
            slots = s * e.top_k * e.capacity_factor  # E x C
            gemms.append(Gemm("moe_dispatch", slots, h / t, s_loc, b))
            gemms.append(Gemm("moe_combine", s_loc, h / t, slots, b))
            permute_bytes = 8.0 * b * s_loc * slots
        else:
            # token permutation passes, each reading and writing every routed copy (see the module docstring)
            passes = 4.0 if (ep_ > 1 and local > 1) else 2.0
            permute_bytes = passes * 2.0 * T * e.top_k * e.capacity_factor * h * act_bytes / t
    else:
        permute_bytes = 0.0
        f = model.ffn_hidden
        gemms.append(Gemm("mlp_up", T, mult * f / t, h))
        gemms.append(Gemm("mlp_down", T, h, f / t))
        f_act = T * f / t
    # elementwise bytes (forward)
    rep = 1.0 / t if sp else 1.0
    k = EAGER if not fused_elementwise else FUSED
    norm_b = k["norm"] if model.ffn_type == "swiglu" else FUSED["norm"]  # LayerNorm is one kernel either way
    ew = (2 * norm_b + 2 * k["residual"]) * T * h * rep
    ew += (k["swiglu"] if mult == 2 else k["gelu"]) * f_act
    if model.mla is None and not model.learned_pos_emb:
        ew += k["rope"] * T * (a_r + kv_r) * d_qk  # rotary on q and k
    if uses_dropout(model):
        # eager: a dropout kernel of its own (read, write, 1-byte mask); fused (Megatron's bias-dropout-add,
        # one jit-fused kernel with the residual add counted above): only the mask is written on top
        ew += 2 * (1.0 if fused_elementwise else 5.0) * T * h * rep
    ew += permute_bytes
    return LayerOps(
        gemms=tuple(gemms), attn_flops=attn_flops, attn_bytes=attn_bytes, attn_q_len=s / cp,
        attn_head_dim=float(d_qk), attn_fused=fused_attention, attn_gemms=attn_gemms,
        elementwise_bytes=ew, tp_bytes=T * h * act_bytes, ep_bytes=ep_bytes, cp_kv_bytes=kv_bytes,
        moe=moe_layer,
    )


def logits_ops(model: Model, *, b: int, s: int, tp: int = 1, cp: int = 1,
               fused_elementwise: bool = True) -> tuple[Gemm, float]:
    """The output projection GEMM and the cross-entropy HBM bytes (forward) per chip."""
    T = b * s / cp
    v_r = model.vocab / max(1, tp)
    k = FUSED if fused_elementwise else EAGER
    return Gemm("logits", T, v_r, model.hidden), k["cross_entropy"] * T * v_r
