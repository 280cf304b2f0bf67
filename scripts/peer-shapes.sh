#!/usr/bin/env bash
# ONNX Runtime on the same request shapes a `floe bench` run used (issue 6,
# target 3: mixed lengths, padded to each batch's longest):
#
#   floe bench --server ... --distribution uniform --save-shapes /tmp/shapes.jsonl ...
#   scripts/peer-shapes.sh models/base /tmp/shapes.jsonl [THREADS]
#
# Uses the ONNX export that ../shared/tools/peer-bench.sh caches (it is run once,
# briefly, to make sure it exists) and PyPI's onnxruntime from the project's peers
# environment (scripts/python-env.sh peers; npm's onnxruntime-node is no longer
# reachable). Prints one JSON line with real_tokens_per_s, directly comparable to
# floe bench's tokens/s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$(cd "$1" && pwd); shapes=$(realpath "$2"); threads=${3:-$(nproc)}
peer_bench=${PEER_BENCH:-$here/../../shared/tools/peer-bench.sh}
cache=${PEER_CACHE:-$HOME/.cache/peer-bench}
[[ -x $peer_bench ]] || { echo "peer-shapes: $peer_bench not found (set PEER_BENCH)" >&2; exit 2; }
PEERS=ort "$peer_bench" "$model" 8 1 1 "$threads" >/dev/null
key=$(sha256sum "$model/model.safetensors" | cut -c1-16)
env=$("$here/python-env.sh" peers)
"$env/bin/python" "$here/ort_shapes.py" "$cache/$key.onnx" "$shapes" "$threads"
