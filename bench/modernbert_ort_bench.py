#!/usr/bin/env python3
"""floe against ONNX Runtime on one random-weight ModernBERT, in the same run.

  $(scripts/python-env.sh peers)/bin/python bench/modernbert_ort_bench.py FLOE_BINARY [LAYERS]

Makes, in a temporary folder, a ModernBertModel of ModernBERT-base's published shape
(hidden 768, 12 heads, GeGLU 1152, local_attention 128, global every 3 layers; LAYERS
layers, default 6) with transformers' random init and the byte-level BPE tokenizer of
tests/data/models/modernbert-tiny, exports it with torch.onnx (opset 17: ONNX Runtime
runs the sliding window as a dense masked T x T attention), and times one sequence of
512 and of 4,096 random ids: ONNX Runtime's InferenceSession.run (all cores) against
floe serve's POST /v1/embeddings with the same ids (HTTP included), median of 3 after
a warm-up. Prints one line per length.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import onnxruntime as ort
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "tests", "data", "models", "modernbert-tiny")


def make(folder, layers):
    config = transformers.ModernBertConfig(
        vocab_size=700, hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
        intermediate_size=1152, global_attn_every_n_layers=3, local_attention=128,
        max_position_embeddings=8192, pad_token_id=3, bos_token_id=1, cls_token_id=1,
        eos_token_id=2, sep_token_id=2)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.ModernBertModel(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    for fn in ("tokenizer.json", "tokenizer_config.json", "modules.json",
               "sentence_bert_config.json"):
        shutil.copy(os.path.join(TINY, fn), folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(TINY, "1_Pooling", "config.json")) as f:
        pool = json.load(f)
    pool["word_embedding_dimension"] = 768
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump(pool, f)
    onnx_path = os.path.join(folder, "model.onnx")
    ids = torch.randint(0, 700, (1, 256))
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), onnx_path,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={"input_ids": {0: "b", 1: "t"},
                                        "attention_mask": {0: "b", 1: "t"},
                                        "last_hidden_state": {0: "b", 1: "t"}},
                          dynamo=False)
    return model, onnx_path


def median_s(fn, reps=3):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    floe = os.path.abspath(sys.argv[1])
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    work = tempfile.mkdtemp(prefix="modernbert-bench-")
    try:
        folder = os.path.join(work, "model")
        model, onnx_path = make(folder, layers)
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        port = 18000 + os.getpid() % 1000
        log = open(os.path.join(work, "serve.log"), "w")
        p = subprocess.Popen([floe, "serve", "--model", folder, "--host", "127.0.0.1",
                              "--port", str(port + 1), "--http-port", str(port)],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    with urllib.request.urlopen(url + "/health", timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            rng = np.random.default_rng(0)
            for n in (512, 4096):
                ids = rng.integers(4, 700, size=(1, n)).astype(np.int64)
                feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                ort_out = sess.run(None, feeds)[0][0].mean(axis=0)
                body = json.dumps({"input": ids.tolist(), "normalize": False}).encode()

                def floe_call():
                    req = urllib.request.Request(url + "/v1/embeddings", data=body,
                                                 headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=600) as r:
                        return json.loads(r.read())["data"][0]["embedding"]
                v = np.asarray(floe_call())
                c = float(v @ ort_out / np.linalg.norm(v) / np.linalg.norm(ort_out))
                t_ort = median_s(lambda: sess.run(None, feeds))
                t_floe = median_s(floe_call)
                print(f"{layers} layers, {n} tokens: floe {t_floe * 1000:.0f} ms, ONNX Runtime "
                      f"{ort.__version__} {t_ort * 1000:.0f} ms: floe / ORT time "
                      f"{t_floe / t_ort:.2f} (cosine of the two {c:.7f})", flush=True)
        finally:
            p.terminate()
            p.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
