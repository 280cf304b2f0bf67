#!/usr/bin/env python3
"""The CPU peers of issue 16 on one model folder, bare (no tokenizer, no HTTP), one JSON line
per measurement. Run by scripts/cpu-targets.sh in the peers environment
(scripts/python-env.sh peers: onnxruntime, openvino, nncf, optimum).

Engines (each on all cores, one inference at a time):
  ort/float32       ONNX Runtime on the ONNX export (optimum, feature-extraction, opset 14)
  ort/int8          onnxruntime.quantization.quantize_dynamic(per_channel=True, QInt8
                    weights, dynamic u8 activations) of that export
  openvino/float32  OpenVINO on the same export, INFERENCE_PRECISION_HINT f32
  openvino/bfloat16 the same with INFERENCE_PRECISION_HINT bf16 (only where the CPU has
                    avx512_bf16 or amx_bf16; skipped, with a row saying so, elsewhere)
  openvino/int8     nncf.quantize (static int8 weights and activations, ModelType.TRANSFORMER,
                    a calibration set of CALIB random batches of 128 tokens): the int8
                    kernels OpenVINO runs on VNNI / AMX (weight-only compression would
                    compute in float32)
Runs: 512x16 and 50x64 (tokens/s), 50x1 (latency p50 over ITERS runs), and `mixed`: the
request shapes of a `floe bench --save-shapes` file, each padded to its longest (tokens/s
counts the real tokens, as floe bench does). Inputs are random ids with [CLS]/[SEP].

Exports and quantized models are cached in CACHE, keyed by the weights' hash.

Usage: cpu_peers.py MODEL_DIR --cache DIR [--shapes SHAPES.jsonl] [--quick]
                    [--engines ort/float32,...] [--runs 512x16,50x64,50x1,mixed]
"""
import argparse
import contextlib
import hashlib
import json
import os
import statistics
import sys
import time

import numpy as np

