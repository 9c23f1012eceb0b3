#!/usr/bin/env bash
# The gateway's own footprint under open-loop load, for sizing it (deploy/kubernetes):
# CPU per request and resident memory. hedgegate built from this tree runs alone on
# FOOTPRINT_GW_CPU with GOMAXPROCS=1; three simulated replicas (gateway sim, lognormal
# median 1ms sigma 0.2) and the load generators (gateway loadtest, one per route, the
# total rate split evenly) share FOOTPRINT_LOAD_CPU. Loopback only.
#
#   scripts/footprint.sh                   # 3 rounds, ~2 minutes a round
#   scripts/footprint.sh -rounds 5
#   scripts/footprint.sh -rates "1000 5000"
#   scripts/footprint.sh -mix mixed         # hedge, parallel and quorum routes
#
# The config: 3 routes over 3 replica sets, each set the same three replicas r1..r3:
# /h/kv/{key} on set a, /p/kv/{key} on b, /q/kv/{key} on c. -mix hedge (the default):
# all three hedge at p95, budget ratio 0.1 + 10/s, ~1.05 replica requests a request.
# -mix mixed: /h hedges so, /p is parallel fanout 2, /q a quorum 2 of 3 on X-Version
# with monotonic on (its per-key LRU in the gateway's memory), ~2 replica requests a
# request: at 5000 req/s more than one shared core of replicas and generators keeps up
# with. Each route strips its first segment (the replicas serve /kv/{key}); 1000 keys.
# Rows: each rate over HTTP/1.1 to the replicas, and the highest rate with protocol:
# h2c on all three sets. The gateway is restarted for every row, warmed for
# FOOTPRINT_WARM_DUR at the row's rate, then measured for FOOTPRINT_DUR:
#   sent/s            the rate the three generators kept, summed
#   ok %              2xx answers / requests
#   p50 / p99 ms      over all three routes' requests, from each request's intended
#                     send time
#   CPU cores         the gateway's utime+stime (/proc/PID/stat) over the measured
#                     window / its wall time
#   cores/1k req/s    CPU cores / (sent/s / 1000): what to request per 1k req/s
#   peak RSS MiB      VmHWM at the end of the row (since the gateway started: warm-up
#                     included)
#   end RSS MiB       VmRSS at the end of the row
# Medians over the rounds, then every round's figures.
#
# Ports (environment, defaults in 29100-29199): FOOTPRINT_SIM_PORT (3 consecutive),
# FOOTPRINT_GW_PORT, FOOTPRINT_ADMIN_PORT. CPUs: FOOTPRINT_GW_CPU (0),
# FOOTPRINT_LOAD_CPU (1). Durations: FOOTPRINT_DUR (20s), FOOTPRINT_WARM_DUR (5s).
# FOOTPRINT_OUT: file for the raw per-round figures (default: a temporary file).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
ROUNDS=3 RATES="1000 2500 5000" MIX=hedge
while [ $# -gt 0 ]; do
  case $1 in
  -rounds) ROUNDS=$2; shift 2 ;;
  -rates) RATES=$2; shift 2 ;;
  -mix) MIX=$2; shift 2 ;;
  -h | -help | --help) usage; exit 0 ;;
  *) echo "footprint: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "footprint: -rounds wants a positive number" >&2; exit 2; }
[[ $MIX == hedge || $MIX == mixed ]] || { echo "footprint: -mix wants hedge or mixed" >&2; exit 2; }
for r in $RATES; do [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "footprint: -rates wants whole numbers, got $r" >&2; exit 2; }; done

SIM_PORT=${FOOTPRINT_SIM_PORT:-29101}
GW_PORT=${FOOTPRINT_GW_PORT:-29180}
ADMIN_PORT=${FOOTPRINT_ADMIN_PORT:-29181}
GW_CPU=${FOOTPRINT_GW_CPU:-0}
LOAD_CPU=${FOOTPRINT_LOAD_CPU:-1}
DUR=${FOOTPRINT_DUR:-20s}
WARM_DUR=${FOOTPRINT_WARM_DUR:-5s}
ROUTES=(h p q)

