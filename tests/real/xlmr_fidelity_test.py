"""XLM-RoBERTa encoders against transformers' XLMRobertaModel (issue 14).

Random weights in the published config shapes of BAAI/bge-m3,
intfloat/multilingual-e5-base and Snowflake/snowflake-arctic-embed-l-v2.0
(hidden, heads, intermediate, vocab 250002, positions, layer_norm_eps; their
pooling: CLS, mean, CLS, then Normalize), with num_hidden_layers cut to 1 to
keep test time and disk small (the layers are all alike). Made here, in the
scratch folder, with transformers' own classes (save_pretrained), with the
Unigram tokenizer of tests/data/unigram-spm (its ids are a subset of the
250002). floe embed's float32 vectors must reach cosine >= 0.99999 to the
reference (float32 eager math, pooled and normalized as sentence-transformers
does) on multilingual texts and, for the two 8k models, on one text of about
8,190 tokens. The ids floe tokenize gives must equal `tokenizers`' first.
"""
import json
import os
import shutil
import subprocess
import time
import zlib

import numpy as np
import tokenizers
import torch
import transformers

from realutil import FLOE, SCRATCH, SOURCE, check, cosine_rows, fail, floe_embed

UNIGRAM = os.path.join(SOURCE, "tests", "data", "unigram-spm", "tokenizer.json")

# As published (config.json of each model), layers cut to 1.
SHAPES = {
    "bge-m3": dict(hidden_size=1024, num_attention_heads=16, intermediate_size=4096,
                   max_position_embeddings=8194, pooling="cls"),
    "multilingual-e5-base": dict(hidden_size=768, num_attention_heads=12,
                                 intermediate_size=3072, max_position_embeddings=514,
                                 pooling="mean"),
    "snowflake-arctic-embed-l-v2.0": dict(hidden_size=1024, num_attention_heads=16,
                                          intermediate_size=4096,
                                          max_position_embeddings=8194, pooling="cls"),
}

TEXTS = [
    "Hello world",
    "query: how much protein should a female eat",
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
]


