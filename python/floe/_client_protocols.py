"""The requests of floe.Client and floe.AsyncClient, one protocol a class, and how
their answers are read (no I/O here: _client_ops.py says how they are combined).

Each method gives a `Call`, which a transport sends and whose parse() reads the answer.
Protocols: HTTP (OpenAI's /v1/embeddings, floe's /info and /tokenize, TEI's /rerank
and /embed_all), gRPC floe.v1 (with tei.v1's EmbedAllStream for per-token vectors) and
gRPC ArcticInference (arctic_inference.InferenceService: Encode, GetReplicaInfo).
"""
from __future__ import annotations

import base64
import importlib
import json
import uuid
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np


class FloeError(RuntimeError):
    """The server refused a request (its message), could not be reached, or the
    protocol in use cannot carry the request (ArcticInference's has no prompts,
    tokenize, rerank or per-token vectors: code "UNIMPLEMENTED").

    status: the HTTP status (0 when no answer came); code: the server's error code
    (HTTP: the OpenAI-style `code` or TEI's `error_type`, gRPC: the status code's
    name); message: the server's own words.
    """

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(f"{code or status}: {message}" if (code or status) else message)
        self.message = message
        self.status = status
        self.code = code


Texts = Union[str, Sequence[str]]
PROTOCOLS = ("auto", "floe", "arctic")


def as_list(texts: Texts):
    single = isinstance(texts, str)
    items = [texts] if single else list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
    return single, items


class Call:
    """One request. kind "http": method, path, JSON body; kind "unary" / "stream":
    a gRPC method path ("/package.Service/Rpc"), the request message (a stream: the
    list of request messages) and the reply's message class. parse(reply) turns the
    answer (HTTP: the decoded JSON; a stream: the list of replies) into the result."""

    __slots__ = ("kind", "method", "path", "request", "reply_type", "parse")

    def __init__(self, kind: str, path: str, request: Any, parse: Callable[[Any], Any],
                 method: str = "", reply_type: Any = None):
        self.kind, self.path, self.request, self.parse = kind, path, request, parse
        self.method, self.reply_type = method, reply_type


def http_result(status: int, raw: bytes, reason: str = "") -> Any:
    """The JSON of a 2xx answer; else FloeError with the server's message (OpenAI's
    {"error": {"message", "code"}} or TEI's {"error", "error_type"})."""
    if status < 400:
        return json.loads(raw) if raw else None
    try:
        body = json.loads(raw)
        err = body.get("error", {})
        if isinstance(err, str):
            message, code = err, str(body.get("error_type") or "")
        else:
            message = err.get("message") or raw.decode()
            code = str(err.get("code") or "")
    except (ValueError, AttributeError):
        message, code = raw.decode(errors="replace") or reason or f"HTTP {status}", ""
    raise FloeError(message, status=status, code=code)


def http_headers(api_key: Optional[str]) -> Dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def rpc_error(e: Any) -> FloeError:
    """A grpc.RpcError (sync or grpc.aio) as FloeError: the server's message and the
    status code's name."""
    code = e.code()
    return FloeError(e.details() or str(code), code=code.name if code else "")


GRPC_OPTIONS = [("grpc.max_send_message_length", 256 << 20),
                ("grpc.max_receive_message_length", 256 << 20)]


def grpc_module():
    try:
        import grpc
        return grpc
    except Exception as e:
        raise ImportError(f"floe.Client over gRPC needs grpcio: {type(e).__name__}: {e}; "
                          f"or use an http:// URL") from e


def grpc_method(channel, call: Call):
    """The multi-callable of a gRPC Call on a channel (grpc or grpc.aio: same API)."""
    factory = channel.unary_unary if call.kind == "unary" else channel.stream_stream
    return factory(call.path, request_serializer=lambda m: m.SerializeToString(),
                   response_deserializer=call.reply_type.FromString)


