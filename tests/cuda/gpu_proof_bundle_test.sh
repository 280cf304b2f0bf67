#!/usr/bin/env bash
# shellcheck disable=SC2015  # ok and fail always return 0: A && ok || fail is an if
# The GPU proof's bundle, checked without a GPU (issue 17): scripts/gpu-proof.sh
# packs a CUDA build into a clean folder; the bundle holds no glibc library and,
# with the working tree, fits the 64 MiB a device call carries; unpacked into
# another clean checkout, ldd of every bundled binary resolves against the bundle,
# system glibc and CUDA's libraries only, the binaries run from there, unbundle is
# idempotent and still finds the libraries when the bundle is gone (a warm
# machine), Python never sees the bundle, and the GoogleTest verdicts hold.
#
#   tests/cuda/gpu_proof_bundle_test.sh SOURCE_DIR BUILD_DIR   (BUILD_DIR inside SOURCE_DIR)
set -uo pipefail
SRC=$(cd "$1" && pwd)
BUILDDIR=$(cd "$2" && pwd)
case "$BUILDDIR" in "$SRC"/*) REL=${BUILDDIR#"$SRC"/} ;;
  *) echo "SKIP: $BUILDDIR is not inside $SRC (the proof packs a build folder of the checkout)"; exit 77 ;; esac
SCRIPT=$SRC/scripts/gpu-proof.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
GLIBC_RE='^(ld-linux[-a-z0-9_.]*|libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libnsl|libanl|libBrokenLocale|libthread_db|libnss_[a-z0-9_]+)\.so'
CUDA_RE='^(libcuda|libcudart|libcublas|libcublasLt|libnvrtc[a-z-]*|libnvJitLink|libnvidia-[a-z0-9_-]+)\.so'

# Tools the bundle carries: the shared ones, or stand-ins where this checkout has none.
TOOLS=$SRC/../shared/tools
if [ ! -f "$TOOLS/bertref.py" ] || [ ! -f "$TOOLS/torchbert.py" ]; then
  TOOLS=$T/tools; mkdir -p "$TOOLS"; echo 'raise SystemExit("stand-in")' > "$TOOLS/bertref.py"
  cp "$TOOLS/bertref.py" "$TOOLS/torchbert.py"
fi

# A python3 that records the LD_LIBRARY_PATH it is started with (unbundle asks it
# for torch's CUDA wheels).
mkdir -p "$T/fakepy"
cat > "$T/fakepy/python3" <<EOF
#!/bin/sh
echo "LD_LIBRARY_PATH=\${LD_LIBRARY_PATH:-}" >> "$T/python-env.txt"
exit 0
EOF
chmod +x "$T/fakepy/python3"

# 1. pack into a clean folder
t0=$SECONDS
if ! FLOE_PROOF_BUILD=$REL FLOE_PROOF_BUNDLE=$T/bundle FLOE_SHARED_TOOLS=$TOOLS \
    FLOE_PROOF_PYTHON=$T/fakepy/python3 "$SCRIPT" pack > "$T/pack.log" 2>&1; then
  cat "$T/pack.log"; echo "FAIL: pack"; exit 1
fi
tail -3 "$T/pack.log"
ok "pack in $((SECONDS - t0)) s"
TAR=$T/bundle/floe-cuda.tar.xz
[ -f "$T/bundle/manifest" ] || fail "no manifest beside the bundle"
size=$(stat -c %s "$TAR")
tree=$(git -C "$SRC" ls-files -z --cached --others --exclude-standard 2>/dev/null |
  (cd "$SRC" && xargs -0 -r stat -c %s 2>/dev/null) | awk '{s += $1} END {print s + 0}')
echo "bundle $size bytes ($((size / 1048576)) MiB), working tree $tree bytes ($((tree / 1048576)) MiB)"
[ $((size + tree)) -lt $((64 * 1048576)) ] && ok "bundle + tree under 64 MiB" || fail "bundle + tree over 64 MiB"

# 2. no glibc library inside, none with GLIBC_PRIVATE, no CUDA library
mkdir -p "$T/peek" && xz -dc "$TAR" | tar -C "$T/peek" -xf - || fail "bundle does not unpack"
LIBDIR=$T/peek/$REL/proof-bundle/lib
nlibs=$(find "$LIBDIR" -maxdepth 1 -type f | wc -l)
echo "bundled libraries: $nlibs, $(du -sm "$T/peek" | cut -f1) MiB unpacked"
[ "$nlibs" -gt 0 ] || fail "no library bundled"
for f in "$LIBDIR"/*; do
  b=${f##*/}
  [[ $b =~ $GLIBC_RE ]] && fail "glibc library bundled: $b"
  [[ $b =~ $CUDA_RE ]] && fail "CUDA library bundled: $b"
  readelf -W --dyn-syms "$f" 2>/dev/null | grep -q GLIBC_PRIVATE && fail "bundled $b uses GLIBC_PRIVATE"
