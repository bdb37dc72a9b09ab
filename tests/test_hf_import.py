"""`rainier catalog import-hf`: Hugging Face config.json -> catalog model.

Each configuration below carries the fields of the model's published config.json (the ones rainier reads);
importing it must give the same parameter counts as the catalog's hand-written entry of that model, whose
published totals the catalog tests check."""

from __future__ import annotations

import json

import pytest
import yaml

from rainier.catalog.hf_import import model_from_hf_config
from rainier.catalog.params import param_counts
from rainier.errors import RainierError
from rainier.perf.ops import layer_ops

LLAMA3_8B = {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
             "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
             "max_position_embeddings": 8192, "tie_word_embeddings": False, "attention_bias": False}
MIXTRAL = {"model_type": "mixtral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 8,
           "num_experts_per_tok": 2, "max_position_embeddings": 32768, "sliding_window": None,
           "tie_word_embeddings": False}
QWEN3_30B = {"model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048, "num_attention_heads": 32,
             "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144, "moe_intermediate_size": 768,
             "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1, "mlp_only_layers": [],
             "vocab_size": 151936, "max_position_embeddings": 40960, "sliding_window": None,
             "use_sliding_window": False, "tie_word_embeddings": False}
DEEPSEEK_V3 = {"model_type": "deepseek_v3", "num_hidden_layers": 61, "hidden_size": 7168, "num_attention_heads": 128,
               "num_key_value_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048,
               "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
               "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
               "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280, "max_position_embeddings": 163840,
               "tie_word_embeddings": False}
GPT_OSS = {"model_type": "gpt_oss", "num_hidden_layers": 36, "hidden_size": 2880, "num_attention_heads": 64,
           "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 2880, "num_local_experts": 128,
           "num_experts_per_tok": 4, "vocab_size": 201088, "max_position_embeddings": 131072,
           "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 18,
           "tie_word_embeddings": False}
LLAMA4_SCOUT = {"model_type": "llama4", "tie_word_embeddings": False, "text_config": {
    "model_type": "llama4_text", "num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
    "num_local_experts": 16, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "vocab_size": 202048,
    "max_position_embeddings": 262144, "attention_chunk_size": 8192, "no_rope_layers": [1, 1, 1, 0] * 12}}
LLAMA4_MAVERICK = {**LLAMA4_SCOUT, "text_config": {**LLAMA4_SCOUT["text_config"], "num_local_experts": 128,
                                                   "interleave_moe_layer_step": 2,
                                                   "max_position_embeddings": 1048576}}


@pytest.mark.parametrize("cfg, name", [(LLAMA3_8B, "llama3-8b"), (MIXTRAL, "mixtral-8x7b"),
                                       (QWEN3_30B, "qwen3-30b-a3b"), (DEEPSEEK_V3, "deepseek-v3"),
                                       (GPT_OSS, "gpt-oss-120b"), (LLAMA4_SCOUT, "llama4-scout"),
                                       (LLAMA4_MAVERICK, "llama4-maverick")])
def test_import_matches_the_hand_written_entry(cat, cfg, name):
    """Dense, MoE (shared experts, leading dense layers, one MoE layer in two), latent attention, sliding
    windows and chunks: the imported model counts the same parameters and attends to the same keys."""
    m = model_from_hf_config(cfg, name + "-hf")
    ref = cat.model(name)
    pm, pr = param_counts(m), param_counts(ref)
    assert pm.total == pytest.approx(pr.total, rel=1e-9) and pm.active == pytest.approx(pr.active, rel=1e-9)
    assert (pm.moe_layers, pm.dense_layers) == (pr.moe_layers, pr.dense_layers)
    for s in (4096, 32768):
        assert m.attended_keys(s) == pytest.approx(ref.attended_keys(s))
    assert m.kv_share(65536) == pytest.approx(ref.kv_share(65536))


def test_import_two_matrix_mlp_learned_positions_and_sliding_patterns():
    """GPT-2 (no intermediate_size: 4 h; learned positions; tied embeddings by the transformers default);
    Gemma 3's five local layers to one global; Mistral 7B v0.1's window on every layer; a Qwen window that is
    switched off is ignored."""
    gpt2 = model_from_hf_config({"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
                                 "n_positions": 1024, "vocab_size": 50257}, "gpt2")
    assert gpt2.ffn_type == "gelu" and gpt2.ffn_hidden == 3072 and gpt2.learned_pos_emb and gpt2.tied_embeddings
    assert param_counts(gpt2).total == pytest.approx(124.4e6, rel=0.01)  # GPT-2 small: 124M
    gemma3 = model_from_hf_config({"model_type": "gemma3_text", "num_hidden_layers": 48, "hidden_size": 3840,
                                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
                                   "intermediate_size": 15360, "vocab_size": 262208, "sliding_window": 1024,
                                   "sliding_window_pattern": 6}, "gemma3-12b")
    assert gemma3.sliding_window == 1024 and gemma3.full_attention_every == 6 and gemma3.head_dim == 256
    mistral = model_from_hf_config({"model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096,
                                    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
                                    "vocab_size": 32000, "sliding_window": 4096}, "mistral-7b")
    assert mistral.sliding_window == 4096 and mistral.sliding_fraction == 1.0
    qwen = model_from_hf_config({**QWEN3_30B, "sliding_window": 4096}, "q")
    assert qwen.sliding_window is None
    dense = model_from_hf_config({**LLAMA3_8B, "num_experts": 0}, "d")  # a dense config that names 0 experts
    assert dense.moe is None


