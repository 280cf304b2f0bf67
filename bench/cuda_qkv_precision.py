#!/usr/bin/env python3
"""Emulates the CUDA backend's rounding points on the CPU (torch, float32
arithmetic on values rounded where the GPU rounds them) and prints, per scheme,
the smallest cosine to a float32 forward over a few hundred token sequences of
mixed lengths. Issue 17: which Q/K/V scheme holds cosine >= 0.999 on the
base-shaped random model, measured before any CUDA is written.

A product is x W^T with both operands rounded to their storage type and float32
accumulation (what cuBLASLt does with CUBLAS_COMPUTE_32F; TF32 rounds both
operands to 10 mantissa bits). What each scheme rounds, in the order the BERT
encoder runs on CUDA (src/engine/bert_encoder.cc, src/backend/cuda/):

  embeddings + LayerNorm (float32 tables, float32 statistics)  -> h: act
  Q/K/V product: x = h (act) or the LayerNorm's copy in qkv_x; W in qkv_w;
                 bias in the epilogue (float32); Q, K, V stored in qkv_y
  attention: S = Q K^T in float32, softmax in float32, P rounded to qkv_y
             when that is a half type (the tensor-core kernel's P V product;
             float32 Q/K/V run on the CUDA-core kernels, P unrounded);
             O / rowsum -> act
  attention output product (no bias) -> act (the residual scratch);
             LayerNorm(h + scratch + bias) in float32 -> h: act
  FFN in: x W^T -> act; bias + GELU in float32 (one kernel) -> act
  FFN out: as the attention output, then LayerNorm -> h: act
  pooling (CLS) of h

Schemes (--schemes, comma-separated; `all` for every one):
  bf16          today's CUDA bfloat16 (every product and activation bf16)
  f16           today's CUDA float16
  bf16_qkv_f16  bfloat16, but the Q/K/V product in float16: the LayerNorm
                writes a float16 copy of its output, float16 weights, Q/K/V
                float16, attention on float16 inputs, O rounded to bf16
  bf16_qkv_f32  bfloat16, the Q/K/V product in TF32 from a float32 copy of
                the LayerNorm's output and float32 weights, Q/K/V float32,
                attention on CUDA cores in float32
  bf16_qkv_exact  bfloat16, the Q/K/V product exact (float32 operands, CUDA
                cores), Q/K/V float32, attention float32
  bf16_qkv_tf32_f16  bfloat16, the TF32 product of bf16_qkv_f32, Q/K/V
                rounded to float16 for the tensor-core attention kernel
  f16_qkv_f32   float16 with the same float32 Q/K/V as bf16_qkv_f32
  f16_qkv_exact float16, the Q/K/V product exact (float32 operands, CUDA
                cores), Q/K/V float32, attention float32: the bound of any
                Q/K/V scheme
  bf16_act_only bfloat16 activations, every weight float32 and every product
                exact: what bf16 storage alone costs (diagnostic)
  bf16_w_only   float32 activations, every weight bf16 (diagnostic)

Usage:
  PY=$(scripts/python-env.sh test)/bin/python
  $PY bench/cuda_qkv_precision.py --model ../main/models/base --texts 200
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

SCHEMES = {
    # act, w, qkv_x, qkv_w, qkv_y
    "bf16": dict(act="bf16", w="bf16", qkv_x="act", qkv_w="bf16", qkv_y="bf16"),
    "f16": dict(act="f16", w="f16", qkv_x="act", qkv_w="f16", qkv_y="f16"),
    "bf16_qkv_f16": dict(act="bf16", w="bf16", qkv_x="f16", qkv_w="f16", qkv_y="f16"),
    "bf16_qkv_f32": dict(act="bf16", w="bf16", qkv_x="tf32", qkv_w="tf32", qkv_y="f32"),
    "bf16_qkv_exact": dict(act="bf16", w="bf16", qkv_x="f32", qkv_w="f32", qkv_y="f32"),
    "bf16_qkv_tf32_f16": dict(act="bf16", w="bf16", qkv_x="tf32", qkv_w="tf32", qkv_y="f16"),
    "f16_qkv_f32": dict(act="f16", w="f16", qkv_x="tf32", qkv_w="tf32", qkv_y="f32"),
    "f16_qkv_exact": dict(act="f16", w="f16", qkv_x="f32", qkv_w="f32", qkv_y="f32"),
    "bf16_act_only": dict(act="bf16", w="f32", qkv_x="act", qkv_w="f32", qkv_y="bf16"),
    "bf16_w_only": dict(act="f32", w="bf16", qkv_x="act", qkv_w="bf16", qkv_y="f32"),
}
TF32_ROUNDING = "rn"  # --tf32-rounding
DEFAULT_SCHEMES = "bf16,f16,bf16_qkv_f16,bf16_qkv_f32,bf16_qkv_exact,f16_qkv_f32,f16_qkv_exact"


def round_to(t, kind):
    """t (float32) rounded to `kind` and back (round to nearest even)."""
    if kind == "f32":
        return t
    if kind == "bf16":
        return t.to(torch.bfloat16).to(torch.float32)
    if kind == "f16":
        return t.to(torch.float16).to(torch.float32)
    if kind == "tf32":
        i = t.contiguous().view(torch.int32)
        if TF32_ROUNDING == "rz":  # the 13 low mantissa bits dropped
            return (i & ~0x1FFF).view(torch.float32)
        # round to nearest even on the 13 dropped mantissa bits
        lsb = (i >> 13) & 1
        i = (i + 0xFFF + lsb) & ~0x1FFF
        return i.view(torch.float32)
    raise ValueError(kind)


def load_model(model_dir):
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    raw = load_file(os.path.join(model_dir, "model.safetensors"))
    pre = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""
    w = {k[len(pre):]: torch.from_numpy(v.astype(np.float32)) for k, v in raw.items()
         if k.startswith(pre)}
    return cfg, w


class Emulator:
    """The BERT encoder with one scheme's rounding points; f32 everywhere when
    scheme is None (the reference)."""

    def __init__(self, cfg, w, scheme):
        self.cfg, self.s = cfg, scheme
        self.H, self.nh = cfg["hidden_size"], cfg["num_attention_heads"]
        self.eps = cfg["layer_norm_eps"]
        self.gelu = cfg.get("hidden_act", "gelu")
        s = scheme or dict(act="f32", w="f32", qkv_x="act", qkv_w="f32", qkv_y="f32")
        self.act = s["act"]
        self.qkv_x, self.qkv_y = s["qkv_x"], s["qkv_y"]
        rw = lambda t: round_to(t, s["w"])
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            g = lambda k: w[p + k]
            wqkv = torch.cat([g(f"attention.self.{m}.weight") for m in ("query", "key", "value")])
            bqkv = torch.cat([g(f"attention.self.{m}.bias") for m in ("query", "key", "value")])
            self.layers.append(dict(
                wqkv=round_to(wqkv, s["qkv_w"]), bqkv=bqkv,
                wo=rw(g("attention.output.dense.weight")), bo=g("attention.output.dense.bias"),
                g1=g("attention.output.LayerNorm.weight"), b1=g("attention.output.LayerNorm.bias"),
                wi=rw(g("intermediate.dense.weight")), bi=g("intermediate.dense.bias"),
                wf=rw(g("output.dense.weight")), bf=g("output.dense.bias"),
                g2=g("output.LayerNorm.weight"), b2=g("output.LayerNorm.bias")))
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.typ = w["embeddings.token_type_embeddings.weight"]
        self.eg, self.eb = w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]
        self.overflow = 0

    def r(self, t, kind=None):
        kind = self.act if kind is None else kind
        out = round_to(t, kind)
        if kind in ("f16", "bf16"):
            self.overflow += int((~torch.isfinite(out)).sum()) - int((~torch.isfinite(t)).sum())
        return out

    def ln(self, x, g, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * g + b

    def act_fn(self, x):
        if self.gelu == "gelu":
            return 0.5 * x * (1.0 + torch.erf(x * 0.7071067811865476))
        if self.gelu in ("gelu_new", "gelu_pytorch_tanh"):
            return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
        return torch.relu(x)

    def qkv_input(self, h_f32):
        """What the Q/K/V product reads: h as stored, or the LayerNorm's copy."""
        if self.qkv_x == "act":
            return self.r(h_f32)
        return self.r(h_f32, self.qkv_x)

    def forward(self, texts):
        """CLS vectors of every sequence: the products run on all tokens at
        once (packed, as the engine does), attention per sequence."""
        H, nh = self.H, self.nh
        dh = H // nh
        lengths = [len(t) for t in texts]
        starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        ids = torch.tensor([i for t in texts for i in t])
        pos = torch.cat([torch.arange(L) for L in lengths])
        e = self.word[ids] + self.pos[pos] + self.typ[0]
        h32 = self.ln(e, self.eg, self.eb)  # float32, before the store
        h = self.r(h32)
        p_kind = self.qkv_y if self.qkv_y in ("f16", "bf16") else "f32"
        for ly in self.layers:
            x = self.qkv_input(h32)
            qkv = self.r(x @ ly["wqkv"].T + ly["bqkv"], self.qkv_y)
            ctx = torch.empty(len(ids), H)
            for b, L in enumerate(lengths):
                part = qkv[starts[b]:starts[b] + L]
                q, k, v = (part[:, j * H:(j + 1) * H].reshape(L, nh, dh).transpose(0, 1)
                           for j in range(3))
                sc = (q @ k.transpose(1, 2)) * (1.0 / math.sqrt(dh))
                p = torch.exp(sc - sc.amax(-1, keepdim=True))
                rowsum = p.sum(-1, keepdim=True)
                o = (self.r(p, p_kind) @ v) / rowsum
                ctx[starts[b]:starts[b] + L] = o.transpose(0, 1).reshape(L, H)
            ctx = self.r(ctx)
            scratch = self.r(ctx @ ly["wo"].T)
            a32 = self.ln(h + scratch + ly["bo"], ly["g1"], ly["b1"])
            a = self.r(a32)
            y = self.r(a @ ly["wi"].T)
            inter = self.r(self.act_fn(y + ly["bi"]))
            scratch = self.r(inter @ ly["wf"].T)
            h32 = self.ln(a + scratch + ly["bf"], ly["g2"], ly["b2"])
            h = self.r(h32)
        return [h[s] for s in starts[:-1]]  # CLS


