#!/usr/bin/env python3
"""Writes the tiny random-weight ModernBERT test folder and its golden.

  $(scripts/python-env.sh test)/bin/python tests/data/models/make_modernbert_tiny.py

writes, next to this script, modernbert-tiny: ModernBertModel (hidden 64, 4 heads,
GeGLU inner 96, 3 layers with global_attn_every_n_layers 2: layers 0 and 2 global,
layer 1 local with local_attention 8, i.e. 4 tokens each side; no biases, norms
without bias) saved by transformers 5 (config.json in its layer_types /
rope_parameters form), sentence-transformers files as modernbert-embed-base has them
(mean pooling, Normalize, search_query: / search_document: prompts) and a byte-level
BPE tokenizer.json trained here with `tokenizers` in ModernBERT's settings (NFC,
ByteLevel with GPT-2's regex, TemplateProcessing [CLS] $A [SEP], [MASK] lstrip).

and ../golden/modernbert-tiny.jsonl (texts, ids, float64 reference vectors from
ModernBertModel in float64 with attn_implementation eager: mean-pooled, raw and
normalized), the engine tests' golden format. Weights are seeded random (std 0.1,
Wqkv 0.4, norm weights 1 + 0.1 noise) stored as float16; config.json says float32.
"""
import json
import os
import shutil

import tokenizers
import torch
import transformers

from make_tiny_models import TEXTS, randomize, rounded, save, write_json, write_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "modernbert-tiny")
GOLDEN = os.path.join(os.path.dirname(HERE), "golden", "modernbert-tiny.jsonl")
SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]

TRAIN = TEXTS + [
    "Beautiful is better than ugly. Explicit is better than implicit.",
    "Simple is better than complex. Complex is better than complicated.",
    "Flat is better than nested. Sparse is better than dense. Readability counts.",
    "search_query: what is the capital of France?",
    "search_document: Paris is the capital and largest city of France.",
    "The embedding server tokenizes text, packs sequences and runs the encoder.",
    "ModernBERT uses rotary positions, GeGLU layers and alternating attention.",
    "Local attention layers look at nearby tokens; global layers see everything.",
]


def train_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=700, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAIN * 3, trainer)
    v = tok.get_vocab()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", v["[CLS]"]), ("[SEP]", v["[SEP]"])])
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    return tok


def main():
    tok = train_tokenizer()
    v = tok.get_vocab()
    config = transformers.ModernBertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=64, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=96, max_position_embeddings=8192,
        global_attn_every_n_layers=2, local_attention=8, global_rope_theta=160000.0,
        local_rope_theta=10000.0, hidden_activation="gelu", norm_eps=1e-5, norm_bias=False,
        attention_bias=False, mlp_bias=False, pad_token_id=v["[PAD]"],
        bos_token_id=v["[CLS]"], cls_token_id=v["[CLS]"], eos_token_id=v["[SEP]"],
        sep_token_id=v["[SEP]"], attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.ModernBertModel(config)
    randomize(model, 15)
    with torch.no_grad():  # peaked attention, so that positions and thetas show
        for layer in model.layers:
            layer.attn.Wqkv.weight.mul_(4.0)
    if os.path.isdir(FOLDER):
        shutil.rmtree(FOLDER)
    save(model, FOLDER)
    tok.save(os.path.join(FOLDER, "tokenizer.json"))
    write_json(os.path.join(FOLDER, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "cls_token": "[CLS]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "mask_token": "[MASK]", "model_max_length": 8192,
        "clean_up_tokenization_spaces": True})
    write_json(os.path.join(FOLDER, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    os.makedirs(os.path.join(FOLDER, "1_Pooling"))
    write_json(os.path.join(FOLDER, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 64, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    write_json(os.path.join(FOLDER, "sentence_bert_config.json"),
               {"max_seq_length": 8192, "do_lower_case": False})
    write_json(os.path.join(FOLDER, "config_sentence_transformers.json"), {
        "prompts": {"query": "search_query: ", "document": "search_document: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine"})

    ref = transformers.ModernBertModel.from_pretrained(
        FOLDER, dtype=torch.float32, attn_implementation="eager").double().eval()
    texts = TEXTS + [" ".join(TEXTS) * 2]  # long: the window of 8 is far below its length
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tok.encode(text).ids
            raw = ref(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(dim=0)
            rows.append({"text": text, "ids": ids, "embedding": rounded(raw / raw.norm()),
                         "embedding_raw": rounded(raw)})
    write_jsonl(GOLDEN, rows)
    print(f"{FOLDER}: vocab {tok.get_vocab_size()}; {GOLDEN}: {len(rows)} rows, longest "
          f"{max(len(r['ids']) for r in rows)} tokens")


if __name__ == "__main__":
    main()
