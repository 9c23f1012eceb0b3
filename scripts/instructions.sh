#!/usr/bin/env bash
# instructions.sh: the instructions a proxy executes per request, counted by valgrind's
# callgrind, for hedgegate (this tree, and -base REV built beside it) and Go's
# httputil.ReverseProxy (scripts/bench-peers/revproxy). Instruction counts do not move
# with what else the machine runs (the same binary and load give the same count within
# 0.1%), where CPU seconds on this 2-core shared machine move by 30%: this is the figure
# to compare builds by while working on the request path; scripts/bench-peers.sh gives
# the time figures.
#
#   scripts/instructions.sh                    # hedgegate and httputil, 4000 requests
#   scripts/instructions.sh -base main -n 8000
#
# Each proxy runs alone under callgrind (GOMAXPROCS=1, GODEBUG=asyncpreemptoff=1, which
# callgrind needs for Go's signals) in front of three `gateway sim` replicas answering at
# once (-latency fixed:0s), hedgegate with one hedge route at p95; 500 requests warm it
# up, the counters are zeroed, and N requests over 8 keep-alive connections
# (scripts/instructions/loadc) are counted. Counted in user space only: the kernel's
# side of the syscalls is not in it.
#
# Per request it prints the total, and the total less latency.(*Window).rebuild: that
# merge runs once per replica per second (latency.window/10), and valgrind's ~50x
# slowdown makes a periodic cost look 50x larger per request than it is at speed.
#
# Ports (environment): INSTR_PORT (default 26400): replicas on +1..+4, the proxy on +10,
# hedgegate's admin on +11. INSTR_KEEP=DIR keeps each proxy's callgrind dump there as
# DIR/COLUMN.callgrind, for callgrind_annotate --inclusive=yes. Installs valgrind with apt-get when missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

N=4000 BASE_REV=
while [ $# -gt 0 ]; do
  case $1 in
  -n) N=$2; shift 2 ;;
  -base) BASE_REV=$2; shift 2 ;;
  -h | -help | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "instructions: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -gt 0 ] || { echo "instructions: -n wants a positive number" >&2; exit 2; }

if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "instructions: needs valgrind: apt-get install valgrind" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >&2
fi
PROXY_CPU=0 LOAD_CPU=1
[ "$(nproc --all)" -ge 2 ] || PROXY_CPU=0 LOAD_CPU=0

P=${INSTR_PORT:-26400}
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "instructions: building" >&2
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/revproxy" ./scripts/bench-peers/revproxy
go build -o "$work/loadc" ./scripts/instructions/loadc
cols=(httputil hedgegate)
if [ -n "$BASE_REV" ]; then
  mkdir "$work/base-src"
  git archive "$BASE_REV" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && go build -o "$work/gateway-base" ./cmd/gateway)
  cols+=(base)
fi

# The replicas and hedgegate's config are bench-peers': the same three fast replicas
# (r1..r3 of its four) and the same one hedge route at p95.
SIM_PORT=$((P + 1))
LOAD="taskset -c $LOAD_CPU"
die() { echo "instructions: $*" >&2; exit 1; }
here=scripts/bench-peers
. "$here/procs.sh"
start_sim -latency fixed:0s
gw_conf "$work/gw.yaml" $((P + 10)) $((P + 11)) "" ""

count() { # COLUMN: prints "total per-request less-rebuild per-request"
  local c=$1 url="http://127.0.0.1:$((P + 10))/kv/1" cmd vp out=$work/cg.$1
  case $c in
  httputil) cmd=("$work/revproxy" -addr "127.0.0.1:$((P + 10))" -backends "http://$(replica 1),http://$(replica 2),http://$(replica 3)") ;;
  hedgegate) cmd=("$work/gateway" serve -config "$work/gw.yaml") ;;
  base) cmd=("$work/gateway-base" serve -config "$work/gw.yaml") ;;
  esac
  GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 taskset -c "$PROXY_CPU" \
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "${cmd[@]}" >"$work/$c.log" 2>&1 &
  vp=$!
  pids+=("$vp")
  local up=
  for _ in $(seq 300); do curl -sf -o /dev/null -m 2 "$url" && { up=1; break; }; sleep 0.2; done
  [ -n "$up" ] || { tail -20 "$work/$c.log" >&2; echo "instructions: $c did not answer" >&2; exit 1; }
  taskset -c "$LOAD_CPU" "$work/loadc" -n 500 -c 8 -url "$url"
  callgrind_control -z "$vp" >/dev/null 2>&1
  taskset -c "$LOAD_CPU" "$work/loadc" -n "$N" -c 8 -url "$url"
  callgrind_control -d "$vp" >/dev/null 2>&1
  sleep 1
  kill "$vp" 2>/dev/null || true
  wait "$vp" 2>/dev/null || true
  local f total rebuild
  f=$(ls "$out".*.1 2>/dev/null | head -1)
  [ -n "$f" ] || { echo "instructions: no callgrind dump for $c" >&2; exit 1; }
  total=$(awk '/^summary:/{print $2}' "$f")
  rebuild=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
    awk '/latency\.\(\*Window\)\.rebuild \[/ && !n++ {gsub(",", "", $1); print $1}')
  [ -z "${INSTR_KEEP:-}" ] || { mkdir -p "$INSTR_KEEP" && cp "$f" "$INSTR_KEEP/$c.callgrind"; }
  echo "$((total / N)) $(((total - ${rebuild:-0}) / N))"
}

declare -A per less
for c in "${cols[@]}"; do
  echo "instructions: counting $c ($N requests)" >&2
  count "$c" >"$work/res.$c"
  read -r "per[$c]" "less[$c]" <"$work/res.$c"
done
printf '\n%-10s %14s %26s %12s\n' proxy "instr/request" "less histogram rebuilds" "÷ httputil"
for c in "${cols[@]}"; do
  printf '%-10s %14s %26s %12s\n' "$c" "${per[$c]}" "${less[$c]}" \
    "$(awk -v a="${less[$c]}" -v b="${less[httputil]}" 'BEGIN{printf "%.3f", a/b}')"
done
