# Sourced by scripts/bench-peers.sh: the processes it starts and stops (replicas and proxies), and their configs.
# shellcheck shell=bash

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

gw_conf() { # FILE PORT ADMIN_PORT EXTRA [SET_LINES]
  cat >"$1" <<YAML
listen: 127.0.0.1:$2
admin_listen: 127.0.0.1:$3
$4
replica_sets:
  kv:
    ${5:-}
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
  gw_conf "$work/gw.yaml" "$GW_PORT" "$GW_ADMIN_PORT" "${1:-}" "$GW_SET"
  start nginx $PIN "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
  start haproxy $PIN "$HAPROXY" -db -f "$work/haproxy.cfg"
  start httputil $PIN "$work/revproxy" -addr "127.0.0.1:$REVPROXY_PORT" \
    -backends "http://$(replica 1),http://$(replica 2),http://$(replica 3)"
  start hedgegate $PIN "$work/gateway" serve -config "$work/gw.yaml"
  if [ -n "$BASE_REV" ]; then
    gw_conf "$work/base.yaml" "$BASE_PORT" "$BASE_ADMIN_PORT" "${BASE_EXTRA:-}" "$BASE_SET"
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
