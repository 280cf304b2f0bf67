"""What the integrations embed with: an in-process floe.Embedder or a floe.Client."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np


def is_url(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(("http://", "https://", "grpc://"))


class Source:
    """model: a floe.Embedder, a floe.Client, a server URL (http://, https://, grpc://:
    a floe.Client) or a model folder (a floe.Embedder opened with engine_kwargs:
    device, dtype, threads). encode(texts, prompt_name) gives an (n, d) float32 array
    with the given normalize / dimensions (None: the model's defaults)."""

    def __init__(self, model: Any, normalize: Optional[bool] = None,
                 dimensions: Optional[int] = None, batch_size: int = 32,
                 api_key: Optional[str] = None, **engine_kwargs):
        from ._client import Client
        from ._embedder import Embedder
        if isinstance(model, (Embedder, Client)):
            self.impl = model
        elif is_url(model):
            self.impl = Client(model, api_key=api_key, batch_size=batch_size)
        else:
            self.impl = Embedder(str(model), **engine_kwargs)
        self.remote = isinstance(self.impl, Client)
        self.normalize = normalize
        self.dimensions = dimensions
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return self.impl.url if self.remote else self.impl._engine.path

    def encode(self, texts: Sequence[str], prompt_name: Optional[str] = None) -> np.ndarray:
        texts = list(texts)
        if self.remote:
            return self.impl.embed(texts, dimensions=self.dimensions,
                                   normalize=self.normalize, prompt_name=prompt_name)
        return self.impl.encode(texts, batch_size=self.batch_size, prompt_name=prompt_name,
                                normalize_embeddings=self.normalize,
                                truncate_dim=self.dimensions)
