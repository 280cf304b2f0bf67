#!/usr/bin/env bash
# Proof run of the CUDA backend (issues 7 and 17) on one H100/H200, in two device
# calls of at most 5 minutes each; docs/cuda.md ("The GPU run") has the exact calls.
#
#   scripts/gpu-proof.sh bundle     here (floe's build dependencies, nvcc; no GPU):
#                                   build $FLOE_PROOF_BUILD, then pack
#   scripts/gpu-proof.sh pack       pack an existing CUDA build: the three binaries,
#                                   the shared libraries they need (glibc's and CUDA's
#                                   aside) and the Python tools, into .gpu-bundle/
#   scripts/gpu-proof.sh unbundle   unpack .gpu-bundle/ (idempotent) and print the
#                                   library path floe's commands run with
#   scripts/gpu-proof.sh exec CMD.. run CMD with that library path (nothing else sees it)
#   scripts/gpu-proof.sh 1          phase 1, on the GPU: every GPU test suite apart
#                                   (exit code, failures, skips), a failing suite's
#                                   tests again under compute-sanitizer, the bare engine
#   scripts/gpu-proof.sh 2          phase 2, on the GPU: the bare engine again, PyTorch
#                                   (float16, SDPA, padded batches), floe serve + floe
#                                   bench over gRPC, one markdown table
#   scripts/gpu-proof.sh all        build here, then phases 1 and 2 (a local GPU)
#   scripts/gpu-proof.sh check-gtest LOG [ALLOWED_SKIP_RE]
#                                   the verdict on one GoogleTest log (used by 1)
#
# Every step runs under a timeout inside the phase's limit (FLOE_PROOF_LIMIT, 270 s),
# is recorded (verdict, exit code, seconds) and never stops the steps after it. A GPU
# test that skips is a failure. What comes back ($OUT, else FLOE_PROOF_OUT, else
# /tmp/floe-gpu-proof): summary-phaseN.md, phaseN-logs.tar.gz and, in phase 2,
# gpu-proof.md (at most 8 files come back from a device call).
#
# Environment: FLOE_PROOF_BUILD (build-cuda), FLOE_PROOF_BUNDLE (.gpu-bundle),
# FLOE_PROOF_DTYPE (float16), FLOE_PROOF_REQUESTS (256 per batch size end to end),
# FLOE_PROOF_REPLICAS (2), FLOE_PROOF_SERVE_DEVICE (cuda), FLOE_PROOF_LIMIT (270), FLOE_PROOF_PYTHON (python3: the
# one with torch; it never sees floe's libraries), FLOE_SHARED_TOOLS (bertref.py and
# torchbert.py; default ../shared/tools, else the bundle's).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
MODE=${1:-help}
BUILD=${FLOE_PROOF_BUILD:-build-cuda}
# A build folder inside the checkout, named relative to it (its path travels).
case "$BUILD" in "$ROOT"/*) BUILD=${BUILD#"$ROOT"/} ;; /*) echo "gpu-proof: $BUILD is not inside $ROOT" >&2; exit 2 ;; esac
BUNDLE=${FLOE_PROOF_BUNDLE:-.gpu-bundle}
case "$BUNDLE" in /*) ;; *) BUNDLE="$ROOT/$BUNDLE" ;; esac
TARBALL="$BUNDLE/floe-cuda.tar.xz"
DTYPE=${FLOE_PROOF_DTYPE:-float16}
REQUESTS=${FLOE_PROOF_REQUESTS:-256}
REPLICAS=${FLOE_PROOF_REPLICAS:-2}
# floe serve's device: cuda; cpu checks the end-to-end steps on a machine without a GPU.
SERVE_DEVICE=${FLOE_PROOF_SERVE_DEVICE:-cuda}
LIMIT=${FLOE_PROOF_LIMIT:-270}
PY=${FLOE_PROOF_PYTHON:-python3}
RESULTS=${FLOE_PROOF_OUT:-${OUT:-/tmp/floe-gpu-proof}}
# What a device call may carry: the working tree and the carried paths together.
CARRY_LIMIT=$((64 * 1024 * 1024))
# Inside the build folder: the bundled libraries, tools and the bundle's stamp.
PB=proof-bundle
BINS=(floe tests/floe_cuda_tests bench/cuda_engine_bench)
export PATH="$PATH:/usr/local/cuda/bin"

log() { echo "== $*" >&2; }
die() { echo "gpu-proof: $*" >&2; exit 1; }

# glibc's own libraries (never bundled: they must match the machine's ld.so) and
# CUDA's (the GPU machine's driver and toolkit provide them).
GLIBC_RE='^(ld-linux[-a-z0-9_.]*|libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libnsl|libanl|libBrokenLocale|libthread_db|libc_malloc_debug|libmemusage|libpcprofile|libSegFault|libnss_[a-z0-9_]+)\.so'
CUDA_RE='^(libcuda|libcudart|libcublas|libcublasLt|libnvrtc[a-z-]*|libnvJitLink|libcudnn[a-z_]*|libnvidia-[a-z0-9_-]+)\.so'

# ---------------------------------------------------------------- build and pack
build() {
  log "configure + build $BUILD (FLOE_CUDA=ON, sm_80 + sm_90)"
  mkdir -p "$RESULTS"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFLOE_CUDA=ON -DFLOE_BUILD_BENCH=ON \
    > "$RESULTS/cmake.log" 2>&1 || { tail -30 "$RESULTS/cmake.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" --target floe floe_cuda_tests cuda_engine_bench \
    > "$RESULTS/build.log" 2>&1 || { tail -50 "$RESULTS/build.log"; exit 1; }
}

tools_dir() {
  if [ -n "${FLOE_SHARED_TOOLS:-}" ]; then echo "$FLOE_SHARED_TOOLS";
  elif [ -f ../shared/tools/bertref.py ]; then (cd ../shared/tools && pwd);
  elif [ -f "$ROOT/shared/tools/bertref.py" ]; then echo "$ROOT/shared/tools";
  else echo "$ROOT/$BUILD/$PB/tools"; fi
}

# The libraries the binaries load (ldd: transitively) that the bundle must carry.
bundle_libs() {
  local lib base
  ldd "$@" | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    base=${lib##*/}
    if [[ $base =~ $GLIBC_RE || $base =~ $CUDA_RE ]]; then continue; fi
    # glibc's internals (a library of it under another name): never bundle.
    if readelf -W --dyn-syms "$lib" 2>/dev/null | grep -q GLIBC_PRIVATE; then
      echo "gpu-proof: not bundled (GLIBC_PRIVATE): $lib" >&2; continue
    fi
    echo "$lib"
  done
}

