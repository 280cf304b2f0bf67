"""floe's Python client: embed texts over gRPC, vectors as numpy arrays.

Speaks ArcticInference's `arctic_inference.InferenceService` (so it also works
against an ArcticInference server) and floe's richer `floe.v1` API for
prompts, dimensions and normalization. The gRPC stubs are generated from the
repository's proto/ files, never written by hand:

    scripts/gen-python-proto.sh clients/python/floe_client/_gen

Needs grpcio, protobuf and numpy (Debian: python3-grpcio python3-protobuf
python3-numpy).
"""

import os
import sys
import uuid

import numpy as np

_GEN = os.environ.get("FLOE_PROTO_PY") or os.path.join(os.path.dirname(__file__), "_gen")
if _GEN not in sys.path:
    sys.path.insert(0, _GEN)

try:
    import grpc
    from arctic_inference import inference_pb2, inference_pb2_grpc
    from floe.v1 import embed_pb2, embed_pb2_grpc
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    raise ImportError(
        f"floe_client: {e}. Generate the stubs first: "
        "scripts/gen-python-proto.sh clients/python/floe_client/_gen "
        "(or set FLOE_PROTO_PY to their folder)"
    ) from e

__all__ = ["Client", "FloeError", "embed"]


class FloeError(RuntimeError):
    """The server answered with an error (its gRPC status code and message)."""

    def __init__(self, code, message):
        super().__init__(f"{code.name if hasattr(code, 'name') else code}: {message}")
        self.code = code
        self.message = message


class Client:
    """A connection to a floe (or ArcticInference) server.

    address: "host:port" of the gRPC port (floe's default is 50050).
    api_key: sent as `authorization: Bearer KEY` when the server wants one.
    model:   model name sent with requests ("" means the served model).
    """

    def __init__(self, address="127.0.0.1:50050", api_key=None, timeout=30.0, model=""):
        self._channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", 256 << 20),
                ("grpc.max_receive_message_length", 256 << 20),
            ],
        )
        self._arctic = inference_pb2_grpc.InferenceServiceStub(self._channel)
        self._floe = embed_pb2_grpc.EmbeddingServiceStub(self._channel)
        self._metadata = [("authorization", f"Bearer {api_key}")] if api_key else None
        self._timeout = timeout
        self._model = model

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise FloeError(e.code(), e.details()) from None

    def embed(self, texts, *, prompt_name="", dimensions=0, normalize=True):
        """Embeds texts; returns a float32 array of shape (len(texts), dimension).

        A single string gives shape (1, dimension). With the defaults this is
        ArcticInference's Encode; prompt_name / dimensions / normalize=False
        use floe.v1's Embed.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not prompt_name and not dimensions and normalize:
            req = inference_pb2.EncodeRequest(
                request_id=str(uuid.uuid4()),
                n_prompts=len(texts),
                prompts=texts,
                model_name=self._model,
            )
            resp = self._call(self._arctic.Encode, req)
            if resp.error:
                raise FloeError("ERROR", resp.error)
            if not resp.embedding_bytes_fp32:
                return np.zeros((0, resp.embedding_dim), dtype=np.float32)
            return np.stack(
                [np.frombuffer(b, dtype="<f4") for b in resp.embedding_bytes_fp32]
            )
        req = embed_pb2.EmbedRequest(
            request_id=str(uuid.uuid4()),
            model=self._model,
            texts=texts,
            normalize=normalize,
            dimensions=dimensions,
            prompt_name=prompt_name,
        )
        resp = self._call(self._floe.Embed, req)
        return np.frombuffer(resp.embeddings, dtype="<f4").reshape(resp.n, resp.dimension)

    def info(self):
        """The served model, dimension, limits and replicas, as a dict."""
        resp = self._call(self._floe.Info, embed_pb2.InfoRequest())
        return {
            "model": resp.model,
            "dimension": resp.dimension,
            "max_tokens": resp.max_tokens,
            "pooling": resp.pooling,
            "prompt_names": list(resp.prompt_names),
            "dtype": resp.dtype,
            "device": resp.device,
            "replicas": len(resp.replicas),
        }


def embed(texts, address="127.0.0.1:50050", **kwargs):
    """One-shot helper: Client(address).embed(texts, **kwargs)."""
    opts = {k: kwargs.pop(k) for k in ("api_key", "timeout", "model") if k in kwargs}
    with Client(address, **opts) as c:
        return c.embed(texts, **kwargs)
