"""Retrieval with floe's vectors ranks as with sentence-transformers' on the real
all-MiniLM-L6-v2: 100 queries (50 held-out sentences, 50 corpus sentences with 30% of
their words dropped and two swapped) over a 5,000-sentence corpus of natural English
(realtexts.retrieval_set(): package descriptions and licenses). For each dtype floe
offers on this CPU (floe is asked, realutil.floe_dtype_refusal: bfloat16 and int8 run
wherever AVX2 and FMA do), the top-10 neighbours by cosine overlap those of
sentence-transformers float32 by >= 0.95 on average (float32: >= 0.99; its figure
should be about 1.0). Each dtype's time to embed the 5,100 texts is printed.
"""
import time

import numpy as np
from sentence_transformers import SentenceTransformer

import realtexts
from realutil import MINILM, check, floe_dtype_refusal, floe_embed

K = 10
THRESHOLDS = {"float32": 0.99, "bfloat16": 0.95, "int8": 0.95}


def top_k(corpus, queries):
    c = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(q @ c.T), axis=1, kind="stable")[:, :K]


def main():
    corpus, queries = realtexts.retrieval_set()
    texts = corpus + queries
    n = len(corpus)
    t = time.time()
    ref = SentenceTransformer(MINILM, device="cpu").encode(texts, batch_size=64)
    print("  sentence-transformers float32: %d texts in %.1f s" % (len(texts), time.time() - t))
    ref_top = top_k(ref[:n], ref[n:])
    lines = [{"text": s} for s in texts]
    for dtype, threshold in THRESHOLDS.items():
        refused = floe_dtype_refusal(dtype) if dtype != "float32" else None
        if refused:
            print("note: floe does not run %s on this CPU, not checked: %s" % (dtype, refused[:300]))
            continue
        t = time.time()
        got = floe_embed(MINILM, lines, "--dtype", dtype)
        print("  floe %s: %d texts in %.1f s" % (dtype, len(texts), time.time() - t), flush=True)
        top = top_k(got[:n], got[n:])
        overlap = np.array([len(set(a) & set(b)) / K for a, b in zip(top, ref_top)])
        top1 = (top[:, 0] == ref_top[:, 0]).mean()
        check(overlap.mean() >= threshold,
              "%s: top-%d overlap with sentence-transformers float32, %d queries over %d: "
              "mean %.4f min %.1f, top-1 agreement %.2f (mean >= %g)"
              % (dtype, K, len(queries), n, overlap.mean(), overlap.min(), top1, threshold))


if __name__ == "__main__":
    main()
