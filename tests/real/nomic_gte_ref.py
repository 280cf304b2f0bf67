"""Float64 numpy references of NomicBERT (model_type nomic_bert) and GTE "new"
(model_type new), written from the published remote code (nomic-ai's
modeling_hf_nomic_bert.py, Alibaba-NLP/new-impl's modeling.py) and independent
of floe: they read a folder's config.json and model.safetensors and run one
sequence of token ids (no padding: what the remote code computes for a batch
of one).

  NomicBERT: word + token type 0 embeddings, emb_ln, then per block (post-norm)
    h = norm1(h + out_proj(attn(Wqkv h)))   rotary on Q, K (base rotary_emb_base,
                                            rotate_half or interleaved pairs,
                                            the first head_dim * fraction dims)
    h = norm2(h + fc2(fc11 h * silu(fc12 h)))
    Dynamic NTK (rotary_scaling_factor): a sequence of n > max_trained_positions
    tokens uses base * (f n / trained - (f - 1)) ** (dim / (dim - 2)).
  GTE new: word (+ token type 0) embeddings, LayerNorm, then per layer
    h = attn_ln(h + o_proj(attn(qkv_proj h)))   rotary over the whole head,
                                                rotate_half, theta rope_theta;
                                                rope_scaling ntk: inv_freq =
                                                (theta f) ** (-2i / d) / f ** (2 / d)
    h = mlp_ln(h + down_proj(act(gate) * up)),  [up | gate] = up_gate_proj h

check_against_transformers() compares the rotary, the gated FFNs and the
dynamic NTK base with transformers' own implementations (Llama's
apply_rotary_pos_emb, LlamaMLP, modeling_rope_utils' dynamic parameters).
"""
import json
import math
import os

import numpy as np
from safetensors.numpy import load_file


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    return cfg, w


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def inv_freq(dim, base):
    return 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)


def rotate(x, freqs, interleaved=False):
    """x: [L, heads, head]; the first 2 * len(freqs) columns rotate by pos * freqs."""
    L = x.shape[0]
    r = 2 * len(freqs)
    ang = np.outer(np.arange(L, dtype=np.float64), freqs)  # [L, r/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    xr, rest = x[..., :r], x[..., r:]
    if interleaved:
        a, b = xr[..., 0::2], xr[..., 1::2]
        out = np.empty_like(xr)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = b * cos + a * sin
    else:
        a, b = xr[..., : r // 2], xr[..., r // 2:]
        out = np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)
    return np.concatenate([out, rest], axis=-1)


def attention(q, k, v):
    """q, k, v: [L, heads, head] -> [L, heads * head]."""
    L, H, d = q.shape
    s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(d)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p = p / p.sum(-1, keepdims=True)
    return np.einsum("hij,jhd->ihd", p, v).reshape(L, H * d)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def nomic_dynamic_base(cfg, n):
    base = float(cfg.get("rotary_emb_base", 10000))
    f = cfg.get("rotary_scaling_factor")
    trained = cfg.get("max_trained_positions", 2048)
    if not f or n <= trained:
        return base
    dim = cfg["n_embd"] // cfg["n_head"] * cfg.get("rotary_emb_fraction", 0.0)
    return base * ((f * n / trained) - (f - 1)) ** (dim / (dim - 2))


def nomic_hidden(cfg, w, ids):
    D, H = cfg["n_embd"], cfg["n_head"]
    hd = D // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    ids = np.asarray(ids)
    x = w["embeddings.word_embeddings.weight"][ids]
    if cfg.get("type_vocab_size", 2) > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["emb_ln.weight"], w["emb_ln.bias"], eps)
    rot = int(hd * cfg["rotary_emb_fraction"])
    freqs = inv_freq(rot, nomic_dynamic_base(cfg, len(ids)))
    inter = cfg.get("rotary_emb_interleaved", False)
    for i in range(cfg["n_layer"]):
        p = "encoder.layers.%d." % i
        g = w.get
        qkv = linear(x, w[p + "attn.Wqkv.weight"], g(p + "attn.Wqkv.bias")).reshape(len(ids), 3, H, hd)
        q, k = rotate(qkv[:, 0], freqs, inter), rotate(qkv[:, 1], freqs, inter)
        a = linear(attention(q, k, qkv[:, 2]), w[p + "attn.out_proj.weight"], g(p + "attn.out_proj.bias"))
        x = layer_norm(x + a, w[p + "norm1.weight"], w[p + "norm1.bias"], eps)
        up = linear(x, w[p + "mlp.fc11.weight"], g(p + "mlp.fc11.bias"))
        gate = linear(x, w[p + "mlp.fc12.weight"], g(p + "mlp.fc12.bias"))
        m = linear(up * silu(gate), w[p + "mlp.fc2.weight"], g(p + "mlp.fc2.bias"))
        x = layer_norm(x + m, w[p + "norm2.weight"], w[p + "norm2.bias"], eps)
    return x


