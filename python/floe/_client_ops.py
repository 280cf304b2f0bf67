"""What floe.Client and floe.AsyncClient do, written once for both (no I/O here).

Each public operation of `Api` is a generator: it yields a `Call` (or a list of
independent Calls, which AsyncClient sends concurrently) and is sent back each Call's
parsed answer; a failed call is thrown into it as FloeError. Client drives these
generators with blocking transports (_client.py), AsyncClient with asyncio ones
(_client_async.py), so both send the same requests, give the same results and raise
the same errors. The requests themselves: _client_protocols.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._client_protocols import (PROTOCOLS, Arctic, FloeError, FloeV1, Http, Texts, as_list,
                                stubs)


class Api:
    """The operations of floe.Client / floe.AsyncClient as generators of Calls (see the
    module's docstring). protocol: an Http, FloeV1 or Arctic, or None for gRPC's "auto":
    the first call asks floe.v1's Info and uses floe.v1 when the server has it (a floe
    server), ArcticInference's service when it answers UNIMPLEMENTED (an
    ArcticInference server)."""

    def __init__(self, protocol, model: Optional[str], batch_size: int):
        self.protocol = protocol
        self.model = model
        self.batch_size = batch_size
        self.limits: Optional[Dict[str, Any]] = None  # the last info(): dimension, limits

    def _resolve(self):
        if self.protocol is None:
            floe = FloeV1()
            try:
                info = yield floe.info()
            except FloeError as e:
                if e.code != "UNIMPLEMENTED":
                    raise
                self.protocol = Arctic()
            else:
                info["protocol"] = floe.name
                self.protocol, self.limits = floe, info
        return self.protocol

    def _info(self):
        p = yield from self._resolve()
        if isinstance(p, Arctic):
            info, probe = yield [p.replica_info(), p.embed(["floe"], self.model, None, None, None)]
            info["dimension"] = int(probe.shape[1])
        else:
            info = yield p.info()
        info["protocol"] = p.name
        self.limits = info
        return info

    def _limits(self):
        if self.limits is None:
            yield from self._info()
        return self.limits

    def _chunks(self, items: List[str], size: int):
        return [items[i:i + size] for i in range(0, len(items), size)]

    def info(self):
        return (yield from self._info())

    def embed(self, texts: Texts, dimensions=None, normalize=None, prompt_name=None):
        single, items = as_list(texts)
        p = yield from self._resolve()
        if not items:
            dim = dimensions or int((yield from self._limits())["dimension"])
            return np.zeros((0, dim), dtype=np.float32)
        parts = yield [p.embed(chunk, self.model, dimensions, normalize, prompt_name)
                       for chunk in self._chunks(items, self.batch_size)]
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if out.shape[0] != len(items):
            raise FloeError(f"server returned {out.shape[0]} vectors for {len(items)} texts")
        return out[0] if single else out

    def embed_all(self, texts: Texts, prompt_name=None):
        single, items = as_list(texts)
        p = yield from self._resolve()
        if not items:
            return []
        size = self.batch_size
        if isinstance(p, Http):  # one /embed_all holds at most --max-batch-tokens tokens
            limits = yield from self._limits()
            size = max(1, min(size, int(limits["max_batch_tokens"]) //
                              max(1, int(limits["max_tokens"]))))
        parts = yield [p.embed_all(chunk, self.model, prompt_name)
                       for chunk in self._chunks(items, size)]
        out = [m for part in parts for m in part]
        if len(out) != len(items):
            raise FloeError(f"server returned {len(out)} token matrices for {len(items)} texts")
        return out[0] if single else out

    def tokenize(self, texts: Texts, prompt_name=None):
        single, items = as_list(texts)
        p = yield from self._resolve()
        ids = (yield p.tokenize(items, self.model, prompt_name)) if items else []
        return ids[0] if single else ids

    def rerank(self, query: str, documents: Sequence[str], top_k=None,
               return_documents=False, raw_scores=False):
        _, docs = as_list(list(documents))
        if not isinstance(query, str):
            raise TypeError(f"query is {type(query).__name__}, not str")
        p = yield from self._resolve()
        ranks = (yield p.rerank(query, docs, self.model, bool(raw_scores))) if docs else []
        out = []
        for i, score in ranks[:top_k]:
            row: Dict[str, Any] = {"corpus_id": i, "score": score}
            if return_documents:
                row["text"] = docs[i]
            out.append(row)
        return out


def step(gen, answer: Any = None):
    """Advances an Api generator with the answer to what it yielded last (a FloeError is
    thrown into it): (True, result) when it returned, else (False, what it yielded
    now: a Call or a list of Calls)."""
    try:
        return False, (gen.throw(answer) if isinstance(answer, FloeError) else gen.send(answer))
    except StopIteration as stop:
        return True, stop.value


def parse_url(url: str, protocol: str):
    """(transport "http" | "grpc", target: the URL for HTTP, host:port for gRPC, protocol
    object or None for gRPC's auto)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if url.startswith(("http://", "https://")):
        if protocol != "auto":
            raise ValueError(f"protocol={protocol!r} is a gRPC protocol: use grpc://host:port "
                             f"(an http:// URL speaks floe's HTTP API)")
        return "http", url.rstrip("/"), Http()
    target = url[len("grpc://"):] if url.startswith("grpc://") else url
    if "://" in target:
        raise ValueError(f"unknown scheme in {url!r}: use http://, https:// or grpc://")
    if protocol == "auto":
        stubs("v1.embed_pb2")  # say now, not at the first call, when they are missing
        return "grpc", target, None
    return "grpc", target, FloeV1() if protocol == "floe" else Arctic()
