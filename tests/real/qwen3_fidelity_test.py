"""Qwen3 as an embedder (model_type qwen3, issue 15) against transformers and
sentence-transformers, and served over OpenAI's and TEI's routes.

1. tests/data/models/qwen3-tiny (tests/data/models/make_qwen3_tiny.py: Qwen3Model,
   names without "model.", last-token pooling, Qwen3-Embedding's prompts, a byte-level
   BPE with Qwen2's pre-tokenizer and the "$A <|endoftext|>" template):
   floe tokenize's ids equal `tokenizers`' (the EOS appended); floe embed equals
   sentence-transformers' encode, plain and with prompt_name "query"; `dimensions`
   keeps the first values and renormalises.
2. Random weights of Qwen3-Embedding-0.6B's published shape (hidden 1024, 16 heads,
   8 KV heads, head_dim 128, intermediate 3072, rope_theta 1e6, rms_norm_eps 1e-6,
   tied embeddings) with 1 layer (the tiny folder has 2) and the tiny tokenizer's
   vocabulary, saved in scratch by Qwen3ForCausalLM (names with "model."): floe embed
   (float32) against Qwen3Model in float64, last token, at lengths 2 to 2,500 tokens:
   cosine >= 0.99999.
   With FLOE_QWEN3_LONG=1 instead 8,192, 16,384 and 32,768 tokens, one sequence per
   floe process (hidden cut to 256, heads 16 / 8 of 128 kept; the reference in
   float32), with floe's peak RSS at each length.
3. The tiny folder with use_sliding_window (window 16 from layer 1 on, as
   max_window_layers 1 makes it): floe embed = transformers float64 at 9 to ~1,000 tokens.
4. floe serve on the tiny folder: /v1/embeddings (plain, prompt_name "query",
   dimensions) and TEI /embed (prompt_name "query") equal floe embed.
"""
import json
import os
import resource
import shutil
import time

import numpy as np

from modernbert_fidelity_test import post as post_json
from realutil import SCRATCH, SOURCE, check, cosine_rows, floe_embed, floe_serve
from xlmr_fidelity_test import floe_ids as floe_tokenize
from realtexts import HAND_WRITTEN

TINY = os.path.join(SOURCE, "tests", "data", "models", "qwen3-tiny")
GPL = "/usr/share/common-licenses/GPL-3"


def texts_of_lengths(tok, lengths):
    """Texts whose `tokenizers` encodings have about `lengths` tokens (EOS included):
    prefixes of the GPL-3 text (or the hand-written lines, repeated)."""
    if os.path.exists(GPL):
        with open(GPL, encoding="utf-8") as f:
            base = f.read()
    else:
        base = " ".join(HAND_WRITTEN)
    ids = tok.encode(base).ids[:-1]
    while len(ids) < max(lengths):
        ids = ids + ids
    return [tok.decode(ids[:n - 1]) for n in lengths]


def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def tiny_checks(texts):
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    st = SentenceTransformer(TINY, device="cpu")
    prompt = st.prompts["query"]
    want = [e.ids for e in tok.encode_batch(texts + [prompt + t for t in texts])]
    got = floe_tokenize(TINY, texts + [prompt + t for t in texts])
    check(got == want, "floe tokenize ids equal tokenizers' on %d texts (with the query prompt)"
          % len(want))
    check(all(ids[-1] == eot for ids in got), "every encoding ends in <|endoftext|>")

    plain = floe_embed(TINY, [{"text": t} for t in texts])
    query = floe_embed(TINY, [{"text": t, "prompt_name": "query"} for t in texts])
    ref_plain = st.encode(texts, batch_size=8, normalize_embeddings=True)
    ref_query = st.encode(texts, batch_size=8, prompt_name="query", normalize_embeddings=True)
    for name, a, b in (("plain", plain, ref_plain), ("prompt_name query", query, ref_query)):
        worst = cosine_rows(a, b).min()
        print("tiny %s: worst cosine to sentence-transformers 1 - %.2e" % (name, 1 - worst))
        check(worst >= 0.99999, "tiny folder, %s: floe embed = sentence-transformers" % name)
    check(cosine_rows(plain, query).max() < 0.999, "the query prompt changes the vectors")
    cut = floe_embed(TINY, [{"text": t, "dimensions": 16} for t in texts])
    check(cut.shape == (len(texts), 16) and np.allclose(cut, unit(plain[:, :16]), atol=1e-6),
          "dimensions 16 keeps the first 16 values, renormalised")
    return plain, query


