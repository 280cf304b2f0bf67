#!/usr/bin/env python3
"""floe against ONNX Runtime on one random-weight model per architecture, in the same run.

  $(scripts/python-env.sh peers)/bin/python bench/arch_ort_bench.py FLOE_BINARY \
      --arch nomic_bert|new|qwen3|modernbert [--layers N] [--lengths 512,4096] [--batch16]

Makes, in a temporary folder, a model of the architecture's published shape with LAYERS
layers (default 4) and random weights, with the tokenizer and pooling of its tiny fixture
(tests/data/models):
  nomic_bert  nomic-embed-text-v1.5 (768, 12 heads, SwiGLU 3072, rotary base 1000), mean
  new         gte-multilingual-base (768, 12 heads, GeGLU 3072, rope 160000 NTK x8), CLS
  qwen3       Qwen3-Embedding-0.6B (1024, 16 heads / 8 KV heads of 128, SwiGLU 3072,
              q/k RMSNorm, rope 1e6, causal), last token
  modernbert  bench/modernbert_ort_bench.py's model (ModernBERT-base), mean
NomicBERT and GTE "new" are remote code on the Hub, not in transformers: their safetensors
(the names floe reads) are random, and a torch float32 port of tests/real/nomic_gte_ref.py's
float64 reference (below) is exported. Qwen3 is transformers' Qwen3Model (eager attention),
ModernBERT transformers' ModernBertModel. Export with torch.onnx (opset 17, tracing). Then,
for each length, one sequence of random ids (and, with --batch16, 16 of 512): floe serve's
POST /v1/embeddings with the ids (HTTP included) against ONNX Runtime's InferenceSession.run
(all cores) plus the pooling in numpy; floe's vector must have cosine >= 0.9999 with ORT's
before anything is timed; median of 3 after a warm-up. Prints one line per length.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import onnxruntime as ort
import torch
import transformers
from safetensors.numpy import load_file, save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "tests", "data", "models")
sys.path.insert(0, HERE)
import modernbert_ort_bench  # noqa: E402  (its make() and median_s())

# Published shapes: config.json overrides of each tiny fixture, and how the fixture's tensor
# dimensions map to the published ones (the vocabulary stays the fixture tokenizer's).
SHAPES = {
    "nomic_bert": ("nomic-bert-tiny", lambda L: {"n_embd": 768, "n_head": 12, "n_inner": 3072,
                                                 "n_layer": L},
                   {32: 768, 96: 2304, 256: 3072}),
    "new": ("gte-tiny", lambda L: {"hidden_size": 768, "num_attention_heads": 12,
                                   "intermediate_size": 3072, "num_hidden_layers": L},
            {32: 768, 96: 2304, 64: 3072, 128: 6144}),
}
LAYER = {"nomic_bert": "encoder.layers.%d.", "new": "encoder.layer.%d."}


def copy_fixture(tiny, folder, dim):
    """Tokenizer, modules and pooling of the fixture; the pooling's dimension set to dim."""
    os.makedirs(os.path.join(folder, "1_Pooling"), exist_ok=True)
    for fn in os.listdir(tiny):
        if fn.endswith(".json") and fn != "config.json":
            shutil.copy(os.path.join(tiny, fn), folder)
    with open(os.path.join(tiny, "1_Pooling", "config.json")) as f:
        pool = json.load(f)
    pool["word_embedding_dimension"] = dim
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump(pool, f)
    return ("cls" if pool["pooling_mode_cls_token"] else
            "last" if pool.get("pooling_mode_lasttoken") else "mean")


