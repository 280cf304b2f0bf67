"""NomicBERT (tests/data/models/nomic-bert-tiny) and GTE "new"
(tests/data/models/gte-tiny) by folder: `floe embed` against the float64
reference of nomic_gte_ref.py (cosine >= 0.99999 after pooling), including a
~2k-token input (NomicBERT), NomicBERT's dynamic NTK scaling (a copy with
rotary_scaling_factor 2 and 512 trained positions: a short and a long input in
one call, each with its own base), the real bert-base-uncased tokenizer (a copy
with a 30,528-row table) and a ~3k-token input (GTE); then `floe serve` on both:
/v1/embeddings, TEI /embed, and the task prefixes through prompt_name."""
import json
import os
import shutil
import urllib.request

import numpy as np
import tokenizers
from safetensors.numpy import load_file, save_file

import nomic_gte_ref as ref
import realtexts
from realutil import SOURCE, SCRATCH, check, cosine_rows, floe_embed, floe_serve

MODELS = os.path.join(SOURCE, "tests", "data", "models")
NOMIC = os.path.join(MODELS, "nomic-bert-tiny")
GTE = os.path.join(MODELS, "gte-tiny")
TEXTS = realtexts.HAND_WRITTEN[:12] + ["a", "   spaces   and\ttabs\n"]

diffs = ref.check_against_transformers()
check(max(diffs.values()) < 1e-6,
      "reference pieces vs transformers (rotary, LlamaMLP silu/gelu, dynamic NTK): %s"
      % {k: float("%.2g" % v) for k, v in diffs.items()})


def long_text(tok, n_tokens):
    words, sentences = [], sorted(set(realtexts.english_sentences()))
    for s in sentences:
        words.append(s)
        if len(tok.encode(" ".join(words)).ids) >= n_tokens:
            break
    return " ".join(words)


def compare(folder, texts, pooling, what, prompts=None):
    tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    model = ref.load(folder)
    prefixes = [""] * len(texts) if prompts is None else [p for p in prompts]
    want = np.stack([ref.embed(model, tok.encode(p + t).ids, pooling)
                     for p, t in zip(prefixes, texts)])
    lines = [{"text": t} for t in texts]
    if prompts is not None:
        names = {v: k for k, v in json.load(open(os.path.join(
            folder, "config_sentence_transformers.json")))["prompts"].items()}
        lines = [dict(l, prompt_name=names[p]) if p else l for l, p in zip(lines, prompts)]
    got = floe_embed(folder, lines)
    cos = cosine_rows(want, got)
    lengths = [len(tok.encode(p + t).ids) for p, t in zip(prefixes, texts)]
    check(cos.min() >= 0.99999, "%s: floe embed vs float64 reference, %d inputs of %d to %d "
          "tokens: min cosine 1 - %.1e" % (what, len(texts), min(lengths), max(lengths),
                                           1 - cos.min()))
    return want


def copy_with(folder, name, config_changes):
    dst = os.path.join(SCRATCH, name)
    shutil.copytree(folder, dst)
    path = os.path.join(dst, "config.json")
    cfg = json.load(open(path))
    cfg.update(config_changes)
    json.dump(cfg, open(path, "w"), indent=2)
    return dst


# NomicBERT: short texts, the task prefixes as prompts, a ~2k-token input.
nomic_tok = tokenizers.Tokenizer.from_file(os.path.join(NOMIC, "tokenizer.json"))
nomic_long = long_text(nomic_tok, 2000)
nomic_plain = compare(NOMIC, TEXTS + [nomic_long], "mean", "nomic_bert")
prefixes = ["search_query: ", "search_document: ", "classification: ", "clustering: ", ""]
nomic_want = compare(NOMIC, TEXTS[:5], "mean", "nomic_bert, prompts by prompt_name", prefixes)

