#!/usr/bin/env bash
# Generates Python gRPC stubs from proto/ (what ArcticInference's
# generate_proto.py does), with Debian's protoc + grpc_python_plugin, so no
# pip package is needed. Usage: scripts/gen-python-proto.sh [OUT_DIR]
# (default: build/python). Then: PYTHONPATH=OUT_DIR python3 -c
# 'from arctic_inference import inference_pb2_grpc'.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/build/python}"
plugin="$(command -v grpc_python_plugin || true)"
if [ -z "$plugin" ]; then
  echo "gen-python-proto: grpc_python_plugin not found (Debian: protobuf-compiler-grpc)" >&2
  exit 1
fi
mkdir -p "$out"
protoc -I "$here/proto" --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  "$here/proto/arctic_inference/inference.proto" "$here/proto/floe/v1/embed.proto"
# google.rpc.Status, to read a failed call's grpc-status-details-bin trailer
# (no service: messages only). No google/__init__.py: `google` stays the
# namespace package that protobuf's google.protobuf also lives in.
protoc -I "$here/proto" --python_out="$out" "$here/proto/google/rpc/status.proto"
# Regular packages, so the stubs import on any Python 3.
touch "$out/arctic_inference/__init__.py" "$out/floe/__init__.py" "$out/floe/v1/__init__.py"
echo "$out"
