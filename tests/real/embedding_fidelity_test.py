"""floe float32 embeds as sentence-transformers does on the real all-MiniLM-L6-v2:
cosine >= 0.99999 on every text of realtexts.fidelity_texts() (about 1,150: English
of 2..400 words, so some past the model's 256 tokens, message catalogs in many
languages, hand-written odd lines), the reference computed live by
SentenceTransformer(FLOE_MINILM, device="cpu").encode. Checked through `floe embed`:
  (a) all texts in one run (floe packs mixed lengths into forwards of up to
      --max-batch-tokens tokens), at the default budget, and a third of them at 1024;
  (b) about 50 texts each alone (--max-batch-tokens 1: one sequence per forward);
  (c) prompt_name, on a copy of the folder whose config_sentence_transformers.json
      has prompts, against encode(prompt_name=...), both prompts in one run;
  (d) dimensions 64 / 128 / 384 in one run, against encode(truncate_dim=N) then
      L2-normalized (DESIGN.md: the first N values, then normalize);
  (e) normalize false: floe returns the pooled vector before the folder's Normalize
      module. sentence-transformers' encode(normalize_embeddings=False) still runs that
      module (its vectors have norm 1), so the reference is the pipeline without it,
      SentenceTransformer(modules=[Transformer, Pooling]); norms compared too, and
      normalize false with dimensions (the first N raw values);
  (f) the AVX2 path (FLOE_NO_AVX512=1: floe's kernels' portable path, oneDNN capped
      at AVX2) on a subset, where the CPU has AVX-512.
"""
import json
import os
import subprocess
import time

import numpy as np
from sentence_transformers import SentenceTransformer

import realtexts
from realutil import (FLOE, MINILM, SCRATCH, check, cosine_rows, cpu_has, fail, floe_embed,
                      floe_embed_rows, minilm_reference)

THRESHOLD = 0.99999


def compare(what, ref, got, texts, threshold=THRESHOLD):
    if got.shape != ref.shape:
        fail("%s: floe gave shape %s, reference %s" % (what, got.shape, ref.shape))
    cos = cosine_rows(ref, got)
    w = int(cos.argmin())
    if cos.min() < threshold:
        print("worst text (%d chars): %r" % (len(texts[w]), texts[w][:300]))
    check(cos.min() >= threshold, "%s: %d texts, cosine min 1 - %.1e, mean 1 - %.1e (>= %g)"
          % (what, len(texts), 1 - cos.min(), 1 - cos.mean(), threshold))
    return cos


def lines(texts, **params):
    return [dict(text=t, **params) for t in texts]


def timed(what, f):
    t = time.time()
    r = f()
    print("  %s: %.1f s" % (what, time.time() - t), flush=True)
    return r


