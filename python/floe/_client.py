"""floe.Client: a pure-Python client of a running `floe serve` (or an ArcticInference
server).

    client = floe.Client("http://127.0.0.1:8080")     # HTTP: /v1/embeddings, /info
    client = floe.Client("grpc://127.0.0.1:50050")    # gRPC: floe.v1 (or ArcticInference's)
    vectors = client.embed(["a passage", "another"])  # (2, dimension) float32

HTTP needs nothing beyond the standard library and numpy; vectors travel as base64
float32 (OpenAI's encoding_format "base64"). gRPC needs grpcio and protobuf, and the
stubs that the wheel generates from proto/ at build time. What is sent is written once
for this client and floe.AsyncClient (_client_async.py), in _client_ops.py.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Sequence

from ._client_ops import Api, parse_url, step
from ._client_protocols import (GRPC_OPTIONS, Call, FloeError, Texts, grpc_method, grpc_module,
                                http_headers, http_result, rpc_error)

__all__ = ["Client", "FloeError"]


class _Http:
    """Blocking HTTP/1.1 through urllib (one connection per request)."""

    def __init__(self, url: str, api_key: Optional[str], timeout: float):
        self.url = url
        self.headers = http_headers(api_key)
        self.timeout = timeout

    def send(self, call: Call) -> Any:
        data = None if call.request is None else json.dumps(call.request).encode()
        req = urllib.request.Request(self.url + call.path, data=data, method=call.method,
                                     headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                status, raw, reason = r.status, r.read(), r.reason
        except urllib.error.HTTPError as e:
            status, raw, reason = e.code, e.read(), e.reason
        except OSError as e:  # refused, timed out, unreachable
            raise FloeError(f"cannot reach {self.url}: {e}") from None
        return call.parse(http_result(status, raw, reason))

    def close(self) -> None:
        pass


class _Grpc:
    """Blocking gRPC on one channel."""

    def __init__(self, target: str, api_key: Optional[str], timeout: float):
        self.grpc = grpc_module()
        self.channel = self.grpc.insecure_channel(target, options=GRPC_OPTIONS)
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self.timeout = timeout
        self.methods: Dict[str, Any] = {}

    def send(self, call: Call) -> Any:
        m = self.methods.get(call.path) or self.methods.setdefault(
            call.path, grpc_method(self.channel, call))
        try:
            if call.kind == "unary":
                reply = m(call.request, timeout=self.timeout, metadata=self.metadata)
            else:
                reply = list(m(iter(call.request), timeout=self.timeout, metadata=self.metadata))
        except self.grpc.RpcError as e:
            raise rpc_error(e) from None
        return call.parse(reply)

    def close(self) -> None:
        self.channel.close()


class _Base:
    """What Client and AsyncClient share: the URL, the protocol, the transport."""

    _HTTP: Any = _Http
    _GRPC: Any = _Grpc

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = 60.0,
                 model: Optional[str] = None, batch_size: int = 256, protocol: str = "auto"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.url = url
        self.model = model
        self.batch_size = int(batch_size)
        self._transport, target, proto = parse_url(url, protocol)
        self._t = (self._HTTP if self._transport == "http" else self._GRPC)(
            target, api_key, timeout)
        self._api = Api(proto, model, self.batch_size)

    @property
    def transport(self) -> str:
        """"http" or "grpc"."""
        return self._transport

    @property
    def protocol(self) -> str:
        """"http", "floe.v1" or "arctic"; "auto" for gRPC until the first call has
        asked the server."""
        return self._api.protocol.name if self._api.protocol is not None else "auto"

    def __repr__(self) -> str:
        return f"floe.{type(self).__name__}({self.url!r}, protocol={self.protocol!r})"


class Client(_Base):
    """A client of a running floe server (or of ArcticInference's gRPC service).

    url: "http://host:port" / "https://..." (floe's HTTP port) or "grpc://host:port" /
    "host:port" (its gRPC port). protocol (gRPC only): "auto" (default: floe.v1 when the
    server has it, else ArcticInference's arctic_inference.InferenceService, as an
    ArcticInference server offers), "floe" or "arctic". api_key: sent as
    `Authorization: Bearer KEY`. model: the model name sent with each request (None =
    the served model). batch_size: texts per request; longer lists are sent in several
    requests and stacked in order. Thread-safe.
    """

    def _send(self, out):
        try:
            return [self._t.send(c) for c in out] if isinstance(out, list) else self._t.send(out)
        except FloeError as e:
            return e

    def _run(self, gen):
        done, out = step(gen)
        while not done:
            done, out = step(gen, self._send(out))
        return out

    def embed(self, texts: Texts, dimensions: Optional[int] = None,
              normalize: Optional[bool] = None, prompt_name: Optional[str] = None):
        """Embeds one string (a 1-D float32 array) or a list of strings (a 2-D float32
        array, row i for text i). dimensions: keep the first N values (then normalize);
        normalize: None = the server's default (True), False = raw pooled vectors;
        prompt_name: one of the model's prompts."""
        return self._run(self._api.embed(texts, dimensions, normalize, prompt_name))

    def embed_all(self, texts: Texts, prompt_name: Optional[str] = None):
        """Per-token vectors (TEI's /embed_all): for each text a (tokens, hidden_size)
        float32 array, every token of it (the template's specials and a prompt's tokens
        included), the encoder's last hidden state, not pooled or normalized; one array
        for a string, a list of them for a list. Equal to floe.Embedder.encode(...,
        output_value="token_embeddings"). HTTP: /embed_all; gRPC: tei.v1's
        EmbedAllStream (a floe server)."""
        return self._run(self._api.embed_all(texts, prompt_name))

    def rerank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
               return_documents: bool = False, raw_scores: bool = False):
        """The documents by a served cross-encoder's score for `query`, best first, as
        floe.Reranker.rank: [{"corpus_id": i, "score": s, ("text": documents[i])}].
        Scores are the sigmoid of the logit (raw_scores: the logit). HTTP: TEI's
        /rerank; gRPC: floe.v1 Rerank."""
        return self._run(self._api.rerank(query, documents, top_k, return_documents,
                                          raw_scores))

    def tokenize(self, texts: Texts, prompt_name: Optional[str] = None):
        """Token ids as the server would embed them: one list for a string, a list of
        lists for a list."""
        return self._run(self._api.tokenize(texts, prompt_name))

    def info(self) -> Dict[str, Any]:
        """The served model: model, dimension, max_tokens, pooling, normalize,
        prompt_names, dtype, device, replicas... (the server's /info or Info; over
        ArcticInference's protocol GetReplicaInfo's fields and the dimension), and
        `protocol`."""
        return self._run(self._api.info())

    @property
    def dimension(self) -> int:
        return int(self._run(self._api._limits())["dimension"])

    def close(self) -> None:
        self._t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
