#!/usr/bin/env bash
# floe for aarch64 (ARM64), cross-built on an x86-64 Debian 12, and the unit tests of the
# layers below the server run under qemu-user (`make arm64`; issue 16,
# docs/cpu-performance.md "ARM64"). Idempotent:
#   1. installs the Debian packages that are missing: the cross compiler
#      (g++-aarch64-linux-gnu), qemu-user and mmdebstrap;
#   2. makes an arm64 Debian root holding floe's libraries (oneDNN, utf8proc, nlohmann
#      json, cpp-httplib, libcurl, OpenSSL, GoogleTest) with mmdebstrap, from the archive
#      the host's apt uses; once, kept in $FLOE_ARM64_SYSROOT (default
#      ~/.cache/floe/arm64-root) and made again only when its package list changes;
#   3. configures $ARM64_BUILD (build-arm64) with cmake/toolchain-aarch64.cmake (no
#      server, no benchmarks), builds the test binaries of core, backend, model, text,
#      engine, encoders, api and hub, and runs them with ctest, each under qemu-aarch64.
# Usage: scripts/arm64-test.sh [ctest arguments, e.g. -R Tokenizer]
# Environment: ARM64_BUILD, JOBS (default nproc), FLOE_ARM64_SYSROOT, ARM64_ALL=1 (also
# the slowest tests).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${ARM64_BUILD:-build-arm64}"
JOBS="${JOBS:-$(nproc)}"
ROOT="${FLOE_ARM64_SYSROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/floe/arm64-root}"
HOST_PKGS=(g++-aarch64-linux-gnu qemu-user mmdebstrap cmake make pkg-config)
TEST_TARGETS=(floe_core_tests floe_backend_tests floe_model_tests floe_text_tests
              floe_engine_tests floe_encoders_tests floe_api_tests floe_hub_tests)
# ctest entries that are not these unit tests: shell scripts for the host's own build.
NOT_UNIT='^(install_consumer|deploy_manifests|peer_real_bench_help)$'
# The slowest under emulation (minutes each: long-sequence attention, an 8k-token pass,
# int8 products at many sizes; all also run natively by `make test`) are left out to
# keep CI's step short; ARM64_ALL=1 runs them too.
SLOW='AttendLongAcrossBlocks|Int8ProductsStayWithinTheirRounding|LongSequenceTest\.'
if [ "${ARM64_ALL:-0}" != 0 ]; then SLOW=''; fi

die() {
  echo "arm64-test: $*" >&2
  exit 1
}
say() { echo "arm64-test: $* [$(date -u +%T)]" >&2; }
start=$(date +%s)

case "$(uname -m)" in
  x86_64) ;;
  aarch64) die "this is an aarch64 machine: build natively with 'make test'" ;;
  *) die "cross build from x86-64 only (this is $(uname -m))" ;;
esac

# 1. Host packages.
missing=()
for p in "${HOST_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install ${missing[*]}"
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed (above)"
fi

# 2. The arm64 root: the C library and libstdc++ of the cross compiler's version, and
# floe's libraries, as an arm64 Debian of the host's release has them.
gcc_major="$(aarch64-linux-gnu-g++ -dumpversion | cut -d. -f1)"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$suite" ] || die "no VERSION_CODENAME in /etc/os-release"
ROOT_PKGS=(libc6-dev "libstdc++-${gcc_major}-dev" libdnnl-dev libutf8proc-dev
           nlohmann-json3-dev libcpp-httplib-dev libgtest-dev libcurl4-openssl-dev libssl-dev)
want="$suite arm64: ${ROOT_PKGS[*]}"
if [ "$(cat "$ROOT/.floe-arm64-root" 2>/dev/null)" != "$want" ]; then
  # The host's own apt sources (the same archive and mirror).
  sources=""
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -qv '^\s*#' "$f"; then
      sources="$f"
      break
    fi
  done
  [ -n "$sources" ] || die "no apt sources on this host to take the arm64 packages from"
  say "making the arm64 root $ROOT ($suite, from $sources): ${ROOT_PKGS[*]}"
  mkdir -p "$(dirname "$ROOT")"
  rm -rf "$ROOT.tmp"
  include="$(IFS=,; echo "${ROOT_PKGS[*]}")"
  mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$include" \
    "$suite" "$ROOT.tmp" "$sources" >&2 ||
    die "mmdebstrap could not make the arm64 root (above): are all of ${ROOT_PKGS[*]} in $suite for arm64?"
  rm -rf "$ROOT"
  mv "$ROOT.tmp" "$ROOT"
  echo "$want" >"$ROOT/.floe-arm64-root"
fi

# 3. Configure, build the unit-test binaries, run them under qemu-aarch64.
cmake_args=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64.cmake"
            -DFLOE_ARM64_SYSROOT="$ROOT" -DCMAKE_BUILD_TYPE=Release
            -DFLOE_BUILD_SERVE=OFF -DFLOE_BUILD_BENCH=OFF)
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
say "configuring $BUILD"
# CC/CXX (.ci/run names the host compiler) must not override the toolchain file's.
env -u CC -u CXX cmake -S . -B "$BUILD" "${cmake_args[@]}" >/dev/null ||
  die "cmake could not configure $BUILD (above)"
say "building ${TEST_TARGETS[*]}"
cmake --build "$BUILD" -j "$JOBS" --target "${TEST_TARGETS[@]}"
say "running the tests under qemu-aarch64"
status=0
exclude="$NOT_UNIT${SLOW:+|$SLOW}"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS" -E "$exclude" "$@") || status=$?
say "done in $(($(date +%s) - start)) s (exit $status)"
exit $status
