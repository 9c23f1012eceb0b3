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

# --- processes -----------------------------------------------------------------------
# start NAME CMD...: runs CMD in the background, logging to $work/NAME.log; the PID is
# in $started.
start() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
  eval "pid_$name=$started"
}
stop() { # NAME
  local v="pid_$1" p
  p=${!v:-}
  [ -z "$p" ] && return
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  eval "pid_$1="
}
wait_http() { # NAME URL: until URL answers 200
  local i
  for i in $(seq 200); do
    curl -sf -o /dev/null -m 1 "$2" && return
    sleep 0.05
  done
  cat "$work/$1.log" >&2
  die "$1 not answering $2"
}
replica() { echo "127.0.0.1:$((SIM_PORT + $1 - 1))"; }

start_sim() { # gateway sim flags...
  stop sim
  start sim $LOAD "$work/gateway" sim -base-port "$SIM_PORT" -replicas 4 -seed 7 "$@"
  local i
  for i in 1 2 3 4; do wait_http sim "http://$(replica $i)/_sim/stats"; done
}

nginx_conf() {
  local d=$work/nginx user_line=""
  mkdir -p "$d/tmp"
  [ "$(id -u)" = 0 ] && user_line="user root;"
  cat >"$d/nginx.conf" <<CONF
daemon off;
$user_line
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000;
    upstream kv {
        server $(replica 1) max_fails=1 fail_timeout=10s;
        server $(replica 2) max_fails=1 fail_timeout=10s;
        server $(replica 3) max_fails=1 fail_timeout=10s;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://kv;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 200ms;
            proxy_read_timeout 1s;
            proxy_next_upstream error timeout;
        }
    }
}
CONF
}

haproxy_conf() {
  cat >"$work/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 8192
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 200ms
    timeout client 30s
    timeout server 1s
    timeout http-keep-alive 30s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend kv
backend kv
    balance roundrobin
    server r1 $(replica 1)
    server r2 $(replica 2)
    server r3 $(replica 3)
CFG
}

gw_conf() { # FILE PORT ADMIN_PORT EXTRA
  cat >"$1" <<YAML
listen: 127.0.0.1:$2
admin_listen: 127.0.0.1:$3
$4
replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://$(replica 1)"}
      - {name: r2, url: "http://$(replica 2)"}
      - {name: r3, url: "http://$(replica 3)"}
routes:
  - name: kv
    match: /kv/{key}
    replica_set: kv
    hedge: {percentile: 95}
YAML
}

start_proxies() { # EXTRA hedgegate config lines
  nginx_conf
  haproxy_conf
  gw_conf "$work/gw.yaml" "$GW_PORT" "$GW_ADMIN_PORT" "${1:-}"
  start nginx $PIN "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
  start haproxy $PIN "$HAPROXY" -db -f "$work/haproxy.cfg"
  start httputil $PIN "$work/revproxy" -addr "127.0.0.1:$REVPROXY_PORT" \
    -backends "http://$(replica 1),http://$(replica 2),http://$(replica 3)"
  start hedgegate $PIN "$work/gateway" serve -config "$work/gw.yaml"
  if [ -n "$BASE_REV" ]; then
    gw_conf "$work/base.yaml" "$BASE_PORT" "$BASE_ADMIN_PORT" "${BASE_EXTRA:-}"
    start base $PIN "$work/gateway-base" serve -config "$work/base.yaml"
  fi
  local c
  for c in "${cols[@]:1}"; do wait_http "$c" "$(url_of "$c")/kv/0"; done
  wait_http hedgegate "http://127.0.0.1:$GW_ADMIN_PORT/readyz"
}
stop_proxies() { local c; for c in "${cols[@]:1}"; do stop "$c"; done; }

url_of() { # COLUMN → base URL
  case $1 in
  direct) echo "http://$(replica 1)" ;;
  floor) echo "http://$(replica 4)" ;;
  nginx) echo "http://127.0.0.1:$NGINX_PORT" ;;
  haproxy) echo "http://127.0.0.1:$HAPROXY_PORT" ;;
  httputil) echo "http://127.0.0.1:$REVPROXY_PORT" ;;
  hedgegate) echo "http://127.0.0.1:$GW_PORT" ;;
  base) echo "http://127.0.0.1:$BASE_PORT" ;;
  esac
}

