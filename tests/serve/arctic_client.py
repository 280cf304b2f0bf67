#!/usr/bin/env python3
"""An ArcticInference-style client (Debian's python3-grpcio + stubs generated
from proto/) run against a live `floe serve`: proves wire compatibility.

Usage: arctic_client.py --target HOST:PORT --golden FILE --model NAME
(PYTHONPATH must hold the generated stubs). Exits 0 when every check passes.
"""
import argparse
import json
import struct
import sys

import grpc
from google.protobuf import descriptor_pb2

from arctic_inference import inference_pb2, inference_pb2_grpc
from floe.v1 import embed_pb2, embed_pb2_grpc
from google.rpc import status_pb2


def floats(blob):
    return struct.unpack("<%df" % (len(blob) // 4), blob)


def cosine(a, b):
    ab = sum(x * y for x, y in zip(a, b))
    aa = sum(x * x for x in a)
    bb = sum(y * y for y in b)
    return ab / ((aa * bb) ** 0.5 + 1e-30)


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)
    print("ok:", what)


def error_details(e, message_type):
    """The message packed in a failed call's grpc-status-details-bin trailer
    (gRPC's rich error model, read by hand: no grpcio-status here)."""
    raw = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
    check(raw is not None, "%s carries grpc-status-details-bin" % e.code().name)
    st = status_pb2.Status.FromString(raw)
    check(st.code == e.code().value[0] and st.message == e.details(),
          "details: google.rpc.Status code and message match the status")
    out = message_type()
    check(len(st.details) == 1 and st.details[0].Unpack(out),
          "details: one Any holding a %s" % message_type.DESCRIPTOR.full_name)
    return out


def fields(buf):
    """(field number, wire type, value) of one protobuf message, by hand."""
    def varint(i):
        v = shift = 0
        while True:
            b = buf[i]
            v |= (b & 0x7F) << shift
            i += 1
            shift += 7
            if b < 0x80:
                return v, i
    i = 0
    while i < len(buf):
        key, i = varint(i)
        if key & 7 == 0:
            v, i = varint(i)
        elif key & 7 == 2:
            n, i = varint(i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % (key & 7))
        yield key >> 3, key & 7, v


def reflected_file(channel, symbol):
    """grpc.reflection.v1alpha file_containing_symbol, encoded by hand."""
    call = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda b: b, response_deserializer=lambda b: b)
    req = b"\x22" + bytes([len(symbol)]) + symbol.encode()
    for resp in call(iter([req]), timeout=10):
        for num, _, v in fields(resp):
            if num == 4:  # file_descriptor_response
                for n2, _, fd in fields(v):
                    f = descriptor_pb2.FileDescriptorProto.FromString(fd)
                    if any(s.name == symbol.split(".")[-1] for s in f.service):
                        return f
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    golden = [json.loads(l) for l in open(args.golden, encoding="utf-8") if l.strip()]
    # Rows with a prompt_name or dimensions need floe.v1 / HTTP options.
    golden = [g for g in golden if not g.get("prompt_name") and not g.get("dimensions")]

    channel = grpc.insecure_channel(args.target)
    stub = inference_pb2_grpc.InferenceServiceStub(channel)

    health = stub.HealthCheck(inference_pb2.HealthCheckRequest(), timeout=10)
    check(health.healthy, "HealthCheck healthy")

    # Exactly what ArcticInference's client sends: texts, n_prompts, model_name.
    req = inference_pb2.EncodeRequest(
        request_id="py-1", n_prompts=len(golden), prompts=[g["text"] for g in golden],
        model_name=args.model)
    resp, call = stub.Encode.with_call(req, timeout=30)
    check(resp.error == "", "Encode texts: no error")
    check("grpc-status-details-bin" not in dict(call.trailing_metadata() or ()),
          "Encode OK: no error details")
    check(resp.request_id == "py-1", "Encode echoes request_id")
    check(resp.n_prompts == len(golden), "Encode n_prompts")
    check(resp.embedding_dim == len(golden[0]["embedding"]), "Encode embedding_dim")
    worst = min(cosine(floats(b), g["embedding"]) for b, g in zip(resp.embedding_bytes_fp32, golden))
    check(worst >= 0.99999, "Encode texts match golden (worst cosine %.7f)" % worst)

    # Token ids as little-endian int32 bytes, empty model_name.
    req = inference_pb2.EncodeRequest(
        request_id="py-2", n_prompts=3,
        token_id_bytes_i32=[struct.pack("<%di" % len(g["ids"]), *g["ids"]) for g in golden[:3]])
    resp = stub.Encode(req, timeout=30)
    worst = min(cosine(floats(b), g["embedding"]) for b, g in zip(resp.embedding_bytes_fp32, golden))
    check(len(resp.embedding_bytes_fp32) == 3 and worst >= 0.99999, "Encode token ids match golden")

    # Errors: a gRPC status with a message, and in its details the
    # EncodeResponse with `error` that ArcticInference's clients read.
    try:
        stub.Encode(inference_pb2.EncodeRequest(request_id="py-bad", n_prompts=1,
                                                token_id_bytes_i32=[b"\x01\x02"]), timeout=10)
        check(False, "bad token bytes refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "multiple of 4" in e.details(),
              "bad token bytes -> INVALID_ARGUMENT (%s)" % e.details())
        d = error_details(e, inference_pb2.EncodeResponse)
        check(d.error == e.details() and d.request_id == "py-bad" and d.n_prompts == 1
              and not d.embedding_bytes_fp32, "bad token bytes: details' error, request_id, n_prompts")
    try:
        stub.Encode(inference_pb2.EncodeRequest(request_id="py-nope", n_prompts=1, prompts=["a"],
                                                model_name="nope"), timeout=10)
        check(False, "wrong model refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND, "wrong model_name -> NOT_FOUND")
        d = error_details(e, inference_pb2.EncodeResponse)
        check(d.error == e.details() and "nope" in d.error and d.request_id == "py-nope",
              "wrong model_name: details' error (%s)" % d.error)

    # Details that would make a trailer over grpcio's 8 KiB limit are left out;
    # the status itself still arrives.
    try:
        stub.Encode(inference_pb2.EncodeRequest(request_id="x" * 7000, n_prompts=2, prompts=["a"]),
                    timeout=10)
        check(False, "n_prompts mismatch refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "n_prompts" in e.details()
              and "grpc-status-details-bin" not in dict(e.trailing_metadata() or ()),
              "7000-byte request_id: INVALID_ARGUMENT arrives, without details (%s)" % e.details())

    # Invalid UTF-8 in a string field: python refuses to build it, so send raw
    # bytes: field 2 (n_prompts)=1, field 3 (prompts) = b"\xff\xfe".
    raw = stub_raw = channel.unary_unary(
        "/arctic_inference.InferenceService/Encode",
        request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        raw(b"\x10\x01\x1a\x02\xff\xfe", timeout=10)
        check(False, "invalid UTF-8 refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT
              and e.details() == "prompts[0] is not valid UTF-8 (byte 0)",
              "invalid UTF-8 prompt -> INVALID_ARGUMENT (%s: %s)" % (e.code(), e.details()))
        d = error_details(e, inference_pb2.EncodeResponse)
        check(d.error == e.details() and d.request_id == "" and d.n_prompts == 1,
              "invalid UTF-8 prompt: details' error")
    del raw, stub_raw

    info = stub.GetReplicaInfo(inference_pb2.ReplicaInfoRequest(), timeout=10)
    check(info.n_replicas == 1 and info.n_healthy_replicas == 1, "GetReplicaInfo")
    check(info.replica_infos[0].model_name == args.model, "GetReplicaInfo model_name")

    ab = stub.Abort(inference_pb2.AbortRequest(request_id="nothing"), timeout=10)
    check(not ab.success, "Abort of an unknown id says so")

    # floe.v1 from Python too.
    fstub = embed_pb2_grpc.EmbeddingServiceStub(channel)
    r = fstub.Embed(embed_pb2.EmbedRequest(texts=[golden[0]["text"]]), timeout=30)
    check(r.n == 1 and cosine(floats(r.embeddings), golden[0]["embedding"]) >= 0.99999,
          "floe.v1 Embed matches golden")
    try:
        fstub.Embed(embed_pb2.EmbedRequest(request_id="py-dim", texts=["a"], dimensions=-1),
                    timeout=10)
        check(False, "floe.v1 bad dimensions refused")
    except grpc.RpcError as e:
        d = error_details(e, embed_pb2.EmbedResponse)
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and d.error == e.details()
              and d.error_code == e.code().value[0] and d.request_id == "py-dim",
              "floe.v1 Embed error details (%s)" % d.error)
    inf = fstub.Info(embed_pb2.InfoRequest(), timeout=10)
    check(inf.model == args.model, "floe.v1 Info model")
    # Reflection still describes the public proto (Encode is a raw method).
    f = reflected_file(channel, "arctic_inference.InferenceService")
    check(f is not None and f.package == "arctic_inference", "reflection finds InferenceService")
    enc = [m for m in f.message_type if m.name == "EncodeRequest"][0]
    prompts = [x for x in enc.field if x.name == "prompts"][0]
    check(prompts.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING and prompts.number == 3,
          "reflection: EncodeRequest.prompts is string 3")
    still = stub.HealthCheck(inference_pb2.HealthCheckRequest(), timeout=10)
    check(still.healthy, "still healthy after bad input")
    print("all ok")


if __name__ == "__main__":
    main()
