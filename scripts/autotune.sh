#!/usr/bin/env bash
# autotune.sh: hedge.percentile auto against fixed percentiles, side by side, on the
# simulator, with the tail changed at run time (docs/tuning.md, "Auto: measured").
#
# Three simulated replicas, lognormal median 2ms (sigma SIGMA). Profile A: 2% of
# answers 50ms late; after PHASE_A, profile B: 15% of answers 20ms late, switched
# through each replica's control endpoint while the load runs. One gateway with one
# route (and its own replica set, so its own histograms) per contender:
#   p50 p75 p90 p95 p97 p99   fixed hedge.percentile
#   auto                      percentile auto, {target_p99: TARGET, max_extra_load: 0.2}
#   auto-cap                  percentile auto, {max_extra_load: 0.05}
# each driven by its own open-loop load tester at RATE req/s, with a time series per
# SERIES and the gateway's counters per route. Every route: budget {ratio: 0.25,
# min_per_second: 0}, attempt_timeout 1s (so extra load is hedges alone), max_attempts 3.
#
# Per round it prints each route's p99 and extra load on A (after WARMUP) and on B
# (from two windows after the switch), and p99 per window after the switch; then the
# medians over ROUNDS rounds and the issue's three checks; and writes OUT/plot.html
# (p99 and extra load over time for auto and the fixed percentile cheapest on A).
# A phase's p99 is given two ways: the median of its windows' p99s (a window a build
# on the same machine stalled does not decide it), and pooled over the phase.
#
# Loopback only; every process it starts is stopped on exit.
#
# Environment (defaults): BASE_PORT (22000: replicas on BASE_PORT..+2, gateway +10,
# admin +11), RATE (100 per route), WINDOW (10s, latency.window), PHASE_A (90s),
# PHASE_B (60s), WARMUP (30s), SERIES (2s), SIGMA (0.3), TARGET (12ms), ROUNDS (3),
# OUT (./autotune-out), ROUTES (the contenders; all eight by default, "p95 auto" for
# claim 2 alone, side by side with less of the host's CPU taken by the other six),
# PRIO (a command prefix for every process it starts, e.g. "nice -n -10" on a
# machine shared with builds, so their bursts stall the measured processes less;
# empty by default).
#
# OUT/round-N/auto-states.jsonl: each auto route's /debug/replicas state, once a
# window, 2s into it (what its tuner chose, predicted, and why).
set -euo pipefail

BASE_PORT=${BASE_PORT:-22000}
RATE=${RATE:-100}
WINDOW=${WINDOW:-10s}
PHASE_A=${PHASE_A:-90s}
PHASE_B=${PHASE_B:-60s}
WARMUP=${WARMUP:-30s}
SERIES=${SERIES:-2s}
SIGMA=${SIGMA:-0.3}
TARGET=${TARGET:-12ms}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-./autotune-out}
PRIO=${PRIO:-}

secs() { # secs 90s|1m|500ms -> seconds (integer or decimal)
	local v=$1
	case $v in
	*ms) echo "scale=3; ${v%ms}/1000" | bc ;;
	*m) echo $((${v%m} * 60)) ;;
	*s) echo "${v%s}" ;;
	*) echo "$v" ;;
	esac
}
W=$(secs "$WINDOW") A=$(secs "$PHASE_A") B=$(secs "$PHASE_B") WU=$(secs "$WARMUP")
TGT_MS=$(echo "$(secs "$TARGET") * 1000" | bc)
GW=127.0.0.1:$((BASE_PORT + 10))
ADMIN=127.0.0.1:$((BASE_PORT + 11))
ROUTES=${ROUTES:-p50 p75 p90 p95 p97 p99 auto auto-cap}