procs_of() { # COLUMN → the PIDs of its processes (nginx: master and workers)
  local v="pid_$1" p
  p=${!v:-}
  [ -z "$p" ] && return
  echo "$p"
  [ -r "/proc/$p/task/$p/children" ] && tr ' ' '\n' <"/proc/$p/task/$p/children" | grep . || true
}
cpu_ticks() { # PIDS... → utime+stime, in clock ticks, summed
  local p t=0 f
  for p in "$@"; do
    f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
peak_rss_mib() { # PIDS... → summed VmHWM in MiB
  local p kb=0
  for p in "$@"; do
    kb=$((kb + $(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  awk -v k="$kb" 'BEGIN{printf "%.1f", k/1024}'
}

record() { printf '%s\t%s\t%s\t%s\n' "$round" "$1" "$2" "$3" >>"$OUT"; } # METRIC COLUMN VALUE

served() { # data requests r1..r3 counted
  local n=0 i s
  for i in 1 2 3; do
    s=$(curl -s -m 2 "http://$(replica $i)/_sim/stats" | grep -o '"served": *[0-9]*' | grep -o '[0-9]*$')
    n=$((n + ${s:-0}))
  done
  echo "$n"
}
# dials_of COLUMN: connections a hedgegate has dialled to its replicas, from
# /debug/replicas (empty for a peer, or a build without the count).
dials_of() {
  local port
  case $1 in
  hedgegate) port=$GW_ADMIN_PORT ;;
  base) port=$BASE_ADMIN_PORT ;;
  *) return 0 ;;
  esac
  curl -s -m 2 "http://127.0.0.1:$port/debug/replicas" | grep -o '"dials": *[0-9]*' | grep -o '[0-9]*$' |
    awk '{n += $1} END {if (NR) print n}' || true
}
# closed_since EPOCH: connections to r1..r3 that the proxy side closed since EPOCH (a
# second's precision): their TIME-WAIT sockets (60 s on Linux) whose timer shows they
# were made since. Counts what a proxy tears down, whichever proxy it is.
closed_since() {
  local ports age
  ports="( dport = :$SIM_PORT or dport = :$((SIM_PORT + 1)) or dport = :$((SIM_PORT + 2)) )"
  age=$(awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN{print n - s}')
  ss -Htan -o state time-wait "$ports" 2>/dev/null |
    grep -o 'timewait,[0-9.]*[a-z]*' | sed 's/timewait,//' |
    awk -v age="$age" '{v = $1 + 0; if ($1 ~ /ms$/) v /= 1000; else if ($1 ~ /min$/) v *= 60
      if (v >= 60 - age - 1) n++} END {print n + 0}' || true
}
field() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | grep -o '[0-9.e+-]*$'; } # FILE KEY

loadtest() { # URL RATE DUR OUT [flags]: open loop from LOAD_CPU
  local url=$1 rate=$2 dur=$3 out=$4; shift 4
  $LOAD "$work/gateway" loadtest -q -json -url "$url/kv/{key}" -keys 1000 -rate "$rate" \
    -duration "$dur" -connections 512 "$@" >"$out" 2>>"$work/loadtest.err" || true
  [ -s "$out" ] || { echo '{"requests": 0}' >"$out"; }
}

# rotated COLUMNS...: the columns in an order that moves by one every round, so no
# proxy always runs first or last.
rotated() {
  local a=("$@") n=$# i
  for ((i = 0; i < n; i++)); do echo "${a[(i + round) % n]}"; done
}

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

# --- the table -----------------------------------------------------------------------
median() { # METRIC COLUMN → median over rounds, or –
  awk -F'\t' -v m="$1" -v c="$2" '$1 != "profile" && $2 == m && $3 == c {print $4}' "$OUT" | sort -g |
    awk '{v[NR] = $1} END {if (!NR) {print "–"; exit} print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
# added METRIC COLUMN: the median over rounds of (COLUMN − direct), each round against
# its own direct read.
added() {
  awk -F'\t' -v m="$1" -v c="$2" '$2 == m && $3 == c {x[$1] = $4} $2 == m && $3 == "direct" {d[$1] = $4}
    END {for (r in x) if (r in d) print x[r] - d[r]}' "$OUT" | sort -g |
    awk '{v[NR] = $1} END {if (!NR) {print "–"; exit} printf "%+.3f\n", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
# ratio METRIC A B: the median over rounds of A/B, each round's own pair; and the range.
ratio() {
  awk -F'\t' -v m="$1" -v a="$2" -v b="$3" '$2 == m && $3 == a {x[$1] = $4} $2 == m && $3 == b {y[$1] = $4}
    END {for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r]}' "$OUT" | sort -g |
    awk '{v[NR] = $1} END {if (!NR) {print "–"; exit}
      printf "%.3f (%.3f–%.3f, %d rounds)\n", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, v[1], v[NR], NR}'
}

