#!/usr/bin/env python3
"""Writes the tiny random-weight NomicBERT and GTE "new" test folders.

  $(scripts/python-env.sh test)/bin/python tests/data/models/make_nomic_gte_tiny.py

writes, next to this script:
  nomic-bert-tiny  model_type nomic_bert with nomic-embed-text-v1.5's config.json
                   fields (rotary base 1000, fraction 1.0, SwiGLU, no biases,
                   8192 positions, 2048 trained, vocab padded to a multiple of
                   64) but n_embd 32, 2 heads, 2 layers, n_inner 256; mean
                   pooling; the task prefixes as prompts. Its tokenizer is a
                   WordPiece trained here (2,000 tokens) with bert-base-uncased's
                   normalizer, pre-tokenizer, post-processor and decoder (the
                   real 30,522-token vocabulary would make the embedding table
                   too big to commit; tests/real/nomic_gte_test.py also runs
                   the real one, in scratch).
  gte-tiny         model_type new with gte-multilingual-base's config.json
                   fields (rope, NTK factor 8, theta 160000, 8192 positions,
                   GeLU-gated FFN, post-norm LayerNorm, packed qkv, type
                   vocabulary 1) but hidden 32, 2 heads, 2 layers,
                   intermediate 64; CLS pooling + Normalize; the XLM-R Unigram
                   tokenizer of tests/data/unigram-spm (8,002 pieces).

Weights are seeded random (std 0.1, norms near 1, biases 0.05) stored as
float16 (config.json says float32); the reference (tests/real/nomic_gte_ref.py)
and floe both compute on the float16-rounded values. Tensor names are those of
the published checkpoints. A rerun writes the same weights; the trained
tokenizer may number equally frequent pieces in another order (the trainer's
alphabet order is not stable), which the tests do not mind: they compute the
reference from the folder as it is.
"""
import json
import os
import shutil
import sys

import numpy as np
import tokenizers
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "real"))
from make_tiny_models import write_json, xlmr_tokenizer_files  # noqa: E402

BERT_TOK = os.path.join(HERE, "bert-tiny-cls", "tokenizer.json")

NOMIC_PROMPTS = {"query": "search_query: ", "document": "search_document: ",
                 "classification": "classification: ", "clustering": "clustering: "}


def random_tensors(shapes, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes:
        noise = rng.standard_normal(shape)
        norm = "ln" in name.split(".")[-2].lower() or "norm" in name
        if norm and name.endswith("weight"):
            v = 1.0 + 0.1 * noise
        elif name.endswith("bias"):
            v = 0.05 * noise
        else:
            v = 0.1 * noise
        out[name] = v.astype(np.float16)
    return out


def st_files(folder, dim, pooling, normalize, prompts, max_seq_length):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(folder, "modules.json"), modules)
    os.makedirs(os.path.join(folder, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    write_json(os.path.join(folder, "sentence_bert_config.json"),
               {"max_seq_length": max_seq_length, "do_lower_case": False})
    write_json(os.path.join(folder, "config_sentence_transformers.json"), {
        "prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def wordpiece_tokenizer(vocab_size):
    """A WordPiece trained on the license texts with bert-base-uncased's pipeline."""
    import realtexts
    real = tokenizers.Tokenizer.from_file(BERT_TOK)
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]",
                                                           max_input_chars_per_word=100))
    tok.normalizer = real.normalizer
    tok.pre_tokenizer = real.pre_tokenizer
    tok.decoder = real.decoder
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = tokenizers.trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    lines = sorted(set(realtexts.english_sentences())) + realtexts.HAND_WRITTEN
    tok.train_from_iterator(lines, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def make_nomic(folder):
    tok = wordpiece_tokenizer(2000)
    tok.save(os.path.join(folder, "tokenizer.json"))
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]",
        "pad_token": "[PAD]", "mask_token": "[MASK]", "model_max_length": 8192,
    })
    write_json(os.path.join(folder, "special_tokens_map.json"), {
        "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]",
        "pad_token": "[PAD]", "mask_token": "[MASK]",
    })
    vocab = tok.get_vocab_size()
    D, L, I, multiple = 32, 2, 256, 64
    cfg = {
        "activation_function": "swiglu", "architectures": ["NomicBertModel"],
        "attn_pdrop": 0.0, "bos_token_id": None, "causal": False, "dense_seq_output": True,
        "embd_pdrop": 0.0, "eos_token_id": None, "fused_bias_fc": True,
        "fused_dropout_add_ln": True, "initializer_range": 0.02, "layer_norm_epsilon": 1e-12,
        "max_trained_positions": 2048, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
        "model_type": "nomic_bert", "n_embd": D, "n_head": 2, "n_inner": I, "n_layer": L,
        "n_positions": 8192, "pad_vocab_size_multiple": multiple, "parallel_block": False,
        "parallel_block_tied_norm": False, "prenorm": False, "qkv_proj_bias": False,
        "reorder_and_upcast_attn": False, "resid_pdrop": 0.0, "rotary_emb_base": 1000,
        "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False,
        "rotary_emb_scale_base": None, "rotary_scaling_factor": None,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "torch_dtype": "float32", "type_vocab_size": 2, "use_cache": True,
        "use_flash_attn": True, "use_rms_norm": False, "use_xentropy": True,
        "vocab_size": vocab,
    }
    write_json(os.path.join(folder, "config.json"), cfg)
    V = (vocab + multiple - 1) // multiple * multiple
    shapes = [("embeddings.word_embeddings.weight", (V, D)),
              ("embeddings.token_type_embeddings.weight", (2, D)),
              ("emb_ln.weight", (D,)), ("emb_ln.bias", (D,))]
    for i in range(L):
        p = "encoder.layers.%d." % i
        shapes += [(p + "attn.Wqkv.weight", (3 * D, D)), (p + "attn.out_proj.weight", (D, D)),
                   (p + "norm1.weight", (D,)), (p + "norm1.bias", (D,)),
                   (p + "mlp.fc11.weight", (I, D)), (p + "mlp.fc12.weight", (I, D)),
                   (p + "mlp.fc2.weight", (D, I)),
                   (p + "norm2.weight", (D,)), (p + "norm2.bias", (D,))]
    save_weights(random_tensors(shapes, 15), folder)
    st_files(folder, D, "mean", False, NOMIC_PROMPTS, 8192)


