#!/usr/bin/env bash
# A 2-of-3 quorum read against a read of the second-fastest replica, through the real
# gateway with the gateway alone on CPU 0 (GOMAXPROCS=1) and the simulated replicas and
# the load tester on CPU 1, so that replica-side work does not share the gateway's core
# as it does in BenchmarkQuorum2of3's in-process runs. Replicas answer in a fixed 1, 2
# and 4 ms; both routes are loaded at once, RATE req/s each, Poisson, for DURATION.
# Loopback only. Needs taskset and two CPUs. Usage: scripts/quorum-cores.sh [RATE] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-150} duration=${2:-20s}
[ "$(nproc)" -ge 2 ] || { echo "needs two CPUs"; exit 1; }
SIM_PORT=${SIM_PORT:-19301} GW=${GW:-127.0.0.1:19380} ADMIN=${ADMIN:-127.0.0.1:19381}
EXTRA_SETS="  second:
    replicas:
      - {name: r2, url: \"http://127.0.0.1:$((SIM_PORT + 1))/kv\"}"
SIM_PREFIX="taskset -c 1" GW_PREFIX="env GOMAXPROCS=1 taskset -c 0"
. scripts/lib/sim-gateway.sh

start_sim -replica r1=latency=fixed:1ms -replica r2=latency=fixed:2ms -replica r3=latency=fixed:4ms
start_gw "    strategy: quorum
    quorum: {read: 2, version: {header: X-Version}}
  - name: one
    match: /one/{key}
    strip_prefix: /one
    replica_set: second"

load() { # path seed rate duration out
  taskset -c 1 "$bin" loadtest -q -json -url "http://$GW/$1/k{key}" -keys 1000 -poisson -seed "$2" \
    -rate "$3" -duration "$4" >"$5"
}
load kv 9 20 1s /dev/null # the histograms and pools see traffic before the measured run
load one 9 20 1s /dev/null
load kv 1 "$rate" "$duration" "$work/q.json" &
q=$!
load one 2 "$rate" "$duration" "$work/one.json"
wait $q

qp=$(field "$work/q.json" p50) op=$(field "$work/one.json" p50)
printf 'quorum 2-of-3: p50 %s ms  p99 %s ms  ok %s/%s\n' "$qp" "$(field "$work/q.json" p99)" "$(field "$work/q.json" ok)" "$(field "$work/q.json" requests)"
printf 'r2 alone:      p50 %s ms  p99 %s ms  ok %s/%s\n' "$op" "$(field "$work/one.json" p99)" "$(field "$work/one.json" ok)" "$(field "$work/one.json" requests)"
awk -v q="$qp" -v o="$op" 'BEGIN { printf "p50 ratio:     %.3f (issue 3 asks <= 1.1)\n", q / o }'