def main():
    texts = realtexts.fidelity_texts()
    st = SentenceTransformer(MINILM, device="cpu")
    check(st.max_seq_length == 256, "sentence-transformers cuts MiniLM at 256 tokens")
    lens = np.array([len(ids) for ids in st.tokenizer(texts)["input_ids"]])
    n_ascii = sum(t.isascii() for t in texts)
    check(len(texts) >= 1000 and (lens > 256).sum() >= 30 and (lens <= 8).sum() >= 50
          and len(texts) - n_ascii >= 100,
          "%d texts (>= 1,000): %d tokens min, %d max, %d over 256 (>= 30), %d of <= 8 "
          "(>= 50), %d with non-ASCII (>= 100)"
          % (len(texts), lens.min(), lens.max(), (lens > 256).sum(), (lens <= 8).sum(),
             len(texts) - n_ascii))

    ref = minilm_reference(texts)
    check(np.allclose(np.linalg.norm(ref, axis=1), 1, atol=1e-5),
          "sentence-transformers' vectors have norm 1 (the folder's Normalize module)")

    # (a) all in one run, mixed lengths packed.
    got = timed("floe embed, all", lambda: floe_embed(MINILM, lines(texts)))
    compare("(a) one run, default --max-batch-tokens", ref, got, texts)
    check(np.abs(np.linalg.norm(got, axis=1) - 1).max() < 1e-5, "(a) floe's vectors have norm 1")
    got = timed("floe embed, 1024", lambda: floe_embed(MINILM, lines(texts[::3]),
                                                       "--max-batch-tokens", "1024"))
    compare("(a) a third of them, --max-batch-tokens 1024", ref[::3], got, texts[::3])

    # (b) each alone.
    alone = list(range(0, len(texts), len(texts) // 50))
    sub = [texts[i] for i in alone]
    got = floe_embed(MINILM, lines(sub), "--max-batch-tokens", "1")
    compare("(b) each text alone (--max-batch-tokens 1)", ref[alone], got, sub)
    check(lens[alone].max() > 256 and lens[alone].min() <= 8,
          "(b) the texts alone run from %d to %d tokens" % (lens[alone].min(), lens[alone].max()))

    # (c) prompt_name.
    folder = os.path.join(SCRATCH, "minilm-prompts")
    os.mkdir(folder)
    for name in os.listdir(MINILM):
        if name != "config_sentence_transformers.json":
            os.symlink(os.path.join(MINILM, name), os.path.join(folder, name))
    with open(os.path.join(folder, "config_sentence_transformers.json"), "w") as f:
        json.dump({"prompts": {"query": "query: ", "passage": "passage: "},
                   "default_prompt_name": None}, f)
    stp = SentenceTransformer(folder, device="cpu")
    sub = texts[1::8]
    half = len(sub) // 2
    ref_p = np.concatenate([stp.encode(sub[:half], prompt_name="query"),
                            stp.encode(sub[half:], prompt_name="passage")])
    got = floe_embed(folder, lines(sub[:half], prompt_name="query")
                     + lines(sub[half:], prompt_name="passage"))
    compare("(c) prompt_name query / passage in one run", ref_p, got, sub)
    cos_moved = cosine_rows(ref[1::8], ref_p)
    check(np.median(cos_moved) < 0.999, "(c) the prompts change the vectors (median cosine to "
          "no prompt %.4f)" % np.median(cos_moved))
    got = floe_embed(folder, lines(sub[:50]))
    compare("(c) no prompt_name on the folder with prompts", ref[1::8][:50], got, sub[:50])

    # (d) dimensions.
    sub = texts[2::6]
    dims = [(64, 128, 384)[k % 3] for k in range(len(sub))]
    got = floe_embed_rows(MINILM, [{"text": t, "dimensions": d} for t, d in zip(sub, dims)])
    check([len(v) for v in got] == dims, "(d) each line has the dimensions it asked for")
    for d in (64, 128, 384):
        idx = [k for k in range(len(sub)) if dims[k] == d]
        r = st.encode([sub[k] for k in idx], truncate_dim=d)
        r = r / np.linalg.norm(r, axis=1, keepdims=True)
        g = np.asarray([got[k] for k in idx])
        compare("(d) dimensions %d" % d, r, g, [sub[k] for k in idx])
        check(np.abs(np.linalg.norm(g, axis=1) - 1).max() < 1e-5,
              "(d) dimensions %d: floe's vectors have norm 1" % d)

    # (e) normalize false.
    ref_st_false = st.encode(texts[:20], normalize_embeddings=False)
    check(np.allclose(np.linalg.norm(ref_st_false, axis=1), 1, atol=1e-5),
          "(e) encode(normalize_embeddings=False) on MiniLM still has norm 1 (Normalize module)")
    raw_st = SentenceTransformer(modules=[st[0], st[1]], device="cpu")
    sub = texts[3::6]
    ref_raw = raw_st.encode(sub, normalize_embeddings=False)
    got = floe_embed(MINILM, lines(sub, normalize=False))
    compare("(e) normalize false vs Transformer+Pooling", ref_raw, got, sub)
    nr, ng = np.linalg.norm(ref_raw, axis=1), np.linalg.norm(got, axis=1)
    rel = np.abs(ng - nr) / nr
    check(nr.min() > 1.2 and rel.max() < 1e-4,
          "(e) norms: reference %.3f..%.3f, floe's relative difference max %.2e (< 1e-4)"
          % (nr.min(), nr.max(), rel.max()))
    got = floe_embed(MINILM, lines(sub[:60], normalize=False, dimensions=128))
    raw128 = ref_raw[:60, :128]
    compare("(e) normalize false, dimensions 128", raw128, got, sub[:60])
    rel = np.abs(np.linalg.norm(got, axis=1) / np.linalg.norm(raw128, axis=1) - 1)
    check(rel.max() < 1e-4, "(e) normalize false, dimensions 128: norms within %.2e" % rel.max())

    # (f) AVX2 path.
    if cpu_has("avx512f"):
        sub_idx = list(range(0, len(texts), 4))
        sub = [texts[i] for i in sub_idx]
        avx2 = {"FLOE_NO_AVX512": "1"}
        r = subprocess.run([FLOE, "embed", "--model", MINILM, "--log-level", "info"],
                           input=b'{"text": "x"}\n', capture_output=True,
                           env={**os.environ, **avx2})
        check(r.returncode == 0 and b"runs as avx2 (capped by FLOE_NO_AVX512)" in r.stderr,
              "(f) FLOE_NO_AVX512=1 is in force (%s)"
              % r.stderr.decode().strip()[-160:])
        got = timed("floe embed, AVX2", lambda: floe_embed(MINILM, lines(sub), env=avx2))
        compare("(f) AVX2 path (FLOE_NO_AVX512=1)", ref[sub_idx], got, sub)
    else:
        print("note: this CPU has no AVX-512, so (a)-(e) ran the AVX2 path already")


if __name__ == "__main__":
    main()
