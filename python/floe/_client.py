"""floe.Client: a pure-Python client of a running `floe serve`.

    client = floe.Client("http://127.0.0.1:8080")     # HTTP: /v1/embeddings, /info
    client = floe.Client("grpc://127.0.0.1:50050")    # gRPC: floe.v1.EmbeddingService
    vectors = client.embed(["a passage", "another"])  # (2, dimension) float32

HTTP needs nothing beyond the standard library and numpy; vectors travel as base64
float32 (OpenAI's encoding_format "base64"). gRPC needs grpcio and protobuf, and the
floe.v1 stubs that the wheel generates from proto/ at build time.
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np


class FloeError(RuntimeError):
    """The server refused a request (its message), or could not be reached.

    status: the HTTP status (0 when no answer came); code: the server's error code
    (HTTP: the OpenAI-style `code`, gRPC: the status code's name); message: the
    server's own words.
    """

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(f"{code or status}: {message}" if (code or status) else message)
        self.message = message
        self.status = status
        self.code = code


Texts = Union[str, Sequence[str]]


def _as_list(texts: Texts):
    single = isinstance(texts, str)
    items = [texts] if single else list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
    return single, items


class _Http:
    def __init__(self, url: str, api_key: Optional[str], timeout: float):
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def request(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                body = json.loads(raw)
                err = body.get("error", {})
                if isinstance(err, str):  # TEI's routes: {"error": ..., "error_type": ...}
                    message, code = err, str(body.get("error_type") or "")
                else:  # OpenAI's: {"error": {"message": ..., "code": ...}}
                    message = err.get("message") or raw.decode()
                    code = str(err.get("code") or "")
            except (ValueError, AttributeError):
                message, code = raw.decode(errors="replace") or e.reason, ""
            raise FloeError(message, status=e.code, code=code) from None
        except OSError as e:  # refused, timed out, unreachable
            raise FloeError(f"cannot reach {self.url}: {e}") from None

    def embed(self, texts, model, dimensions, normalize, prompt_name):
        body: Dict[str, Any] = {"input": texts, "encoding_format": "base64"}
        for key, value in (("model", model), ("dimensions", dimensions),
                           ("normalize", normalize), ("prompt_name", prompt_name)):
            if value is not None:
                body[key] = value
        reply = self.request("POST", "/v1/embeddings", body)
        rows = sorted(reply["data"], key=lambda d: d["index"])
        return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
                         for d in rows]).astype(np.float32, copy=False)

    def info(self):
        return self.request("GET", "/info")

    def rerank(self, query, texts, model, raw_scores):
        body: Dict[str, Any] = {"query": query, "texts": texts, "raw_scores": raw_scores}
        if model is not None:
            body["model"] = model
        return [(int(r["index"]), float(r["score"]))
                for r in self.request("POST", "/rerank", body)]

    def tokenize(self, texts, model, prompt_name):
        body: Dict[str, Any] = {"input": texts}
        if model is not None:
            body["model"] = model
        if prompt_name is not None:
            body["prompt_name"] = prompt_name
        return self.request("POST", "/tokenize", body)["tokens"]

    def close(self):
        pass


class _Grpc:
    def __init__(self, target: str, api_key: Optional[str], timeout: float):
        try:
            import grpc
            from .v1 import embed_pb2, embed_pb2_grpc
        except Exception as e:  # missing, or a protobuf runtime older than the stubs
            raise ImportError(
                f"floe.Client over gRPC needs grpcio, protobuf and the floe.v1 stubs "
                f"(built into the wheel when grpcio-tools was installed at build time): "
                f"{type(e).__name__}: {e}; or use an http:// URL") from e
        self.grpc, self.pb = grpc, embed_pb2
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.max_receive_message_length", 256 << 20)])
        self.stub = embed_pb2_grpc.EmbeddingServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {api_key}")] if api_key else None
        self.timeout = timeout
        self.target = target

    def call(self, method, request):
        try:
            return method(request, timeout=self.timeout, metadata=self.metadata)
        except self.grpc.RpcError as e:
            code = e.code()
            raise FloeError(e.details() or str(code), code=code.name if code else "") from None

    def embed(self, texts, model, dimensions, normalize, prompt_name):
        req = self.pb.EmbedRequest(request_id=str(uuid.uuid4()), model=model or "",
                                   texts=texts, dimensions=dimensions or 0,
                                   prompt_name=prompt_name or "")
        if normalize is not None:
            req.normalize = bool(normalize)
        r = self.call(self.stub.Embed, req)
        if r.dtype != self.pb.FLOAT32:
            raise FloeError(f"server sent dtype {r.dtype}, expected FLOAT32")
        return np.frombuffer(r.embeddings, dtype="<f4").reshape(r.n, r.dimension).astype(
            np.float32, copy=False)

    def info(self):
        r = self.call(self.stub.Info, self.pb.InfoRequest())
        out = {f.name: getattr(r, f.name) for f in r.DESCRIPTOR.fields if f.name != "replicas"}
        out["prompt_names"] = list(r.prompt_names)
        out["replicas"] = [{f.name: getattr(x, f.name) for f in x.DESCRIPTOR.fields}
                           for x in r.replicas]
        return out

    def rerank(self, query, texts, model, raw_scores):
        r = self.call(self.stub.Rerank, self.pb.RerankRequest(
            request_id=str(uuid.uuid4()), model=model or "", query=query, texts=texts,
            raw_scores=raw_scores))
        return [(int(x.index), float(x.score)) for x in r.ranks]

    def tokenize(self, texts, model, prompt_name):
        r = self.call(self.stub.Tokenize, self.pb.TokenizeRequest(
            model=model or "", texts=texts, prompt_name=prompt_name or ""))
        return [list(t.ids) for t in r.tokens]

    def close(self):
        self.channel.close()


class Client:
    """A client of a running floe server.

    url: "http://host:port" / "https://..." (floe's HTTP port, OpenAI's embeddings API)
    or "grpc://host:port" / "host:port" (floe's gRPC port, floe.v1.EmbeddingService).
    api_key: sent as `Authorization: Bearer KEY`. model: the model name sent with each
    request (None = the served model). batch_size: texts per request; longer lists are
    sent in several requests and stacked in order.
    """

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = 60.0,
                 model: Optional[str] = None, batch_size: int = 256):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.url = url
        self.model = model
        self.batch_size = int(batch_size)
        if url.startswith(("http://", "https://")):
            self._t = _Http(url, api_key, timeout)
        else:
            target = url[len("grpc://"):] if url.startswith("grpc://") else url
            if "://" in target:
                raise ValueError(f"unknown scheme in {url!r}: use http://, https:// or grpc://")
            self._t = _Grpc(target, api_key, timeout)
        self._dimension: Optional[int] = None

    @property
    def transport(self) -> str:
        return "http" if isinstance(self._t, _Http) else "grpc"

    def embed(self, texts: Texts, dimensions: Optional[int] = None,
              normalize: Optional[bool] = None, prompt_name: Optional[str] = None):
        """Embeds one string (a 1-D float32 array) or a list of strings (a 2-D float32
        array, row i for text i). dimensions: keep the first N values (then normalize);
        normalize: None = the server's default (True), False = raw pooled vectors;
        prompt_name: one of the model's prompts."""
        single, items = _as_list(texts)
        if not items:
            dim = dimensions or self.dimension
            return np.zeros((0, dim), dtype=np.float32)
        parts = [self._t.embed(items[i:i + self.batch_size], self.model, dimensions,
                               normalize, prompt_name)
                 for i in range(0, len(items), self.batch_size)]
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if out.shape[0] != len(items):
            raise FloeError(f"server returned {out.shape[0]} vectors for {len(items)} texts")
        return out[0] if single else out

    def rerank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
               return_documents: bool = False, raw_scores: bool = False):
        """The documents by a served cross-encoder's score for `query`, best first, as
        floe.Reranker.rank: [{"corpus_id": i, "score": s, ("text": documents[i])}].
        Scores are the sigmoid of the logit (raw_scores: the logit). HTTP: TEI's
        /rerank; gRPC: floe.v1 Rerank."""
        _, docs = _as_list(list(documents))
        if not isinstance(query, str):
            raise TypeError(f"query is {type(query).__name__}, not str")
        ranks = self._t.rerank(query, docs, self.model, bool(raw_scores)) if docs else []
        out = []
        for i, score in ranks[:top_k]:
            row: Dict[str, Any] = {"corpus_id": i, "score": score}
            if return_documents:
                row["text"] = docs[i]
            out.append(row)
        return out

    def tokenize(self, texts: Texts, prompt_name: Optional[str] = None):
        """Token ids as the server would embed them: one list for a string, a list of
        lists for a list."""
        single, items = _as_list(texts)
        ids = self._t.tokenize(items, self.model, prompt_name) if items else []
        return ids[0] if single else ids

    def info(self) -> Dict[str, Any]:
        """The served model: model, dimension, max_tokens, pooling, normalize,
        prompt_names, dtype, device, replicas... (the server's /info or Info)."""
        return self._t.info()

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.info()["dimension"])
        return self._dimension

    def close(self) -> None:
        self._t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"floe.Client({self.url!r})"