def published_shape_checks(texts_tok, lengths, long_run):
    import torch
    import transformers
    folder = os.path.join(SCRATCH, "qwen3-published-shape")
    hidden, inter = (256, 768) if long_run else (1024, 3072)
    cfg = transformers.Qwen3Config(
        vocab_size=1000, hidden_size=hidden, num_hidden_layers=1,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        intermediate_size=inter, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(3)
    lm = transformers.Qwen3ForCausalLM(cfg)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.1 * noise if "norm" in name else 0.05 * noise)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    lm.save_pretrained(folder, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "modules.json",
              "config_sentence_transformers.json", "sentence_bert_config.json"):
        shutil.copy(os.path.join(TINY, f), folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(TINY, "1_Pooling", "config.json")) as f:
        pooling = json.load(f)
    pooling["word_embedding_dimension"] = hidden
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump(pooling, f)
    from safetensors import safe_open
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        check(all(k.startswith("model.") for k in f.keys()),
              "Qwen3ForCausalLM saves names with model. (%s)" % sorted(f.keys())[0])

    texts = texts_of_lengths(texts_tok, lengths)
    ids = [e.ids for e in texts_tok.encode_batch(texts)]
    print("lengths:", [len(i) for i in ids])
    t0 = time.time()
    if long_run:  # one process per length, longest last: the children's peak RSS per length
        got = []
        for t, i in zip(texts, ids):
            t1 = time.time()
            got.append(floe_embed(folder, [{"text": t}])[0])
            print("  floe embed, %d tokens: %.1f s, children's peak RSS %.0f MiB" % (
                len(i), time.time() - t1,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024), flush=True)
    else:
        got = floe_embed(folder, [{"text": t} for t in texts])
    floe_s = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    base = lm.model.eval() if long_run else lm.model.double().eval()
    want = []
    t0 = time.time()
    with torch.no_grad():
        for i in ids:
            h = base(input_ids=torch.tensor([i])).last_hidden_state[0, -1]
            want.append(torch.nn.functional.normalize(h, dim=0).float().numpy())
    ref_s = time.time() - t0
    cos = cosine_rows(got, np.asarray(want))
    for n, c in zip((len(i) for i in ids), cos):
        print("  %6d tokens: cosine 1 - %.2e" % (n, 1 - c))
    print("floe embed %.1f s, transformers (%s) %.1f s; floe children's peak RSS %.0f MiB"
          % (floe_s, "float32" if long_run else "float64", ref_s, peak))
    check(cos.min() >= 0.99999, "published shape (%d hidden, 16/8 heads of 128, %d layers): "
          "floe embed = Qwen3Model at every length" % (hidden, cfg.num_hidden_layers))


def sliding_window_checks(tok):
    import torch
    import transformers
    folder = os.path.join(SCRATCH, "qwen3-tiny-sliding")
    shutil.copytree(TINY, folder)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(use_sliding_window=True, sliding_window=16, max_window_layers=1)
    cfg.pop("layer_types")  # made again from max_window_layers
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    model = transformers.AutoModel.from_pretrained(folder, dtype=torch.float32).double().eval()
    check(model.config.layer_types == ["full_attention", "sliding_attention"],
          "transformers makes layer 1 a sliding layer")
    texts = texts_of_lengths(tok, [9, 100, 1000])
    got = floe_embed(folder, [{"text": t} for t in texts])
    full = floe_embed(TINY, [{"text": t} for t in texts])
    want = []
    with torch.no_grad():
        for e in tok.encode_batch(texts):
            h = model(input_ids=torch.tensor([e.ids])).last_hidden_state[0, -1]
            want.append(torch.nn.functional.normalize(h, dim=0).numpy())
    cos = cosine_rows(got, np.asarray(want))
    print("sliding window 16: cosine 1 - %s" % ", ".join("%.1e" % (1 - c) for c in cos))
    check(cos.min() >= 0.99999, "sliding-window layers: floe embed = transformers")
    check(cosine_rows(got, full)[1:].max() < 0.9999, "the window changes long inputs' vectors")


def serve_checks(texts, plain, query):
    with floe_serve(TINY) as (url, _):
        r = post_json(url + "/v1/embeddings", {"input": texts, "model": TINY})
        a = np.asarray([d["embedding"] for d in r["data"]], dtype=np.float32)
        check(cosine_rows(a, plain).min() >= 0.999999, "/v1/embeddings = floe embed")
        r = post_json(url + "/v1/embeddings", {"input": texts, "prompt_name": "query"})
        a = np.asarray([d["embedding"] for d in r["data"]], dtype=np.float32)
        check(cosine_rows(a, query).min() >= 0.999999,
              "/v1/embeddings prompt_name query = floe embed's")
        r = post_json(url + "/v1/embeddings", {"input": texts, "dimensions": 16})
        a = np.asarray([d["embedding"] for d in r["data"]], dtype=np.float32)
        check(a.shape == (len(texts), 16) and np.allclose(a, unit(plain[:, :16]), atol=1e-6),
              "/v1/embeddings dimensions 16: the first 16 values, renormalised")
        a = np.asarray(post_json(url + "/embed", {"inputs": texts, "prompt_name": "query"}),
                       dtype=np.float32)
        check(cosine_rows(a, query).min() >= 0.999999, "TEI /embed prompt_name query")
        a = np.asarray(post_json(url + "/embed", {"inputs": texts[0]}), dtype=np.float32)
        check(cosine_rows(a, plain[:1]).min() >= 0.999999, "TEI /embed one input")


def main():
    from tokenizers import Tokenizer
    texts = HAND_WRITTEN[:12] + ["What is the capital of China?", "Explain gravity"]
    plain, query = tiny_checks(texts)
    serve_checks(texts, plain, query)
    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    sliding_window_checks(tok)
    if os.environ.get("FLOE_QWEN3_LONG") == "1":
        published_shape_checks(tok, [8192, 16384, 32768], long_run=True)
    else:
        published_shape_checks(tok, [2, 9, 130, 1100, 2500], long_run=False)


if __name__ == "__main__":
    main()