def make_texts(n, vocab, seed):
    """Token-id sequences ([CLS] ... [SEP]): the golden cases' lengths, then
    lengths log-uniform in 2..512."""
    rng = np.random.default_rng(seed)
    lengths = [5, 10, 26, 77, 254, 512]
    while len(lengths) < n:
        lengths.append(int(round(math.exp(rng.uniform(math.log(2), math.log(512))))))
    texts = []
    for L in lengths[:n]:
        body = rng.integers(1000, vocab, size=max(L - 2, 0)).tolist()
        texts.append(([101] + body + [102])[:L] if L >= 2 else [101])
    return texts


def cosine(a, b):
    a, b = a.double(), b.double()
    return float((a @ b) / (a.norm() * b.norm()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--model", default="models/base",
                    help="model folder (bertref.py make DIR --preset base)")
    ap.add_argument("--texts", type=int, default=200, help="sequences (default 200)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--schemes", default=DEFAULT_SCHEMES,
                    help=f"comma-separated, or all (default {DEFAULT_SCHEMES})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tf32-rounding", choices=["rn", "rz"], default="rn",
                    help="how float32 operands become TF32: to nearest (rn, default) or "
                         "toward zero (rz: the low bits ignored)")
    ap.add_argument("--json", action="store_true", help="one JSON line per scheme")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    global TF32_ROUNDING
    TF32_ROUNDING = a.tf32_rounding
    names = list(SCHEMES) if a.schemes == "all" else a.schemes.split(",")
    for nme in names:
        if nme not in SCHEMES:
            sys.exit(f"unknown scheme {nme}; known: {', '.join(SCHEMES)}")
    cfg, w = load_model(a.model)
    texts = make_texts(a.texts, cfg["vocab_size"], a.seed)
    tokens = sum(len(t) for t in texts)
    print(f"# {a.model}: {cfg['num_hidden_layers']} layers, D {cfg['hidden_size']}, "
          f"{len(texts)} sequences, {tokens} tokens (lengths {min(map(len, texts))}-"
          f"{max(map(len, texts))}), cosine of the CLS vector to float32", flush=True)
    with torch.no_grad():
        t0 = time.time()
        ref_model = Emulator(cfg, w, None)
        ref = ref_model.forward(texts)
        print(f"# float32 reference: {time.time() - t0:.0f} s", flush=True)
        if not a.json:
            print("| scheme | min cos | min <= 64 | min 65-256 | min 257-512 | mean 1-cos "
                  "| worst length | half overflows |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for nme in names:
            em = Emulator(cfg, w, SCHEMES[nme])
            t0 = time.time()
            cos = [cosine(v, r) for v, r in zip(em.forward(texts), ref)]
            band = lambda lo, hi: min([c for c, t in zip(cos, texts) if lo <= len(t) <= hi],
                                      default=float("nan"))
            worst = int(np.argmin(cos))
            row = dict(scheme=nme, min_cos=min(cos), min_le64=band(1, 64),
                       min_65_256=band(65, 256), min_257_512=band(257, 512),
                       mean_one_minus_cos=float(np.mean([1 - c for c in cos])),
                       worst_length=len(texts[worst]), half_overflows=em.overflow)
            if a.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"| {nme} | {row['min_cos']:.5f} | {row['min_le64']:.5f} | "
                      f"{row['min_65_256']:.5f} | {row['min_257_512']:.5f} | "
                      f"{row['mean_one_minus_cos']:.2e} | {row['worst_length']} | "
                      f"{row['half_overflows']} |  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
