#!/usr/bin/env bash
# Issue 6's CPU targets in one run: floe end to end (floe serve + floe bench
# over gRPC, tokenization included) against ONNX Runtime on the bare model
# (../shared/tools/peer-bench.sh, and scripts/peer-shapes.sh for mixed
# lengths), back to back on the same machine. Prints one JSON line per
# measurement, then a table of ratios.
#
#   scripts/cpu-targets.sh [MODEL_DIR] [FLOE_BINARY]
#
# Defaults: models/base (make it with ../shared/tools/bertref.py make
# models/base --vocab tests/data/models/bert-tiny-cls/vocab.txt --preset base)
# and build/floe. DTYPES="float32 bfloat16 int8" and QUICK=1 (fewer requests)
# can be set. Takes about 10 minutes on 2 cores; run it on a quiet machine
# (ratios move with other load) and note `uptime`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=${1:-models/base}; floe=${2:-build/floe}
peer_bench=${PEER_BENCH:-$here/../../shared/tools/peer-bench.sh}
dtypes=${DTYPES:-float32 bfloat16 int8}
port=${PORT:-50123}
n() { if [[ ${QUICK:-0} == 1 ]]; then echo "$2"; else echo "$1"; fi; }
out=$(mktemp -d)
# The runs below are in a pipeline's subshell: stop its server by its command line.
trap 'pkill -f -- "serve --model $model --port $port " 2>/dev/null || true; rm -rf "$out"' EXIT
server=

serve() {  # dtype
  [[ -n $server ]] && { kill "$server"; wait "$server" 2>/dev/null || true; }
  "$floe" serve --model "$model" --port "$port" --http-port 0 --dtype "$1" \
    --log-level warn >"$out/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    "$floe" client --port "$port" --prompt hi >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "cpu-targets: floe serve --dtype $1 did not start:" >&2; cat "$out/serve.log" >&2; exit 1
}

bench() {  # name dtype args...
  local name=$1 dtype=$2; shift 2
  "$floe" bench --server "127.0.0.1:$port" --json --quiet "$@" |
    /usr/bin/python3 -c "import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({'run':'$name','engine':'floe','dtype':'$dtype','tokens_per_s':r['tokens_per_s'],'p50_ms':r['latency_p50_ms'],'success_rate':r['success_rate']}))"
}

ort() {  # name seq batch iters
  PEERS=ort "$peer_bench" "$model" "$2" "$3" "$4" |
    /usr/bin/python3 -c "import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({'run':'$1','engine':'ort','dtype':'float32','tokens_per_s':r['tokens_per_s'],'p50_ms':r['median_s']*1000}))"
}

echo "cpu-targets: $(uptime)" >&2
{
  for dtype in $dtypes; do
    serve "$dtype"
    bench 512x16 "$dtype" --batch-sizes 16 --requests "$(n 12 4)" --concurrency 2 --prompt-length 512 --warmup 2
    bench 50x64 "$dtype" --batch-sizes 64 --requests "$(n 30 8)" --concurrency 2 --prompt-length 50 --warmup 2
    if [[ $dtype == float32 ]]; then
      bench 50x1 "$dtype" --batch-sizes 1 --requests "$(n 60 20)" --concurrency 1 --prompt-length 50 --warmup 5
      bench mixed "$dtype" --batch-sizes 16 --requests "$(n 24 8)" --concurrency 2 --prompt-length 512 \
        --distribution uniform --warmup 2 --save-shapes "$out/shapes.jsonl"
    fi
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  ort 512x16 512 16 3
  ort 50x64 50 64 3
  ort 50x1 50 1 "$(n 30 10)"
  if [[ -s $out/shapes.jsonl ]]; then
    "$here/peer-shapes.sh" "$model" "$out/shapes.jsonl" |
      /usr/bin/python3 -c "import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({'run':'mixed','engine':'ort','dtype':'float32','tokens_per_s':r['real_tokens_per_s'],'padding_fraction':r['padding_fraction']}))"
  fi
} | tee "$out/rows.jsonl"
echo "cpu-targets: $(uptime)" >&2
/usr/bin/python3 - "$out/rows.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ort = {r["run"]: r for r in rows if r["engine"] == "ort"}
print("\n| run | dtype | floe tok/s | ONNX Runtime tok/s | floe / ORT | p50 ms floe / ORT |")
print("|---|---|---:|---:|---:|---:|")
for r in rows:
    if r["engine"] != "floe" or r["run"] not in ort:
        continue
    o = ort[r["run"]]
    lat = f'{r["p50_ms"]:.1f} / {o["p50_ms"]:.1f}' if r["run"] == "50x1" else ""
    print(f'| {r["run"]} | {r["dtype"]} | {r["tokens_per_s"]:,.0f} | {o["tokens_per_s"]:,.0f} | '
          f'{r["tokens_per_s"] / o["tokens_per_s"]:.2f}x | {lat} |')
PY
