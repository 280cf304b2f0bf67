#!/usr/bin/env python3
"""Writes the tiny random-weight XLM-R and cross-encoder test folders, and
their goldens.

  $(scripts/python-env.sh test)/bin/python tests/data/models/make_tiny_models.py

writes, next to this script:
  xlmr-tiny         XLMRobertaModel + sentence-transformers files (mean pooling,
                    Normalize), the Unigram tokenizer of tests/data/unigram-spm
  rerank-bert-tiny  BertForSequenceClassification, num_labels 1, the
                    bert-base-uncased tokenizer of bert-tiny-cls
  rerank-xlmr-tiny  XLMRobertaForSequenceClassification, num_labels 1, the
                    Unigram tokenizer

and ../golden/xlmr-tiny.jsonl (texts, ids, float64 reference vectors: the
engine tests' golden format), ../golden/rerank-bert-tiny.jsonl and
../golden/rerank-xlmr-tiny.jsonl (text pairs, ids, type1_from, float64
logits), all computed with transformers' classes on the saved folders.

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

import tokenizers
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


TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "query: how much protein should a female eat",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El zorro marrón rápido salta sobre el perro perezoso.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐が怠け者の犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί.",
    "a",
    "   spaces   and\ttabs\n",
    "Numbers 12345 and symbols !@#$%^&*() mixed in.",
]
PAIRS = [
    ("what is a fox", "The quick brown fox jumps over the lazy dog."),
    ("what is a fox", "Paris is the capital of France."),
    ("wo liegt Berlin?", "Berlin ist die Hauptstadt Deutschlands."),
    ("capital of France", "Paris est la capitale de la France."),
    ("a", "b"),
    ("how to bake bread", "Mix flour, water, salt and yeast; knead, let it rise, then bake."),
    ("猫", "猫は小さな肉食の哺乳類です。"),
    ("long query " * 20, "long document " * 40),
]


def rounded(v):
    return [round(float(x), 9) for x in v]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def embedding_goldens(folder, out_path):
    tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    model = transformers.AutoModel.from_pretrained(folder, dtype=torch.float32).double().eval()
    texts = TEXTS + [" ".join(TEXTS) * 4]  # a long one, cut to 512 tokens
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tok.encode(text).ids
            if len(ids) > 512:
                ids = ids[:511] + [ids[-1]]
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            raw = h.mean(dim=0)
            rows.append({"text": text, "ids": ids, "embedding": rounded(raw / raw.norm()),
                         "embedding_raw": rounded(raw)})
    write_jsonl(out_path, rows)


def classifier_goldens(folder, out_path):
    tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, dtype=torch.float32).double().eval()
    rows = []
    with torch.no_grad():
        for a, b in PAIRS:
            enc = tok.encode(a, b)
            types = enc.type_ids
            type1_from = types.index(1) if 1 in types else len(types)
            logits = model(input_ids=torch.tensor([enc.ids]),
                           token_type_ids=torch.tensor([types])).logits[0]
            rows.append({"text": a, "text_pair": b, "ids": enc.ids, "type1_from": type1_from,
                         "logits": rounded(logits)})
    write_jsonl(out_path, rows)


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
    golden = os.path.join(DATA, "golden")
    embedding_goldens(os.path.join(HERE, "xlmr-tiny"), os.path.join(golden, "xlmr-tiny.jsonl"))
    for name in ("rerank-bert-tiny", "rerank-xlmr-tiny"):
        classifier_goldens(os.path.join(HERE, name), os.path.join(golden, name + ".jsonl"))
    print("wrote xlmr-tiny, rerank-xlmr-tiny, rerank-bert-tiny under", HERE,
          "with transformers", transformers.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
