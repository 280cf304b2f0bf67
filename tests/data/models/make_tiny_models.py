#!/usr/bin/env python3
"""Writes the tiny random-weight XLM-R and cross-encoder test folders.

  $(scripts/python-env.sh test)/bin/python tests/data/models/make_tiny_models.py

writes, next to this script:
  xlmr-tiny         XLMRobertaModel + sentence-transformers files (mean pooling,
                    Normalize), the Unigram tokenizer of tests/data/unigram-spm
  rerank-bert-tiny  BertForSequenceClassification, num_labels 1, the
                    bert-base-uncased tokenizer of bert-tiny-cls
  rerank-xlmr-tiny  XLMRobertaForSequenceClassification, num_labels 1, the
                    Unigram tokenizer

Made with transformers' own classes (save_pretrained, safetensors). Weights are
random (seeded) and larger than the default init (std 0.1, layer norms and
biases perturbed) so that a wrong position or token type shows in the output.
They are stored as float16 to keep the folders small (config.json says
float32, so transformers loads them as float32); every consumer computes on the
same float16-rounded values.
"""
import json
import os
import shutil
import sys

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
UNIGRAM = os.path.join(DATA, "unigram-spm", "tokenizer.json")
BERT_TOK = os.path.join(HERE, "bert-tiny-cls")

SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "LayerNorm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.05 * noise)
            else:
                p.copy_(0.1 * noise)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def save(model, folder):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    os.chmod(os.path.join(folder, "model.safetensors"), 0o644)
    # Loaded as float32 by default (the weights upcast on load).
    cfg_path = os.path.join(folder, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    for key in ("dtype", "torch_dtype"):
        if key in cfg:
            cfg[key] = "float32"
    write_json(cfg_path, cfg)


def xlmr_tokenizer_files(folder):
    shutil.copy(UNIGRAM, os.path.join(folder, "tokenizer.json"))
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "XLMRobertaTokenizer",
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": 512,
        "clean_up_tokenization_spaces": True,
    })
    write_json(os.path.join(folder, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
    })


def xlmr_config(vocab_size, **extra):
    return transformers.XLMRobertaConfig(
        vocab_size=vocab_size, max_position_embeddings=514, type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
        hidden_act="gelu", **SIZES, **extra)


def sentence_transformers_files(folder, dim):
    write_json(os.path.join(folder, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    os.makedirs(os.path.join(folder, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    write_json(os.path.join(folder, "sentence_bert_config.json"),
               {"max_seq_length": 512, "do_lower_case": False})
    write_json(os.path.join(folder, "config_sentence_transformers.json"), {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def main():
    with open(UNIGRAM) as f:
        unigram_vocab = len(json.load(f)["model"]["vocab"])
    with open(os.path.join(BERT_TOK, "config.json")) as f:
        bert_vocab = json.load(f)["vocab_size"]

    # xlmr-tiny: an embedding model.
    folder = os.path.join(HERE, "xlmr-tiny")
    model = transformers.XLMRobertaModel(xlmr_config(unigram_vocab))  # with its pooler, as e5 ships
    randomize(model, 14001)
    save(model, folder)
    xlmr_tokenizer_files(folder)
    sentence_transformers_files(folder, SIZES["hidden_size"])

    # rerank-xlmr-tiny: XLM-R cross-encoder (classifier.dense + tanh + out_proj on <s>).
    folder = os.path.join(HERE, "rerank-xlmr-tiny")
    model = transformers.XLMRobertaForSequenceClassification(
        xlmr_config(unigram_vocab, num_labels=1))
    randomize(model, 14002)
    save(model, folder)
    xlmr_tokenizer_files(folder)

    # rerank-bert-tiny: BERT cross-encoder (pooler dense + tanh on [CLS], classifier).
    folder = os.path.join(HERE, "rerank-bert-tiny")
    cfg = transformers.BertConfig(vocab_size=bert_vocab, max_position_embeddings=512,
                                  type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12,
                                  hidden_act="gelu", num_labels=1, **SIZES)
    model = transformers.BertForSequenceClassification(cfg)
    randomize(model, 14003)
    save(model, folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(os.path.join(BERT_TOK, name), os.path.join(folder, name))
    print("wrote xlmr-tiny, rerank-xlmr-tiny, rerank-bert-tiny under", HERE,
          "with transformers", transformers.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