def random_weights(arch, layers, folder):
    """The fixture's tensor names, layer 0's repeated, at the published dimensions."""
    tiny_name, overrides, dims = SHAPES[arch]
    tiny = os.path.join(MODELS, tiny_name)
    with open(os.path.join(tiny, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(overrides(layers))
    small = load_file(os.path.join(tiny, "model.safetensors"))
    rng = np.random.default_rng(0)
    prefix0 = LAYER[arch] % 0
    w = {}
    for name, t in small.items():
        if ".%d." % 0 not in name and LAYER[arch].split("%")[0] in name:
            continue  # layers other than 0
        names = [name.replace(prefix0, LAYER[arch] % i) for i in range(layers)] \
            if prefix0 in name else [name]
        shape = tuple(dims.get(d, d) for d in t.shape)
        for n in names:
            if n.endswith("bias"):
                w[n] = (0.02 * rng.standard_normal(shape)).astype(np.float32)
            elif len(shape) == 1:  # LayerNorm gains
                w[n] = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
            else:
                w[n] = (0.05 * rng.standard_normal(shape)).astype(np.float32)
    os.makedirs(folder, exist_ok=True)
    save_file(w, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return cfg, w, copy_fixture(tiny, folder, w[[k for k in w if "word_embeddings" in k][0]].shape[1])


def rotate(x, freqs):
    """x: [B, heads, T, head]; rotate_half over the first 2 * len(freqs) dims."""
    T = x.shape[2]
    ang = torch.arange(T, dtype=torch.float32)[:, None] * freqs[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    r = 2 * freqs.shape[0]
    a, b, rest = x[..., : r // 2], x[..., r // 2: r], x[..., r:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin, rest], dim=-1)


class RotaryEncoder(nn.Module):
    """torch float32 port of nomic_gte_ref.nomic_hidden / gte_hidden (post-norm blocks:
    LayerNorm(h + attn(h)), LayerNorm(h + gated FFN(h)), rotary Q and K), with a key
    padding mask for batches."""

    def __init__(self, arch, cfg, w):
        super().__init__()
        self.arch = arch
        t = {k: torch.from_numpy(v) for k, v in w.items()}
        self.w = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v, requires_grad=False)
                                   for k, v in t.items()})
        if arch == "nomic_bert":
            self.D, self.H = cfg["n_embd"], cfg["n_head"]
            self.L, self.eps = cfg["n_layer"], cfg.get("layer_norm_epsilon", 1e-5)
            hd = self.D // self.H
            rot = int(hd * cfg["rotary_emb_fraction"])
            assert not cfg.get("rotary_emb_interleaved") and not cfg.get("rotary_scaling_factor")
            base = float(cfg.get("rotary_emb_base", 10000))
            freqs = 1.0 / base ** (np.arange(0, rot, 2, dtype=np.float64) / rot)
            self.act = nn.functional.silu
        else:
            self.D, self.H = cfg["hidden_size"], cfg["num_attention_heads"]
            self.L, self.eps = cfg["num_hidden_layers"], cfg.get("layer_norm_eps", 1e-12)
            self.I = cfg["intermediate_size"]
            hd = self.D // self.H
            theta = float(cfg.get("rope_theta", 10000.0))
            rs = cfg.get("rope_scaling")
            f = float(rs["factor"]) if rs else 1.0
            freqs = 1.0 / (theta * f) ** (np.arange(0, hd, 2, dtype=np.float64) / hd) \
                / f ** (2.0 / hd)
            assert cfg.get("pack_qkv", True)
            self.act = {"gelu": nn.functional.gelu, "silu": nn.functional.silu,
                        "swish": nn.functional.silu}[cfg.get("hidden_act", "gelu")]
        self.hd = hd
        self.register_buffer("freqs", torch.tensor(freqs, dtype=torch.float32))

    def p(self, name):
        return self.w[name.replace(".", "_")] if name.replace(".", "_") in self.w else None

    def lin(self, x, name):
        return nn.functional.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def ln(self, x, name):
        return nn.functional.layer_norm(x, (self.D,), self.p(name + ".weight"),
                                        self.p(name + ".bias"), self.eps)

    def attend(self, qkv, bias):
        B, T = qkv.shape[0], qkv.shape[1]
        q, k, v = qkv.view(B, T, 3, self.H, self.hd).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, self.freqs), rotate(k, self.freqs)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hd) + bias
        return (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, self.D)

    def forward(self, input_ids, attention_mask):
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -1e9
        x = nn.functional.embedding(input_ids, self.p("embeddings.word_embeddings.weight"))
        tt = self.p("embeddings.token_type_embeddings.weight")
        if tt is not None:
            x = x + tt[0]
        x = self.ln(x, "emb_ln" if self.arch == "nomic_bert" else "embeddings.LayerNorm")
        for i in range(self.L):
            if self.arch == "nomic_bert":
                p = "encoder.layers.%d." % i
                a = self.lin(self.attend(self.lin(x, p + "attn.Wqkv"), bias), p + "attn.out_proj")
                x = self.ln(x + a, p + "norm1")
                m = self.lin(self.lin(x, p + "mlp.fc11") * self.act(self.lin(x, p + "mlp.fc12")),
                             p + "mlp.fc2")
                x = self.ln(x + m, p + "norm2")
            else:
                p = "encoder.layer.%d." % i
                a = self.lin(self.attend(self.lin(x, p + "attention.qkv_proj"), bias),
                             p + "attention.o_proj")
                x = self.ln(x + a, p + "attn_ln")
                ug = self.lin(x, p + "mlp.up_gate_proj")
                m = self.lin(self.act(ug[..., self.I:]) * ug[..., : self.I], p + "mlp.down_proj")
                x = self.ln(x + m, p + "mlp_ln")
        return x


