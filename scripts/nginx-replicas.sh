#!/usr/bin/env bash
# Three nginx instances on 127.0.0.1 serving the same directory: the simplest
# replicated read service, for docs/static.md and the integration tests.
#
#   scripts/nginx-replicas.sh start  [DIR]   install nginx if missing, write the site and
#                                            three configs under DIR, start, wait until
#                                            each answers
#   scripts/nginx-replicas.sh status [DIR]   each instance's master PID
#   scripts/nginx-replicas.sh stop   [DIR]   stop exactly the instances started in DIR,
#                                            remove DIR
#
# DIR (default ${TMPDIR:-/tmp}/hedgegate-nginx) holds www/ (the shared document root:
# index.html and k/0 … k/99, small text files) and nginxN/ (nginx.conf, nginx.pid,
# error.log, temp dirs) for each instance. Nothing outside DIR is read or written
# except the nginx binary: no /etc/nginx, no /var/log/nginx, no /run/nginx.pid.
# Ports: NGINX_PORTS (three, space-separated), default "18081 18082 18083".
# Installing (Debian's nginx) needs root and apt-get.
set -euo pipefail

cmd=${1:-}
dir=${2:-${TMPDIR:-/tmp}/hedgegate-nginx}
read -r -a ports <<<"${NGINX_PORTS:-18081 18082 18083}"
names=(nginx1 nginx2 nginx3)

die() {
	echo "nginx-replicas: $*" >&2
	exit 1
}

nginx_bin() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

install_nginx() {
	[[ -n $(nginx_bin) ]] && return
	[[ $(id -u) == 0 ]] || die "nginx missing and not root: run as root, or apt-get install nginx"
	command -v apt-get >/dev/null || die "nginx missing and no apt-get to install it"
	echo "nginx-replicas: installing nginx with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends nginx >&2
	[[ -n $(nginx_bin) ]] || die "nginx still missing after apt-get install"
}

# alive PID CONF: PID is the master of the instance started with config CONF (guards
# against a reused PID; a zombie has an empty cmdline, so it is not alive).
alive() {
	local pid=$1 conf=$2
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "master process.*$conf"
}

master_pid() {
	local f=$dir/$1/nginx.pid
	[[ -s $f ]] && cat "$f"
}

write_site() {
	local www=$dir/www i
	mkdir -p "$www/k"
	echo '<!doctype html><title>hedgegate static replica</title><p>Served by three nginx instances.' >"$www/index.html"
	for i in $(seq 0 99); do printf 'key %d: the same bytes on every replica\n' "$i" >"$www/k/$i"; done
}

write_conf() {
	local n=$1 port=$2 d=$dir/$1 user_line=""
	mkdir -p "$d/tmp"
	# Started as root, nginx's workers would switch to "nobody", who may not be able
	# to walk down to DIR (a 0700 temporary directory, say): keep them as the user
	# who started the instance. These are loopback test fixtures, not a deployment.
	[[ $(id -u) == 0 ]] && user_line="user root;"
	cat >"$d/nginx.conf" <<CONF
# ${n}: one of three replicas started by scripts/nginx-replicas.sh
daemon on;
${user_line}
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    types { text/html html; text/plain txt; }
    default_type text/plain;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:${port};
        root $dir/www;
        add_header X-Replica ${n};
        location / { try_files \$uri \$uri/ =404; }
    }
}
CONF
}

start() {
	((${#ports[@]} == 3)) || die "want three ports in NGINX_PORTS"
	install_nginx
	local nginx i
	nginx=$(nginx_bin)
	for i in 0 1 2; do
		local pid
		pid=$(master_pid "${names[i]}" 2>/dev/null || true)
		if [[ -n $pid ]] && alive "$pid" "$dir/${names[i]}/nginx.conf"; then
			die "${names[i]} already running from $dir (stop it first: $0 stop $dir)"
		fi
	done
	mkdir -p "$dir"
	write_site
	for i in 0 1 2; do
		write_conf "${names[i]}" "${ports[i]}"
		# -e: the error log before the config is read (else /var/log/nginx/error.log).
		"$nginx" -p "$dir/${names[i]}" -c "$dir/${names[i]}/nginx.conf" -e "$dir/${names[i]}/error.log" ||
			die "${names[i]} did not start: $(tail -3 "$dir/${names[i]}/error.log" 2>/dev/null)"
	done
	local deadline=$((SECONDS + 10))
	for i in 0 1 2; do
		until [[ -n $(master_pid "${names[i]}" 2>/dev/null) ]] &&
			exec 3<>"/dev/tcp/127.0.0.1/${ports[i]}" 2>/dev/null; do
			((SECONDS < deadline)) || die "${names[i]} not answering on ${ports[i]} after 10s"
			sleep 0.1
		done
		exec 3>&- 3<&-
	done
	echo "nginx replicas up: http://127.0.0.1:${ports[0]} http://127.0.0.1:${ports[1]} http://127.0.0.1:${ports[2]} (dir $dir)"
}

stop() {
	[[ -d $dir ]] || {
		echo "nginx-replicas: nothing in $dir"
		return
	}
	local i n=0
	for i in 0 1 2; do
		local conf=$dir/${names[i]}/nginx.conf pid
		pid=$(master_pid "${names[i]}" 2>/dev/null || true)
		if [[ -z $pid ]] || ! alive "$pid" "$conf"; then continue; fi
		# TERM to the master: fast shutdown, it stops its workers and removes its PID file.
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 10))
		while alive "$pid" "$conf" && ((SECONDS < deadline)); do sleep 0.05; done
		if alive "$pid" "$conf"; then
			echo "nginx-replicas: ${names[i]} (pid $pid) still running after 10s; SIGKILL to its process group" >&2
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
		n=$((n + 1))
	done
	rm -rf "$dir"
	echo "nginx replicas stopped: $n of 3 were running"
}

status() {
	local i
	for i in 0 1 2; do
		local pid state="not running"
		pid=$(master_pid "${names[i]}" 2>/dev/null || true)
		[[ -n $pid ]] && alive "$pid" "$dir/${names[i]}/nginx.conf" && state="running, master pid $pid"
		echo "${names[i]}: $state, http://127.0.0.1:${ports[i]}"
	done
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status [DIR]" >&2
	exit 2
	;;
esac
