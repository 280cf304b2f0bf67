#!/usr/bin/env bash
# Proof run of the CUDA backend (issue 7) on one H100/H200: the GPU tests,
# then floe (bare engine, and end to end: floe serve + floe bench over gRPC)
# and PyTorch (float16, SDPA attention, padded batches) on a model of
# arctic-embed-m's shape at 512 and 50 tokens, batch sizes 1, 16, 64, printed
# as one table (markdown) with the card's name. docs/cuda.md explains.
#
#   scripts/gpu-proof.sh            build here (needs nvcc and floe's build
#                                   dependencies), then run
#   scripts/gpu-proof.sh bundle     on a machine with the dependencies (no GPU
#                                   needed): build, and pack the binaries, the
#                                   shared libraries they need (CUDA's aside)
#                                   and the Python tools into .gpu-bundle/
#   scripts/gpu-proof.sh run        on the GPU machine: unpack .gpu-bundle/ if
#                                   there is no build, then run
#
# Environment: FLOE_PROOF_DTYPE (float16), FLOE_PROOF_REQUESTS (512 per batch
# size end to end), FLOE_PROOF_REPLICAS (2), FLOE_PROOF_OUT (where the table
# and logs go; default $OUT, else /tmp/floe-gpu-proof), FLOE_SHARED_TOOLS
# (bertref.py and torchbert.py; default ../shared/tools, else the bundle's).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-all}
BUILD=build-cuda
BUNDLE=.gpu-bundle
DTYPE=${FLOE_PROOF_DTYPE:-float16}
REQUESTS=${FLOE_PROOF_REQUESTS:-512}
REPLICAS=${FLOE_PROOF_REPLICAS:-2}
RESULTS=${FLOE_PROOF_OUT:-${OUT:-/tmp/floe-gpu-proof}}
mkdir -p "$RESULTS"
export PATH="$PATH:/usr/local/cuda/bin"

log() { echo "== $*" >&2; }

build() {
  log "configure + build $BUILD (FLOE_CUDA=ON, sm_80 + sm_90)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFLOE_CUDA=ON > "$RESULTS/cmake.log"
  cmake --build "$BUILD" -j "$(nproc)" --target floe floe_cuda_tests cuda_engine_bench \
    > "$RESULTS/build.log" 2>&1 || { tail -50 "$RESULTS/build.log"; exit 1; }
}

tools_dir() {
  if [ -n "${FLOE_SHARED_TOOLS:-}" ]; then echo "$FLOE_SHARED_TOOLS";
  elif [ -f ../shared/tools/bertref.py ]; then echo "$(cd ../shared/tools && pwd)";
  else echo "$ROOT/$BUNDLE/tools"; fi
}

bundle() {
  build
  log "pack $BUNDLE/floe-cuda.tar.xz"
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib" "$BUNDLE/tools"
  grep -qx "/$BUNDLE/" .git/info/exclude 2>/dev/null || echo "/$BUNDLE/" >> .git/info/exclude
  local bins=("$BUILD/floe" "$BUILD/tests/floe_cuda_tests" "$BUILD/bench/cuda_engine_bench")
  # Every shared library but the C runtime and CUDA's (the GPU image has its own).
  ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libcuda|libcudart|libcublas[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$BUNDLE/lib/"; done
  cp "$(tools_dir)/bertref.py" "$(tools_dir)/torchbert.py" "$BUNDLE/tools/"
  tar -cJf "$BUNDLE/floe-cuda.tar.xz" "${bins[@]}" -C "$BUNDLE" lib tools
  rm -rf "$BUNDLE/lib" "$BUNDLE/tools"
  ls -la "$BUNDLE"
  log "carry $BUNDLE to the GPU machine and run: scripts/gpu-proof.sh run"
}

unbundle() {
  [ -x "$BUILD/floe" ] && return 0
  [ -f "$BUNDLE/floe-cuda.tar.xz" ] || { echo "no $BUILD and no $BUNDLE/floe-cuda.tar.xz" >&2; exit 1; }
  log "unpack $BUNDLE"
  tar -xJf "$BUNDLE/floe-cuda.tar.xz"
  mkdir -p "$BUNDLE" && rm -rf "$BUNDLE/lib" "$BUNDLE/tools" && mv lib tools "$BUNDLE/"
  # The test binary has the source tree's path built in (tests/data, the floe
  # binary): make that path lead here.
  local built_root
  built_root=$(grep -aom1 '/[A-Za-z0-9_.+-][A-Za-z0-9_./+-]*/tests/data' "$BUILD/tests/floe_cuda_tests" | head -1 | sed 's#/tests/data$##')
  if [ -n "$built_root" ] && [ "$built_root" != "$ROOT" ] && [ ! -e "$built_root" ]; then
    mkdir -p "$(dirname "$built_root")" && ln -s "$ROOT" "$built_root"
  fi
  export LD_LIBRARY_PATH="$ROOT/$BUNDLE/lib:${LD_LIBRARY_PATH:-}"
}

cuda_libs() {
  # libcudart / libcublasLt 13 of the toolkit, or of the pip wheels beside torch.
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda-13*/lib64 \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null) \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, x, "lib") for p in nvidia.__path__ for x in ("cublas", "cuda_runtime")))' 2>/dev/null); do
    [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$d"
  done
  return 0
}

