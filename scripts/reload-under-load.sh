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
work=$(mktemp -d)
go build -o "$work/gateway" ./cmd/gateway
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$work/gateway" sim -base-port $SIM_PORT -latency lognormal:median=1ms,sigma=0.3 -tail 0.02:30ms >"$work/sim.log" 2>&1 &
pids+=($!)
config() { # percentile
  cat >"$work/gw.yaml" <<YAML
listen: $GW
admin_listen: $ADMIN
replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:$SIM_PORT"}
      - {name: r2, url: "http://127.0.0.1:$((SIM_PORT + 1))"}
      - {name: r3, url: "http://127.0.0.1:$((SIM_PORT + 2))"}
routes:
  - name: kv
    match: /kv/{key}
    replica_set: kv
    hedge: {percentile: $1}
YAML
}
config 95
sleep 0.5
"$work/gateway" serve -config "$work/gw.yaml" >"$work/gw.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -m 1 "http://$ADMIN/readyz" >/dev/null && break; sleep 0.05; done

"$work/gateway" loadtest -q -url "http://$GW/kv/{key}" -keys 1000 -rate "$RATE" -duration 16s -json >"$work/load.json" 2>"$work/load.err" &
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
g() { grep -o "\"$1\": *[0-9.e+-]*" "$work/load.json" | head -1 | grep -o '[0-9.e+-]*$'; }
echo "load: requests $(g requests), ok $(g ok), errors $(g errors), p50 $(g p50)ms, p99 $(g p99)ms"
tr -d ' \n' <"$work/load.json" | grep -o '"codes":{[^}]*}' || true
curl -s "http://$ADMIN/metrics" | grep -E '^hedgegate_config_' || true