cd "$(dirname "$0")/.."
for c in jq curl bc; do command -v $c >/dev/null || { echo "autotune: needs $c" >&2; exit 1; }; done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
sim_pid="" gw_pid="" trace_pid="" load_pids=()
stop() { [ -n "${1:-}" ] || return 0; kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() {
	for p in "${load_pids[@]}"; do stop "$p"; done
	stop "$trace_pid"
	stop "$gw_pid"
	stop "$sim_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building gateway..." >&2
go build -o "$work/gateway" ./cmd/gateway
gw=$work/gateway

wait_http() { # URL: up to 10s for a 200
	for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "autotune: $1 did not answer 200" >&2
	return 1
}

write_config() {
	{
		echo "listen: $GW"
		echo "admin_listen: $ADMIN"
		echo "latency: {window: $WINDOW, buckets: 3, min_samples: 50}"
		echo "replica_sets:"
		for r in $ROUTES; do
			echo "  s-$r:"
			echo "    warm_connections: 2"
			echo "    replicas:"
			for i in 0 1 2; do echo "      - {name: r$((i + 1)), url: \"http://127.0.0.1:$((BASE_PORT + i))\"}"; done
		done
		echo "routes:"
		for r in $ROUTES; do
			case $r in
			auto) pct="auto, auto: {target_p99: $TARGET, max_extra_load: 0.2}" ;;
			auto-cap) pct="auto, auto: {max_extra_load: 0.05}" ;;
			*) pct=${r#p} ;;
			esac
			cat <<EOF
  - name: $r
    match: /$r/kv/{key}
    strip_prefix: /$r
    replica_set: s-$r
    timeout: 1s
    attempt_timeout: 1s
    hedge: {percentile: $pct, initial_delay: 10ms, min_delay: 1ms, max_delay: 200ms, max_attempts: 3}
    budget: {ratio: 0.25, min_per_second: 0}
EOF
		done
	} >"$work/gateway.yaml"
}

# median: the median of the numbers on stdin, one a line ("nan" for none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# p99_between CSV T0 T1: p99 (ms) of the requests due in [T0, T1) seconds after the run's start.
p99_between() {
	awk -F, -v a="$2" -v b="$3" 'NR == 2 { t0 = $1 } NR > 1 { t = ($1 - t0) / 1e9; if (t >= a && t < b) print $2 }' "$1" |
		sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } i = int(0.99 * NR + 0.5); if (i < 1) i = 1; printf "%.2f\n", v[i] / 1000 }'
}

# wp99_between CSV T0 T1: the median of the p99s of the windows in [T0, T1).
wp99_between() {
	local t=$2 vals=()
	while [ "$(echo "$t + $W <= $3" | bc)" = 1 ]; do
		vals+=("$(p99_between "$1" "$t" "$(echo "$t + $W" | bc)")")
		t=$(echo "$t + $W" | bc)
	done
	printf '%s\n' "${vals[@]}" | median
}

# extra_between JSON T0 T1: the gateway's extra load over the series intervals in [T0, T1).
extra_between() {
	jq -r --argjson a "$2" --argjson b "$3" '[.series[] | select(.t_s >= $a and .t_s < $b and .gateway_requests > 0)]
		| if length == 0 then "nan" else ((map(.backend_requests) | add) / (map(.gateway_requests) | add) - 1) * 100 | . * 100 | round / 100 end' "$1"
}