def test_import_review_cases():
    """DeepSeek-V2-Lite (no q compression: q_lora_rank null) at its published 15.7B; Llama 4 with an empty
    no_rope_layers list takes transformers' default interval (4: one global layer in four); Gemma 3 without a
    pattern takes its default (6)."""
    lite = {"model_type": "deepseek_v2", "num_hidden_layers": 27, "hidden_size": 2048, "num_attention_heads": 16,
            "num_key_value_heads": 16, "intermediate_size": 10944, "moe_intermediate_size": 1408,
            "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
            "moe_layer_freq": 1, "q_lora_rank": None, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
            "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 102400, "tie_word_embeddings": False}
    m = model_from_hf_config(lite, "deepseek-v2-lite")
    assert m.mla is not None and m.mla.q_lora_rank is None
    assert param_counts(m).total == pytest.approx(15.7e9, rel=0.01)
    q = layer_ops(m, b=1, s=1024, moe_layer=True)
    assert "q" in [g.name for g in q.gemms] and "q_down" not in [g.name for g in q.gemms]
    scout = model_from_hf_config({**LLAMA4_SCOUT, "text_config": {**LLAMA4_SCOUT["text_config"],
                                                                  "no_rope_layers": []}}, "s")
    assert scout.sliding_fraction == 0.75
    g3 = model_from_hf_config({"model_type": "gemma3_text", "num_hidden_layers": 26, "hidden_size": 1152,
                               "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
                               "intermediate_size": 6912, "vocab_size": 262144, "sliding_window": 512}, "g")
    assert g3.full_attention_every == 6


@pytest.mark.parametrize("cfg, field", [
    ({**LLAMA3_8B, "vocab_size": float("nan")}, "vocab_size"),
    ({**LLAMA3_8B, "vocab_size": float("inf")}, "vocab_size"),
    ({k: v for k, v in LLAMA3_8B.items() if k != "intermediate_size"}, "intermediate_size"),
    ({**DEEPSEEK_V3, "moe_layer_freq": 2}, "moe_layer_freq"),
    ({**LLAMA4_SCOUT, "text_config": {**LLAMA4_SCOUT["text_config"], "no_rope_layers": [],
                                      "no_rope_layer_interval": "x"}}, "no_rope_layer_interval"),
    ({k: v for k, v in LLAMA3_8B.items() if k != "hidden_size"}, "hidden_size"),
    ({**LLAMA3_8B, "num_hidden_layers": 0}, "num_hidden_layers"),
    ({**LLAMA3_8B, "num_key_value_heads": 7}, "config.json"),
    ({**QWEN3_30B, "mlp_only_layers": [0, 1]}, "mlp_only_layers"),
    ({k: v for k, v in MIXTRAL.items() if k != "num_experts_per_tok"}, "num_experts_per_tok"),
])
def test_import_refuses_what_it_cannot_read_naming_the_field(cfg, field):
    with pytest.raises(RainierError) as exc:
        model_from_hf_config(cfg, "x")
    assert field in (exc.value.field or "")


def test_cli_writes_a_model_file_train_accepts(tmp_path, cat, run_cli):
    """The written YAML is a one-entry catalog file: `rainier train --model FILE` runs it like the catalog
    entry; a malformed config.json exits 2 with one line and writes nothing."""
    d = tmp_path / "Llama-4-Maverick"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(LLAMA4_MAVERICK))
    out = tmp_path / "mav.yaml"
    rc, stdout, err = run_cli("catalog", "import-hf", str(d), "--out", str(out), "--json")  # the model's folder
    assert rc == 0, err
    doc = json.loads(stdout)
    assert doc["model"]["name"] == "llama-4-maverick" and doc["params"] == pytest.approx(
        param_counts(cat.model("llama4-maverick")).total)
    assert yaml.safe_load(out.read_text())["moe"]["every"] == 2
    args = ["train", "--chip", "gb200", "--chips", "64", "--seq", "8192", "--global-batch", "1024", "--precision",
            "fp8", "--ep", "64", "--json"]
    a = json.loads(run_cli(*args, "--model", str(out))[1])
    b = json.loads(run_cli(*args, "--model", "llama4-maverick")[1])
    assert a["step_time_s"] == pytest.approx(b["step_time_s"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, stdout, err = run_cli("catalog", "import-hf", str(bad), "--out", str(tmp_path / "bad.yaml"))
    assert rc == 2 and "not JSON" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not (tmp_path / "bad.yaml").exists()