done
ok "no glibc, GLIBC_PRIVATE or CUDA library in the bundle"

# 3. unbundle into another clean checkout
D=$T/checkout
mkdir -p "$D/scripts" && cp "$SCRIPT" "$D/scripts/" && cp -r "$T/bundle" "$D/.gpu-bundle"
run_unbundle() { FLOE_PROOF_PYTHON=$T/fakepy/python3 "$D/scripts/gpu-proof.sh" unbundle 2> "$T/unbundle.err"; }
LD=$(run_unbundle) || { cat "$T/unbundle.err"; fail "unbundle"; }
grep -q "unpack" "$T/unbundle.err" || fail "first unbundle did not unpack"
[[ ":$LD:" == *":$D/$REL/proof-bundle/lib:"* ]] && ok "library path: $LD" || fail "library path lacks the bundle: $LD"
for b in floe tests/floe_cuda_tests bench/cuda_engine_bench; do
  [ -x "$D/$REL/$b" ] || { fail "not unpacked: $REL/$b"; continue; }
  out=$(cd "$D/$REL" && LD_LIBRARY_PATH=$LD ldd "$b" 2>&1)
  grep -q 'not found' <<< "$out" && fail "$b: $(grep 'not found' <<< "$out" | tr -s ' \n' ' ')"
  # Every library from the bundle, glibc or CUDA: nothing else of this machine.
  while read -r so path; do
    case "$path" in "$D/$REL/proof-bundle/lib/"*) continue ;; esac
    [[ $so =~ $GLIBC_RE || $so =~ $CUDA_RE ]] && continue
    fail "$b loads $so from $path, outside the bundle"
  done < <(awk '/=> \//{print $1, $3}' <<< "$out")
done
ok "ldd: every bundled binary resolves against the bundle + glibc + CUDA"

# 4. the binaries run from there, with the library path through `exec` only
"$D/scripts/gpu-proof.sh" exec "$REL/floe" --help > "$T/help.txt" 2>&1 && grep -q serve "$T/help.txt" &&
  ok "floe --help from the unbundled checkout" || { cat "$T/help.txt"; fail "floe --help"; }
"$D/scripts/gpu-proof.sh" exec "$REL/tests/floe_cuda_tests" --gtest_list_tests > "$T/list.txt" 2>&1 &&
  grep -q CudaBuildTest "$T/list.txt" && ok "floe_cuda_tests --gtest_list_tests ($(grep -c '^  ' "$T/list.txt") tests)" ||
  { tail -5 "$T/list.txt"; fail "floe_cuda_tests --gtest_list_tests"; }

# 5. idempotent, and a warm machine whose bundle did not travel again
LD2=$(run_unbundle) || fail "second unbundle"
grep -q "unpack" "$T/unbundle.err" && fail "second unbundle unpacked again"
[ "$LD2" = "$LD" ] || fail "second unbundle: library path $LD2"
rm -rf "$D/.gpu-bundle"
LD3=$(run_unbundle) || { cat "$T/unbundle.err"; fail "unbundle without the bundle"; }
[[ ":$LD3:" == *":$D/$REL/proof-bundle/lib:"* ]] && ok "no bundle, unpacked build kept: library path still set" ||
  fail "without the bundle the library path lacks it: $LD3"

