"""floe.Embedder: sentence-transformers' `encode` on floe's C++ engine (floe._floe)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

from . import _floe


class Embedder:
    """A model folder (Hugging Face layout, as sentence-transformers saves it) opened
    by floe's engine in this process.

    model: the folder's path. device: "cpu" | "cuda" | "cuda:N" (CUDA builds only).
    dtype: "float32" | "float16" | "bfloat16" | "int8". threads: CPU threads, 0 = all.
    Thread-safe: calls from several threads are serialized on the engine, and the GIL
    is released while it computes.
    """

    def __init__(self, model: str, device: str = "cpu", dtype: str = "float32",
                 threads: int = 0):
        self._engine = _floe.Engine(str(model), device, dtype, int(threads))

    @property
    def dimension(self) -> int:
        """Full embedding dimension (sentence-transformers:
        get_sentence_embedding_dimension())."""
        return self._engine.dimension

    def get_sentence_embedding_dimension(self) -> int:
        return self._engine.dimension

    @property
    def max_seq_length(self) -> int:
        """Tokens per input, special tokens included; longer input is truncated."""
        return self._engine.max_seq_length

    @property
    def prompt_names(self) -> List[str]:
        return list(self._engine.prompt_names)

    @property
    def device(self) -> str:
        return self._engine.device

    def encode(self, sentences: Union[str, Sequence[str]], batch_size: int = 32,
               prompt_name: Optional[str] = None,
               normalize_embeddings: Optional[bool] = None,
               truncate_dim: Optional[int] = None, convert_to_numpy: bool = True,
               show_progress_bar: bool = False,
               output_value: str = "sentence_embedding"):
        """Embeds one string (a 1-D float32 array) or a list of strings (a 2-D float32
        array, row i for sentence i).

        prompt_name: one of the folder's prompts (config_sentence_transformers.json),
        prepended to each sentence; None = the folder's default prompt, if any.
        normalize_embeddings: None = what the folder says (its Normalize module);
        True = L2-normalize the final vector (after truncate_dim); False = raw pooled.
        truncate_dim: keep the first N dimensions (Matryoshka models).
        convert_to_numpy: False gives a list of 1-D arrays (floe has no torch tensors).
        output_value: "sentence_embedding" (the pooled vectors above) or
        "token_embeddings", as sentence-transformers: for each sentence a (tokens,
        dimension) float32 array of the encoder's last hidden state, every token
        (special tokens and the prompt's included), not pooled or normalized (one
        array for a string, a list of arrays for a list; normalize_embeddings,
        truncate_dim and convert_to_numpy do not apply, as there).
        """
        if normalize_embeddings is None:
            normalize = -1
        else:
            normalize = 1 if normalize_embeddings else 0
        if truncate_dim is not None and int(truncate_dim) < 1:
            raise ValueError(f"truncate_dim must be >= 1, got {truncate_dim}")
        single = isinstance(sentences, str)
        if single and output_value == "sentence_embedding" and not show_progress_bar:
            # One string: the extension's 1-D array, the engine's own vector (no batch
            # loop, no (1, d) matrix to slice).
            if batch_size < 1:
                raise ValueError("batch_size must be >= 1")
            return self._engine.encode_one(sentences, prompt_name or "", normalize,
                                           int(truncate_dim or 0))
        if output_value not in ("sentence_embedding", "token_embeddings"):
            raise ValueError(f"output_value must be 'sentence_embedding' or "
                             f"'token_embeddings', got {output_value!r}")
        texts = [sentences] if single else sentences
        if not isinstance(texts, list):
            texts = list(texts)
        bar = None
        progress = None
        if show_progress_bar:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # no tqdm: no bar
                tqdm = None
            if tqdm is not None:
                bar = tqdm(total=len(texts), desc="Batches", unit="sentence")
                progress = bar.update
        try:
            if output_value == "token_embeddings":
                matrices = self._engine.encode_tokens(texts, int(batch_size),
                                                      prompt_name or "", progress)
                return matrices[0] if single else matrices
            matrix = self._engine.encode(texts, int(batch_size), prompt_name or "",
                                         normalize, int(truncate_dim or 0), progress)
        finally:
            if bar is not None:
                bar.close()
        if single:
            return matrix[0]
        if not convert_to_numpy:
            return list(matrix)
        return matrix

    def tokenize(self, texts: Union[str, Sequence[str]],
                 prompt_name: Optional[str] = None) -> List[List[int]]:
        """Token ids, special tokens included, truncated to max_seq_length (the prompt,
        if named, prepended): one list for a string, a list of lists for a list."""
        if isinstance(texts, str):
            return self._engine.tokenize([texts], prompt_name or "")[0]
        return self._engine.tokenize(list(texts), prompt_name or "")

    def __repr__(self) -> str:
        return (f"floe.Embedder({self._engine.path!r}, device={self._engine.device!r}, "
                f"dtype={self._engine.dtype!r}, dimension={self.dimension})")