# Bytes of what a device call sends besides the carried paths: tracked files and
# untracked files git does not ignore.
tree_bytes() {
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard 2>/dev/null |
    (cd "$ROOT" && xargs -0 -r stat -c %s 2>/dev/null) | awk '{s += $1} END {print s + 0}'
}

pack() {
  local b
  for b in "${BINS[@]}"; do [ -x "$BUILD/$b" ] || die "no $BUILD/$b (build it: scripts/gpu-proof.sh bundle)"; done
  local stage; stage=$(mktemp -d)
  mkdir -p "$stage/$BUILD/$PB/lib" "$stage/$BUILD/$PB/tools" "$stage/$BUILD/tests" "$stage/$BUILD/bench"
  for b in "${BINS[@]}"; do cp "$BUILD/$b" "$stage/$BUILD/$b"; done
  local libs; libs=$(cd "$BUILD" && bundle_libs "${BINS[@]}") || die "ldd failed"
  local lib
  for lib in $libs; do cp -L "$lib" "$stage/$BUILD/$PB/lib/"; done
  local tools; tools=$(tools_dir)
  cp "$tools/bertref.py" "$tools/torchbert.py" "$stage/$BUILD/$PB/tools/" || die "no bertref.py/torchbert.py in $tools"
  # The source path compiled into the test binary (FLOE_TEST_DATA, FLOE_BINARY):
  # unbundle points it at the checkout it runs in.
  local built_root
  built_root=$(grep -aom1 '/[A-Za-z0-9_.+-][A-Za-z0-9_./+-]*/tests/data' "$BUILD/tests/floe_cuda_tests" | head -1)
  built_root=${built_root%/tests/data}
  {
    echo "build=$BUILD"
    echo "built_root=${built_root:-$ROOT}"
    echo "packed=$(date -u +%FT%TZ) on $(uname -n)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  } > "$stage/$BUILD/$PB/manifest"
  (cd "$stage/$BUILD/$PB/lib" && ls) > "$stage/$BUILD/$PB/libs.txt"
  mkdir -p "$BUNDLE" && rm -f "$TARBALL" "$BUNDLE/manifest"
  if git -C "$ROOT" rev-parse --git-dir > /dev/null 2>&1; then
    local exclude; exclude="$(git -C "$ROOT" rev-parse --git-dir)/info/exclude"
    case "$BUNDLE" in "$ROOT"/*)
      mkdir -p "$(dirname "$exclude")"
      grep -qx "/${BUNDLE#"$ROOT"/}/" "$exclude" 2>/dev/null || echo "/${BUNDLE#"$ROOT"/}/" >> "$exclude" ;;
    esac
  fi
  tar -C "$stage" -cf - "$BUILD" | xz -T0 -4 > "$TARBALL.tmp" || die "tar/xz failed"
  mv "$TARBALL.tmp" "$TARBALL"
  cp "$stage/$BUILD/$PB/manifest" "$BUNDLE/manifest"
  echo "sha=$(sha256sum "$TARBALL" | cut -c1-16)" >> "$BUNDLE/manifest"
  local raw; raw=$(du -sb "$stage" | cut -f1)
  rm -rf "$stage"
  local size tree; size=$(stat -c %s "$TARBALL"); tree=$(tree_bytes)
  log "bundle: $(wc -w <<< "$libs") libraries; $((raw / 1048576)) MiB unpacked, $((size / 1048576)) MiB packed; working tree $((tree / 1048576)) MiB"
  [ $((size + tree)) -lt $CARRY_LIMIT ] ||
    die "bundle ($size bytes) + working tree ($tree bytes) exceed the 64 MiB a device call carries"
  log "carry ${BUNDLE#"$ROOT"/} to the GPU machine: docs/cuda.md, \"The GPU run\""
}

# ---------------------------------------------------------------- unbundle
# Sets BUILD, LIBS (the bundled and CUDA library folders) and FLOE_LD (the library
# path of floe's commands: LIBS, then the caller's LD_LIBRARY_PATH, where the
# driver's libcuda may be). Idempotent: unpacks
# when the carried bundle differs from what was unpacked, and finds the libraries
# (bundled, and CUDA's on the machine) even when the unpacked build survived a
# warm machine and the bundle did not travel.
LIBS=
FLOE_LD=${LD_LIBRARY_PATH:-}
unbundle() {
  local sha=
  if [ -f "$BUNDLE/manifest" ] && [ -f "$TARBALL" ]; then
    BUILD=$(sed -n 's/^build=//p' "$BUNDLE/manifest")
    sha=$(sed -n 's/^sha=//p' "$BUNDLE/manifest")
    [ -n "$BUILD" ] || die "$BUNDLE/manifest names no build"
    if [ "$(cat "$BUILD/$PB/stamp" 2>/dev/null)" != "$sha" ]; then
      log "unpack $TARBALL into $BUILD/"
      rm -rf "${BUILD:?}/$PB"
      xz -dc "$TARBALL" | tar -C "$ROOT" -xf - || die "unpacking $TARBALL failed"
      echo "$sha" > "$BUILD/$PB/stamp"
    fi
  elif [ ! -x "$BUILD/floe" ]; then
    # A warm machine whose bundle did not travel again: the build unpacked earlier.
    local stamps; stamps=$(cd "$ROOT" && ls -d ./*/"$PB"/stamp 2>/dev/null)
    if [ "$(wc -w <<< "$stamps")" -eq 1 ]; then BUILD=${stamps#./}; BUILD=${BUILD%%/*}; fi
  fi
  local b
  for b in "${BINS[@]}"; do
    [ -x "$BUILD/$b" ] || die "no $BUILD/$b and no bundle ($TARBALL); see docs/cuda.md"
  done
  # The test binary's compiled source path: make it lead here.
  local built_root
  built_root=$(sed -n 's/^built_root=//p' "$BUILD/$PB/manifest" 2>/dev/null)
  if [ -n "$built_root" ] && [ "$built_root" != "$ROOT" ]; then
    if [ -L "$built_root" ] || [ ! -e "$built_root" ]; then
      mkdir -p "$(dirname "$built_root")" && ln -sfn "$ROOT" "$built_root"
    elif [ ! -d "$built_root/tests/data" ]; then
      echo "gpu-proof: $built_root exists and is not this checkout: the tests will not find tests/data" >&2
    fi
  fi
  LIBS=
  [ -d "$ROOT/$BUILD/$PB/lib" ] && LIBS="$ROOT/$BUILD/$PB/lib"
  set_ld
  # CUDA's libraries where the system loader does not find them: the toolkit's,
  # or the pip wheels beside torch.
  local missing so d found wheels=
  missing=$(missing_libs)
  [ -z "$missing" ] || wheels=$(cuda_wheel_dirs)
  for so in $missing; do
    found=
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
             $wheels; do
      if [ -e "$d/$so" ]; then found=$d; break; fi
    done
    if [ -n "$found" ] && [[ ":$LIBS:" != *":$found:"* ]]; then LIBS="${LIBS:+$LIBS:}$found"; set_ld; fi
  done
}

set_ld() {
  FLOE_LD=$LIBS
  if [ -n "${LD_LIBRARY_PATH:-}" ]; then FLOE_LD="${FLOE_LD:+$FLOE_LD:}$LD_LIBRARY_PATH"; fi
}

cuda_wheel_dirs() {
  timeout 30 "$PY" -c '
import glob, os
try:
    import nvidia
except Exception:
    raise SystemExit
for p in nvidia.__path__:
    for d in sorted(glob.glob(os.path.join(p, "*", "lib")) + glob.glob(os.path.join(p, "cu*", "lib"))):
        print(d)' 2>/dev/null
}

# Sonames the floe binaries do not find with LIBS.
missing_libs() {
  (cd "$ROOT/$BUILD" && env LD_LIBRARY_PATH="$FLOE_LD" ldd "${BINS[@]}" 2>/dev/null) |
    awk '/not found/{print $1}' | sort -u
}

# Runs floe's own commands: only they see LIBS.
fl() { env LD_LIBRARY_PATH="$FLOE_LD" "$@"; }

# ---------------------------------------------------------------- GoogleTest verdicts
# check_gtest LOG [ALLOWED_SKIP_RE]: prints "passed=N failed=N skipped=N bad_skips=N
# finished=0|1" and the tests that failed, skipped against the rule or crashed;
# returns 0 only when the run finished, nothing failed and every skip's message
# matches ALLOWED_SKIP_RE (empty: no skip allowed).
check_gtest() {
  awk -v allow="${2:-}" '
    function name(s) { sub(/,$/, "", s); return s }
    /^\[ RUN      \] / { cur = name($4); open = 1; msg = ""; inskip = 0; next }
    / Skipped$/ { inskip = 1; next }
    /^\[  SKIPPED \] .*ms\)$/ {
      skipped++; open = 0
      if (allow == "" || msg !~ allow) { bad++; badl = badl " " name($4) }
      next }
    /^\[       OK \] .*ms\)$/ { passed++; open = 0; next }
    /^\[  FAILED  \] .*ms\)$/ { failed++; open = 0; faill = faill " " name($4); next }
    /^\[==========\] [0-9]+ tests? from [0-9]+ test suites? ran/ { finished = 1; next }
    inskip { msg = msg $0 " " }
    END {
      if (open) crashed = cur
      printf "passed=%d failed=%d skipped=%d bad_skips=%d finished=%d\n", passed, failed, skipped, bad, finished
      if (faill != "") printf "failed:%s\n", faill
      if (badl != "") printf "skipped on a GPU:%s\n", badl
      if (crashed != "") printf "crashed or hung in: %s\n", crashed
      exit !(finished && failed == 0 && bad == 0 && crashed == "")
    }' "$1"
}

