"""LlamaIndex: floe as a `llama_index.core.base.embeddings.base.BaseEmbedding`.

    from floe.llama_index import FloeEmbedding
    emb = FloeEmbedding("/models/all-MiniLM-L6-v2")           # in-process engine
    emb = FloeEmbedding("http://127.0.0.1:8080")              # or a floe server
    emb.get_text_embedding_batch(["a passage", "another"]); emb.get_query_embedding("q")

Needs llama-index-core (imported here, not by `import floe`).
"""
from __future__ import annotations

from typing import Any, List, Optional

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr

from ._source import Source


class FloeEmbedding(BaseEmbedding):
    """model_name: a model folder (in-process floe.Embedder; engine_kwargs: device,
    dtype, threads) or a server URL (http://, https://, grpc://); `engine` may pass a
    floe.Embedder or floe.Client instead. query_prompt_name / text_prompt_name: the
    model's prompts for queries / texts. normalize / dimensions: None = the model's
    defaults. embed_batch_size: texts per engine call (LlamaIndex's batching)."""

    query_prompt_name: Optional[str] = Field(default=None)
    text_prompt_name: Optional[str] = Field(default=None)
    normalize: Optional[bool] = Field(default=None)
    dimensions: Optional[int] = Field(default=None)
    _source: Source = PrivateAttr()

    def __init__(self, model_name: str = "", *, engine: Any = None,
                 embed_batch_size: int = 32, api_key: Optional[str] = None,
                 engine_kwargs: Optional[dict] = None, **kwargs: Any):
        if engine is None and not model_name:
            raise ValueError("FloeEmbedding needs model_name (a folder or URL) or engine")
        super().__init__(model_name=model_name or repr(engine),
                         embed_batch_size=embed_batch_size, **kwargs)
        self._source = Source(engine if engine is not None else model_name,
                              normalize=self.normalize, dimensions=self.dimensions,
                              batch_size=embed_batch_size, api_key=api_key,
                              **(engine_kwargs or {}))

    @classmethod
    def class_name(cls) -> str:
        return "FloeEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._source.encode([query], self.query_prompt_name)[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._source.encode([text], self.text_prompt_name)[0].tolist()

    def _get_text_embeddings(self, texts: List[str]) -> List[Embedding]:
        if not texts:
            return []
        return self._source.encode(texts, self.text_prompt_name).tolist()
