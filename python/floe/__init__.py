"""floe: a fast text-embedding engine, in-process.

    import floe
    model = floe.Embedder("/path/to/all-MiniLM-L6-v2")
    vectors = model.encode(["first sentence", "second one"])   # (2, 384) float32

`Embedder.encode` follows sentence-transformers' `SentenceTransformer.encode`.
"""
from ._embedder import Embedder

__all__ = ["Embedder"]
__version__ = "0.1.0"
