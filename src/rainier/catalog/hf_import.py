"""A catalog model from a Hugging Face ``config.json``: the dimensions rainier counts FLOPs, bytes and memory from.

``rainier catalog import-hf config.json`` turns the configuration a model is published with into a catalog
entry (``kind: model``), so a model that is not in the catalog can be trained, served and planned for at once.
What is read, by the field names of the ``transformers`` configurations (multimodal configurations:
their ``text_config``):

* dimensions: ``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``, ``num_key_value_heads``,
  ``head_dim``, ``intermediate_size``, ``vocab_size``, ``max_position_embeddings``, ``tie_word_embeddings``,
  biases (``attention_bias``, ``mlp_bias``; gpt-oss's always);
* the MLP: gated (three matrices: Llama, Mistral, Qwen, DeepSeek, Gemma, gpt-oss, Llama 4) unless the
  ``model_type`` is one of the two-matrix families (GPT-2, GPT-NeoX, OPT, BLOOM, Falcon, MPT, StarCoder 2,
  Phi 1/2, GPT-J);
* experts: ``num_local_experts`` / ``num_experts`` / ``n_routed_experts``, ``num_experts_per_tok``, the expert
  width ``moe_intermediate_size`` (else ``intermediate_size``), shared experts (``n_shared_experts``,
  ``shared_expert_intermediate_size``), leading dense layers (``first_k_dense_replace``), MoE on one layer
  in N (``interleave_moe_layer_step``, ``decoder_sparse_step``); Llama 4's dense layers are
  ``intermediate_size_mlp`` wide;
* DeepSeek's multi-head latent attention (``q_lora_rank``, ``kv_lora_rank``, ``qk_nope_head_dim``,
  ``qk_rope_head_dim``, ``v_head_dim``);
* local attention: a sliding window (``sliding_window`` with ``layer_types`` or ``sliding_window_pattern``;
  Mistral-style every layer; ignored where ``use_sliding_window`` is false) and Llama 4's chunks
  (``attention_chunk_size``, global on the ``no_rope_layers`` = 0 layers).

Anything a configuration does not say that rainier needs is a one-line error naming the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rainier.catalog.schema import Model
from rainier.errors import RainierError

__all__ = ["model_from_hf_config", "load_hf_config", "hf_config_path", "TWO_MATRIX_MLP"]

# model_type values whose MLP is up-projection, activation, down-projection (no gate)
TWO_MATRIX_MLP = frozenset({"gpt2", "gpt_neox", "opt", "bloom", "falcon", "mpt", "starcoder2", "phi", "gptj",
                            "gpt_bigcode"})
_FIELD = "config.json"


def hf_config_path(path: str | Path) -> Path:
    """The ``config.json`` a path names: the file itself, or the one in a model folder."""
    p = Path(path)
    return p / "config.json" if p.is_dir() else p


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Read a Hugging Face ``config.json``, or the one in a model folder (a RainierError naming the file when it is
    missing or not JSON)."""
    p = hf_config_path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RainierError(f"no such file: {p}", field="CONFIG", fix="give the path of a Hugging Face config.json") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RainierError(f"cannot read {p}: {exc}", field="CONFIG", fix="give a readable UTF-8 config.json") \
            from None
    except json.JSONDecodeError as exc:
        raise RainierError(f"{p}: not JSON (line {exc.lineno}: {exc.msg})", field="CONFIG",
                           fix="give the model's config.json as downloaded") from None
    if not isinstance(doc, dict):
        raise RainierError(f"{p}: expected a JSON object of configuration fields", field="CONFIG",
                           fix="give the model's config.json as downloaded")
    return doc


def _first(cfg: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return None


def _int(cfg: dict[str, Any], *keys: str, required: bool = True) -> int | None:
    v = _first(cfg, *keys)
    if v is None:
        if required:
            raise RainierError(f"the configuration has no {keys[0]}", field=f"{_FIELD}: {keys[0]}",
                               fix=f"add {keys[0]} (rainier needs it), or write the model YAML by hand")
        return None
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v))
            or v != int(v) or v < 1):
        raise RainierError(f"{keys[0]} must be a positive whole number (got {v!r})", field=f"{_FIELD}: {keys[0]}",
                           fix="correct the configuration")
    return int(v)