round() { # round N: one sim + gateway, load on every route, switch A -> B; figures in $OUT/round-N
	local n=$1 dir=$OUT/round-$1
	mkdir -p "$dir"
	$PRIO "$gw" sim -base-port "$BASE_PORT" -latency "lognormal:median=2ms,sigma=$SIGMA" -tail 0.02:50ms -seed "$n" \
		>"$work/sim.out" 2>"$work/sim.err" &
	sim_pid=$!
	for i in 0 1 2; do wait_http "http://127.0.0.1:$((BASE_PORT + i))/"; done
	write_config
	$PRIO "$gw" serve -config "$work/gateway.yaml" 2>"$dir/gateway.log" &
	gw_pid=$!
	wait_http "http://$ADMIN/readyz"
	# Start just after a window boundary, so the switch (a whole number of windows
	# later) falls just after one too, and "two windows" reads the same on the plot.
	local now_ms wms
	now_ms=$(date +%s%3N)
	wms=$(echo "$W * 1000 / 1" | bc)
	sleep "$(echo "scale=3; ($wms - $now_ms % $wms + 300) / 1000" | bc)"
	load_pids=()
	for r in $ROUTES; do
		$PRIO "$gw" loadtest -url "http://$GW/$r/kv/{key}" -keys 1000 -rate "$RATE" -duration "$((${A%.*} + ${B%.*}))s" \
			-connections 64 -series "$SERIES" -metrics "http://$ADMIN/metrics" -metrics-route "$r" -name "$r" \
			-q -json -out "$dir/$r.csv" >"$dir/$r.json" 2>"$dir/$r.err" &
		load_pids+=($!)
	done
	# What each auto route's tuner chose, once a window (2s into it; /debug/replicas
	# copies every histogram, so not more often), so a window's p99 and extra load can
	# be read against its choice.
	(
		sleep 2
		while :; do
			curl -fsS "http://$ADMIN/debug/replicas" 2>/dev/null |
				jq -c --arg t "$(date +%s.%N)" '.auto_routes[]? | {t: ($t | tonumber)} + .' 2>/dev/null || true
			sleep "$W"
		done
	) >"$dir/auto-states.jsonl" &
	trace_pid=$!
	sleep "$A" &
	wait $! # in the background, so a signal to the script stops the run at once
	curl -fsS "http://$ADMIN/debug/replicas" >"$dir/replicas-A.json"
	"$gw" tune -admin "http://$ADMIN" -route auto >"$dir/tune-A.txt" 2>&1 || true
	for i in 0 1 2; do
		curl -fsS -X PUT -d '{"tail_prob":0.15,"tail_extra":"20ms"}' "http://127.0.0.1:$((BASE_PORT + i))/_sim/profile" >/dev/null
	done
	echo "round $n: switched to profile B at ${A}s" >&2
	for p in "${load_pids[@]}"; do wait "$p"; done
	load_pids=()
	stop "$trace_pid"
	trace_pid=""
	curl -fsS "http://$ADMIN/debug/replicas" >"$dir/replicas-B.json"
	"$gw" tune -admin "http://$ADMIN" -route auto >"$dir/tune-B.txt" 2>&1 || true
	stop "$gw_pid"
	gw_pid=""
	stop "$sim_pid"
	sim_pid=""

	local b2 end
	b2=$(echo "$A + 2 * $W" | bc)
	end=$(echo "$A + $B" | bc)
	: >"$dir/figures.tsv"
	for r in $ROUTES; do
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" \
			"$(wp99_between "$dir/$r.csv" "$WU" "$A")" "$(extra_between "$dir/$r.json" "$WU" "$A")" \
			"$(wp99_between "$dir/$r.csv" "$b2" "$end")" "$(extra_between "$dir/$r.json" "$b2" "$end")" \
			"$(p99_between "$dir/$r.csv" "$WU" "$A")" "$(p99_between "$dir/$r.csv" "$b2" "$end")" >>"$dir/figures.tsv"
	done
	: >"$dir/windows.tsv"
	local k t0 t1 row
	for r in $ROUTES; do
		row=$r
		for k in 0 1 2 3 4 5; do
			t0=$(echo "$A + $k * $W" | bc)
			t1=$(echo "$t0 + $W" | bc)
			[ "$(echo "$t1 > $end" | bc)" = 1 ] && break
			row+=$'\t'"$(p99_between "$dir/$r.csv" "$t0" "$t1")/$(extra_between "$dir/$r.json" "$t0" "$t1")"
		done
		echo "$row" >>"$dir/windows.tsv"
	done
	echo
	echo "round $n (p99 ms: median of the windows' p99s; extra load %): A after ${WARMUP}; B from two windows after the switch"
	{
		echo "route	A p99	A extra	B p99	B extra	A p99 pooled	B p99 pooled"
		cat "$dir/figures.tsv"
	} | column -t -s $'\t'
	echo "round $n, per window after the switch (p99 ms / extra %):"
	{
		printf 'route'
		for k in 0 1 2 3 4 5; do printf '\tw%d' "$k"; done
		echo
		cat "$dir/windows.tsv"
	} | column -t -s $'\t'
}