class AsyncClient:
    """floe.Client for asyncio: the same constructor and methods, as coroutines. Each
    call runs the blocking client in the event loop's default thread pool (HTTP: one
    connection per call; gRPC: one shared channel), so many calls can be in flight:

        async with floe.AsyncClient("http://127.0.0.1:8080") as c:
            a, b = await asyncio.gather(c.embed(["x"]), c.embed(["y"]))
    """

    def __init__(self, url: str, **kwargs: Any):
        self._sync = Client(url, **kwargs)

    @property
    def transport(self) -> str:
        return self._sync.transport

    async def _run(self, fn, *args, **kwargs):
        import asyncio
        import functools
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def embed(self, texts: Texts, **kwargs: Any):
        return await self._run(self._sync.embed, texts, **kwargs)

    async def tokenize(self, texts: Texts, **kwargs: Any):
        return await self._run(self._sync.tokenize, texts, **kwargs)

    async def rerank(self, query: str, documents: Sequence[str], **kwargs: Any):
        return await self._run(self._sync.rerank, query, documents, **kwargs)

    async def info(self) -> Dict[str, Any]:
        return await self._run(self._sync.info)

    async def close(self) -> None:
        self._sync.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __repr__(self) -> str:
        return f"floe.AsyncClient({self._sync.url!r})"