def make_qwen3(folder, layers):
    tiny = os.path.join(MODELS, "qwen3-tiny")
    with open(os.path.join(tiny, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    config = transformers.Qwen3Config(
        vocab_size=vocab, hidden_size=1024, intermediate_size=3072, num_hidden_layers=layers,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, rope_theta=1000000.0,
        rms_norm_eps=1e-6, max_position_embeddings=32768, tie_word_embeddings=True,
        use_sliding_window=False, bos_token_id=0, eos_token_id=0)
    config._attn_implementation = "eager"
    config.use_cache = False
    torch.manual_seed(0)
    model = transformers.Qwen3Model(config).eval()
    with torch.no_grad():  # transformers' init leaves the norms at 1: perturb them
        for n, prm in model.named_parameters():
            if "norm" in n:
                prm.add_(0.1 * torch.randn_like(prm))
    model.save_pretrained(folder, safe_serialization=True)
    return model, copy_fixture(tiny, folder, 1024)


class LastHidden(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        # A 4-D additive causal mask passes through transformers' mask builder untouched
        # (its vmap-based builder does not trace).
        T = input_ids.shape[1]
        pos = torch.arange(T)
        keep = (pos[None, :] <= pos[:, None])[None, None] & attention_mask[:, None, None, :].bool()
        mask = torch.where(keep, 0.0, torch.finfo(torch.float32).min)
        return self.model(input_ids=input_ids, attention_mask=mask,
                          use_cache=False).last_hidden_state


def export(module, onnx_path, vocab):
    ids = torch.randint(4, vocab, (1, 256))
    with torch.no_grad():
        torch.onnx.export(module, (ids, torch.ones_like(ids)), onnx_path,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={"input_ids": {0: "b", 1: "t"},
                                        "attention_mask": {0: "b", 1: "t"},
                                        "last_hidden_state": {0: "b", 1: "t"}},
                          dynamo=False)


def build(arch, folder, layers):
    """The floe folder in `folder`, model.onnx beside it; returns (onnx path, pooling, vocab)."""
    onnx_path = os.path.join(os.path.dirname(folder), "model.onnx")
    if arch == "modernbert":
        model, path = modernbert_ort_bench.make(folder, layers)
        shutil.move(path, onnx_path)
        return onnx_path, "mean", 700
    if arch == "qwen3":
        model, pooling = make_qwen3(folder, layers)
        export(LastHidden(model), onnx_path, model.config.vocab_size)
        return onnx_path, pooling, model.config.vocab_size
    cfg, w, pooling = random_weights(arch, layers, folder)
    vocab = w["embeddings.word_embeddings.weight"].shape[0]
    export(RotaryEncoder(arch, cfg, w).eval(), onnx_path, min(vocab, cfg["vocab_size"]))
    return onnx_path, pooling, min(vocab, cfg["vocab_size"])


def pool(h, pooling):
    """h: [B, T, D] of unpadded sequences -> [B, D]."""
    return h[:, 0] if pooling == "cls" else h[:, -1] if pooling == "last" else h.mean(axis=1)


def cpu_line():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    name = next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name"))
    flags = next(l.split(":", 1)[1].split() for l in text.splitlines() if l.startswith("flags"))
    feats = [f for f in flags if f.startswith(("avx512f", "avx512_bf16", "avx512_vnni", "amx"))]
    return f"{name} ({', '.join(feats) or 'no avx512'}; {os.cpu_count()} cores)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("floe")
    ap.add_argument("--arch", required=True, choices=["nomic_bert", "new", "qwen3", "modernbert"])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--lengths", default="512,4096")
    ap.add_argument("--batch16", action="store_true", help="also 16 sequences of 512")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    floe = os.path.abspath(args.floe)
    print(cpu_line(), flush=True)
    work = tempfile.mkdtemp(prefix="arch-bench-")
    try:
        folder = os.path.join(work, "model")
        onnx_path, pooling, vocab = build(args.arch, folder, args.layers)
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        port = 19000 + os.getpid() % 1000
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
                    if p.poll() is not None:
                        sys.exit("floe serve exited: " + open(log.name).read()[-2000:])
                    time.sleep(0.2)
            rng = np.random.default_rng(0)
            shapes = [(1, int(n)) for n in args.lengths.split(",")]
            if args.batch16:
                shapes.append((16, 512))
            for b, n in shapes:
                ids = rng.integers(4, vocab, size=(b, n)).astype(np.int64)
                feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                ort_out = pool(sess.run(None, feeds)[0], pooling)
                body = json.dumps({"input": ids.tolist(), "normalize": False}).encode()

                def floe_call():
                    req = urllib.request.Request(url + "/v1/embeddings", data=body,
                                                 headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=1200) as r:
                        return [d["embedding"] for d in json.loads(r.read())["data"]]
                v = np.asarray(floe_call())
                c = float(np.min(np.sum(v * ort_out, axis=1) / np.linalg.norm(v, axis=1)
                                 / np.linalg.norm(ort_out, axis=1)))
                if not c >= 0.9999:
                    sys.exit(f"{args.arch} {b} x {n}: cosine floe vs ORT {c:.6f} < 0.9999")
                t_ort = modernbert_ort_bench.median_s(lambda: sess.run(None, feeds), args.reps)
                t_floe = modernbert_ort_bench.median_s(floe_call, args.reps)
                load = os.getloadavg()[0]
                print(f"{args.arch}, {args.layers} layers, {b} x {n} tokens: floe "
                      f"{t_floe * 1000:.0f} ms, ONNX Runtime {ort.__version__} "
                      f"{t_ort * 1000:.0f} ms: floe / ORT time {t_floe / t_ort:.2f} "
                      f"(min cosine {c:.7f}, load average {load:.1f})", flush=True)
        finally:
            p.terminate()
            p.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
