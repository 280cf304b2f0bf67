#!/usr/bin/env bash
# Past one machine, on one machine: three `floe serve` hosts, each in its own network
# namespace with its own address (ip netns + a veth pair), HAProxy in front with the
# shipped reference config (deploy/haproxy.cfg) for gRPC (HTTP/2) and HTTP.
#  1. `floe bench` with 1, 2 and 3 hosts, straight (--server a,b,c) and through HAProxy.
#  2. Host 2 is killed (SIGKILL, every process in its namespace) in the middle of a
#     bench run through HAProxy: every request must still succeed (retries +
#     health checks), for gRPC and for HTTP.
#  3. Host 2 comes back: HAProxy's checks put it back in service and it takes traffic.
# Exit 77 (ctest: skipped) without root, network namespaces or HAProxy.
# Usage: multihost_test.sh FLOE_BINARY
set -uo pipefail
floe=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
model="$repo/tests/data/models/bert-tiny-cls"
cfg="$repo/deploy/haproxy.cfg"

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*"
  for f in "${work:-/nonexistent}"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "no iproute2"
command -v curl >/dev/null || skip "no curl"
command -v python3 >/dev/null || skip "no python3"
if ! command -v haproxy >/dev/null; then
  DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq --no-install-recommends \
    haproxy >/dev/null 2>&1 || true
  command -v haproxy >/dev/null || skip "HAProxy is not installed and cannot be"
fi

# Names and addresses unique to this run (several checkouts may share a machine).
run=$(( $$ % 10000 ))
net="10.$(( 200 + $$ % 50 ))"            # hosts: $net.I.2, our side $net.I.1
# Four free ports below the ephemeral range (32768+), where no client socket lands.
for try in $(seq 0 50); do
  base_port=$(( 20000 + (($$ + try * 7919) % 3000) * 4 ))
  busy=$(ss -Htln "( sport >= :$base_port and sport <= :$(( base_port + 3 )) )" 2>/dev/null | wc -l)
  [ "$busy" = 0 ] && break
done
export FLOE_LB_ADDR=127.0.0.1 FLOE_LB_GRPC_PORT=$base_port
export FLOE_LB_HTTP_PORT=$(( base_port + 1 )) FLOE_LB_STATS_PORT=$(( base_port + 2 ))
export FLOE_LB_ADMIN_PORT=$(( base_port + 3 ))
export FLOE_HOST1=$net.1.2 FLOE_HOST2=$net.2.2 FLOE_HOST3=$net.3.2
work=$(mktemp -d)
declare -A floe_pid rps
lb_pid=""

