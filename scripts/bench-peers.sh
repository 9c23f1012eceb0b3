#!/usr/bin/env bash
# hedgegate beside its peers on this machine, each proxy alone on one core: nginx (one
# worker), HAProxy (nbthread 1), Go's net/http/httputil.ReverseProxy (a tiny main in
# scripts/bench-peers/revproxy) and hedgegate (GOMAXPROCS=1), all pinned to
# BENCH_PROXY_CPU; the simulated replicas (gateway sim) and the load generators (wrk,
# gateway loadtest) pinned to BENCH_LOAD_CPU. Loopback only. Prints ONE table of
# medians over the rounds, then per-round ratios from the same run.
#
#   scripts/bench-peers.sh                       # 3 rounds, ~5 minutes a round
#   scripts/bench-peers.sh -rounds 5
#   scripts/bench-peers.sh -base main            # also measure hedgegate built from a
#                                                # git revision, as a column beside it
#   scripts/bench-peers.sh -profile cpu.pprof    # after the rounds, a CPU profile of
#                                                # hedgegate under the closed-loop load
#                                                # (-rounds 0: the profile alone; with
#                                                # -base, the base build's in FILE.base
#                                                # if it has debug.pprof)
#   scripts/bench-peers.sh -rows closed          # only some scenarios, of: closed open
#                                                # tail stall, and notail (the tail
#                                                # row's load, replicas without tail)
#
# Rows (each proxy fronts the same three replicas r1..r3, round-robin for the peers,
# hedge at p95 for hedgegate; every proxy is restarted per scenario, so hedgegate's
# histograms start empty and warm up at the scenario's load):
#   closed req/s      wrk -t1 -c64 for BENCH_CLOSED_SECS, replicas answering at once
#   closed CPU %      the proxy's CPU use during that run (utime+stime / wall time)
#   req/CPU-s         req/s ÷ that CPU share: requests per second of the proxy's own
#                     CPU, the per-core figure that holds when another process steals
#                     the core or the load side is the bottleneck (then CPU % < 100)
#   closed backend/req, conns/1k req, dials/1k req: replica requests per client
#                     request (hedges); connections to the replicas the proxy closed
#                     per 1000 requests (its TIME-WAIT sockets, from ss); connections
#                     hedgegate dialled per 1000 requests (/debug/replicas "dials";
#                     – for the peers and older builds)
#   2k p50/p99 +ms    open loop at 2000 req/s (gateway loadtest, latency from each
#                     request's intended send time) minus a direct read of r1, all
#                     replicas answering at once; sent/s: the rate the generator kept
#   tail p99/p99.9    replicas lognormal median 1ms sigma 0.2, 2% of answers +50ms,
#                     1000 req/s; the direct column is r4, a replica with no tail: the
#                     floor this machine allows
#   tail backend/req  requests the replicas counted (/_sim/stats) per client request
#   stall ok % / p99  r2 accepts and never answers, 1000 req/s, client timeout 2s. The
#                     peers get a 1s server timeout and retry elsewhere on it, like
#                     hedgegate's route timeout; the httputil baseline has neither
#   RSS MiB           peak resident set (VmHWM, all the proxy's processes) after the
#                     closed-loop runs
#
# Ports (environment, defaults in 26000-26999): BENCH_SIM_PORT (4 consecutive: r1..r4),
# BENCH_NGINX_PORT, BENCH_HAPROXY_PORT, BENCH_REVPROXY_PORT, BENCH_GW_PORT,
# BENCH_GW_ADMIN_PORT, BENCH_BASE_PORT, BENCH_BASE_ADMIN_PORT. Durations:
# BENCH_CLOSED_SECS, BENCH_OPEN_DUR, BENCH_TAIL_DUR, BENCH_STALL_DUR, BENCH_WARM_DUR.
# BENCH_GW_SET, BENCH_BASE_SET: one line of replica-set keys for hedgegate's (and the
# base build's) set, e.g. BENCH_GW_SET='protocol: h2c' or 'client: net/http'.
# BENCH_OUT: file for the raw per-round figures (default: a temporary file, printed).
# Installs nginx, haproxy and wrk with apt-get when missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
ROUNDS=3 BASE_REV= PROFILE= ROWS="closed open tail stall"
while [ $# -gt 0 ]; do
  case $1 in
  -rounds) ROUNDS=$2; shift 2 ;;
  -base) BASE_REV=$2; shift 2 ;;
  -profile) PROFILE=$2; shift 2 ;;
  -rows) ROWS=$2; shift 2 ;;
  -h | -help | --help) usage; exit 0 ;;
  *) echo "bench-peers: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[0-9]+$ ]] || { echo "bench-peers: -rounds wants a number" >&2; exit 2; }
[[ $ROUNDS != 0 || -n $PROFILE ]] || { echo "bench-peers: -rounds 0 only with -profile" >&2; exit 2; }

