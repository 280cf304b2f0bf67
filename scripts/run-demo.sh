#!/usr/bin/env bash
# `make run`: starts `floe serve` on the demo model and prints a curl line that
# works. Usage: scripts/run-demo.sh [FLOE_BINARY] [MODEL]. Ctrl-C (SIGINT) or
# SIGTERM stops the server cleanly. Ports: FLOE_HTTP_PORT (8080), FLOE_PORT (50050).
set -euo pipefail
floe="${1:-build/floe}"
model="${2:-models/demo}"
http_port="${FLOE_HTTP_PORT:-8080}"
grpc_port="${FLOE_PORT:-50050}"
host="${FLOE_HOST:-127.0.0.1}"
if [ ! -x "$floe" ]; then
  echo "run-demo: $floe not found; run 'make build' first" >&2
  exit 1
fi
"$floe" serve --model "$model" --host "$host" --port "$grpc_port" --http-port "$http_port" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' INT TERM
for _ in $(seq 1 300); do
  if curl -fs "http://$host:$http_port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $pid 2>/dev/null; then
    echo "run-demo: floe serve exited during startup (see above)" >&2
    wait $pid || exit $?
    exit 1
  fi
  sleep 0.1
done
cat <<MSG

floe is serving '$model': HTTP on $host:$http_port, gRPC on $host:$grpc_port. Try:

  curl -s http://$host:$http_port/v1/embeddings -H 'Content-Type: application/json' \\
    -d '{"input": ["floe embeds text", "fast"], "model": "$model"}'

  curl -s http://$host:$http_port/info
  $floe client --prompt "floe embeds text" --host $host --port $grpc_port

Ctrl-C stops it.
MSG
wait $pid