RUNS = {"512x16": (512, 16), "50x64": (50, 64), "50x1": (50, 1)}
ENGINES = ["ort/float32", "ort/int8", "openvino/float32", "openvino/bfloat16", "openvino/int8"]


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def weights_key(model):
    h = hashlib.sha256()
    with open(os.path.join(model, "model.safetensors"), "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()[:16]


def log(msg):
    print("cpu_peers: " + msg, file=sys.stderr, flush=True)


def export(model, cache):
    key = weights_key(model)
    out = os.path.join(cache, key)
    onnx = os.path.join(out, "model.onnx")
    if not os.path.exists(onnx):
        from optimum.exporters.onnx import main_export

        log(f"exporting {model} to ONNX ({out})")
        main_export(model, output=out, task="feature-extraction", opset=14, device="cpu",
                    no_post_process=True)
    return out, onnx


def ort_int8(onnx, out):
    q = os.path.join(out, "model-int8-dynamic.onnx")
    if not os.path.exists(q):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log("quantize_dynamic (per channel, QInt8 weights)")
        quantize_dynamic(onnx, q, per_channel=True, weight_type=QuantType.QInt8)
    return q


def batch(seq, n, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 20000, size=(n, seq), dtype=np.int64)
    ids[:, 0] = 101
    ids[:, -1] = 102
    return ids


def feeds(lengths, names):
    n, seq = len(lengths), max(lengths)
    ids = np.zeros((n, seq), dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    for b, length in enumerate(lengths):
        ids[b, :length] = batch(length, 1, seed=b)[0]
        mask[b, :length] = 1
    f = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {k: v for k, v in f.items() if k in names}


def ov_int8(core, onnx, out, names, calib):
    import openvino as ov

    path = os.path.join(out, "openvino-int8-nncf.xml")
    if not os.path.exists(path):
        import nncf

        log(f"nncf.quantize (static int8, {calib} calibration batches)")
        data = [feeds([128] * 4, names) for _ in range(calib)]
        for i, d in enumerate(data):
            d["input_ids"] = batch(128, 4, seed=100 + i)
        with contextlib.redirect_stdout(sys.stderr):  # its progress bars: not rows
            q = nncf.quantize(core.read_model(onnx), nncf.Dataset(data),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=calib)
        ov.save_model(q, path)
    return path


def make_runner(engine, onnx, out, threads, calib):
    """A function feeds -> outputs for `engine`, or a string saying why it cannot run."""
    kind, dtype = engine.split("/")
    if kind == "ort":
        import onnxruntime as ort

        path = onnx if dtype == "float32" else ort_int8(onnx, out)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        names = {i.name for i in sess.get_inputs()}
        return (lambda f: sess.run(None, f)), names, f"onnxruntime-{ort.__version__}"
    import openvino as ov

    core = ov.Core()
    flags = cpu_flags()
    if dtype == "bfloat16" and not ({"avx512_bf16", "amx_bf16"} & flags):
        return "the CPU has neither avx512_bf16 nor amx_bf16", None, None
    names = {i.get_any_name() for i in core.read_model(onnx).inputs}
    path = ov_int8(core, onnx, out, names, calib) if dtype == "int8" else onnx
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
              "INFERENCE_NUM_THREADS": str(threads),
              "INFERENCE_PRECISION_HINT": "bf16" if dtype == "bfloat16" else "f32"}
    compiled = core.compile_model(path, "CPU", config)
    req = compiled.create_infer_request()
    got = compiled.get_property("INFERENCE_PRECISION_HINT")
    log(f"{engine}: OpenVINO {ov.__version__} runs at precision {got}")
    return (lambda f: req.infer(f)), names, f"openvino-{ov.__version__}"


def measure(run_fn, names, run, iters, shapes):
    if run == "mixed":
        reqs = [feeds(lengths, names) for lengths in shapes]
        real = sum(sum(lengths) for lengths in shapes)
        run_fn(reqs[0])
        t0 = time.perf_counter()
        for f in reqs:
            run_fn(f)
        s = time.perf_counter() - t0
        return {"tokens_per_s": real / s, "requests": len(reqs)}
    seq, n = RUNS[run]
    f = feeds([seq] * n, names)
    run_fn(f)
    lat = []
    for _ in range(iters):
        t = time.perf_counter()
        run_fn(f)
        lat.append(time.perf_counter() - t)
    p50 = statistics.median(lat)
    return {"tokens_per_s": seq * n / p50, "p50_ms": p50 * 1000, "iters": iters, "shape": f"{seq}x{n}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--shapes", help="floe bench --save-shapes file for the mixed run")
    ap.add_argument("--quick", action="store_true", help="smoke test: 64 x 4 shapes, 2 iterations")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--runs", default="512x16,50x64,50x1,mixed")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--label", default="", help="the model's name in the rows")
    ap.add_argument("--long", type=int, default=512,
                    help="tokens per text of the long run (512x16), lower for a model whose limit is "
                         "lower (all-MiniLM-L6-v2: 256, so the run is 256x16)")
    a = ap.parse_args()
    if a.quick:
        RUNS.update({"512x16": (64, 4), "50x64": (32, 4), "50x1": (50, 1)})
        a.calib = 2
    elif a.long != 512:
        RUNS[f"{a.long}x16"] = (a.long, 16)
        a.runs = a.runs.replace("512x16", f"{a.long}x16")
    os.makedirs(a.cache, exist_ok=True)
    out, onnx = export(os.path.abspath(a.model), a.cache)
    shapes = []
    if a.shapes and os.path.exists(a.shapes):
        with open(a.shapes) as f:
            shapes = [json.loads(line)["lengths"] for line in f if line.strip()]
        if a.quick:
            shapes = [s[:4] for s in shapes[:2]]
    for engine in a.engines.split(","):
        run_fn, names, version = make_runner(engine, onnx, out, a.threads, a.calib)
        kind, dtype = engine.split("/")
        if isinstance(run_fn, str):
            print(json.dumps({"engine": kind, "dtype": dtype, "model": a.label, "skipped": run_fn}),
                  flush=True)
            continue
        for run in a.runs.split(","):
            if run == "mixed" and not shapes:
                continue
            iters = 2 if a.quick else (30 if run == "50x1" else 5)
            row = {"run": run, "engine": kind, "dtype": dtype, "model": a.label, "peer": version}
            row.update(measure(run_fn, names, run, iters, shapes))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
