"""floe: a fast text-embedding engine, in-process, and a client of floe servers.

    import floe
    model = floe.Embedder("/path/to/all-MiniLM-L6-v2")
    vectors = model.encode(["first sentence", "second one"])   # (2, 384) float32

    client = floe.Client("http://127.0.0.1:8080")              # a running `floe serve`
    vectors = client.embed(["first sentence", "second one"])
    client = floe.Client("grpc://127.0.0.1:50050")             # floe.v1, or ArcticInference's

`Embedder.encode` follows sentence-transformers' `SentenceTransformer.encode`.
Integrations (imported on use): floe.langchain.FloeEmbeddings,
floe.llama_index.FloeEmbedding, floe.ray.embed_dataset.
"""
import os as _os

# Before the extension loads libgomp, which reads these once: bounded OpenMP spin-waits
# unless the user chose (src/core/openmp_env.h, the same value; docs/cpu-performance.md).
if not (_os.environ.get("GOMP_SPINCOUNT") or _os.environ.get("OMP_WAIT_POLICY")
        or _os.environ.get("FLOE_OPENMP_DEFAULTS") == "0"):
    _os.environ["GOMP_SPINCOUNT"] = "3000"

from ._client import Client, FloeError
from ._client_async import AsyncClient
from ._embedder import Embedder
from ._reranker import Reranker

__all__ = ["AsyncClient", "Client", "Embedder", "FloeError", "Reranker"]
__version__ = "0.1.0"
