#!/usr/bin/env bash
# A real Prometheus scraping a real gateway under load, all on 127.0.0.1, then every
# query of the Grafana dashboard and every alert rule checked against it.
#
# The load is arranged so that every panel has something true to show: a hedge route
# in front of a replica with a tail (hedges win), a quorum route with a replica that
# serves some keys one version behind (divergence), a replica that fails 5% of answers
# (retries, failure ratio), a route with a tight budget (denials), a route with
# hedge.percentile auto (the tuner's percentiles and predictions) and one whose target
# no delay meets (target unmet), bursts at a slow replica past limits.max_inflight
# (shedding), a replica that stalls half way through its bodies (truncated answers), three reloads, one of them refused, and a replica set
# found in DNS (localhost's A record, from /etc/hosts: refreshes counted).
#
#   deploy/prometheus/live.sh              # ~40s of load; needs prometheus, promtool
#   LIVE_PORT_BASE=24300 KEEP=1 deploy/prometheus/live.sh   # other ports; leave it running
#
# Ports: LIVE_PORT_BASE (default 24100) +0..+3 replicas, +4 the stalling replica,
# +10 gateway, +11 admin, +20 Prometheus. RENDER=DIR also writes each panel's data to DIR/panels.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${LIVE_PORT_BASE:-24100}
gw=127.0.0.1:$((base + 10)) admin=127.0.0.1:$((base + 11)) prom=127.0.0.1:$((base + 20))
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT
say() { printf '[live %3ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
t0=$(date +%s)

go build -o "$work/gateway" ./cmd/gateway
(cd deploy && go build -o "$work/stall-replica" ./cmd/stall-replica)
bin=$work/gateway
"$work/stall-replica" -listen "127.0.0.1:$((base + 4))" >"$work/stall.log" 2>&1 &
pids+=($!)

"$bin" sim -base-port "$base" -replicas 4 -seed 7 -latency lognormal:median=1ms,sigma=0.3 \
  -replica r1=stale=0.2 -replica r2=tail=0.05:40ms -replica r3=error=0.05 \
  -replica r4=latency=fixed:100ms >"$work/sim.log" 2>&1 &
pids+=($!)

gw_config() { # kv-get's hedge percentile
  cat >"$work/gw.yaml" <<YAML
listen: $gw
admin_listen: $admin
limits: {max_inflight: 64}
latency: {window: 2s, buckets: 5, min_samples: 20}  # short windows: quantiles move within the run
replica_sets:
  kv:
    warm_connections: 2
    replicas:
      - {name: r1, url: "http://127.0.0.1:$base"}
      - {name: r2, url: "http://127.0.0.1:$((base + 1))"}
      - {name: r3, url: "http://127.0.0.1:$((base + 2))"}
  slow:
    warm_connections: 2
    replicas:
      - {name: r4, url: "http://127.0.0.1:$((base + 3))"}
  stall:
    warm_connections: 1
    replicas:
      - {name: s1, url: "http://127.0.0.1:$((base + 4))"}
  found:                             # discovery: localhost's A record (127.0.0.1) at r1's port; not its ::1
    warm_connections: 1
    discovery: {dns: "localhost:$base", refresh: 1s, family: ip4}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, strategy: hedge, hedge: {percentile: $1}}
  - name: kv-quorum
    match: "/q/kv/{key}"
    strip_prefix: /q
    replica_set: kv
    strategy: quorum
    quorum: {read: 2, version: {header: X-Version}}
  - name: kv-tight
    match: "/tight/kv/{key}"
    strip_prefix: /tight
    replica_set: kv
    strategy: hedge
    budget: {ratio: 0.01, min_per_second: 1}
  - name: kv-floor                   # clients carry X-Min-Version: stale answers, floor unmet
    match: "/floor/kv/{key}"
    strip_prefix: /floor
    replica_set: kv
    version: {header: X-Version}
    budget: {ratio: 1, min_per_second: 50}
  - name: kv-auto                    # hedge.percentile auto: the tuner's percentile, predictions
    match: "/auto/kv/{key}"
    strip_prefix: /auto
    replica_set: kv
    hedge: {percentile: auto, auto: {target_p99: 10ms, max_extra_load: 0.2}}
    budget: {ratio: 0.25, min_per_second: 10}
  - name: kv-auto-unmet              # a target no delay meets (the replicas' median is 1ms)
    match: "/auto-unmet/kv/{key}"
    strip_prefix: /auto-unmet
    replica_set: kv
    hedge: {percentile: auto, auto: {target_p99: 1ms, max_extra_load: 0.05}}
  - {name: slow, match: "/slow/kv/{key}", strip_prefix: /slow, replica_set: slow, timeout: 2s}
  - {name: cut, match: "/cut/kv/{key}", strip_prefix: /cut, replica_set: stall, timeout: 200ms}
  - {name: found, match: "/found/kv/{key}", strip_prefix: /found, replica_set: found}
YAML
}
gw_config 90
for _ in $(seq 100); do [ "$(grep -c control "$work/sim.log")" -ge 4 ] && break; sleep 0.1; done
"$bin" serve -config "$work/gw.yaml" >"$work/gw.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
for _ in $(seq 100); do curl -sf -m 1 "http://$admin/readyz" >/dev/null && break; sleep 0.1; done
curl -sf -m 1 "http://$admin/readyz" >/dev/null || { echo "gateway not ready"; cat "$work/gw.log"; exit 1; }

cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$PWD/deploy/prometheus/alerts.yaml]
scrape_configs:
  - job_name: hedgegate
    static_configs: [{targets: ["$admin"]}]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="$prom" --log.level=warn >"$work/prom.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -m 1 "http://$prom/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf -m 1 "http://$prom/-/ready" >/dev/null || { echo "prometheus not ready"; cat "$work/prom.log"; exit 1; }
say "sim, gateway and Prometheus up"

start=$(date +%s)
load() { # name path rate duration [loadtest flags]
  "$bin" loadtest -q -url "http://$gw$2" -keys 1000 -rate "$3" -duration "$4" -json "${@:5}" >"$work/load-$1.json" 2>"$work/load-$1.err" &
  pids+=($!)
  loads+=($!)
}
loads=()
load kv-get '/kv/{key}' 300 34s
load kv-quorum '/q/kv/{key}' 100 34s
load kv-tight '/tight/kv/{key}' 100 34s
load kv-auto '/auto/kv/{key}' 100 34s
load kv-auto-unmet '/auto-unmet/kv/{key}' 10 34s
load cut '/cut/kv/{key}' 5 34s -timeout 2s
load found '/found/kv/{key}' 10 34s
# Versions are 1000-1999 (+ an epoch): a floor of 1999 is above most keys' versions on
# every replica (floor unmet), and above r1's one-behind answers (stale).
load kv-floor '/floor/kv/{key}' 20 34s -header 'X-Min-Version: 1999'
sleep 8
say "burst: 800 req/s for 1s at the 100ms replica (past max_inflight 64)"
load burst1 '/slow/kv/{key}' 800 1s -connections 256
sleep 6
say "reload: percentile 95"
gw_config 95 && kill -HUP "$gw_pid"
sleep 6
say "reload: percentile 150 (refused)"
gw_config 150 && kill -HUP "$gw_pid"
sleep 4
say "burst again"
load burst2 '/slow/kv/{key}' 800 1s -connections 256
sleep 4
say "reload: percentile 90"
gw_config 90 && kill -HUP "$gw_pid"
wait "${loads[@]}"
sleep 3 # the last scrapes
end=$(date +%s)
say "load done"

for f in "$work"/load-*.json; do
  name=$(basename "$f" .json)
  printf '  %-10s %s %s\n' "${name#load-}" "$(tr -d ' \n' <"$f" | grep -oE '"(requests|ok|errors)":[0-9]+' | tr '\n' ' ')" \
    "$(tr -d ' \n' <"$f" | grep -oE '"codes":\{[^}]*\}')"
done
grep -E 'reload' "$work/gw.log" | sed "s|$work/||g" | cut -c1-200 | sed 's/^/  gateway: /' || true

# The gateway's own cost during the steady part (the first 8s, before any burst): noisy,
# the machine is shared and the replicas and load generator run on the same cores.
q() { curl -sf "http://$prom/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$2" |
  grep -oE '"value":\[[0-9.]+,"[^"]+"\]' | head -1 | sed -E 's/.*,"([^"]+)"\]/\1/'; }
t1=$((start + 2)) t2=$((start + 8))
delta() { awk -v a="$(q "$1" $t1)" -v b="$(q "$1" $t2)" -v s=$((t2 - t1)) 'BEGIN { printf "%.4f", (b - a) / s }'; }
rps=$(delta 'sum(hedgegate_requests_total)') cpu=$(delta 'process_cpu_seconds_total')
rss=$(q "max_over_time(process_resident_memory_bytes[$((end - start))s])" "$end")
awk -v r="$rps" -v c="$cpu" -v m="$rss" 'BEGIN { printf "  gateway, steady 6s before the first burst: %.0f req/s, %.3f cores = %.3f cores per 1k req/s; max RSS %.1f MiB (shared machine: indicative only)\n", r, c, c / r * 1000, m / 1048576 }'

rc=0
( cd deploy && go test -count=1 -v -tags live ./grafana/ -args \
    -prometheus "http://$prom" -metrics "http://$admin/metrics" -start "$start" -end "$end" \
    ${RENDER:+-dump "$RENDER"} ) >"$work/test.txt" 2>&1 || rc=$?
( cd deploy && go test -count=1 -v -tags live ./prometheus/ -args -prometheus "http://$prom" ) >>"$work/test.txt" 2>&1 || rc=$?
grep -E '^(=== RUN|\s*--- |ok|FAIL|PASS)|_test.go:' "$work/test.txt" | grep -v '^=== RUN' || true
say "done (exit $rc)"
if [ -n "${KEEP:-}" ]; then
  echo "left running: Prometheus http://$prom, gateway admin http://$admin (pids ${pids[*]}); work dir $work"
fi
exit $rc
