"""ModernBERT (model_type modernbert) against transformers' ModernBertModel, float32.

Three folders are made in FLOE_SCRATCH with transformers' own classes, random weights
in the published shapes of ModernBERT-base (hidden 768, 12 heads, GeGLU inner 1152,
local_attention 128: 64 tokens each side, thetas 160,000 / 10,000) with the layers cut,
config.json written in the Hub's (transformers 4.x) form, and the byte-level BPE
tokenizer of tests/data/models/modernbert-tiny (trained with `tokenizers` in
ModernBERT's settings; vocab 700, so the embedding table is small):
  embed  modernbert-embed-base's layout: ModernBertModel, 3 layers (global, local,
         local), mean pooling + Normalize, search_query: / search_document: prompts;
  gte    gte-modernbert-base's: ModernBertModel, 2 layers, CLS pooling + Normalize;
  mlm    ModernBERT-base's own checkpoint layout: ModernBertForMaskedLM (model.
         prefix, MLM head ignored), no sentence-transformers files (CLS), and the
         options the published models leave off: norm_bias, attention_bias, mlp_bias,
         hidden_activation gelu_pytorch_tanh; 2 layers.
Checks: floe tokenize ids equal `tokenizers`'; floe embed cosine >= 0.99999 to the
pooled reference (sdpa) at lengths 2 to ~4,000 tokens (the long case runs the window
far below its length); references whose local layers attend globally or rotate with
the global theta are far from floe's (the window and the local theta are exercised); floe serve answers /v1/embeddings (text, prompt_name,
a 1-token id array) and TEI /embed with the same vectors.
"""
import json
import os
import shutil
import time
import urllib.request

import numpy as np

from realutil import SCRATCH, check, floe_embed, floe_serve
from xlmr_fidelity_test import floe_ids