def make_gte(folder):
    xlmr_tokenizer_files(folder)
    D, L, I, V = 32, 2, 64, 8002
    cfg = {
        "architectures": ["NewModel"], "attention_probs_dropout_prob": 0.0,
        "classifier_dropout": 0.0, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": D, "initializer_range": 0.02, "intermediate_size": I,
        "layer_norm_eps": 1e-12, "layer_norm_type": "layer_norm",
        "logn_attention_clip1": False, "logn_attention_scale": False,
        "max_position_embeddings": 8192, "model_type": "new", "num_attention_heads": 2,
        "num_hidden_layers": L, "pack_qkv": True, "pad_token_id": 1,
        "position_embedding_type": "rope", "rope_scaling": {"factor": 8.0, "type": "ntk"},
        "rope_theta": 160000, "torch_dtype": "float32", "type_vocab_size": 1,
        "unpad_inputs": False, "use_memory_efficient_attention": False, "vocab_size": V,
    }
    write_json(os.path.join(folder, "config.json"), cfg)
    shapes = [("embeddings.word_embeddings.weight", (V, D)),
              ("embeddings.token_type_embeddings.weight", (1, D)),
              ("embeddings.LayerNorm.weight", (D,)), ("embeddings.LayerNorm.bias", (D,))]
    for i in range(L):
        p = "encoder.layer.%d." % i
        shapes += [(p + "attention.qkv_proj.weight", (3 * D, D)),
                   (p + "attention.qkv_proj.bias", (3 * D,)),
                   (p + "attention.o_proj.weight", (D, D)), (p + "attention.o_proj.bias", (D,)),
                   (p + "attn_ln.weight", (D,)), (p + "attn_ln.bias", (D,)),
                   (p + "mlp.up_gate_proj.weight", (2 * I, D)),
                   (p + "mlp.down_proj.weight", (D, I)), (p + "mlp.down_proj.bias", (D,)),
                   (p + "mlp_ln.weight", (D,)), (p + "mlp_ln.bias", (D,))]
    save_weights(random_tensors(shapes, 16), folder)
    st_files(folder, D, "cls", True, {}, 8192)


def save_weights(tensors, folder):
    path = os.path.join(folder, "model.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    os.chmod(path, 0o644)


def main():
    for name, make in (("nomic-bert-tiny", make_nomic), ("gte-tiny", make_gte)):
        folder = os.path.join(HERE, name)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        make(folder)
        print("wrote", folder)


if __name__ == "__main__":
    main()
