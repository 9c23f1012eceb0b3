# Sourced by scripts/bench-peers.sh: medians, added latency, ratios and the printed table.
# shellcheck shell=bash

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

# print_table: the one table, the notes and the per-round ratios.
print_table() {
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
}