def make_folder(name, shape):
    folder = os.path.join(SCRATCH, name)
    pooling = shape.pop("pooling")
    cfg = transformers.XLMRobertaConfig(
        vocab_size=250002, num_hidden_layers=1, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, hidden_act="gelu", **shape)
    torch.manual_seed(zlib.crc32(name.encode()))
    model = transformers.XLMRobertaModel(cfg, add_pooling_layer=False)
    # Larger than the default init, so that attention is not nearly uniform.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "LayerNorm" in n and n.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            elif "embeddings" in n:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    shutil.copy(UNIGRAM, os.path.join(folder, "tokenizer.json"))
    max_len = shape["max_position_embeddings"] - 2
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "",
                    "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize"}], f)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": shape["hidden_size"],
                   "pooling_mode_cls_token": pooling == "cls",
                   "pooling_mode_mean_tokens": pooling == "mean"}, f)
    with open(os.path.join(folder, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": max_len}, f)
    return folder, model.eval(), pooling, max_len


def reference(model, pooling, ids_list):
    out = []
    with torch.no_grad():
        for ids in ids_list:
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].double()
            v = h[0] if pooling == "cls" else h.mean(0)
            out.append((v / v.norm()).numpy())
    return np.stack(out)


def floe_ids(folder, texts):
    inp = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    r = subprocess.run([FLOE, "tokenize", "--model", folder], input=inp.encode(),
                       capture_output=True)
    if r.returncode != 0:
        fail("floe tokenize: " + r.stderr.decode()[-2000:])
    return [json.loads(l)["ids"] for l in r.stdout.decode().splitlines()]


def main():
    tok = tokenizers.Tokenizer.from_file(UNIGRAM)
    # Mixed scripts, the most words that fit 8,190 tokens (specials included).
    words = (" ".join(TEXTS) + " ").split() * 120
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(tok.encode(" ".join(words[:mid])).ids) <= 8190:
            lo = mid
        else:
            hi = mid - 1
    long_text = " ".join(words[:lo])
    for name, shape in SHAPES.items():
        t0 = time.time()
        folder, model, pooling, max_len = make_folder(name, dict(shape))
        texts = list(TEXTS)
        if max_len >= 8000:
            texts.append(long_text)
        ids = [tok.encode(t).ids for t in texts]
        for i in ids:
            if len(i) > max_len:
                fail("%s: a test text has %d tokens, over %d" % (name, len(i), max_len))
        check(floe_ids(folder, texts) == ids, "%s: floe tokenize ids equal tokenizers'" % name)
        t1 = time.time()
        got = floe_embed(folder, [{"text": t} for t in texts])
        t2 = time.time()
        want = reference(model, pooling, ids)
        t3 = time.time()
        cos = cosine_rows(got, want)
        print("%s (1 layer, hidden %d, %d texts, longest %d tokens): min cosine %.12f (1 - cos %.2g); "
              "floe embed %.1f s (load included), transformers %.1f s" %
              (name, shape["hidden_size"], len(texts), max(len(i) for i in ids), cos.min(),
               1 - cos.min(), t2 - t1, t3 - t2), flush=True)
        check(cos.min() >= 0.99999, "%s: float32 cosine >= 0.99999 after pooling" % name)
        if max_len >= 8000:
            check(cos[-1] >= 0.99999, "%s: the %d-token text too" % (name, len(ids[-1])))
        shutil.rmtree(folder)
        print("%s: %.0f s in all" % (name, time.time() - t0), flush=True)


def classifier_lines():
    """floe embed on a cross-encoder folder: {"text", "text_pair"} lines to
    {"scores"}, equal to the fixtures' transformers float64 logits."""
    for name in ("rerank-bert-tiny", "rerank-xlmr-tiny"):
        folder = os.path.join(SOURCE, "tests", "data", "models", name)
        with open(os.path.join(SOURCE, "tests", "data", "golden", name + ".jsonl")) as f:
            golden = [json.loads(l) for l in f if l.strip()]
        inp = "".join(json.dumps({"text": g["text"], "text_pair": g["text_pair"]}) + "\n"
                      for g in golden)
        r = subprocess.run([FLOE, "embed", "--model", folder], input=inp.encode(),
                           capture_output=True)
        if r.returncode != 0:
            fail("floe embed %s: %s" % (name, r.stderr.decode()[-2000:]))
        got = [json.loads(l)["scores"] for l in r.stdout.decode().splitlines()]
        worst = max(abs(s[0] - g["logits"][0]) for s, g in zip(got, golden))
        check(len(got) == len(golden) and worst <= 1e-4,
              "%s: floe embed scores of %d pairs within %.2g of transformers (bound 1e-4)" %
              (name, len(got), worst))


def multi_label():
    """num_labels 3 with named labels (XLM-R and BERT heads), made here: floe
    embed's three logits per pair equal transformers' (float32, 1e-4)."""
    pairs = [("what is a fox", "a small wild dog"), ("Paris", "la capitale de la France"),
             ("a", "b")]
    id2label = {0: "contradiction", 1: "entailment", 2: "neutral"}
    for kind in ("xlmr", "bert"):
        folder = os.path.join(SCRATCH, "nli-" + kind)
        torch.manual_seed(3)
        if kind == "xlmr":
            tok_file = UNIGRAM
            cfg = transformers.XLMRobertaConfig(
                vocab_size=8002, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=514, type_vocab_size=1,
                pad_token_id=1, layer_norm_eps=1e-5, id2label=id2label)
            model = transformers.XLMRobertaForSequenceClassification(cfg)
        else:
            tok_file = os.path.join(SOURCE, "tests", "data", "models", "bert-tiny-cls",
                                    "tokenizer.json")
            cfg = transformers.BertConfig(
                vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, id2label=id2label)
            model = transformers.BertForSequenceClassification(cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        model.save_pretrained(folder)
        shutil.copy(tok_file, os.path.join(folder, "tokenizer.json"))
        tok = tokenizers.Tokenizer.from_file(tok_file)
        want = []
        with torch.no_grad():
            for a, b in pairs:
                enc = tok.encode(a, b)
                want.append(model.eval()(input_ids=torch.tensor([enc.ids]),
                                         token_type_ids=torch.tensor([enc.type_ids]))
                            .logits[0].numpy())
        inp = "".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in pairs)
        r = subprocess.run([FLOE, "embed", "--model", folder], input=inp.encode(),
                           capture_output=True)
        if r.returncode != 0:
            fail("floe embed nli-%s: %s" % (kind, r.stderr.decode()[-2000:]))
        got = np.array([json.loads(l)["scores"] for l in r.stdout.decode().splitlines()])
        worst = float(np.abs(got - np.array(want)).max())
        check(got.shape == (3, 3) and worst <= 1e-4,
              "nli-%s: 3 labels per pair, within %.2g of transformers (bound 1e-4)" %
              (kind, worst))


if __name__ == "__main__":
    classifier_lines()
    multi_label()
    main()