# ---------------------------------------------------------------- steps
T0=$SECONDS
WORK=
LOGS=
PHASE=
STEP_RC=0
STEP_SECS=0

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((10#$t / 1000)); }

# Seconds a step may take: what it asks, bounded by the phase's end (less 12 s
# to write the results). Fails when under 5 s are left.
budget() {
  local left=$((LIMIT - (SECONDS - T0) - 12))
  [ "$left" -ge 5 ] || return 1
  if [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# record NAME VERDICT RC SECONDS NOTE
record() {
  local note=${5//|/\\|}
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${note//$'\n'/; }" >> "$WORK/steps.tsv"
  echo "-- $1: $2 (rc $3, $4 s) ${5//$'\n'/; }" >&2
  summary
}

# step NAME WANT_SECONDS CMD...: CMD under timeout, output in logs/NAME.log; sets
# STEP_RC (124 timed out, 125 no time left) and STEP_SECS. Records nothing.
step() {
  local name=$1 want=$2 t; shift 2
  if ! t=$(budget "$want"); then STEP_RC=125; STEP_SECS=0; return 0; fi
  local t0; t0=$(now_ms)
  timeout -k 5 "$t" "$@" > "$LOGS/$name.log" 2>&1
  STEP_RC=$?
  STEP_SECS=$(( ($(now_ms) - t0 + 500) / 1000 ))
  [ "$STEP_RC" -eq 137 ] && STEP_RC=124
  return 0
}

rc_note() {
  case "$STEP_RC" in
    124) echo "timed out" ;;
    125) echo "not run: the phase's ${LIMIT} s were spent" ;;
    *) echo "exit $STEP_RC" ;;
  esac
}

summary() {
  {
    echo "# floe GPU proof, phase $PHASE"
    echo
    echo "GPU: ${GPU:-unknown}; host $(uname -n); limit ${LIMIT} s, $((SECONDS - T0)) s used;" \
         "bundle $(sed -n 's/^commit=//p' "$ROOT/$BUILD/$PB/manifest" 2>/dev/null || true)"
    echo
    echo "| step | verdict | rc | s | note |"
    echo "|---|---|---:|---:|---|"
    awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$WORK/steps.tsv"
    [ -s "$WORK/table.md" ] && { echo; cat "$WORK/table.md"; }
  } > "$RESULTS/summary-phase$PHASE.md"
}

SERVE_PID=
finish() {
  trap - EXIT TERM INT
  if [ -n "$SERVE_PID" ]; then kill -TERM -- "-$SERVE_PID" 2>/dev/null; sleep 2; kill -KILL -- "-$SERVE_PID" 2>/dev/null; fi
  summary
  [ -s "$WORK/table.md" ] && cp "$WORK/table.md" "$RESULTS/gpu-proof.md"
  tar -C "$WORK" -czf "$RESULTS/phase$PHASE-logs.tar.gz" . 2>/dev/null
  local n; n=$(find "$RESULTS" -type f | wc -l)
  [ "$n" -le 8 ] || echo "gpu-proof: $n files in $RESULTS: a device call brings back 8" >&2
  cat "$RESULTS/summary-phase$PHASE.md"
  if grep -q $'\tFAIL\t' "$WORK/steps.tsv"; then exit 1; fi
  exit 0
}

begin_phase() {
  PHASE=$1
  mkdir -p "$RESULTS"
  rm -f "$RESULTS/summary-phase$PHASE.md" "$RESULTS/phase$PHASE-logs.tar.gz"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/floe-gpu-proof-$PHASE.XXXXXX")
  LOGS=$WORK/logs
  mkdir -p "$LOGS"
  : > "$WORK/steps.tsv"
  trap finish EXIT
  trap 'record killed FAIL 143 0 "terminated (SIGTERM/SIGINT)"; exit 143' TERM INT
  local t0; t0=$(now_ms)
  # unbundle exits on what it cannot mend: try it in a subshell first.
  if ! (unbundle) > "$LOGS/setup.log" 2>&1; then
    record setup FAIL 1 $(( ($(now_ms) - t0 + 500) / 1000 )) "$(tail -2 "$LOGS/setup.log")"; exit 1
  fi
  unbundle 2>> "$LOGS/setup.log"
  local secs=$(( ($(now_ms) - t0 + 500) / 1000 ))
  local missing; missing=$(missing_libs | tr '\n' ' ')
  (cd "$BUILD" && fl ldd "${BINS[@]}") > "$LOGS/ldd.txt" 2>&1
  if [ -n "$missing" ]; then record setup FAIL 1 "$secs" "libraries not found: $missing";
  else record setup PASS 0 "$secs" "library path: ${LIBS:-system}"; fi
  GPU=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  timeout 20 nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
  if [ -n "$GPU" ]; then record gpu PASS 0 0 "$GPU"; else record gpu FAIL 1 0 "nvidia-smi saw no GPU"; GPU="none"; fi
  TOOLS=$(tools_dir)
}

# models/base (arctic-embed-m's shape, seeded weights: the same on every machine)
# and float64 golden vectors for five texts (1 to 400 words).
base_model() {
  if [ ! -f models/base/model.safetensors ]; then
    rm -rf models/base.tmp
    step model 90 "$PY" "$TOOLS/bertref.py" make models/base.tmp \
      --vocab tests/data/models/bert-tiny-cls/vocab.txt --preset base
    if [ "$STEP_RC" -ne 0 ]; then
      record model FAIL "$STEP_RC" "$STEP_SECS" "$(rc_note); $(tail -2 "$LOGS/model.log")"; return 1
    fi
    rm -rf models/base && mv models/base.tmp models/base
    record model PASS 0 "$STEP_SECS" "models/base made"
  fi
  [ "${1:-}" = golden ] || return 0
  [ -s models/base/proof-golden.jsonl ] && return 0
  "$PY" - > "$WORK/golden_in.jsonl" <<'EOF'
import json, random
random.seed(7)
words = "the quick brown fox jumps over a lazy dog while embedding servers batch packed tokens".split()
for n in (1, 5, 40, 120, 400):
    print(json.dumps({"text": " ".join(random.choice(words) for _ in range(n))}))
EOF
  # shellcheck disable=SC2016  # expanded by the inner bash
  step golden_vectors 90 bash -c '"$1" "$2/bertref.py" golden models/base < "$3" > models/base/proof-golden.tmp' \
    _ "$PY" "$TOOLS" "$WORK/golden_in.jsonl"
  if [ "$STEP_RC" -eq 0 ]; then
    mv models/base/proof-golden.tmp models/base/proof-golden.jsonl
    record golden_vectors PASS 0 "$STEP_SECS" ""
  else
    record golden_vectors FAIL "$STEP_RC" "$STEP_SECS" "$(rc_note); $(tail -2 "$LOGS/golden_vectors.log")"
    return 1
  fi
}

# suite NAME WANT_SECONDS FILTER [ALLOWED_SKIP_RE] [min-tests]: one GoogleTest suite of
# floe_cuda_tests under timeout; the verdict from its exit code and its log.
FAILED_SUITES=()
suite() {
  local name=$1 want=$2 filter=$3 allow=${4:-} min=${5:-1}
  step "$name" "$want" env LD_LIBRARY_PATH="$FLOE_LD" FLOE_BASE_MODEL=models/base \
    FLOE_BASE_GOLDEN=models/base/proof-golden.jsonl \
    "$BUILD/tests/floe_cuda_tests" --gtest_color=no "--gtest_filter=$filter" \
    "--gtest_output=xml:$LOGS/$name.xml"
  if [ "$STEP_RC" -eq 125 ]; then record "$name" SKIP - 0 "$(rc_note)"; return; fi
  local verdict counts ran
  if counts=$(check_gtest "$LOGS/$name.log" "$allow") && [ "$STEP_RC" -eq 0 ]; then verdict=PASS; else verdict=FAIL; fi
  ran=$(sed -n '1s/passed=\([0-9]*\) failed=\([0-9]*\) skipped=\([0-9]*\).*/\1 \2 \3/p' <<< "$counts" | awk '{print $1 + $2 + $3}')
  if [ "${ran:-0}" -lt "$min" ]; then verdict=FAIL; counts="$counts; no test matched $filter"; fi
  [ "$STEP_RC" -eq 0 ] || counts="$(rc_note); $counts"
  local extra; extra=$(grep -E '^\[ [a-z0-9_-]+ [a-z0-9]+ \] min cosine' "$LOGS/$name.log" | tr '\n' ' ')
  # The whole list is in the log; the summary keeps its start.
  counts=${counts//$'\n'/; }
  [ "${#counts}" -le 360 ] || counts="${counts:0:360}... (see logs/$name.log)"
  record "$name" "$verdict" "$STEP_RC" "$STEP_SECS" "$counts${extra:+; $extra}"
  if [ "$verdict" = FAIL ]; then FAILED_SUITES+=("$name|$filter"); fi
}

# The failed (or crashed) tests of each failing suite once more under
# compute-sanitizer memcheck, in the time left after the timings.
sanitize_failures() {
  [ "${#FAILED_SUITES[@]}" -gt 0 ] || return 0
  local cs; cs=$(command -v compute-sanitizer || true)
  if [ -z "$cs" ]; then record sanitizer SKIP - 0 "compute-sanitizer not on this machine"; return 0; fi
  local entry name filter tests
  for entry in "${FAILED_SUITES[@]}"; do
    name=${entry%%|*}; filter=${entry#*|}
    tests=$(check_gtest "$LOGS/$name.log" | sed -n 's/^failed://p; s/^crashed or hung in: //p' | tr -s ' \n' '::' | sed 's/^://; s/:$//')
    step "memcheck_$name" 90 "$cs" --tool memcheck --error-exitcode 99 --print-limit 30 \
      --target-processes all env LD_LIBRARY_PATH="$FLOE_LD" FLOE_BASE_MODEL=models/base \
      FLOE_BASE_GOLDEN=models/base/proof-golden.jsonl "$BUILD/tests/floe_cuda_tests" --gtest_color=no \
      "--gtest_filter=${tests:-$filter}"
    local log="$LOGS/memcheck_$name.log" note
    note="rerun of ${tests:-$filter}"
    if [ "$STEP_RC" -eq 125 ]; then record "memcheck_$name" SKIP - 0 "$(rc_note)"; continue; fi
    if grep -qE 'Device not supported|Unable to|Target application terminated before first instrumented API call|Error: No attachable process' "$log"; then
      record "memcheck_$name" SKIP "$STEP_RC" "$STEP_SECS" "compute-sanitizer unusable here: $(grep -m1 -E 'Device not supported|Unable to|terminated before|No attachable' "$log" | cut -c1-160)"
    elif [ "$STEP_RC" -eq 99 ] || grep -q 'ERROR SUMMARY: [1-9]' "$log"; then
      record "memcheck_$name" FAIL "$STEP_RC" "$STEP_SECS" "$note: $(grep -m1 'ERROR SUMMARY' "$log"); first: $(grep -m1 -E '^========= (Invalid|Program hit|Uninitialized|Race|Barrier)' "$log" | cut -c1-200)"
    else
      record "memcheck_$name" INFO "$STEP_RC" "$STEP_SECS" "$note: $(grep -m1 'ERROR SUMMARY' "$log" || rc_note)"
    fi
  done
}

# The bare engine: google-benchmark's JSON, tokens/s per (tokens, batch).
# engine_bench NAME WANT [VAR=VALUE...]: the variables go to the bench only.
engine_bench() {
  local name=$1 want=$2; shift 2
  step "$name" "$want" env LD_LIBRARY_PATH="$FLOE_LD" FLOE_BENCH_MODEL=models/base FLOE_BENCH_DTYPE="$DTYPE" "$@" \
    "$BUILD/bench/cuda_engine_bench" --benchmark_min_time=2 --benchmark_out_format=json \
    "--benchmark_out=$WORK/$name.json"
  if [ "$STEP_RC" -eq 125 ]; then record "$name" SKIP - 0 "$(rc_note)"; return; fi
  local rows; rows=$("$PY" - "$WORK/$name.json" <<'EOF' 2>/dev/null
import json, sys
ok = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if not b.get("error_occurred")]
print(" ".join("%s=%.0f" % (b["name"].replace("BM_CudaEncoderForward/", "").replace("/real_time", ""),
                            b["tokens_per_s"]) for b in ok))
EOF
)
  local n; n=$(wc -w <<< "$rows")
  if [ "$STEP_RC" -eq 0 ] && [ "$n" -eq 6 ]; then record "$name" PASS 0 "$STEP_SECS" "$DTYPE tokens/s: $rows";
  else record "$name" FAIL "$STEP_RC" "$STEP_SECS" "$(rc_note); $n of 6 timed${rows:+: $rows}; $(grep -m1 -iE 'error|fail' "$LOGS/$name.log" | cut -c1-160)"; fi
}

phase1() {
  begin_phase 1
  base_model golden
  # Every test of floe_cuda_tests lands in exactly one suite; "rest" catches new
  # ones. The timing runs second, so that failing or slow suites cannot starve it.
  suite build 45 'CudaBuildTest.*' 'a GPU is present'
  engine_bench engine 75
  # ops_<dtype>: every op against the CPU (CudaOpsTest, CudaModernOpsTest), the
  # products' row buckets and shared plans (CudaPlanTest) and the CUDA graphs
  # (CudaGraphTest), per dtype.
  local t
  for t in float32 float16 bfloat16; do
    suite "ops_$t" 75 "Types/CudaOpsTest.*/$t:Types/CudaModernOpsTest.*/$t:Types/CudaPlanTest.*/$t:Types/CudaGraphTest.*/$t"
  done
  suite golden 45 'Fixtures/CudaGoldenTest.*'
  suite base 75 'CudaBaseModelGoldenTest.*'
  # rest: the attention tests (issue 17; CPU references up to 8192 tokens,
  # the tensor-core kernel's host emulation ~7 s on 2 cores) and the others.
  suite rest 60 '-CudaBuildTest.*:Types/CudaOpsTest.*:Types/CudaModernOpsTest.*:Types/CudaPlanTest.*:Types/CudaGraphTest.*:Fixtures/CudaGoldenTest.*:CudaBaseModelGoldenTest.*' '' 0
  sanitize_failures
}

# PyTorch float16 with SDPA on the same weights, padded batches as users run it.
torch_bench() {
  step torch 100 env PYTHONUNBUFFERED=1 "$PY" - "$TOOLS" models/base "$WORK/torch.jsonl" <<'EOF'
import json, sys, time
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
out = open(sys.argv[3], "w")
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
        row = {"seq": seq, "batch": batch, "tokens_per_s": seq * batch / dt,
               "torch": torch.__version__}
        print(json.dumps(row), file=out, flush=True)
        print(row)
EOF
  local n; n=$(grep -c tokens_per_s "$WORK/torch.jsonl" 2>/dev/null)
  if [ "$STEP_RC" -eq 125 ]; then record torch SKIP - 0 "$(rc_note)";
  elif [ "$STEP_RC" -eq 0 ] && [ "${n:-0}" -eq 6 ]; then record torch PASS 0 "$STEP_SECS" "torch $(sed -n '1s/.*"torch": "\([^"]*\)".*/\1/p' "$WORK/torch.jsonl")";
  else record torch FAIL "$STEP_RC" "$STEP_SECS" "$(rc_note); ${n:-0} of 6 timed; $(tail -2 "$LOGS/torch.log" | cut -c1-200)"; fi
}

# floe serve (--device cuda, REPLICAS replicas) + floe bench over gRPC at 512 and 50 tokens.
e2e() {
  local port=50651 t
  if ! t=$(budget 60); then record serve SKIP - 0 "not run: the phase's ${LIMIT} s were spent"; return; fi
  local gpus=(--num-gpus 1); [ "$SERVE_DEVICE" != cpu ] || gpus=()
  setsid env LD_LIBRARY_PATH="$FLOE_LD" "$BUILD/floe" serve --model models/base --device "$SERVE_DEVICE" \
    --dtype "$DTYPE" "${gpus[@]}" --num-replicas "$REPLICAS" --max-batch-tokens 32768 \
    --port $port --http-port 0 > "$LOGS/serve.log" 2>&1 &
  SERVE_PID=$!
  local t0=$SECONDS up=
  while [ $((SECONDS - t0)) -lt "$t" ]; do
    if timeout 10 env LD_LIBRARY_PATH="$FLOE_LD" "$BUILD/floe" client --prompt hello --port $port > /dev/null 2>&1; then up=1; break; fi
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 1
  done
  if [ -z "$up" ]; then
    record serve FAIL 1 $((SECONDS - t0)) "not answering: $(tail -3 "$LOGS/serve.log" | cut -c1-200)"; return
  fi
  record serve PASS 0 $((SECONDS - t0)) "$REPLICAS replicas, $DTYPE, ready"
  : > "$WORK/e2e.jsonl"
  # One floe bench per (tokens, batch): a timeout loses one row, not the table.
  local len batch name
  for len in 512 50; do
    for batch in 1 16 64; do
      name=e2e_${len}x$batch
      step "$name" 25 env LD_LIBRARY_PATH="$FLOE_LD" "$BUILD/floe" bench --server 127.0.0.1:$port \
        --batch-sizes $batch --requests "$REQUESTS" --concurrency 64 --prompt-length $len --json --quiet
      grep '^[[{]' "$LOGS/$name.log" >> "$WORK/e2e.jsonl"
      if [ "$STEP_RC" -eq 125 ]; then record "$name" SKIP - 0 "$(rc_note)";
      elif [ "$STEP_RC" -eq 0 ]; then record "$name" PASS 0 "$STEP_SECS" "$REQUESTS requests";
      else record "$name" FAIL "$STEP_RC" "$STEP_SECS" "$(rc_note) (failed requests show in the success column); $(grep -v '^[[{]' "$LOGS/$name.log" | tail -2 | cut -c1-200)"; fi
    done
  done
  kill -TERM -- "-$SERVE_PID" 2>/dev/null
  for _ in $(seq 1 10); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID" 2>/dev/null
  SERVE_PID=
}

table() {
  "$PY" - "$WORK" "$GPU" "$DTYPE" "$REPLICAS" > "$WORK/table.md" 2> "$LOGS/table.log" <<'EOF'
import json, os, sys
work, gpu, dtype, replicas = sys.argv[1:5]
def rows(path):
    if not os.path.exists(path):
        return []
    out = []
    for l in open(path):
        l = l.strip()
        if l:
            v = json.loads(l)
            out += v if isinstance(v, list) else [v]
    return out
floe = {}
if os.path.exists(work + "/engine.json"):
    for b in json.load(open(work + "/engine.json"))["benchmarks"]:
        if b.get("error_occurred"):
            continue
        # name: BM_CudaEncoderForward/seq:512/batch:16/real_time
        parts = dict(p.split(":") for p in b["name"].split("/") if ":" in p)
        floe[(int(parts["seq"]), int(parts["batch"]))] = b["tokens_per_s"]
torch_rows = rows(work + "/torch.jsonl")
torch_tps = {(r["seq"], r["batch"]): r["tokens_per_s"] for r in torch_rows}
e2e = {(r["prompt_length"], r["batch_size"]): (r["tokens_per_s"], r.get("success_rate", 1))
       for r in rows(work + "/e2e.jsonl")}
tv = torch_rows[0]["torch"] if torch_rows else "?"
print(f"GPU: {gpu}; floe {dtype}, PyTorch {tv} float16 + SDPA, same weights and machine; "
      f"end to end: floe serve ({replicas} replicas) + floe bench over gRPC, tokenization included\n")
print("| tokens | batch | floe engine tok/s | PyTorch tok/s | floe / PyTorch | floe serve e2e tok/s | e2e success |")
print("|---:|---:|---:|---:|---:|---:|---:|")
fmt = lambda v: f"{v:,.0f}" if v else "n/a"
for seq in (512, 50):
    for batch in (1, 16, 64):
        f, t, e = floe.get((seq, batch)), torch_tps.get((seq, batch)), e2e.get((seq, batch))
        ratio = f"{f / t:.2f}x" if f and t else "n/a"
        print(f"| {seq} | {batch} | {fmt(f)} | {fmt(t)} | {ratio} | {fmt(e[0] if e else None)} | "
              f"{(e[1] if e else 'n/a')} |")
EOF
}

phase2() {
  begin_phase 2
  base_model
  engine_bench engine 75
  torch_bench
  e2e
  # The fast Q/K/V path (rounded to the compute type, tensor-core attention)
  # against the default precise one (float32 Q/K/V copies, CUDA-core
  # attention; docs/cuda.md), last, so that it only spends time left over.
  engine_bench engine_qkv_compute 60 FLOE_CUDA_QKV=compute
  table || record table FAIL 1 0 "$(tail -2 "$LOGS/table.log")"
}

case "$MODE" in
  bundle) build && pack ;;
  pack) pack ;;
  unbundle) unbundle && echo "$FLOE_LD" ;;
  exec) shift; unbundle && fl "$@" ;;
  1|tests) phase1 ;;
  2|torch) phase2 ;;
  all) build && ("$0" 1; "$0" 2) ;;
  check-gtest) check_gtest "$2" "${3:-}" ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; [ "$MODE" = help ] ;;
esac
