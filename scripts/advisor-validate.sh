#!/usr/bin/env bash
# advisor-validate.sh: does the hedge advisor predict what the gateway then does?
#
# Runs simulated replicas with a heavy tail and one gateway in front of them (a 10s
# rolling latency window: 5 buckets of 2s), then for each percentile in PERCENTILES,
# as an operator would:
#   1. reload at hedge.percentile 99.9 and run load for 12s, so hedges are rare and
#      the histograms hold whole latencies rather than cancelled losers; read the
#      advisor's prediction for the percentile (the "before" figures);
#   2. rewrite the file with the percentile, POST /reload (histograms are kept),
#      warm up, then measure with the open-loop load tester: p99, and backend requests
#      per request from the gateway's counters; read the advisor's configured row
#      again (the "live" figure, from histograms shaped by that percentile's hedging).
# Prints one table: predicted against measured p99 and extra load.
#
# Loopback only. Every process it starts is stopped on exit.
#
# Environment (defaults): RATE (300), DURATION (20s), WARMUP (10s),
# PERCENTILES ("50 90 99"), LATENCY (lognormal:median=2ms,sigma=0.3), TAIL (0.05:40ms),
# BASE_PORT (9301; replicas on BASE_PORT..+2, gateway on 9310, admin on 9311).
set -euo pipefail

RATE=${RATE:-300}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-10s}
PERCENTILES=${PERCENTILES:-50 90 99}
LATENCY=${LATENCY:-lognormal:median=2ms,sigma=0.3}
TAIL=${TAIL:-0.05:40ms}
BASE_PORT=${BASE_PORT:-9301}
LISTEN=127.0.0.1:9310
ADMIN=127.0.0.1:9311

cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "advisor-validate: needs jq" >&2; exit 1; }
work=$(mktemp -d)
sim_pid="" gw_pid=""

stop() { # stop PID: SIGTERM, then wait for it to drain and exit
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	stop "$gw_pid"
	stop "$sim_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building gateway..." >&2
go build -o "$work/gateway" ./cmd/gateway
gw=$work/gateway

wait_http() { # wait_http URL: up to 10s for a 200
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "advisor-validate: $1 did not answer 200" >&2
	return 1
}

"$gw" sim -base-port "$BASE_PORT" -latency "$LATENCY" -tail "$TAIL" -seed 1 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for i in 0 1 2; do wait_http "http://127.0.0.1:$((BASE_PORT + i))/"; done

write_config() { # write_config PERCENTILE
	cat >"$work/gateway.yaml" <<EOF
listen: $LISTEN
admin_listen: $ADMIN
latency: {window: 2s, buckets: 5, min_samples: 50}
replica_sets:
  kv:
    warm_connections: 2
    replicas:
      - {name: r1, url: "http://127.0.0.1:$BASE_PORT"}
      - {name: r2, url: "http://127.0.0.1:$((BASE_PORT + 1))"}
      - {name: r3, url: "http://127.0.0.1:$((BASE_PORT + 2))"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    timeout: 1s
    hedge: {percentile: $1, initial_delay: 10ms, min_delay: 1ms, max_delay: 200ms, max_attempts: 3}
    budget: {ratio: 0.1, min_per_second: 10}
EOF
}

start_gateway() { # start_gateway PERCENTILE
	write_config "$1"
	"$gw" serve -config "$work/gateway.yaml" 2>>"$work/gateway.log" &
	gw_pid=$!
	wait_http "http://$ADMIN/readyz"
}

reload() { # reload PERCENTILE: rewrite the file, POST /reload
	write_config "$1"
	curl -fsS -X POST "http://$ADMIN/reload" >/dev/null
}

load() { # load DURATION [extra flags]: one open-loop run through the gateway, JSON
	local d=$1
	shift
	"$gw" loadtest -url "http://$LISTEN/kv/{key}" -keys 1000 -rate "$RATE" -duration "$d" -q -json "$@" 2>>"$work/loadtest.err"
}

start_gateway 99.9
rows=()
for p in $PERCENTILES; do
	echo "p$p: 12s at p99.9, advisor, reload at p$p, warm-up $WARMUP, measure $DURATION at $RATE/s..." >&2
	reload 99.9
	load 12s >/dev/null
	curl -fsS "http://$ADMIN/debug/advisor?route=kv-get" >"$work/before.json"
	if [ "$p" = "$(echo $PERCENTILES | cut -d' ' -f1)" ]; then
		echo "advisor at p99.9 (simulator: $LATENCY, tail $TAIL):" >&2
		"$gw" tune -admin "http://$ADMIN" -route kv-get >&2 || true
	fi
	reload "$p"
	load "$WARMUP" >/dev/null
	load "$DURATION" -metrics "http://$ADMIN/metrics" >"$work/measured-$p.json"
	curl -fsS "http://$ADMIN/debug/advisor?route=kv-get" >"$work/live-$p.json"
	rows+=("$(jq -rn --argjson p "$p" \
		--slurpfile before "$work/before.json" --slurpfile live "$work/live-$p.json" --slurpfile m "$work/measured-$p.json" '
		def f: if . == null then "n/a" else (. * 10 | round / 10 | tostring) end;
		def pct: if . == null then "n/a" else (. * 1000 | round / 10 | tostring) + "%" end;
		(($before[0].routes[0].candidates // [])[] | select(.percentile == $p)) as $b
		| ([($live[0].routes[0].candidates // [])[] | select(.configured)][0]) as $l
		| $m[0] as $m
		| ["p\($p)", ($b.p99_ms | f), ($l.p99_ms | f), ($m.latency_ms.p99 | f),
		   ($b.extra_load | pct), ($l.extra_load | pct),
		   ($m.gateway.backend_per_request - 1 | pct), ($m.gateway.hedge_rate | pct),
		   (if $b.budget_capped then "yes" else "no" end), ($m.errors | tostring)]
		| join("|")')")
	if jq -e '.routes[0].error' "$work/live-$p.json" >/dev/null; then
		echo "  live advisor: $(jq -r '.routes[0].error' "$work/live-$p.json")" >&2
	fi
done

echo
echo "simulator: $LATENCY, tail $TAIL; $RATE req/s for $DURATION per row; budget ratio 0.1, min_per_second 10"
echo "before: advisor read at p99.9 just before the reload; live: its configured row after the measured run"
{
	echo "percentile|p99 before|p99 live|p99 measured|extra before|extra live|extra measured|hedge rate|capped|errors"
	printf '%s\n' "${rows[@]}"
} | column -t -s '|' -o '  '