SIM_PORT=${BENCH_SIM_PORT:-26101}
NGINX_PORT=${BENCH_NGINX_PORT:-26180}
HAPROXY_PORT=${BENCH_HAPROXY_PORT:-26181}
REVPROXY_PORT=${BENCH_REVPROXY_PORT:-26182}
GW_PORT=${BENCH_GW_PORT:-26183}
GW_ADMIN_PORT=${BENCH_GW_ADMIN_PORT:-26184}
BASE_PORT=${BENCH_BASE_PORT:-26185}
BASE_ADMIN_PORT=${BENCH_BASE_ADMIN_PORT:-26186}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
CLOSED_SECS=${BENCH_CLOSED_SECS:-8}
OPEN_DUR=${BENCH_OPEN_DUR:-10s}
TAIL_DUR=${BENCH_TAIL_DUR:-20s}
STALL_DUR=${BENCH_STALL_DUR:-8s}
WARM_DUR=${BENCH_WARM_DUR:-2s}
GW_SET=${BENCH_GW_SET:-} BASE_SET=${BENCH_BASE_SET:-}

die() { echo "bench-peers: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------
install_missing() {
  local want=() b
  for b in nginx haproxy wrk; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || want+=("$b")
  done
  [ ${#want[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${want[*]} and not root: apt-get install ${want[*]}"
  echo "bench-peers: installing ${want[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${want[@]}" >&2
}
install_missing
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs two CPUs"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

work=$(mktemp -d)
OUT=${BENCH_OUT:-$work/figures.tsv}
: >"$OUT"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "${BENCH_OUT:-}" ] && cp "$OUT" "${TMPDIR:-/tmp}/bench-peers-last.tsv" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench-peers: building gateway and revproxy" >&2
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/revproxy" ./scripts/bench-peers/revproxy
cols=(direct nginx haproxy httputil hedgegate)
if [ -n "$BASE_REV" ]; then
  echo "bench-peers: building gateway at $BASE_REV" >&2
  mkdir "$work/base-src"
  git archive "$BASE_REV" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && go build -o "$work/gateway-base" ./cmd/gateway)
  cols+=(base)
fi
LOAD="taskset -c $LOAD_CPU"
PIN="env GOMAXPROCS=1 taskset -c $PROXY_CPU"

here=scripts/bench-peers # the working directory is the repository's root
. "$here/procs.sh"
. "$here/measure.sh"
. "$here/table.sh"

# --- scenarios -----------------------------------------------------------------------
closed_loop() { # COLUMN
  local c=$1 url procs before after start end out=$work/wrk.txt
  url=$(url_of "$c")
  $LOAD wrk -t1 -c64 -d1s "$url/kv/1" >/dev/null 2>&1 || true # connections and histograms warm
  mapfile -t procs < <(procs_of "$c")
  local served0 dials0 served1 dials1
  served0=$(served) dials0=$(dials_of "$c")
  before=$(cpu_ticks "${procs[@]}")
  start=$(date +%s.%N)
  $LOAD wrk -t1 -c64 -d"${CLOSED_SECS}s" "$url/kv/1" >"$out" 2>&1 || true
  end=$(date +%s.%N)
  after=$(cpu_ticks "${procs[@]}")
  served1=$(served) dials1=$(dials_of "$c")
  local closes
  closes=$(closed_since "$start")
  local rps errs cpu n
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  n=$(awk '/requests in/{print $1}' "$out")
  if [ "$c" != direct ] && [ "${n:-0}" -gt 0 ]; then
    record closed_bpr "$c" "$(awk -v a="$served1" -v b="$served0" -v n="$n" 'BEGIN{printf "%.3f", (a-b)/n}')"
    record closed_closes "$c" "$(awk -v c="$closes" -v n="$n" 'BEGIN{printf "%.2f", 1000*c/n}')"
    [ -n "$dials0" ] && [ -n "$dials1" ] &&
      record closed_dials "$c" "$(awk -v a="$dials1" -v b="$dials0" -v n="$n" 'BEGIN{printf "%.2f", 1000*(a-b)/n}')"
  fi
  errs=$(awk '/Non-2xx|Socket errors/' "$out")
  [ -n "$errs" ] && echo "    $c closed loop: $errs" >&2
  record closed_rps "$c" "${rps:-0}"
  if [ "$c" != direct ]; then
    cpu=$(awk -v a="$after" -v b="$before" -v s="$start" -v e="$end" -v hz="$(getconf CLK_TCK)" \
      'BEGIN{printf "%.3f", (a-b)/hz/(e-s)}')
    record closed_cpu "$c" "$(awk -v c="$cpu" 'BEGIN{printf "%.1f", 100*c}')"
    record closed_rpcs "$c" "$(awk -v r="${rps:-0}" -v c="$cpu" 'BEGIN{printf "%.0f", (c > 0 ? r/c : 0)}')"
  fi
}

closed_case() {
  start_sim -latency fixed:0s
  start_proxies
  local c
  for c in $(rotated "${cols[@]}"); do closed_loop "$c"; done
  for c in "${cols[@]:1}"; do
    mapfile -t procs < <(procs_of "$c")
    record rss "$c" "$(peak_rss_mib "${procs[@]}")"
  done
  stop_proxies
}

open_case() {
  start_sim -latency fixed:0s
  start_proxies
  local c out
  for c in $(rotated "${cols[@]}"); do
    out=$work/open-$c.json
    loadtest "$(url_of "$c")" 2000 "$WARM_DUR" /dev/null
    loadtest "$(url_of "$c")" 2000 "$OPEN_DUR" "$out"
    record open_p50 "$c" "$(field "$out" p50)"
    record open_p99 "$c" "$(field "$out" p99)"
    record open_ok "$c" "$(awk -v o="$(field "$out" ok)" -v r="$(field "$out" requests)" 'BEGIN{printf "%.2f", r ? 100*o/r : 0}')"
    record open_rate "$c" "$(field "$out" achieved_rate)"
  done
  stop_proxies
}

# open_row PREFIX RATE DUR COLUMN...: one open-loop run per column; success, p99,
# p99.9 and backend requests per request.
open_row() {
  local prefix=$1 rate=$2 dur=$3 c before after out; shift 3
  for c in $(rotated "$@"); do
    out=$work/$prefix-$c.json
    loadtest "$(url_of "$c")" "$rate" "$WARM_DUR" /dev/null -timeout 2s
    before=$(served)
    loadtest "$(url_of "$c")" "$rate" "$dur" "$out" -timeout 2s
    after=$(served)
    local req ok
    req=$(field "$out" requests) ok=$(field "$out" ok)
    record "${prefix}_p99" "$c" "$(field "$out" p99)"
    record "${prefix}_p999" "$c" "$(field "$out" p999)"
    record "${prefix}_ok" "$c" "$(awk -v o="${ok:-0}" -v r="${req:-0}" 'BEGIN{printf "%.2f", r ? 100*o/r : 0}')"
    # r4, the floor, is not behind the proxies and not counted in served.
    [ "$c" = floor ] || record "${prefix}_bpr" "$c" "$(awk -v a="$after" -v b="$before" -v r="${req:-0}" 'BEGIN{printf "%.3f", r ? (a-b)/r : 0}')"
  done
}

tail_case() {
  start_sim -latency lognormal:median=1ms,sigma=0.2 -tail 0.02:50ms -replica r4=tail=0:0s
  start_proxies
  open_row tail 1000 "$TAIL_DUR" floor "${cols[@]:1}"
  stop_proxies
}

# Not in the default rows: the tail scenario's load on the same replicas without the
# tail, so the gateway's own tail can be told from what hedging leaves of the replicas'.
notail_case() {
  start_sim -latency lognormal:median=1ms,sigma=0.2
  start_proxies
  open_row notail 1000 "$TAIL_DUR" floor "${cols[@]:1}"
  stop_proxies
}

stall_case() {
  start_sim -latency lognormal:median=1ms,sigma=0.2 -hang r2
  start_proxies
  open_row stall 1000 "$STALL_DUR" "${cols[@]:1}"
  stop_proxies
}

for ((round = 1; round <= ROUNDS; round++)); do
  for r in $ROWS; do
    echo "bench-peers: round $round/$ROUNDS: $r" >&2
    "${r}_case"
  done
done

# profile_under_load COLUMN ADMIN_PORT FILE: a CPU profile of a hedgegate build under
# wrk -t1 -c64, from its /debug/pprof.
profile_under_load() {
  local c=$1 port=$2 file=$3 url wrk_pid
  url=$(url_of "$c")
  $LOAD wrk -t1 -c64 -d1s "$url/kv/1" >/dev/null 2>&1 || true
  $LOAD wrk -t1 -c64 -d"$((CLOSED_SECS + 2))s" "$url/kv/1" >"$work/wrk-profile.txt" 2>&1 &
  wrk_pid=$!
  sleep 1
  curl -sf -m $((CLOSED_SECS + 10)) -o "$file" \
    "http://127.0.0.1:$port/debug/pprof/profile?seconds=$CLOSED_SECS" || echo "bench-peers: no profile from $c" >&2
  wait "$wrk_pid" || true
  echo "bench-peers: $c profile in $file ($(awk '/^Requests\/sec:/{print $2}' "$work/wrk-profile.txt") req/s while profiling); go tool pprof -top $file" >&2
}

if [ -n "$PROFILE" ]; then
  echo "bench-peers: CPU profiles under wrk -t1 -c64 (not counted in the table)" >&2
  round=profile
  start_sim -latency fixed:0s
  PPROF="debug: {pprof: true}"
  base_pprof=
  if [ -n "$BASE_REV" ]; then
    # An older build may not know debug.pprof: profile it only if it accepts the key.
    gw_conf "$work/base-check.yaml" "$BASE_PORT" "$BASE_ADMIN_PORT" "$PPROF"
    "$work/gateway-base" validate -config "$work/base-check.yaml" >/dev/null 2>&1 && base_pprof=$PPROF
  fi
  BASE_EXTRA=$base_pprof start_proxies "$PPROF"
  profile_under_load hedgegate "$GW_ADMIN_PORT" "$PROFILE"
  [ -n "$base_pprof" ] && profile_under_load base "$BASE_ADMIN_PORT" "$PROFILE.base"
  stop_proxies
fi
stop sim
[ "$ROUNDS" = 0 ] && exit 0

print_table
