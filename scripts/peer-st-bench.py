#!/usr/bin/env python3
"""sentence-transformers' encode, in-process, on the texts a `floe bench --save-texts` run sent.

Part of scripts/peer-real-bench.sh (run in the peers environment, scripts/python-env.sh peers).
For each TEXTS file (JSON lines {"batch_size": B, "texts": [...]}, one per request) it calls
model.encode(texts, batch_size=len(texts)) once per request, one after another (concurrency 1:
an in-process model has no request queue), and prints one JSON row per file with the same
fields floe bench prints: tokens_per_s (real tokens, [CLS]/[SEP] included, truncated at the
model's max_seq_length, as floe counts them), latency_p50_ms, latency_p99_ms.

ONNX and OpenVINO models are exported from the folder once (optimum) into CACHE and loaded
from there afterwards, so a second pass does not pay the export.
"""
import argparse
import json
import os
import shutil
import sys
import time


def percentile(values, q):
    v = sorted(values)
    if not v:
        return 0.0
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def load(folder, backend, cache):
    from sentence_transformers import SentenceTransformer

    if backend == "torch":
        return SentenceTransformer(folder, device="cpu", backend="torch")
    marker = {"onnx": "onnx/model.onnx", "openvino": "openvino/openvino_model.xml"}[backend]
    dest = os.path.join(cache, "minilm-" + backend)
    if not os.path.exists(os.path.join(dest, marker)):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(folder, dest)
        model = SentenceTransformer(dest, device="cpu", backend=backend)  # exports
        model.save_pretrained(dest)
        if not os.path.exists(os.path.join(dest, marker)):
            sys.exit(f"peer-st-bench: {backend} export did not write {marker} in {dest}")
        return model
    return SentenceTransformer(dest, device="cpu", backend=backend)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the model folder")
    ap.add_argument("--backend", required=True, choices=["torch", "onnx", "openvino"])
    ap.add_argument("--cache", required=True, help="folder for exported ONNX / OpenVINO models")
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured requests per file")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop a file after this many measured seconds (0: all requests); the"
                         " row says how many requests it measured")
    ap.add_argument("texts", nargs="+", help="JSON-lines files from floe bench --save-texts")
    a = ap.parse_args()

    t0 = time.perf_counter()
    model = load(a.model, a.backend, a.cache)
    load_s = time.perf_counter() - t0
    tok = model.tokenizer
    limit = model.max_seq_length
    import torch

    for path in a.texts:
        with open(path) as f:
            reqs = [json.loads(line) for line in f if line.strip()]
        tokens = [sum(len(ids) for ids in tok(r["texts"], truncation=True, max_length=limit)["input_ids"])
                  for r in reqs]
        for r in reqs[: a.warmup]:
            model.encode(r["texts"], batch_size=len(r["texts"]))
        lat = []
        start = time.perf_counter()
        done = 0
        for r in reqs:
            if a.max_seconds and time.perf_counter() - start > a.max_seconds:
                break
            t = time.perf_counter()
            out = model.encode(r["texts"], batch_size=len(r["texts"]))
            lat.append((time.perf_counter() - t) * 1000)
            if len(out) != len(r["texts"]):
                sys.exit(f"peer-st-bench: {len(out)} embeddings for {len(r['texts'])} texts")
            done += 1
        wall = time.perf_counter() - start
        print(json.dumps({
            "backend": a.backend, "batch_size": reqs[0]["batch_size"], "requests": done,
            "concurrency": 1, "tokens_per_s": sum(tokens[:done]) / wall,
            "latency_p50_ms": percentile(lat, 50), "latency_p99_ms": percentile(lat, 99),
            "duration_s": wall, "load_s": load_s, "torch_threads": torch.get_num_threads(),
        }), flush=True)


if __name__ == "__main__":
    main()
