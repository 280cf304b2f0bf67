#!/usr/bin/env bash
# Installs the Debian packages floe needs, only those missing. Idempotent: a second run
# with everything present does nothing and touches no network.
set -euo pipefail
PKGS=(
  cmake g++ make pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libutf8proc-dev libdnnl-dev
  libcli11-dev libcpp-httplib-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-numpy python3-grpcio python3-protobuf python3-dev curl
  libcurl4-openssl-dev libssl-dev
  haproxy iproute2
  ccache  # .ci/run: the wheel and CUDA builds reuse `make build`'s objects
)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