def model_from_hf_config(config: dict[str, Any], name: str, source: str | None = None) -> Model:
    """A catalog :class:`Model` named ``name`` from a ``transformers`` configuration dict (see module docs)."""
    text = config.get("text_config")
    cfg: dict[str, Any] = text if isinstance(text, dict) else config
    mt = cfg.get("model_type") or config.get("model_type") or ""
    if not isinstance(mt, str):
        raise RainierError(f"model_type must be a string (got {mt!r})", field=f"{_FIELD}: model_type",
                           fix="correct the configuration")
    mtype = mt.lower()
    layers = _int(cfg, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _int(cfg, "hidden_size", "n_embd", "d_model")
    heads = _int(cfg, "num_attention_heads", "n_head")
    assert layers is not None and hidden is not None and heads is not None
    kv = _int(cfg, "num_key_value_heads", "num_kv_heads", required=False)
    if kv is None and cfg.get("multi_query"):
        kv = 1
    head_dim = _int(cfg, "head_dim", required=False)
    inter = _int(cfg, "intermediate_size", "n_inner", "ffn_hidden_size", required=mtype not in TWO_MATRIX_MLP)
    if inter is None:
        inter = 4 * hidden  # GPT-2 / BLOOM / Falcon leave it implicit: 4 h
    dense_ffn = _int(cfg, "intermediate_size_mlp", required=False) or inter  # Llama 4's dense layers
    vocab = _int(cfg, "vocab_size", "padded_vocab_size")
    max_seq = _int(cfg, "max_position_embeddings", "n_positions", "seq_length", "max_seq_len", required=False)
    tied = cfg.get("tie_word_embeddings", config.get("tie_word_embeddings"))
    if tied is None:  # the transformers default (PretrainedConfig), kept by the configurations that omit it
        tied = True
    if not isinstance(tied, bool):
        raise RainierError(f"tie_word_embeddings must be true or false (got {tied!r})",
                           field=f"{_FIELD}: tie_word_embeddings", fix="correct the configuration")
    # biases on every linear layer (Qwen2's q/k/v-only biases, < 0.1% of the parameters, are left out)
    bias = bool(cfg.get("attention_bias") or cfg.get("mlp_bias") or cfg.get("bias")
                or mtype in ("gpt_oss", "gpt2", "gpt_neox", "opt", "bloom", "gptj", "gpt_bigcode", "phi"))
    data: dict[str, Any] = {
        "name": name, "layers": layers, "hidden": hidden, "heads": heads, "ffn_hidden": dense_ffn,
        "vocab": vocab, "ffn_type": "gelu" if mtype in TWO_MATRIX_MLP else "swiglu",
        "tied_embeddings": bool(tied), "bias": bias, "learned_pos_emb": mtype in ("gpt2", "opt", "gpt_bigcode"),
        "family": mtype or None,
    }
    if kv is not None and kv != heads:
        data["kv_heads"] = kv
    if head_dim is not None and (head_dim * heads != hidden):
        data["head_dim"] = head_dim
    if max_seq is not None:
        data["max_seq"] = max_seq

    keys = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
    experts = _int(cfg, *keys, required=False) if _first(cfg, *keys) not in (0, 1) else None  # 0 / 1: dense
    if experts is not None and experts > 1:
        top_k = _int(cfg, "num_experts_per_tok", "moe_top_k", "top_k")
        width = _int(cfg, "moe_intermediate_size", required=False) or inter
        moe: dict[str, Any] = {"experts": experts, "top_k": top_k, "expert_ffn_hidden": width}
        shared_n = _int(cfg, "n_shared_experts", "num_shared_experts", required=False)
        shared_w = _int(cfg, "shared_expert_intermediate_size", required=False)
        if mtype.startswith("llama4"):
            shared_n, shared_w = 1, width  # Llama 4: one shared expert as wide as a routed one
        if shared_w and not shared_n:
            shared_n = 1
        if shared_n:
            moe["shared_experts"] = shared_n
            if shared_w and shared_w != width:
                moe["shared_ffn_hidden"] = shared_w
        first_dense = _int(cfg, "first_k_dense_replace", required=False)
        if first_dense and first_dense >= layers:
            raise RainierError(f"first_k_dense_replace {first_dense} leaves none of the {layers} layers with experts",
                               field=f"{_FIELD}: first_k_dense_replace",
                               fix="correct the configuration (or drop the expert fields for a dense model)")
        if first_dense:
            moe["dense_layers"] = first_dense
        step = _int(cfg, "interleave_moe_layer_step", "decoder_sparse_step", required=False)
        if step and step > 1:
            moe["every"] = step  # layer i has experts when (i + 1) % step == 0 (Llama 4, Qwen2-MoE)
        freq = _int(cfg, "moe_layer_freq", required=False)
        if freq and freq > 1:  # DeepSeek's rule (i >= first_k_dense_replace and i % freq == 0) differs
            raise RainierError(f"MoE on every {freq}th layer by DeepSeek's rule (moe_layer_freq) has no catalog form",
                               field=f"{_FIELD}: moe_layer_freq",
                               fix="write the model YAML by hand (moe.dense_layers / moe.every)")
        if cfg.get("mlp_only_layers"):
            raise RainierError("dense layers at chosen positions (mlp_only_layers) have no catalog form",
                               field=f"{_FIELD}: mlp_only_layers",
                               fix="write the model YAML by hand (moe.dense_layers / moe.every)")
        data["moe"] = moe

    if cfg.get("kv_lora_rank"):
        data["mla"] = {k: _int(cfg, k) for k in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")}
        q_rank = _int(cfg, "q_lora_rank", required=False)  # null in DeepSeek-V2-Lite: no q compression
        if q_rank:
            data["mla"]["q_lora_rank"] = q_rank

    _local_attention(cfg, data, layers, mtype)
    data["source"] = source or f"imported from a Hugging Face config.json (model_type {mtype or 'unknown'}) by " \
                                "rainier catalog import-hf"
    try:
        return Model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ())) or "model"
        raise RainierError(f"the imported model is not valid: {err.get('msg')}", field=f"{_FIELD}: {loc}",
                           fix="correct the configuration or write the model YAML by hand") from None


