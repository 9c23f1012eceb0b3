#!/usr/bin/env bash
# Reloads under load: a steady open-loop load through the gateway while ten reloads
# change the hedge percentile and one offers a broken file. Reports failed requests,
# what the broken reload answered, and how long each new percentile took to show in
# /debug/replicas. Loopback only; stops everything it started.
#
#   scripts/reload-under-load.sh            # 1000 req/s
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}
SIM_PORT=9501 GW=127.0.0.1:9580 ADMIN=127.0.0.1:9581
. scripts/lib/sim-gateway.sh
config() { gw_config "    hedge: {percentile: $1}"; } # rewrites the file the gateway reloads

start_sim -latency lognormal:median=1ms,sigma=0.3 -tail 0.02:30ms
start_gw "    hedge: {percentile: 95}"

"$bin" loadtest -q -url "http://$GW/kv/{key}" -keys 1000 -rate "$RATE" -duration 16s -json >"$work/load.json" 2>"$work/load.err" &
load=$!
sleep 2
printf '%-12s %-8s %s\n' percentile http "visible in /debug/replicas after"
for p in 50 60 70 75 80 85 90 95 99 99.9; do
  config "$p"
  start=$(date +%s%N)
  code=$(curl -s -o "$work/reload.out" -w '%{http_code}' -X POST "http://$ADMIN/reload")
  seen=
  for _ in $(seq 200); do
    if curl -s "http://$ADMIN/debug/replicas" | grep -q "\"kv\": $p\b"; then seen=$(( ($(date +%s%N) - start) / 1000000 ))ms; break; fi
    sleep 0.005
  done
  printf '%-12s %-8s %s\n' "$p" "$code" "${seen:-NOT SEEN within 1s}"
  sleep 0.8
done
sed -i 's/percentile: 99.9/percentile: 150/' "$work/gw.yaml"
code=$(curl -s -o "$work/reload.out" -w '%{http_code}' -X POST "http://$ADMIN/reload")
echo "broken file (percentile 150): HTTP $code $(tr -d '\n' <"$work/reload.out" | sed "s|$work/||g")"
wait $load
g() { field "$work/load.json" "$1"; }
echo "load: requests $(g requests), ok $(g ok), errors $(g errors), p50 $(g p50)ms, p99 $(g p99)ms"
tr -d ' \n' <"$work/load.json" | grep -o '"codes":{[^}]*}' || true
curl -s "http://$ADMIN/metrics" | grep -E '^hedgegate_config_' || true
