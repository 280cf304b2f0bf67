#!/usr/bin/env python3
"""Writes small valid safetensors files into seeds/safetensors/ (fuzzer corpus)."""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")


def image(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


SEEDS = {
    "empty_header": image([]),
    "one_f32": image([("w", "F32", [2, 2], f32(1, 2, 3, 4))], {"format": "pt"}),
    "mixed": image([("a", "F32", [3], f32(1, -1, 0.5)),
                    ("b", "BF16", [2, 1], b"\x80\x3f\x00\xc0"),
                    ("c", "F16", [2], b"\x00\x3c\x01\x00")], {"format": "pt"}),
    "scalar_and_empty": image([("s", "F32", [], f32(7)), ("e", "F16", [0, 4], b"")], pad=False),
    "bert_like": image([
        ("bert.embeddings.LayerNorm.weight", "F32", [4], f32(1, 1, 1, 1)),
        ("bert.embeddings.LayerNorm.bias", "F32", [4], f32(0, 0, 0, 0)),
        ("bert.encoder.layer.0.attention.self.query.weight", "BF16", [2, 2], b"\x80\x3f" * 4),
    ], {"format": "pt"}),
}

os.makedirs(OUT, exist_ok=True)
for name, blob in SEEDS.items():
    with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
        f.write(blob)
