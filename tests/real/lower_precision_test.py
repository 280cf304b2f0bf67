"""floe's lower-precision dtypes on trained weights (the real all-MiniLM-L6-v2), on the
texts of embedding_fidelity_test.py (realtexts.fidelity_texts(), about 1,150 of 1..400
tokens, many languages), each dtype the CPU offers against floe float32 in the same run:
cosine min >= 0.999 (bfloat16) and >= 0.99 (int8), means printed, and against
sentence-transformers float32 for the record (docs/real-models.md). float16 has no CPU
backend: asking for it is a clear error. Each dtype's time to embed the texts is printed.
On a CPU with AVX512_BF16, bfloat16 also runs as on one without it (ONEDNN_MAX_CPU_ISA=AVX2:
bf16 weights, float32 arithmetic) on every 4th text, against floe float32: min >= 0.999.
"""
import subprocess
import time


import realtexts
from realutil import (FLOE, MINILM, check, cosine_rows, cpu_has, floe_dtype_refusal, floe_embed,
                      minilm_reference)

THRESHOLDS = {"bfloat16": 0.999, "int8": 0.99}


def main():
    texts = realtexts.fidelity_texts()
    lines = [{"text": t} for t in texts]
    ref = minilm_reference(texts)
    vecs = {}
    for dtype in ["float32"] + list(THRESHOLDS):
        refused = floe_dtype_refusal(dtype)  # what floe offers on this CPU class
        if refused:
            print("note: %s not checked here: %s" % (dtype, refused[:300]))
            continue
        t = time.time()
        vecs[dtype] = floe_embed(MINILM, lines, "--dtype", dtype)
        print("  floe %s: %d texts in %.1f s" % (dtype, len(texts), time.time() - t), flush=True)
        st = cosine_rows(ref, vecs[dtype])
        print("  %s vs sentence-transformers float32: cosine min %.6f mean %.7f"
              % (dtype, st.min(), st.mean()))
    check(cosine_rows(ref, vecs["float32"]).min() >= 0.99999, "float32 matches the reference")
    for dtype, threshold in THRESHOLDS.items():
        if dtype not in vecs:
            continue
        cos = cosine_rows(vecs["float32"], vecs[dtype])
        w = int(cos.argmin())
        if cos.min() < threshold:
            print("worst text: %r" % texts[w][:300])
        check(cos.min() >= threshold, "%s vs floe float32: %d texts, cosine min %.6f mean %.7f "
              "(min >= %g)" % (dtype, len(texts), cos.min(), cos.mean(), threshold))
    if cpu_has("avx512_bf16") and cpu_has("avx2") and "bfloat16" in vecs:
        # bfloat16 without a bf16 dot product: bf16 weights, float32 arithmetic.
        sub = list(range(0, len(texts), 4))
        t = time.time()
        got = floe_embed(MINILM, [lines[i] for i in sub], "--dtype", "bfloat16",
                         env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
        cos = cosine_rows(vecs["float32"][sub], got)
        check(cos.min() >= THRESHOLDS["bfloat16"],
              "bfloat16 under ONEDNN_MAX_CPU_ISA=AVX2 (bf16 weights) vs floe float32: %d texts "
              "in %.1f s, cosine min %.6f mean %.7f (min >= %g)"
              % (len(sub), time.time() - t, cos.min(), cos.mean(), THRESHOLDS["bfloat16"]))
    r = subprocess.run([FLOE, "embed", "--model", MINILM, "--dtype", "float16"],
                       input=b'{"text": "x"}\n', capture_output=True)
    check(r.returncode != 0 and b"float16 is not implemented on the cpu" in r.stderr,
          "float16 on the cpu is refused: %s" % r.stderr.decode().strip()[:200])


if __name__ == "__main__":
    main()