echo "shared machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)${PRIO:+; processes started with: $PRIO}" >&2
for n in $(seq "$ROUNDS"); do
	echo "round $n of $ROUNDS: ${A}s of A, ${B}s of B, $RATE req/s on each of $(echo $ROUTES | wc -w) routes..." >&2
	round "$n"
done

: >"$OUT/medians.tsv"
for r in $ROUTES; do
	row=$r
	for col in 2 3 4 5 6 7; do
		row+=$'\t'"$(for n in $(seq "$ROUNDS"); do awk -F'\t' -v r="$r" -v c="$col" '$1 == r { print $c }' "$OUT/round-$n/figures.tsv"; done | median)"
	done
	echo "$row" >>"$OUT/medians.tsv"
done
echo
echo "medians over $ROUNDS rounds (shared machine, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
{
	echo "route	A p99	A extra	B p99	B extra	A p99 pooled	B p99 pooled"
	cat "$OUT/medians.tsv"
} | column -t -s $'\t'

# The issue's checks, on the medians.
col() { awk -F'\t' -v r="$1" -v c="$2" '$1 == r { print $c }' "$OUT/medians.tsv"; }
cheap=$(awk -F'\t' -v t="$TGT_MS" '$1 ~ /^p/ && $2 <= t { print $3 "\t" $1 }' "$OUT/medians.tsv" | sort -g | head -1 | cut -f2)
best6=$(awk -F'\t' '$1 ~ /^p/ && $3 <= 6 { print $2 "\t" $1 }' "$OUT/medians.tsv" | sort -g | head -1 | cut -f2)
# A check whose routes were left out of ROUTES is not printed.
has() { [[ " $ROUTES " == *" $1 "* ]]; }
echo
if has auto; then
	echo "1. on A, auto: p99 $(col auto 2) ms (target $TGT_MS), extra $(col auto 3)%;" \
		"cheapest fixed meeting the target: ${cheap:-none} at $([ -n "$cheap" ] && col "$cheap" 3)%"
	echo "2. on B, ${cheap:-the cheapest fixed}: p99 $([ -n "$cheap" ] && col "$cheap" 4) ms; auto: p99 $(col auto 4) ms at $(col auto 5)% extra (cap 20%)"
fi
if has auto-cap; then
	echo "3. auto-cap on A: extra $(col auto-cap 3)% (≤ 6?), p99 $(col auto-cap 2) ms;" \
		"best fixed with ≤ 6% extra: ${best6:-none} at $([ -n "$best6" ] && col "$best6" 2) ms"
fi

# The plot: the last round's auto against the fixed percentile cheapest on A (when
# none met the target, the one with the lowest p99 on A).
last=$OUT/round-$ROUNDS
shown=${cheap:-$(awk -F'\t' '$1 ~ /^p/ { print $2 "\t" $1 }' "$OUT/medians.tsv" | sort -g | head -1 | cut -f2)}
if has auto && [ -n "$shown" ]; then
	"$gw" loadtest compare -html "$OUT/plot.html" -target-p99 "$TARGET" -event "${A}s=profile B" \
		-title "hedge.percentile auto against fixed $shown: profile A, then B from ${A}s (round $ROUNDS)" \
		"$last/auto.json" "$last/$shown.json" >/dev/null
	echo
	echo "plot: $OUT/plot.html (render: scripts/render-html.sh $OUT/plot.html $OUT/plot.png 1100x1400)"
fi