# 6. Python never saw the bundle's libraries
if [ -f "$T/python-env.txt" ]; then
  grep -q proof-bundle "$T/python-env.txt" && fail "python3 started with the bundle's libraries" ||
    ok "python3 started $(wc -l < "$T/python-env.txt") times, never with the bundle's libraries"
fi
grep -nE '^[^#]*export +LD_LIBRARY_PATH' "$SCRIPT" && fail "the proof exports LD_LIBRARY_PATH"

# 7. GoogleTest verdicts: this machine has no GPU, so every GPU test skips and
# the proof's check must call that a failure; the CPU-only test passes.
(cd "$D" && scripts/gpu-proof.sh exec "$REL/tests/floe_cuda_tests" --gtest_color=no) > "$T/all.log" 2>&1
if "$D/scripts/gpu-proof.sh" check-gtest "$T/all.log" > "$T/verdict.txt"; then
  if grep -q 'no CUDA GPU present' "$T/all.log"; then fail "GPU tests skipped and check-gtest passed"; fi
else
  grep -q '^skipped on a GPU: .*Types/CudaOpsTest' "$T/verdict.txt" && ok "skipped GPU tests fail the check: $(head -1 "$T/verdict.txt")" ||
    { cat "$T/verdict.txt"; fail "check-gtest did not name the skipped GPU tests"; }
fi
(cd "$D" && scripts/gpu-proof.sh exec "$REL/tests/floe_cuda_tests" --gtest_color=no \
  --gtest_filter=CudaBuildTest.CpuBackendStillWorks) > "$T/one.log" 2>&1
"$D/scripts/gpu-proof.sh" check-gtest "$T/one.log" > "$T/verdict.txt" && ok "CudaBuildTest.CpuBackendStillWorks from the unbundled checkout" ||
  { cat "$T/verdict.txt"; tail -5 "$T/one.log"; fail "CpuBackendStillWorks from the unbundled checkout"; }
cat > "$T/skip.log" <<'EOF'
[==========] Running 2 tests from 1 test suite.
[ RUN      ] CudaBuildTest.A
x.cc:3: Skipped
a GPU is present

[  SKIPPED ] CudaBuildTest.A (0 ms)
[ RUN      ] CudaBuildTest.B
x.cc:9: Skipped
no CUDA GPU present

[  SKIPPED ] CudaBuildTest.B (0 ms)
[==========] 2 tests from 1 test suite ran. (1 ms total)
EOF
v=$("$D/scripts/gpu-proof.sh" check-gtest "$T/skip.log" 'a GPU is present') && fail "a skip without a GPU passed" ||
  { grep -q 'skipped on a GPU: CudaBuildTest.B$' <<< "$v" && ok "allowed skip kept, other skip failed"; } || fail "skip verdict: $v"
head -5 "$T/skip.log" > "$T/crash.log"
v=$("$D/scripts/gpu-proof.sh" check-gtest "$T/crash.log" 'a GPU is present') && fail "a crashed run passed" ||
  { grep -q 'crashed or hung in: CudaBuildTest.A' <<< "$v" && ok "crash named"; } || fail "crash verdict: $v"
printf '%s\n' '[ RUN      ] Types/CudaOpsTest.X/bfloat16' 'x.cc:1: Failure' \
  '[  FAILED  ] Types/CudaOpsTest.X/bfloat16, where GetParam() = 4-byte object <02-00 00-00> (5 ms)' \
  '[==========] 1 test from 1 test suite ran. (5 ms total)' > "$T/failed.log"
v=$("$D/scripts/gpu-proof.sh" check-gtest "$T/failed.log") && fail "a failed test passed" ||
  { grep -q '^failed: Types/CudaOpsTest.X/bfloat16$' <<< "$v" && ok "failed test named"; } || fail "failure verdict: $v"

bash -n "$SCRIPT" || fail "bash -n"
if command -v shellcheck > /dev/null; then shellcheck "$SCRIPT" && ok shellcheck || fail shellcheck; fi
[ "$FAILS" -eq 0 ] && echo "PASS" || { echo "$FAILS failure(s)"; exit 1; }