def gte_freqs(cfg):
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    theta = float(cfg.get("rope_theta", 10000.0))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv_freq(d, theta)
    f = float(rs["factor"])
    return inv_freq(d, theta * f) / f ** (2.0 / d)


def gte_hidden(cfg, w, ids):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, I = D // H, cfg["intermediate_size"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    act = {"gelu": gelu, "silu": silu, "swish": silu}[cfg.get("hidden_act", "gelu")]
    ids = np.asarray(ids)
    x = w["embeddings.word_embeddings.weight"][ids]
    if cfg.get("type_vocab_size", 1) > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    freqs = gte_freqs(cfg)
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        if cfg.get("pack_qkv", True):
            qkv = linear(x, w[p + "attention.qkv_proj.weight"], w[p + "attention.qkv_proj.bias"])
            q, k, v = np.split(qkv, 3, axis=-1)
        else:
            q, k, v = (linear(x, w[p + "attention.%s_proj.weight" % n],
                              w[p + "attention.%s_proj.bias" % n]) for n in "qkv")
        q, k, v = (t.reshape(len(ids), H, hd) for t in (q, k, v))
        a = linear(attention(rotate(q, freqs), rotate(k, freqs), v),
                   w[p + "attention.o_proj.weight"], w[p + "attention.o_proj.bias"])
        x = layer_norm(x + a, w[p + "attn_ln.weight"], w[p + "attn_ln.bias"], eps)
        ug = linear(x, w[p + "mlp.up_gate_proj.weight"])
        up, gate = ug[:, :I], ug[:, I:]
        m = linear(act(gate) * up, w[p + "mlp.down_proj.weight"], w[p + "mlp.down_proj.bias"])
        x = layer_norm(x + m, w[p + "mlp_ln.weight"], w[p + "mlp_ln.bias"], eps)
    return x


def embed(folder_model, ids, pooling):
    cfg, w = folder_model
    h = (nomic_hidden if cfg["model_type"] == "nomic_bert" else gte_hidden)(cfg, w, ids)
    return h[0] if pooling == "cls" else h.mean(0)


def check_against_transformers():
    """Max abs differences of this module's pieces to transformers' (float64)."""
    import torch
    from transformers import LlamaConfig
    from transformers import modeling_rope_utils
    from transformers.models.llama import modeling_llama as ml

    rng = np.random.default_rng(3)
    out = {}
    # Rotary (rotate_half over the whole head), as Llama applies it.
    L, H, d = 7, 3, 16
    q, k = rng.standard_normal((L, H, d)), rng.standard_normal((L, H, d))
    fr = inv_freq(d, 1000.0)
    emb = np.concatenate([np.outer(np.arange(L), fr)] * 2, axis=-1)
    cos, sin = torch.tensor(np.cos(emb))[None], torch.tensor(np.sin(emb))[None]
    tq, tk = ml.apply_rotary_pos_emb(torch.tensor(q).transpose(0, 1)[None],
                                     torch.tensor(k).transpose(0, 1)[None], cos, sin)
    out["rotary"] = max(np.abs(tq[0].transpose(0, 1).numpy() - rotate(q, fr)).max(),
                        np.abs(tk[0].transpose(0, 1).numpy() - rotate(k, fr)).max())
    # Gated FFNs: down(act(gate x) * up x), SwiGLU (NomicBERT) and GeGLU (GTE).
    D, I = 8, 12
    x = rng.standard_normal((5, D))
    wg, wu, wd = rng.standard_normal((I, D)), rng.standard_normal((I, D)), rng.standard_normal((D, I))
    for act, fn in (("silu", silu), ("gelu", gelu)):
        mlp = ml.LlamaMLP(LlamaConfig(hidden_size=D, intermediate_size=I, hidden_act=act,
                                   num_attention_heads=2, num_key_value_heads=2)).double()
        with torch.no_grad():
            mlp.gate_proj.weight.copy_(torch.tensor(wg))
            mlp.up_proj.weight.copy_(torch.tensor(wu))
            mlp.down_proj.weight.copy_(torch.tensor(wd))
            t = mlp(torch.tensor(x)).numpy()
        out["mlp_" + act] = np.abs(t - linear(fn(linear(x, wg)) * linear(x, wu), wd)).max()
    # Dynamic NTK: NomicBERT's base formula is transformers' "dynamic" rope.
    cfg = LlamaConfig(hidden_size=64, num_attention_heads=2, max_position_embeddings=512,
                      rope_parameters={"rope_type": "dynamic", "rope_theta": 1000.0,
                                       "factor": 2.0})
    t_inv, _ = modeling_rope_utils._compute_dynamic_ntk_parameters(cfg, seq_len=1500)
    mine = inv_freq(32, nomic_dynamic_base(
        {"rotary_emb_base": 1000.0, "rotary_scaling_factor": 2.0, "max_trained_positions": 512,
         "n_embd": 64, "n_head": 2, "rotary_emb_fraction": 1.0}, 1500))
    out["dynamic_ntk"] = np.abs(t_inv.double().numpy() / mine - 1).max()
    return out