def stubs(module: str):
    """floe's generated protobuf messages (floe.v1, floe.tei, floe.arctic_inference)."""
    try:
        return importlib.import_module("." + module, __package__)
    except Exception as e:  # missing, or a protobuf runtime older than the stubs
        raise ImportError(
            f"floe.Client over gRPC needs protobuf and floe's generated stubs "
            f"(floe.{module}: built into the wheel when grpcio-tools was installed at "
            f"build time): {type(e).__name__}: {e}; or use an http:// URL") from e


def _matrix(blob: bytes, n: int, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").reshape(n, dim).astype(np.float32, copy=False)


def _unimplemented(protocol: str, what: str) -> FloeError:
    return FloeError(f"{protocol} has no {what}; use protocol='floe' (a floe server) or an "
                     f"http:// URL", code="UNIMPLEMENTED")


class Http:
    """floe's HTTP API."""

    name = "http"

    def embed(self, texts, model, dimensions, normalize, prompt_name) -> Call:
        body: Dict[str, Any] = {"input": texts, "encoding_format": "base64"}
        for key, value in (("model", model), ("dimensions", dimensions),
                           ("normalize", normalize), ("prompt_name", prompt_name)):
            if value is not None:
                body[key] = value

        def parse(reply):
            rows = sorted(reply["data"], key=lambda d: d["index"])
            return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
                             for d in rows]).astype(np.float32, copy=False)
        return Call("http", "/v1/embeddings", body, parse, method="POST")

    def embed_all(self, texts, model, prompt_name) -> Call:
        body: Dict[str, Any] = {"inputs": texts, "truncate": True}
        if prompt_name is not None:
            body["prompt_name"] = prompt_name
        return Call("http", "/embed_all", body, method="POST",
                    parse=lambda reply: [np.asarray(m, dtype=np.float32) for m in reply])

    def info(self) -> Call:
        return Call("http", "/info", None, lambda reply: reply, method="GET")

    def tokenize(self, texts, model, prompt_name) -> Call:
        body: Dict[str, Any] = {"input": texts}
        if model is not None:
            body["model"] = model
        if prompt_name is not None:
            body["prompt_name"] = prompt_name
        return Call("http", "/tokenize", body, lambda reply: reply["tokens"], method="POST")

    def rerank(self, query, texts, model, raw_scores) -> Call:
        body: Dict[str, Any] = {"query": query, "texts": texts, "raw_scores": raw_scores}
        if model is not None:
            body["model"] = model
        return Call("http", "/rerank", body, method="POST", parse=lambda reply: [
            (int(r["index"]), float(r["score"])) for r in reply])


class FloeV1:
    """floe.v1.EmbeddingService; per-token vectors through tei.v1.Embed/EmbedAllStream
    (floe.v1 has no EmbedAll; floe serves both on one port)."""

    name = "floe.v1"
    SERVICE = "/floe.v1.EmbeddingService/"

    def __init__(self):
        self.pb = stubs("v1.embed_pb2")

    def embed(self, texts, model, dimensions, normalize, prompt_name) -> Call:
        req = self.pb.EmbedRequest(request_id=str(uuid.uuid4()), model=model or "",
                                   texts=texts, dimensions=dimensions or 0,
                                   prompt_name=prompt_name or "")
        if normalize is not None:
            req.normalize = bool(normalize)

        def parse(r):
            if r.dtype != self.pb.FLOAT32:
                raise FloeError(f"server sent dtype {r.dtype}, expected FLOAT32")
            return _matrix(r.embeddings, r.n, r.dimension)
        return Call("unary", self.SERVICE + "Embed", req, parse,
                    reply_type=self.pb.EmbedResponse)

    def embed_all(self, texts, model, prompt_name) -> Call:
        tei = stubs("tei.tei_pb2")
        reqs = []
        for t in texts:
            r = tei.EmbedAllRequest(inputs=t, truncate=True)
            if prompt_name is not None:
                r.prompt_name = prompt_name
            reqs.append(r)
        return Call("stream", "/tei.v1.Embed/EmbedAllStream", reqs, reply_type=tei.EmbedAllResponse,
                    parse=lambda replies: [np.array([list(t.embeddings) for t in r.token_embeddings],
                                                    dtype=np.float32) for r in replies])

    def info(self) -> Call:
        def parse(r):
            out = {f.name: getattr(r, f.name) for f in r.DESCRIPTOR.fields
                   if f.name != "replicas"}
            out["prompt_names"] = list(r.prompt_names)
            out["replicas"] = [{f.name: getattr(x, f.name) for f in x.DESCRIPTOR.fields}
                               for x in r.replicas]
            return out
        return Call("unary", self.SERVICE + "Info", self.pb.InfoRequest(), parse,
                    reply_type=self.pb.InfoResponse)

    def tokenize(self, texts, model, prompt_name) -> Call:
        return Call("unary", self.SERVICE + "Tokenize", self.pb.TokenizeRequest(
            model=model or "", texts=texts, prompt_name=prompt_name or ""),
            lambda r: [list(t.ids) for t in r.tokens], reply_type=self.pb.TokenizeResponse)

    def rerank(self, query, texts, model, raw_scores) -> Call:
        return Call("unary", self.SERVICE + "Rerank", self.pb.RerankRequest(
            request_id=str(uuid.uuid4()), model=model or "", query=query, texts=texts,
            raw_scores=raw_scores), lambda r: [(int(x.index), float(x.score)) for x in r.ranks],
            reply_type=self.pb.RerankResponse)


