# Shared by the measurement scripts: simulated replicas (gateway sim) and a gateway
# (gateway serve) in their own processes on loopback, stopped on exit. The caller sets
# SIM_PORT, GW and ADMIN (and optionally EXTRA_SETS, more replica_sets entries indented
# by two spaces), then sources this file from the repository's root. GW_PREFIX and
# SIM_PREFIX, when set, prefix the commands that start them (taskset, say).

work=$(mktemp -d)
bin=$work/gateway
go build -o "$bin" ./cmd/gateway
sim_pid= gw_pid=
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_sim() { # sim flags...
  stop_sim
  ${SIM_PREFIX:-} "$bin" sim -base-port "$SIM_PORT" -seed 7 "$@" >"$work/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do [ "$(grep -c control "$work/sim.log")" -ge 3 ] && return; sleep 0.05; done
  echo "sim did not start"; cat "$work/sim.log"; exit 1
}
stop_sim() { if [ -n "$sim_pid" ]; then kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=; fi; }

served() { # total data requests the three replicas counted
  local n=0 i s
  for i in 0 1 2; do
    s=$(curl -s -m 2 "http://127.0.0.1:$((SIM_PORT + i))/_sim/stats" | grep -o '"served": *[0-9]*' | grep -o '[0-9]*$')
    n=$((n + s))
  done
  echo $n
}

gw_config() { # route YAML (indented under the route): writes $work/gw.yaml
  cat >"$work/gw.yaml" <<YAML
listen: $GW
admin_listen: $ADMIN
replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:$SIM_PORT"}
      - {name: r2, url: "http://127.0.0.1:$((SIM_PORT + 1))"}
      - {name: r3, url: "http://127.0.0.1:$((SIM_PORT + 2))"}
${EXTRA_SETS:-}
routes:
  - name: kv
    match: /kv/{key}
    replica_set: kv
$1
YAML
}

start_gw() { # route YAML, as for gw_config
  stop_gw
  gw_config "$1"
  ${GW_PREFIX:-} "$bin" serve -config "$work/gw.yaml" >"$work/gw.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do curl -sf -m 1 "http://$ADMIN/readyz" >/dev/null && return; sleep 0.05; done
  echo "gateway not ready"; cat "$work/gw.log"; exit 1
}
stop_gw() { if [ -n "$gw_pid" ]; then kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; gw_pid=; fi; }

field() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | grep -o '[0-9.e+-]*$'; } # FILE KEY: first number
