#!/usr/bin/env python3
"""Runs ONNX Runtime (PyPI onnxruntime) on the request shapes `floe bench
--save-shapes` wrote: each request is one batch padded to its longest input (what
a padded engine computes), with an attention mask for the real tokens. Prints one
JSON line: real tokens/s (what floe bench reports), padded tokens/s, and how much
of the computed batch was padding. Run by scripts/peer-shapes.sh.

Usage: ort_shapes.py MODEL.onnx SHAPES.jsonl THREADS
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def feeds(lengths):
    batch, seq = len(lengths), max(lengths)
    ids = np.zeros((batch, seq), dtype=np.int64)
    mask = np.zeros((batch, seq), dtype=np.int64)
    for b, n in enumerate(lengths):
        t = np.arange(n)
        ids[b, :n] = 1000 + ((b * 131 + t) * 7919) % 19000
        mask[b, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def main():
    if len(sys.argv) != 4 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    model, shapes_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(shapes_path) as f:
        shapes = [json.loads(line)["lengths"] for line in f if line.strip()]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}

    def run(lengths):
        f = feeds(lengths)
        if "token_type_ids" in names:
            f["token_type_ids"] = np.zeros_like(f["input_ids"])
        sess.run(None, {k: v for k, v in f.items() if k in names})

    run(shapes[0])  # warm-up
    real = padded = 0
    t0 = time.perf_counter()
    for lengths in shapes:
        run(lengths)
        real += sum(lengths)
        padded += len(lengths) * max(lengths)
    s = time.perf_counter() - t0
    print(json.dumps({"peer": f"onnxruntime-{ort.__version__}", "requests": len(shapes),
                      "threads": threads, "seconds": s, "real_tokens_per_s": real / s,
                      "padded_tokens_per_s": padded / s,
                      "padding_fraction": 1 - real / padded}))


if __name__ == "__main__":
    main()
