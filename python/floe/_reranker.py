"""floe.Reranker: sentence-transformers' CrossEncoder `predict` / `rank` on floe's
engine (a ...ForSequenceClassification folder: Embedder::TokenizePair + Classify)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _floe

Pair = Union[Tuple[str, str], List[str]]


class Reranker:
    """A cross-encoder model folder (BertForSequenceClassification,
    XLMRobertaForSequenceClassification, ...) opened by floe's engine in this process.
    device / dtype / threads as floe.Embedder."""

    def __init__(self, model: str, device: str = "cpu", dtype: str = "float32",
                 threads: int = 0):
        self._engine = _floe.Engine(str(model), device, dtype, int(threads))
        if self._engine.task != "classify":
            raise ValueError(f"{model} is not a classifier (task {self._engine.task!r}): "
                             "floe.Reranker needs a ...ForSequenceClassification folder")

    @property
    def num_labels(self) -> int:
        return self._engine.num_labels

    @property
    def labels(self) -> List[str]:
        return list(self._engine.labels)

    @property
    def max_seq_length(self) -> int:
        return self._engine.max_seq_length

    def predict(self, sentences: Union[Pair, Sequence[Pair]], batch_size: int = 32,
                activation_fn: Optional[str] = "default", apply_softmax: bool = False,
                convert_to_numpy: bool = True):
        """Scores of (a, b) pairs, as CrossEncoder.predict: one pair gives a scalar
        (num_labels 1) or a 1-D array, a list gives (n,) or (n, num_labels).
        activation_fn: "default" = sigmoid for num_labels 1, none otherwise (as
        CrossEncoder); "sigmoid" | "identity" | None. apply_softmax: softmax over the
        labels (num_labels > 1)."""
        single = (isinstance(sentences, (tuple, list)) and len(sentences) == 2 and
                  all(isinstance(s, str) for s in sentences))
        pairs = [tuple(sentences)] if single else [tuple(p) for p in sentences]
        for i, p in enumerate(pairs):
            if len(p) != 2 or not all(isinstance(s, str) for s in p):
                raise TypeError(f"sentences[{i}] is not a pair of strings")
        logits = self._engine.classify_pairs(pairs, int(batch_size))
        if activation_fn == "default":
            activation_fn = "sigmoid" if logits.shape[1] == 1 else None
        if activation_fn == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        elif activation_fn in (None, "identity"):
            scores = logits.astype(np.float64)
        else:
            raise ValueError(f"activation_fn {activation_fn!r}: use 'default', 'sigmoid', "
                             "'identity' or None")
        if apply_softmax and scores.shape[1] > 1:
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = e / e.sum(axis=1, keepdims=True)
        scores = scores.astype(np.float32)
        if scores.shape[1] == 1:
            scores = scores[:, 0]
        if single:
            return scores[0]
        return scores if convert_to_numpy else list(scores)

    def rank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
             return_documents: bool = False, batch_size: int = 32,
             activation_fn: Optional[str] = "default") -> List[Dict[str, Any]]:
        """The documents by score for `query`, best first, as CrossEncoder.rank:
        [{"corpus_id": i, "score": s, ("text": documents[i])}, ...], top_k of them."""
        if self.num_labels != 1:
            raise ValueError(f"rank needs a model with one label, this one has "
                             f"{self.num_labels}")
        docs = list(documents)
        scores = self.predict([(query, d) for d in docs], batch_size=batch_size,
                              activation_fn=activation_fn)
        order = np.argsort(-scores, kind="stable")[:top_k]
        out = []
        for i in order:
            row: Dict[str, Any] = {"corpus_id": int(i), "score": float(scores[i])}
            if return_documents:
                row["text"] = docs[i]
            out.append(row)
        return out

    rerank = rank

    def __repr__(self) -> str:
        return (f"floe.Reranker({self._engine.path!r}, device={self._engine.device!r}, "
                f"num_labels={self.num_labels})")