SOURCE = os.environ.get("FLOE_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
TINY = os.path.join(SOURCE, "tests", "data", "models", "modernbert-tiny")

TEXTS = [
    "",
    "a",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "   spaces   and\ttabs\n [MASK] x",
    "Local attention layers look at nearby tokens; global layers see everything. " * 4,
]


def hub_config(vocab, layers, **extra):
    """ModernBERT-base's config.json keys (transformers 4.x form), layers cut."""
    cfg = {
        "architectures": ["ModernBertModel"], "model_type": "modernbert",
        "attention_bias": False, "attention_dropout": 0.0, "classifier_pooling": "mean",
        "deterministic_flash_attn": False, "embedding_dropout": 0.0,
        "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0,
        "hidden_activation": "gelu", "hidden_size": 768, "intermediate_size": 1152,
        "layer_norm_eps": 1e-05, "local_attention": 128, "local_rope_theta": 10000.0,
        "max_position_embeddings": 8192, "mlp_bias": False, "mlp_dropout": 0.0,
        "norm_bias": False, "norm_eps": 1e-05, "num_attention_heads": 12,
        "num_hidden_layers": layers, "position_embedding_type": "absolute",
        "reference_compile": False, "torch_dtype": "float32", "vocab_size": vocab,
        "pad_token_id": 3, "bos_token_id": 1, "cls_token_id": 1, "eos_token_id": 2,
        "sep_token_id": 2,
    }
    cfg.update(extra)
    return cfg


def make_folder(name, cfg, pooling, seed):
    import torch
    import transformers
    folder = os.path.join(SCRATCH, "modernbert-" + name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    config = transformers.AutoConfig.from_pretrained(folder)
    cls = (transformers.ModernBertForMaskedLM if cfg["architectures"][0].endswith("MaskedLM")
           else transformers.ModernBertModel)
    torch.manual_seed(seed)
    model = cls(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in pname and pname.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif pname.endswith("bias"):
                p.copy_(0.05 * noise)
            elif "Wqkv" in pname:
                p.copy_(0.06 * noise)  # peaked attention: positions and the window matter
            else:
                p.copy_(0.04 * noise)
    model.save_pretrained(folder, safe_serialization=True)
    with open(os.path.join(folder, "config.json"), "w") as f:  # keep the Hub's form
        json.dump(cfg, f, indent=1)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TINY, fn), folder)
    if pooling:
        for fn in ("modules.json", "sentence_bert_config.json",
                   "config_sentence_transformers.json"):
            shutil.copy(os.path.join(TINY, fn), folder)
        os.makedirs(os.path.join(folder, "1_Pooling"))
        with open(os.path.join(TINY, "1_Pooling", "config.json")) as f:
            pool = json.load(f)
        pool.update(word_embedding_dimension=768, pooling_mode_cls_token=pooling == "cls",
                    pooling_mode_mean_tokens=pooling == "mean")
        with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
            json.dump(pool, f)
    return folder


class Reference:
    def __init__(self, folder, pooling, all_global=False, local_theta=None):
        import tokenizers
        import torch
        import transformers
        self.tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        config = transformers.AutoConfig.from_pretrained(folder)
        if all_global:
            config.layer_types = ["full_attention"] * config.num_hidden_layers
        if local_theta is not None:
            config.rope_parameters["sliding_attention"]["rope_theta"] = local_theta
        self.model = transformers.ModernBertModel.from_pretrained(
            folder, config=config, dtype=torch.float32, attn_implementation="sdpa").eval()
        self.pooling = pooling

    def ids(self, text):
        return self.tok.encode(text).ids

    def embed_ids(self, ids):
        import torch
        with torch.no_grad():
            h = self.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        v = h[0] if self.pooling == "cls" else h.mean(dim=0)
        v = v.double().numpy()
        return v / np.linalg.norm(v)


def cos(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def run(name, folder, pooling, texts, worst):
    ref = Reference(folder, pooling)
    ids = floe_ids(folder, texts)
    for t, got in zip(texts, ids):
        check(got == ref.ids(t), f"{name}: floe tokenize ids equal tokenizers' on {t[:40]!r}")
    start = time.perf_counter()
    got = floe_embed(folder, [{"text": t} for t in texts])
    floe_s = time.perf_counter() - start
    for t, v in zip(texts, got):
        n = len(ref.ids(t))
        c = cos(v, ref.embed_ids(ref.ids(t)))
        worst[name] = min(worst.get(name, 1.0), c)
        check(c >= 0.99999, f"{name}: {n} tokens: cosine {c:.9f} >= 0.99999")
    print(f"{name}: {len(texts)} texts, up to {max(len(i) for i in ids)} tokens: worst cosine "
          f"1 - {1 - worst[name]:.2e} (floe embed {floe_s:.1f} s)")
    return ref


def main():
    import tokenizers
    vocab = tokenizers.Tokenizer.from_file(os.path.join(TINY, "tokenizer.json")).get_vocab_size()
    worst = {}
    # FLOE_MODERNBERT_LONG=1: the long text at about 8,100 tokens (the 8,192 positions),
    # not in CI for its time; by default about 4,000.
    long_text = " ".join(TEXTS[2:]) * (48 if os.environ.get("FLOE_MODERNBERT_LONG") else 24)
    embed = make_folder("embed", hub_config(vocab, 3), "mean", 1)
    ref = run("embed", embed, "mean", TEXTS + [long_text], worst)
    n_long = len(ref.ids(long_text))
    check(n_long > 3000, f"the long text has {n_long} tokens")

    # The window and the local theta are exercised: a reference whose local layers
    # attend globally, or rotate with the global theta, is far from floe on 500 tokens.
    medium = " ".join(TEXTS[2:]) * 3
    got = floe_embed(embed, [{"text": medium}])[0]
    c_glob = cos(got, Reference(embed, "mean", all_global=True).embed_ids(ref.ids(medium)))
    c_theta = cos(got, Reference(embed, "mean", local_theta=160000.0).embed_ids(ref.ids(medium)))
    check(c_glob < 0.9999 and c_theta < 0.9999,
          f"{len(ref.ids(medium))} tokens: cosine {c_glob:.6f} to a reference whose local "
          f"layers attend globally, {c_theta:.6f} to one whose local theta is the global one")

    gte = make_folder("gte", hub_config(vocab, 2), "cls", 2)
    run("gte", gte, "cls", TEXTS, worst)
    mlm = make_folder("mlm", hub_config(
        vocab, 2, architectures=["ModernBertForMaskedLM"], norm_bias=True,
        attention_bias=True, mlp_bias=True, hidden_activation="gelu_pytorch_tanh"), None, 3)
    run("mlm", mlm, "cls", TEXTS, worst)

    # Serving: /v1/embeddings (text, prompt, 1-token id array) and TEI /embed.
    query = "search_query: " + TEXTS[3]
    with floe_serve(embed) as (url, _):
        r = post(url + "/v1/embeddings", {"input": [TEXTS[3], TEXTS[5]]})
        for t, d in zip([TEXTS[3], TEXTS[5]], r["data"]):
            check(cos(d["embedding"], ref.embed_ids(ref.ids(t))) >= 0.99999,
                  f"/v1/embeddings: {t!r}")
        r = post(url + "/v1/embeddings", {"input": [[42]]})
        check(cos(r["data"][0]["embedding"], ref.embed_ids([42])) >= 0.99999,
              "/v1/embeddings: 1 token (an id array)")
        r = post(url + "/v1/embeddings", {"input": TEXTS[3], "prompt_name": "query"})
        check(cos(r["data"][0]["embedding"], ref.embed_ids(ref.ids(query))) >= 0.99999,
              "/v1/embeddings: prompt_name query prepends search_query: ")
        tei = post(url + "/embed", {"inputs": [TEXTS[2], TEXTS[4]]})
        for t, v in zip([TEXTS[2], TEXTS[4]], tei):
            check(abs(np.linalg.norm(v) - 1) < 1e-5 and
                  cos(v, ref.embed_ids(ref.ids(t))) >= 0.99999, f"TEI /embed {t!r}")
    print("modernbert fidelity: worst cosine " +
          ", ".join(f"{k} 1 - {1 - v:.2e}" for k, v in worst.items()) +
          f"; long text {n_long} tokens; serve /v1/embeddings and TEI /embed agree")


if __name__ == "__main__":
    main()