# Dynamic NTK: 512 trained positions, factor 2; the long input (~2k) gets a
# larger base, the short one keeps 1000.
ntk = copy_with(NOMIC, "nomic-ntk", {"rotary_scaling_factor": 2.0, "max_trained_positions": 512})
compare(ntk, [TEXTS[5], nomic_long, TEXTS[0]], "mean", "nomic_bert, dynamic NTK (factor 2, 512)")
plain = floe_embed(NOMIC, [{"text": nomic_long}])
scaled = floe_embed(ntk, [{"text": nomic_long}])
gap = 1 - cosine_rows(plain, scaled)[0]
check(gap > 1e-8, "dynamic NTK changes the long input's vector (1 - cosine %.1e, far above "
      "floe's 1e-12 error to the reference)" % gap)

# The real bert-base-uncased tokenizer (30,522 tokens, padded to 30,528 rows).
real = copy_with(NOMIC, "nomic-real-vocab", {"vocab_size": 30522})
bert_tok = json.load(open(os.path.join(MODELS, "bert-tiny-cls", "tokenizer.json")))
bert_tok["truncation"] = None  # its 512 would cut the long input
json.dump(bert_tok, open(os.path.join(real, "tokenizer.json"), "w"))
w = load_file(os.path.join(real, "model.safetensors"))
rng = np.random.default_rng(8)
w["embeddings.word_embeddings.weight"] = (
    0.1 * rng.standard_normal((30528, w["emb_ln.weight"].shape[0]))).astype(np.float32)
save_file({k: v.astype(np.float32) for k, v in w.items()}, os.path.join(real, "model.safetensors"),
          metadata={"format": "pt"})
compare(real, TEXTS[:8] + [long_text(tokenizers.Tokenizer.from_file(
    os.path.join(real, "tokenizer.json")), 1500)], "mean", "nomic_bert, bert-base-uncased tokenizer")

# GTE new: multilingual texts with the XLM-R Unigram tokenizer, CLS pooling,
# NTK factor 8, a ~3k-token input.
gte_tok = tokenizers.Tokenizer.from_file(os.path.join(GTE, "tokenizer.json"))
gte_want = compare(GTE, TEXTS + [long_text(gte_tok, 3000)], "cls", "new (GTE)")
unpacked = copy_with(GTE, "gte-unpacked", {"pack_qkv": False, "hidden_act": "silu",
                                           "rope_scaling": None, "type_vocab_size": 0})
w = load_file(os.path.join(unpacked, "model.safetensors"))
for k in [k for k in w if k.endswith("qkv_proj.weight") or k.endswith("qkv_proj.bias")]:
    for name, part in zip(("q_proj", "k_proj", "v_proj"), np.split(w.pop(k), 3, axis=0)):
        w[k.replace("qkv_proj", name)] = part
del w["embeddings.token_type_embeddings.weight"]
save_file(w, os.path.join(unpacked, "model.safetensors"), metadata={"format": "pt"})
compare(unpacked, TEXTS[:6], "cls", "new (GTE), q/k/v_proj, SwiGLU, no rope_scaling, no types")


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


# Serving: /v1/embeddings (NomicBERT with prompt_name query: its search_query:
# prefix) and TEI /embed on both folders.
for folder, prompted, want, texts, prompt, what in (
        (NOMIC, nomic_want[:1], nomic_plain[:3], TEXTS[:3], "query", "nomic_bert"),
        (GTE, gte_want[:4], gte_want[:4], TEXTS[:4], None, "new (GTE)")):
    with floe_serve(folder) as (url, _):
        body = {"input": texts[:len(prompted)]}
        if prompt:
            body["prompt_name"] = prompt
        data = post(url + "/v1/embeddings", body)["data"]
        got = np.asarray([d["embedding"] for d in sorted(data, key=lambda d: d["index"])])
        cos = cosine_rows(prompted, got)
        check(cos.min() >= 0.99999, "%s: floe serve /v1/embeddings%s: min cosine 1 - %.1e"
              % (what, " prompt_name " + prompt if prompt else "", 1 - cos.min()))
        got = np.asarray(post(url + "/embed", {"inputs": texts}))
        cos = cosine_rows(want, got)
        check(cos.min() >= 0.99999, "%s: floe serve TEI /embed: min cosine 1 - %.1e"
              % (what, 1 - cos.min()))