ns() { echo "floe-mh$run-h$1"; }
cleanup() {
  set +e
  [ -n "$lb_pid" ] && kill "$lb_pid" 2>/dev/null
  for i in 1 2 3; do
    if ip netns list 2>/dev/null | grep -qw "$(ns "$i")"; then
      # Everything running in our namespace is ours (servers, their workers).
      ip netns pids "$(ns "$i")" 2>/dev/null | xargs -r kill -9 2>/dev/null
      ip netns del "$(ns "$i")" 2>/dev/null  # takes the veth pair with it
    fi
    ip link del "fmh$run-$i" 2>/dev/null
  done
  wait 2>/dev/null
  if [ "${keep_logs:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "floe-mh$run-probe" 2>/dev/null || skip "ip netns does not work here"
ip netns del "floe-mh$run-probe"

start_host() {  # I: starts floe serve in namespace I
  local i=$1
  ip netns exec "$(ns "$i")" "$floe" serve --model "$model" --host 0.0.0.0 \
    --port 50050 --http-port 8080 --num-replicas 1 --threads 1 --tokenizer-threads 1 \
    --log-level warn >>"$work/host$i.log" 2>&1 &
  floe_pid[$i]=$!
  disown "$!"  # its death is the point of the test: no job-control notice
}
wait_healthy() {  # I
  for _ in $(seq 1 150); do
    curl -fs -o /dev/null --max-time 1 "http://$net.$1.2:8080/health" && return 0
    sleep 0.2
  done
  cat "$work/host$1.log"; fail "host $1 did not become healthy"
}
kill_host() {  # I: the machine dies: every process in its namespace, at once
  ip netns pids "$(ns "$1")" | xargs -r kill -9
  while kill -0 "${floe_pid[$1]}" 2>/dev/null; do sleep 0.05; done
}

for i in 1 2 3; do
  ip netns add "$(ns "$i")" || fail "ip netns add"
  ip link add "fmh$run-$i" type veth peer name eth0 netns "$(ns "$i")" || fail "veth"
  ip addr add "$net.$i.1/24" dev "fmh$run-$i"
  ip link set "fmh$run-$i" up
  ip netns exec "$(ns "$i")" ip addr add "$net.$i.2/24" dev eth0
  ip netns exec "$(ns "$i")" ip link set eth0 up
  ip netns exec "$(ns "$i")" ip link set lo up
  start_host "$i"
done
for i in 1 2 3; do wait_healthy "$i"; done
echo "hosts: $FLOE_HOST1 $FLOE_HOST2 $FLOE_HOST3 (namespaces $(ns 1) ...)"

haproxy -f "$cfg" -db >"$work/haproxy.log" 2>&1 &
lb_pid=$!
disown "$lb_pid"
sleep 0.3
kill -0 "$lb_pid" 2>/dev/null || fail "HAProxy did not start"
stats() {  # PROXY SERVER FIELD from HAProxy's CSV status
  curl -fs "http://127.0.0.1:$FLOE_LB_STATS_PORT/stats;csv" | python3 -c '
import csv, sys
rows = list(csv.DictReader(line.lstrip("# ") for line in sys.stdin))
print(next((r[sys.argv[3]] for r in rows if r["pxname"] == sys.argv[1] and r["svname"] == sys.argv[2]), ""))
' "$1" "$2" "$3"
}
admin() { exec 3<>"/dev/tcp/127.0.0.1/$FLOE_LB_ADMIN_PORT"; echo "$1" >&3; cat <&3 >/dev/null; exec 3<&-; }
wait_state() {  # SERVER STATE (UP|DOWN) in both backends, within 15 s
  for _ in $(seq 1 75); do
    [[ "$(stats floe_grpc "$1" status)" == "$2"* && "$(stats floe_http "$1" status)" == "$2"* ]] && return 0
    sleep 0.2
  done
  fail "HAProxy did not see $1 $2 (grpc: $(stats floe_grpc "$1" status), http: $(stats floe_http "$1" status))"
}
for h in h1 h2 h3; do wait_state "$h" UP; done

bench() {  # PROTOCOL SERVERS REQUESTS -> JSON row
  "$floe" bench --server "$2" --protocol "$1" --batch-sizes 4 --prompt-length 32 \
    --requests "$3" --concurrency 12 --warmup 12 --timeout 30 --json --quiet
}
measure() {  # as bench; a crash of the measuring client (not of a server) is run again once
  local out rc
  out=$(bench "$@"); rc=$?
  if [ "$rc" -ge 128 ]; then
    echo "WARNING: floe bench crashed (exit $rc) measuring $2; running it again" >&2
    out=$(bench "$@"); rc=$?
  fi
  echo "$out"
  return "$rc"
}
field() {  # NAME of the last JSON row on stdin; rates rounded
  python3 -c 'import json,sys
v = json.loads(sys.stdin.read().splitlines()[-1])[sys.argv[1]]
print(round(v) if isinstance(v, float) and v > 10 else v)' "$1"
}

echo
echo "== throughput (bert-tiny, batch 4 x 32 tokens, concurrency 12, 2 CPU cores shared by all)"
printf "%-6s %-6s %-26s %12s %12s\n" hosts proto path embeddings/s success
lb_url() { if [ "$1" = grpc ]; then echo "127.0.0.1:$FLOE_LB_GRPC_PORT"; else echo "127.0.0.1:$FLOE_LB_HTTP_PORT"; fi; }
port_of() { if [ "$1" = grpc ]; then echo 50050; else echo 8080; fi; }
for n in 1 2 3; do
  for proto in grpc http; do
    direct=""
    for i in $(seq 1 "$n"); do direct+="${direct:+,}$net.$i.2:$(port_of $proto)"; done
    out=$(measure "$proto" "$direct" 800) || fail "bench $proto $direct (exit $?): $out"
    printf "%-6s %-6s %-26s %12s %12s\n" "$n" "$proto" "direct (--server a,b,c)" \
      "$(field embeddings_per_s <<<"$out")" "$(field success_rate <<<"$out")"
    # Through HAProxy with hosts n+1..3 out of rotation.
    for i in 1 2 3; do
      verb=enable; [ "$i" -gt "$n" ] && verb=disable
      admin "$verb server floe_grpc/h$i"; admin "$verb server floe_http/h$i"
    done
    out=$(measure "$proto" "$(lb_url $proto)" 800) || fail "bench via HAProxy (exit $?): $out"
    printf "%-6s %-6s %-26s %12s %12s\n" "$n" "$proto" "HAProxy" \
      "$(field embeddings_per_s <<<"$out")" "$(field success_rate <<<"$out")"
    [ "$(field success_rate <<<"$out")" = 1.0 ] || fail "requests failed with $n hosts"
    rps[$proto]=$(field requests_per_s <<<"$out")
  done
done
for i in 1 2 3; do admin "enable server floe_grpc/h$i"; admin "enable server floe_http/h$i"; done

echo
echo "== host 2 dies mid-run, then comes back"
for proto in grpc http; do
  wait_state h2 UP
  # About 5 s of traffic at the rate measured with 3 hosts; the kill comes after 1 s.
  total=$(( ${rps[$proto]%.*} * 5 )); [ "$total" -ge 3000 ] || total=3000
  bench "$proto" "$(lb_url $proto)" "$total" >"$work/failover-$proto.json" 2>"$work/failover-$proto.err" &
  bench_pid=$!
  sleep 1
  kill -0 "$bench_pid" 2>/dev/null || fail "bench ended before the host was killed (too fast)"
  kill_host 2
  echo "$proto: killed host 2 at 1 s"
  wait_state h2 DOWN
  echo "$proto: HAProxy marked h2 DOWN"
  wait "$bench_pid" || { cat "$work/failover-$proto.err"; fail "$proto bench failed"; }
  out=$(cat "$work/failover-$proto.json")
  ok=$(field success_rate <<<"$out")
  echo "$proto: $total requests through the failure: success_rate $ok," \
       "$(field embeddings_per_s <<<"$out") embeddings/s," \
       "retries $(stats "floe_$proto" h2 wretr) + redispatches $(stats "floe_$proto" h2 wredis) on h2"
  [ "$ok" = 1.0 ] || { keep_logs=1; fail "$proto: requests were lost when host 2 died"; }

  start_host 2
  wait_healthy 2
  wait_state h2 UP
  before=$(stats "floe_$proto" h2 stot)
  out=$(bench "$proto" "$(lb_url $proto)" 300) || fail "bench after rejoin"
  after=$(stats "floe_$proto" h2 stot)
  echo "$proto: h2 back UP; it served $(( after - before )) of the next 300 requests"
  [ "$(field success_rate <<<"$out")" = 1.0 ] || fail "$proto: failures after rejoin"
  [ $(( after - before )) -gt 0 ] || fail "$proto: h2 took no traffic after rejoining"
done
echo
echo "PASS"