run() {
  unbundle
  cuda_libs
  local tools; tools=$(tools_dir)
  local gpu; gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  log "GPU: $gpu"
  nvidia-smi > "$RESULTS/nvidia-smi.txt" || true

  log "model of arctic-embed-m's shape (models/base) and its golden vectors"
  if [ ! -f models/base/model.safetensors ]; then
    python3 "$tools/bertref.py" make models/base --vocab tests/data/models/bert-tiny-cls/vocab.txt --preset base
  fi
  if [ ! -s "$RESULTS/base_golden.jsonl" ]; then
    python3 - > "$RESULTS/golden_in.jsonl" <<'EOF'
import json, random
random.seed(7)
words = "the quick brown fox jumps over a lazy dog while embedding servers batch packed tokens".split()
for n in (1, 5, 40, 120, 400):
    print(json.dumps({"text": " ".join(random.choice(words) for _ in range(n))}))
EOF
    python3 "$tools/bertref.py" golden models/base < "$RESULTS/golden_in.jsonl" > "$RESULTS/base_golden.jsonl"
  fi

  log "GPU tests (ops against the CPU backend, golden vectors, base model)"
  FLOE_BASE_MODEL=models/base FLOE_BASE_GOLDEN="$RESULTS/base_golden.jsonl" \
    "$BUILD/tests/floe_cuda_tests" 2>&1 | tee "$RESULTS/tests.log" | grep -E '^\[ (base|bert|  FAILED|  PASSED|  SKIPPED)|min cosine|tests ran' || true
  if grep -q '^\[  FAILED  \]' "$RESULTS/tests.log"; then echo "GPU tests FAILED (see $RESULTS/tests.log)" >&2; exit 1; fi

  log "bare engine: floe ($DTYPE)"
  FLOE_BENCH_MODEL=models/base FLOE_BENCH_DTYPE=$DTYPE "$BUILD/bench/cuda_engine_bench" \
    --benchmark_min_time=2 --benchmark_format=json > "$RESULTS/floe_engine.json"

  log "bare engine: PyTorch (float16, SDPA, padded batches)"
  PYTHONUNBUFFERED=1 python3 - "$tools" models/base > "$RESULTS/torch.jsonl" <<'EOF'
import json, math, sys, time
import torch
sys.path.insert(0, sys.argv[1])
import torchbert
from torch.nn import functional as F

def sdpa_forward(self, x, bias):
    B, L, H = x.shape
    sh = lambda t: t.view(B, L, self.nh, self.dh).transpose(1, 2)
    q, k, v = sh(self.q(x)), sh(self.k(x)), sh(self.v(x))
    # All-ones masks become no mask, as transformers does for SDPA: the
    # flash kernel then runs.
    c = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    c = c.transpose(1, 2).reshape(B, L, H)
    a = self.ln1(self.o(c) + x)
    return self.ln2(self.out(F.gelu(self.i(a))) + a)

torchbert.Layer.forward = sdpa_forward
orig = torchbert.Bert.forward
def bert_forward(self, input_ids, attention_mask):
    L = input_ids.shape[1]
    pos = torch.arange(L, device=input_ids.device).unsqueeze(0)
    x = self.ln(self.word(input_ids) + self.pos(pos) + self.typ(torch.zeros_like(input_ids)))
    bias = None
    if not bool(attention_mask.all()):
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    for layer in self.layers:
        x = layer(x, bias)
    return x[:, 0]
torchbert.Bert.forward = bert_forward
cfg, m = torchbert.load(sys.argv[2])
m = m.half().cuda().eval()
for seq in (512, 50):
    for batch in (1, 16, 64):
        ids = torch.randint(1000, 29000, (batch, seq), device="cuda")
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            for _ in range(5):
                m(ids, mask)
            torch.cuda.synchronize()
            iters, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 2.0:
                m(ids, mask).cpu()
                iters += 1
            dt = (time.perf_counter() - t0) / iters
        print(json.dumps({"seq": seq, "batch": batch, "tokens_per_s": seq * batch / dt,
                          "torch": torch.__version__}))
EOF

  log "end to end: floe serve (--device cuda, $REPLICAS replicas) + floe bench (gRPC)"
  local port=50651
  "$BUILD/floe" serve --model models/base --device cuda --dtype "$DTYPE" --num-gpus 1 \
    --num-replicas "$REPLICAS" --max-batch-tokens 32768 --port $port --http-port 0 \
    > "$RESULTS/serve.log" 2>&1 &
  local serve_pid=$!
  trap 'kill $serve_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 180); do
    "$BUILD/floe" client --prompt hello --port $port > /dev/null 2>&1 && break
    kill -0 $serve_pid 2>/dev/null || { tail -30 "$RESULTS/serve.log"; exit 1; }
    sleep 1
  done
  : > "$RESULTS/e2e.jsonl"
  for len in 512 50; do
    "$BUILD/floe" bench --server 127.0.0.1:$port --batch-sizes 1,16,64 --requests "$REQUESTS" \
      --concurrency 64 --prompt-length $len --json --quiet >> "$RESULTS/e2e.jsonl" ||
      echo "floe bench exited $? (failed requests show in the success column)" >&2
  done
  kill $serve_pid 2>/dev/null || true
  wait $serve_pid 2>/dev/null || true
  trap - EXIT

  log "table"
  python3 - "$RESULTS" "$gpu" "$DTYPE" "$REPLICAS" <<'EOF' | tee "$RESULTS/gpu-proof.md"
import json, sys
res, gpu, dtype, replicas = sys.argv[1:5]
floe = {}
for b in json.load(open(res + "/floe_engine.json"))["benchmarks"]:
    if b.get("error_occurred"):
        continue
    # name: BM_CudaEncoderForward/seq:512/batch:16/real_time
    parts = dict(p.split(":") for p in b["name"].split("/") if ":" in p)
    floe[(int(parts["seq"]), int(parts["batch"]))] = b["tokens_per_s"]
torch_rows = [json.loads(l) for l in open(res + "/torch.jsonl") if l.strip()]
torch_tps = {(r["seq"], r["batch"]): r["tokens_per_s"] for r in torch_rows}
e2e = {}
for l in open(res + "/e2e.jsonl"):
    l = l.strip()
    if not l:
        continue
    rows = json.loads(l)
    for r in rows if isinstance(rows, list) else [rows]:
        e2e[(r["prompt_length"], r["batch_size"])] = (r["tokens_per_s"], r.get("success_rate", 1))
tv = torch_rows[0]["torch"] if torch_rows else "?"
print(f"GPU: {gpu}; floe {dtype}, PyTorch {tv} float16 + SDPA; end to end: floe serve "
      f"({replicas} replicas) + floe bench over gRPC, tokenization included\n")
print("| tokens | batch | floe engine tok/s | PyTorch tok/s | floe / PyTorch | floe serve e2e tok/s | e2e success |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for seq in (512, 50):
    for batch in (1, 16, 64):
        f, t = floe.get((seq, batch)), torch_tps.get((seq, batch))
        e = e2e.get((seq, batch))
        fmt = lambda v: f"{v:,.0f}" if v else "n/a"
        ratio = f"{f / t:.2f}x" if f and t else "n/a"
        print(f"| {seq} | {batch} | {fmt(f)} | {fmt(t)} | {ratio} | {fmt(e[0] if e else None)} | "
              f"{(e[1] if e else 'n/a')} |")
EOF
  log "results in $RESULTS (gpu-proof.md, logs); put the table in docs/cuda.md"
}

case "$MODE" in
  bundle) bundle ;;
  run) run ;;
  all) build; run ;;
  *) echo "usage: $0 [bundle|run]" >&2; exit 2 ;;
esac