die() { echo "footprint: $*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs two CPUs"

work=$(mktemp -d)
OUT=${FOOTPRINT_OUT:-$work/figures.tsv}
: >"$OUT"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "${FOOTPRINT_OUT:-}" ] && cp "$OUT" "${TMPDIR:-/tmp}/footprint-last.tsv" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "footprint: building gateway" >&2
go build -o "$work/gateway" ./cmd/gateway
LOAD=(taskset -c "$LOAD_CPU")
PIN=(env GOMAXPROCS=1 taskset -c "$GW_CPU")

# start/stop/wait_http/replica, cpu_ticks/peak_rss_mib/field/record, median: shared
# with bench-peers.sh.
here=scripts/bench-peers
# shellcheck source=scripts/bench-peers/procs.sh
. "$here/procs.sh"
# shellcheck source=scripts/bench-peers/measure.sh
. "$here/measure.sh"
# shellcheck source=scripts/bench-peers/table.sh
. "$here/table.sh"

start_replicas() { # three replicas, not bench-peers' four (its start_sim)
  stop sim
  start sim "${LOAD[@]}" "$work/gateway" sim -base-port "$SIM_PORT" -replicas 3 -seed 7 \
    -latency lognormal:median=1ms,sigma=0.2
  local i
  for i in 1 2 3; do wait_http sim "http://$(replica $i)/_sim/stats"; done
}

set_yaml() { # NAME PROTOCOL
  printf '  %s:\n    protocol: %s\n    replicas:\n' "$1" "$2"
  local i
  for i in 1 2 3; do printf '      - {name: r%s, url: "http://%s"}\n' "$i" "$(replica "$i")"; done
}

gw_yaml() { # PROTOCOL
  cat <<YAML
listen: 127.0.0.1:$GW_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
replica_sets:
$(set_yaml a "$1")
$(set_yaml b "$1")
$(set_yaml c "$1")
routes:
$(route_yaml h a)
$(route_yaml p b)
$(route_yaml q c)
YAML
}

route_yaml() { # PREFIX SET: one route, by MIX
  printf '  - name: %s\n    match: /%s/kv/{key}\n    strip_prefix: /%s\n    replica_set: %s\n' "$1" "$1" "$1" "$2"
  case $MIX-$1 in
  mixed-p) printf '    strategy: parallel\n    parallel: {fanout: 2}\n' ;;
  mixed-q) printf '    strategy: quorum\n    quorum:\n      read: 2\n      version: {header: X-Version}\n      monotonic: {enabled: true}\n' ;;
  *) printf '    hedge: {percentile: 95}\n    budget: {ratio: 0.1, min_per_second: 10}\n' ;;
  esac
}

# load RATE DUR TAG: the three generators at RATE/3 each, at once; raw results in
# $work/TAG-ROUTE.csv.
load() {
  local rate=$1 dur=$2 tag=$3 r ps=()
  for r in "${ROUTES[@]}"; do
    "${LOAD[@]}" "$work/gateway" loadtest -q -json -url "http://127.0.0.1:$GW_PORT/$r/kv/{key}" -keys 1000 \
      -rate "$(awk -v t="$rate" 'BEGIN{print t/3}')" -duration "$dur" -connections 256 -timeout 2s \
      -out "$work/$tag-$r.csv" >"$work/$tag-$r.json" 2>>"$work/loadtest.err" &
    ps+=($!)
  done
  for r in "${ps[@]}"; do wait "$r" || true; done
}

