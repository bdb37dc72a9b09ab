"""Parameter counts derived from a transformer's dimensions.

Per layer (h = hidden, a = heads, k = kv_heads, d = head_dim, f = ffn_hidden):
  attention   q: h*a*d, k and v: 2*h*k*d, out: a*d*h           (GQA: k < a)
  MLA         q: h*q_r + q_r*a*(d_nope+d_rope); kv: h*(kv_r+d_rope) + kv_r*a*(d_nope+d_v); out: a*d_v*h
  MLP         gelu 2*h*f, swiglu 3*h*f
  MoE layer   E experts of 3*h*f_e (swiglu) + shared experts + router h*E; top_k of E active
  norms       2*h per layer (+ final h)
Embeddings V*h, plus an output projection V*h unless tied. Biases when ``bias`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from rainier.catalog.schema import Model

__all__ = ["ParamCounts", "param_counts", "attention_params", "mlp_params"]


@dataclass(frozen=True)
class ParamCounts:
    embedding: float
    output: float
    attention_per_layer: float
    dense_mlp_per_layer: float
    moe_per_layer_total: float
    moe_per_layer_active: float
    norms: float
    dense_layers: int
    moe_layers: int
    total: float
    active: float

    @property
    def non_embedding(self) -> float:
        return self.total - self.embedding - self.output


def attention_params(m: Model) -> float:
    h, a = m.hidden, m.heads
    if m.mla is not None:
        c = m.mla
        q_w = a * (c.qk_nope_head_dim + c.qk_rope_head_dim)
        q = h * c.q_lora_rank + c.q_lora_rank * q_w + c.q_lora_rank if c.q_lora_rank else h * q_w
        kv = h * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank * a * (c.qk_nope_head_dim + c.v_head_dim)
        kv += c.kv_lora_rank
        out = a * c.v_head_dim * h
        return float(q + kv + out)
    d, k = m.d_head, m.n_kv_heads
    p = h * a * d + 2 * h * k * d + a * d * h
    if m.bias:
        p += a * d + 2 * k * d + h
    return float(p)


def mlp_params(m: Model, ffn: int) -> float:
    mats = 3 if m.ffn_type == "swiglu" else 2
    p = mats * m.hidden * ffn
    if m.bias:
        p += ffn * (mats - 1) + m.hidden
    return float(p)


def param_counts(m: Model) -> ParamCounts:
    h, v = m.hidden, m.vocab
    emb = float(v * h + (m.max_seq * h if m.learned_pos_emb else 0))
    out = 0.0 if m.tied_embeddings else float(v * h)
    attn = attention_params(m)
    dense_mlp = mlp_params(m, m.ffn_hidden)
    norms_per_layer = 2 * h * (2 if m.bias else 1)
    if m.moe is None:
        dense_layers, moe_layers = m.layers, 0
        moe_total = moe_active = 0.0
    else:
        e = m.moe
        moe_layers = m.moe_layer_count
        dense_layers = m.layers - moe_layers
        expert = mlp_params(m, e.expert_ffn_hidden)
        shared = e.shared_experts * mlp_params(m, e.shared_ffn_hidden or e.expert_ffn_hidden)
        router = h * e.experts
        moe_total = e.experts * expert + shared + router
        moe_active = e.top_k * expert + shared + router
    norms = float(m.layers * norms_per_layer + h)
    layers_common = m.layers * attn
    total = emb + out + layers_common + dense_layers * dense_mlp + moe_layers * moe_total + norms
    active = emb + out + layers_common + dense_layers * dense_mlp + moe_layers * moe_active + norms
    return ParamCounts(
        embedding=emb,
        output=out,
        attention_per_layer=attn,
        dense_mlp_per_layer=dense_mlp,
        moe_per_layer_total=moe_total,
        moe_per_layer_active=moe_active,
        norms=norms,
        dense_layers=dense_layers,
        moe_layers=moe_layers,
        total=total,
        active=active,
    )
