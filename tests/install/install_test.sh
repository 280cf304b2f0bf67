#!/usr/bin/env bash
# `cmake --install` into a fresh prefix, then a project outside the tree finds the
# package (find_package(floe)), links floe::floe and embeds a text with it.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
model="$here/../data/models/bert-tiny-cls"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
for f in bin/floe include/floe/embedder.h include/floe/runtime_options.h include/floe/status.h \
         include/floe/export.h \
         lib/cmake/floe/floeConfig.cmake lib/cmake/floe/floeConfigVersion.cmake \
         lib/cmake/floe/floeTargets.cmake; do
  [ -e "$work/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
ls "$work/prefix"/lib*/libfloe.so* >/dev/null || { echo "FAIL: libfloe.so not installed"; exit 1; }

version=$("$work/prefix/bin/floe" --version)
echo "installed: $version"
[[ "$version" == "floe "* ]] || { echo "FAIL: floe --version said '$version'"; exit 1; }

cmake -S "$here/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" -j 2 >"$work/build.log" || { cat "$work/build.log"; exit 1; }
out=$("$work/consumer/consumer" "$model")
echo "consumer: $out"
read -r dim norm <<<"$out"
[ "$dim" -gt 0 ] || { echo "FAIL: dimension $dim"; exit 1; }
awk -v n="$norm" 'BEGIN { exit !(n > 0.999 && n < 1.001) }' || { echo "FAIL: norm $norm"; exit 1; }

# A version the package is not compatible with is refused.
if cmake -S "$here/consumer" -B "$work/consumer-v9" -DCMAKE_PREFIX_PATH="$work/prefix" \
     -DFLOE_MIN_VERSION=9.0 >"$work/v9.log" 2>&1; then
  echo "FAIL: find_package(floe 9.0) accepted version 0.x"; exit 1
fi
echo "PASS"