# row_run LABEL RATE PROTOCOL: one measured row of the table.
row_run() {
  local label=$1 rate=$2 proto=$3 pid before after start end r
  gw_yaml "$proto" >"$work/gw.yaml"
  "$work/gateway" validate -config "$work/gw.yaml" >/dev/null || die "config refused: $work/gw.yaml"
  start gw "${PIN[@]}" "$work/gateway" serve -config "$work/gw.yaml"
  pid=$started
  wait_http gw "http://127.0.0.1:$ADMIN_PORT/readyz"
  load "$rate" "$WARM_DUR" warm
  before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  load "$rate" "$DUR" run
  end=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  local hwm rss
  hwm=$(peak_rss_mib "$pid")
  rss=$(awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$pid/status")
  stop gw
  local sent=0 req=0 ok=0
  for r in "${ROUTES[@]}"; do
    sent=$(awk -v a="$sent" -v b="$(field "$work/run-$r.json" achieved_rate)" 'BEGIN{print a + b}')
    req=$((req + $(field "$work/run-$r.json" requests || echo 0)))
    ok=$((ok + $(field "$work/run-$r.json" ok || echo 0)))
  done
  local cores
  cores=$(awk -v a="$after" -v b="$before" -v s="$start" -v e="$end" -v hz="$(getconf CLK_TCK)" \
    'BEGIN{printf "%.3f", (a-b)/hz/(e-s)}')
  record sent "$label" "$(printf '%.0f' "$sent")"
  record ok "$label" "$(awk -v o="$ok" -v r="$req" 'BEGIN{printf "%.2f", r ? 100*o/r : 0}')"
  # Latency over the three routes together, from the generators' raw rows (ms).
  cat "$work"/run-*.csv | awk -F, '$2 ~ /^[0-9]+$/ {print $2/1000}' | sort -g >"$work/lat.txt"
  record p50 "$label" "$(quantile 0.50 "$work/lat.txt")"
  record p99 "$label" "$(quantile 0.99 "$work/lat.txt")"
  record cores "$label" "$cores"
  record cores_per_1k "$label" "$(awk -v c="$cores" -v s="$sent" 'BEGIN{printf "%.3f", (s > 0 ? 1000*c/s : 0)}')"
  record peak_rss "$label" "$hwm"
  record end_rss "$label" "$rss"
  rm -f "$work"/run-*.csv "$work"/warm-*.csv
}
quantile() { # Q FILE (sorted): the value at rank ceil(Q·n)
  awk -v q="$1" '{v[NR] = $1} END {if (!NR) {print "–"; exit} i = int(q*NR); if (i < q*NR) i++; if (i < 1) i = 1; printf "%.2f", v[i]}' "$2"
}

labels=()
for rate in $RATES; do labels+=("$rate http1"); done
top=$(echo "$RATES" | tr ' ' '\n' | sort -n | tail -1)
labels+=("$top h2c")

start_replicas
for ((round = 1; round <= ROUNDS; round++)); do
  for l in "${labels[@]}"; do
    echo "footprint: round $round/$ROUNDS: $l ($(cut -d' ' -f1 /proc/loadavg) load)" >&2
    row_run "${l// /-}" "${l% *}" "${l#* }"
  done
done
stop sim

metrics=(sent ok p50 p99 cores cores_per_1k peak_rss end_rss)
heads=("sent/s" "ok %" "p50 ms" "p99 ms" "CPU cores" "cores/1k r/s" "peak RSS MiB" "end RSS MiB")
print_header() { printf '%-12s' "$1"; printf ' %12s' "${heads[@]}"; echo; }
echo
echo "## footprint: medians of $ROUNDS round(s); gateway on CPU $GW_CPU (GOMAXPROCS=1), replicas and load on CPU $LOAD_CPU"
case $MIX in
hedge) mix="hedge p95 on all three" ;;
*) mix="hedge p95, parallel fanout 2, quorum 2/3 monotonic" ;;
esac
echo "## 3 routes ($mix) x 3 sets of 3 replicas; $DUR per row after $WARM_DUR warm-up"
echo "## $(uname -r), $(nproc --all) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
print_header "rate proto"
for l in "${labels[@]}"; do
  printf '%-12s' "$l"
  for m in "${metrics[@]}"; do printf ' %12s' "$(median "$m" "${l// /-}")"; done
  echo
done
awk -F'\t' '$2 == "sent" && $3 ~ /http1|h2c/ {split($3, a, "-"); if ($4 < 0.98 * a[1]) print "note: round " $1 ", " a[1] " " a[2] ": the generators kept only " $4 " req/s"}' "$OUT"
echo
echo "## every round"
print_header "round rate"
for ((round = 1; round <= ROUNDS; round++)); do
  for l in "${labels[@]}"; do
    printf '%-12s' "$round $l"
    for m in "${metrics[@]}"; do
      printf ' %12s' "$(awk -F'\t' -v r="$round" -v m="$m" -v c="${l// /-}" '$1 == r && $2 == m && $3 == c {print $4}' "$OUT")"
    done
    echo
  done
done
echo "raw figures (round, metric, row, value): $([ -n "${FOOTPRINT_OUT:-}" ] && echo "$OUT" || echo "${TMPDIR:-/tmp}/footprint-last.tsv")"
