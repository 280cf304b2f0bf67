"""LangChain: floe as a `langchain_core.embeddings.Embeddings`.

    from floe.langchain import FloeEmbeddings
    emb = FloeEmbeddings("/models/all-MiniLM-L6-v2")          # in-process engine
    emb = FloeEmbeddings("http://127.0.0.1:8080")             # or a floe server
    emb.embed_documents(["a passage", "another"]); emb.embed_query("a question")

Needs langchain-core (imported here, not by `import floe`).
"""
from __future__ import annotations

from typing import Any, List, Optional

from langchain_core.embeddings import Embeddings

from ._source import Source


class FloeEmbeddings(Embeddings):
    """model: a model folder (in-process floe.Embedder; engine_kwargs: device, dtype,
    threads), a server URL (http://, https://, grpc://), or a floe.Embedder /
    floe.Client. query_prompt_name / document_prompt_name: the model's prompts for
    embed_query / embed_documents (None: the model's default prompt). normalize /
    dimensions: None = the model's defaults."""

    def __init__(self, model: Any, *, query_prompt_name: Optional[str] = None,
                 document_prompt_name: Optional[str] = None,
                 normalize: Optional[bool] = None, dimensions: Optional[int] = None,
                 batch_size: int = 32, api_key: Optional[str] = None, **engine_kwargs):
        self._source = Source(model, normalize=normalize, dimensions=dimensions,
                              batch_size=batch_size, api_key=api_key, **engine_kwargs)
        self.query_prompt_name = query_prompt_name
        self.document_prompt_name = document_prompt_name

    def embed_documents(self, texts: List[str]) -> List[List[float]]:
        if not texts:
            return []
        return self._source.encode(texts, self.document_prompt_name).tolist()

    def embed_query(self, text: str) -> List[float]:
        return self._source.encode([text], self.query_prompt_name)[0].tolist()

    def __repr__(self) -> str:
        return f"FloeEmbeddings({self._source.name!r})"