class Arctic:
    """ArcticInference's arctic_inference.InferenceService (Encode, GetReplicaInfo): the
    model's default vectors. `dimensions` and normalize=True are applied here (keep the
    first N values, then L2-normalize: what floe.v1 does on the server); prompts,
    normalize=False, tokenize, rerank and per-token vectors are not in the protocol."""

    name = "arctic"
    SERVICE = "/arctic_inference.InferenceService/"

    def __init__(self):
        self.pb = stubs("arctic_inference.inference_pb2")

    def embed(self, texts, model, dimensions, normalize, prompt_name) -> Call:
        if prompt_name is not None:
            raise _unimplemented("ArcticInference's Encode", "prompt_name")
        if normalize is False:
            raise _unimplemented("ArcticInference's Encode", "normalize=False (its vectors "
                                 "are normalized as the model's folder says)")
        req = self.pb.EncodeRequest(request_id=str(uuid.uuid4()), n_prompts=len(texts),
                                    prompts=texts, model_name=model or "")

        def parse(r):
            if r.error:
                raise FloeError(r.error)
            out = _matrix(b"".join(r.embedding_bytes_fp32), len(r.embedding_bytes_fp32),
                          r.embedding_dim)
            if dimensions is not None:
                if not 1 <= int(dimensions) <= out.shape[1]:
                    raise FloeError(f"dimensions {dimensions} is not in 1..{out.shape[1]} "
                                    f"(the model's dimension)", code="INVALID_ARGUMENT")
                out = out[:, :int(dimensions)]
            if dimensions is not None or normalize:
                out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
            return np.ascontiguousarray(out, dtype=np.float32)
        return Call("unary", self.SERVICE + "Encode", req, parse,
                    reply_type=self.pb.EncodeResponse)

    def replica_info(self) -> Call:
        def parse(r):
            reps = [{f.name: getattr(x, f.name) for f in x.DESCRIPTOR.fields}
                    for x in r.replica_infos]
            return {"model": reps[0]["model_name"] if reps else "",
                    "dtype": reps[0]["dtype"] if reps else "", "replicas": reps,
                    "n_replicas": r.n_replicas, "n_healthy_replicas": r.n_healthy_replicas,
                    "message": r.message}
        return Call("unary", self.SERVICE + "GetReplicaInfo", self.pb.ReplicaInfoRequest(),
                    parse, reply_type=self.pb.ReplicaInfoResponse)

    def embed_all(self, texts, model, prompt_name):
        raise _unimplemented("ArcticInference's protocol", "per-token vectors (embed_all)")

    def tokenize(self, texts, model, prompt_name):
        raise _unimplemented("ArcticInference's protocol", "Tokenize")

    def rerank(self, query, texts, model, raw_scores):
        raise _unimplemented("ArcticInference's protocol", "Rerank")
