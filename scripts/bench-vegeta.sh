#!/usr/bin/env bash
# The highest rate one core sustains while staying on schedule: gateway loadtest
# beside vegeta, against the same loopback target. The target (a 1ms delay server)
# runs on CPU 1; each tool runs alone on CPU 0 with GOMAXPROCS=1.
#
# "On schedule": the tool sent at ≥ 99% of the asked rate (vegeta's "rate"; for
# gateway loadtest, its achieved_rate) — the rate a closed-loop or lagging tool
# silently misses. Both tools' p50/p99 are shown; vegeta measures from the actual
# send time, gateway loadtest from the intended one.
#
#   scripts/bench-vegeta.sh                 # rates 2000..20000
#   RATES="5000 10000" DUR=5s scripts/bench-vegeta.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"2000 4000 6000 8000 10000 12000 14000 16000 20000"}
DUR=${DUR:-5s}
TARGET=127.0.0.1:19400
export PATH="$PATH:$(go env GOPATH)/bin"
command -v vegeta >/dev/null || go install github.com/tsenart/vegeta/v12@latest
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed"; exit 1; }
work=$(mktemp -d)
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/delayserver" ./loadtest/internal/delayserver
taskset -c 1 "$work/delayserver" -addr $TARGET -delay 1ms >/dev/null 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://$TARGET/" && break; sleep 0.1; done

ours() { # rate → "achieved p50 p99"
  GOMAXPROCS=1 taskset -c 0 "$work/gateway" loadtest -q -url "http://$TARGET/kv/x" -rate "$1" -duration "$DUR" \
    -connections 256 -json >"$work/ours.json" 2>/dev/null || true
  local f=$work/ours.json
  g() { grep -o "\"$1\": *[0-9.e+-]*" "$f" | head -1 | grep -o '[0-9.e+-]*$'; }
  echo "$(g achieved_rate) $(g p50) $(g p99)"
}
theirs() {
  echo "GET http://$TARGET/kv/x" | GOMAXPROCS=1 taskset -c 0 vegeta attack -rate "$1" -duration "$DUR" \
    -max-connections 256 >"$work/v.bin" 2>/dev/null || true
  vegeta report -type json <"$work/v.bin" >"$work/v.json"
  local rate p50 p99
  rate=$(grep -o '"rate": *[0-9.e+-]*' "$work/v.json" | head -1 | grep -o '[0-9.e+-]*$')
  p50=$(grep -o '"50th": *[0-9]*' "$work/v.json" | grep -o '[0-9]*$')
  p99=$(grep -o '"99th": *[0-9]*' "$work/v.json" | grep -o '[0-9]*$')
  awk -v r="$rate" -v a="$p50" -v b="$p99" 'BEGIN{printf "%.1f %.3f %.3f\n", r, a/1e6, b/1e6}'
}
onsched() { awk -v a="$1" -v r="$2" 'BEGIN{print (a >= 0.99*r) ? "yes" : "NO"}'; }

printf '%7s | %-30s | %-30s\n' rate "gateway loadtest: sent p50 p99 ok?" "vegeta: sent p50 p99 ok?"
for r in $RATES; do
  read -r oa o50 o99 <<<"$(ours "$r")"
  read -r va v50 v99 <<<"$(theirs "$r")"
  printf '%7s | %8.0f %6.2fms %7.2fms %-4s | %8.0f %6.2fms %7.2fms %-4s\n' "$r" \
    "$oa" "$o50" "$o99" "$(onsched "$oa" "$r")" "$va" "$v50" "$v99" "$(onsched "$va" "$r")"
done