row() { # LABEL FN METRIC [DIRECT_COLUMN]
  local label=$1 fn=$2 metric=$3 direct=${4:-direct} c v
  printf '%-24s' "$label"
  for c in "${cols[@]}"; do
    if [ "$c" = direct ]; then v=$(median "$metric" "$direct"); else v=$($fn "$metric" "$c"); fi
    printf ' %11s' "$v"
  done
  echo
}

echo
echo "## bench-peers: medians of $ROUNDS round(s); proxies on CPU $PROXY_CPU, replicas and load on CPU $LOAD_CPU"
echo "## $(uname -r), $(nproc --all) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '%-24s' ""
for c in "${cols[@]}"; do printf ' %11s' "$c"; done
echo
[[ " $ROWS " == *" closed "* ]] && {
  row "closed req/s" median closed_rps
  row "closed CPU %" median closed_cpu
  row "req/CPU-s" median closed_rpcs
  row "closed backend/req" median closed_bpr
  row "closed conns/1k req" median closed_closes
  row "closed dials/1k req" median closed_dials
}
[[ " $ROWS " == *" open "* ]] && {
  row "2k/s p50 ms (+added)" added open_p50
  row "2k/s p99 ms (+added)" added open_p99
  row "2k/s sent/s" median open_rate
  row "2k/s ok %" median open_ok
}
[[ " $ROWS " == *" tail "* ]] && {
  row "tail p99 ms" median tail_p99 floor
  row "tail p99.9 ms" median tail_p999 floor
  row "tail backend/req" median tail_bpr
}
[[ " $ROWS " == *" notail "* ]] && {
  row "no-tail p99 ms" median notail_p99 floor
  row "no-tail p99.9 ms" median notail_p999 floor
}
[[ " $ROWS " == *" stall "* ]] && {
  row "stall ok %" median stall_ok
  row "stall p99 ms" median stall_p99
  row "stall backend/req" median stall_bpr
}
[[ " $ROWS " == *" closed "* ]] && row "RSS MiB (peak)" median rss
echo "(direct: r1 read without a proxy; in the tail rows, r4, a replica with no tail: the floor)"
# Say when the figures cannot be what they claim: a proxy that did not use its whole
# core in the closed loop was limited by something else (the load side, other
# processes on its core), and an open loop that fell behind its rate measured queueing.
notes() {
  local c v
  for c in "${cols[@]:1}"; do
    v=$(median closed_cpu "$c")
    [ "$v" != – ] && awk -v v="$v" 'BEGIN{exit !(v < 90)}' &&
      echo "note: $c used $v% of its core in the closed loop: req/s is not its capacity; req/CPU-s is the per-core figure"
    v=$(median open_rate "$c")
    [ "$v" != – ] && awk -v v="$v" 'BEGIN{exit !(v < 1980)}' &&
      echo "note: the open loop through $c kept only $v of 2000 req/s: its latencies include its own queueing"
  done
  return 0
}
notes
echo
echo "## ratios, each round's own pair, median (range)"
if [[ " $ROWS " == *" closed "* ]]; then
  for p in httputil nginx haproxy ${BASE_REV:+base}; do
    echo "req/s      hedgegate / $p: $(ratio closed_rps hedgegate "$p")"
    echo "req/CPU-s  hedgegate / $p: $(ratio closed_rpcs hedgegate "$p")"
  done
  for p in nginx haproxy; do
    echo "req/CPU-s  $p / httputil: $(ratio closed_rpcs "$p" httputil)"
  done
fi
[[ " $ROWS " == *" tail "* ]] && {
  echo "tail p99.9 hedgegate / floor: $(ratio tail_p999 hedgegate floor)"
  echo "tail p99   hedgegate / floor: $(ratio tail_p99 hedgegate floor)"
  [ -n "$BASE_REV" ] && echo "tail p99.9 base / floor: $(ratio tail_p999 base floor)"
}
echo
echo "raw figures (round, metric, column, value): $([ -n "${BENCH_OUT:-}" ] && echo "$OUT" || echo "${TMPDIR:-/tmp}/bench-peers-last.tsv")"
