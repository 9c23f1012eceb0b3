# Sourced by scripts/bench-peers.sh: what it reads off the processes and the load generators.
# shellcheck shell=bash

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