def _local_attention(cfg: dict[str, Any], data: dict[str, Any], layers: int, mtype: str) -> None:
    """Sliding-window or chunked layers, and how many of the layers keep full attention."""
    chunk = _int(cfg, "attention_chunk_size", required=False)
    types = cfg.get("layer_types")
    if types is not None and (not isinstance(types, list) or len(types) != layers):
        n = len(types) if isinstance(types, list) else None
        raise RainierError(f"layer_types must list one type per layer ({layers}; got "
                           f"{n if n is not None else repr(types)})", field=f"{_FIELD}: layer_types",
                           fix="correct the configuration")
    if chunk:
        nope = cfg.get("no_rope_layers")
        full = 0
        if isinstance(types, list) and types:
            full = sum(1 for t in types if "chunk" not in str(t) and "sliding" not in str(t))
        elif isinstance(nope, list) and nope:
            full = sum(1 for x in nope if not x)  # 0 = a NoPE layer, which attends globally
        else:  # transformers builds no_rope_layers from the interval (default 4) when the list is empty
            interval = _int(cfg, "no_rope_layer_interval", "nope_layer_interval", required=False)
            interval = interval or (4 if mtype.startswith("llama4") else None)
            full = layers // interval if interval else 0
        data["attention_chunk"] = chunk
        if full:
            data["full_attention_every"] = max(1, round(layers / full))
        return
    window = _int(cfg, "sliding_window", required=False)
    if not window or cfg.get("use_sliding_window") is False:
        return
    if isinstance(types, list) and types:
        slid = sum(1 for t in types if "sliding" in str(t))
        if slid == 0:
            return
        full = len(types) - slid
        data["sliding_window"] = window
        if full:
            data["full_attention_every"] = max(1, round(len(types) / full))
        return
    pattern = _int(cfg, "sliding_window_pattern", required=False)
    if pattern is None and mtype.startswith("gemma3"):
        pattern = 6  # the transformers default: five local layers, then a global one
    data["sliding_window"] = window
    if pattern and pattern > 1:
        data["full_attention_every"] = pattern
    elif mtype.startswith("gemma2"):
        data["full_attention_every"] = 2  # Gemma 2 alternates local and global layers
