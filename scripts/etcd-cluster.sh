#!/usr/bin/env bash
# A three-member etcd cluster on 127.0.0.1, for trying hedgegate against a real
# replicated store (docs/etcd.md) and for the integration tests (integration/).
#
#   scripts/etcd-cluster.sh start  [DIR]   install etcd if missing, start, wait until healthy
#   scripts/etcd-cluster.sh status [DIR]   members' PIDs and `etcdctl endpoint health`
#   scripts/etcd-cluster.sh stop   [DIR]   stop exactly the members started in DIR, remove DIR
#
# DIR (default ${TMPDIR:-/tmp}/hedgegate-etcd) holds each member's data dir, log and
# PID file. Ports, overridable through the environment (space-separated, three each):
#
#   ETCD_CLIENT_PORTS          client (gRPC and HTTP JSON)   default "23790 23791 23792"
#   ETCD_PEER_PORTS            peer listeners                default "23800 23801 23802"
#   ETCD_PEER_ADVERTISE_PORTS  peer URLs the members are told about; set them to TCP
#                              proxies forwarding to ETCD_PEER_PORTS to be able to cut
#                              a member off from its peers      default: ETCD_PEER_PORTS
#
# Every member listens on 127.0.0.1 only. Installing (Debian's etcd-server and
# etcd-client, 3.4.x on bookworm) needs root and apt-get.
set -euo pipefail

cmd=${1:-}
dir=${2:-${TMPDIR:-/tmp}/hedgegate-etcd}
read -r -a client_ports <<<"${ETCD_CLIENT_PORTS:-23790 23791 23792}"
read -r -a peer_ports <<<"${ETCD_PEER_PORTS:-23800 23801 23802}"
read -r -a adv_ports <<<"${ETCD_PEER_ADVERTISE_PORTS:-${peer_ports[*]}}"
names=(etcd1 etcd2 etcd3)
health_wait=${ETCD_HEALTH_WAIT:-30} # seconds

die() {
	echo "etcd-cluster: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|status [DIR]" >&2
	exit 2
}

endpoints() {
	local out="" p
	for p in "${client_ports[@]}"; do out+="${out:+,}http://127.0.0.1:$p"; done
	echo "$out"
}

install_etcd() {
	command -v etcd >/dev/null && command -v etcdctl >/dev/null && return
	[[ $(id -u) == 0 ]] || die "etcd or etcdctl missing and not root: run as root, or apt-get install etcd-server etcd-client"
	command -v apt-get >/dev/null || die "etcd or etcdctl missing and no apt-get to install them"
	echo "etcd-cluster: installing etcd-server and etcd-client with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends etcd-server etcd-client >&2
	if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
		die "etcd still missing after apt-get install"
	fi
}

# alive PID DATA: PID runs the etcd member started with data dir DATA (guards against
# a PID reused after a crash; a zombie has an empty cmdline, so it is not alive).
alive() {
	local pid=$1 data=$2
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "--data-dir=$data "
}

start() {
	(( ${#client_ports[@]} == 3 && ${#peer_ports[@]} == 3 && ${#adv_ports[@]} == 3 )) ||
		die "want three ports in each of ETCD_CLIENT_PORTS, ETCD_PEER_PORTS, ETCD_PEER_ADVERTISE_PORTS"
	install_etcd
	local i
	for i in 0 1 2; do
		if [[ -f $dir/${names[i]}.pid ]] && alive "$(cat "$dir/${names[i]}.pid")" "$dir/${names[i]}.data"; then
			die "${names[i]} already running from $dir (stop it first: $0 stop $dir)"
		fi
	done
	mkdir -p "$dir"
	local cluster=""
	for i in 0 1 2; do cluster+="${cluster:+,}${names[i]}=http://127.0.0.1:${adv_ports[i]}"; done
	local token
	token="hedgegate-$(date +%s)-$$"
	for i in 0 1 2; do
		local n=${names[i]}
		rm -rf "$dir/$n.data"
		# setsid: the member survives this shell and ignores the terminal's Ctrl-C;
		# pre-vote: a member cut off from its peers cannot disrupt the others' leader
		# with ever higher terms when it is heard again.
		setsid etcd \
			--name="$n" \
			--data-dir="$dir/$n.data" \
			--listen-client-urls="http://127.0.0.1:${client_ports[i]}" \
			--advertise-client-urls="http://127.0.0.1:${client_ports[i]}" \
			--listen-peer-urls="http://127.0.0.1:${peer_ports[i]}" \
			--initial-advertise-peer-urls="http://127.0.0.1:${adv_ports[i]}" \
			--initial-cluster="$cluster" \
			--initial-cluster-token="$token" \
			--initial-cluster-state=new \
			--pre-vote=true \
			--logger=zap --log-outputs=stderr \
			</dev/null >"$dir/$n.log" 2>&1 &
		echo $! >"$dir/$n.pid"
	done
	local deadline=$((SECONDS + health_wait))
	until ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" --dial-timeout=1s --command-timeout=2s \
		endpoint health >/dev/null 2>&1; do
		for i in 0 1 2; do
			alive "$(cat "$dir/${names[i]}.pid")" "$dir/${names[i]}.data" ||
				die "${names[i]} exited; its log: $dir/${names[i]}.log"$'\n'"$(tail -5 "$dir/${names[i]}.log")"
		done
		((SECONDS < deadline)) || die "not healthy after ${health_wait}s; logs in $dir"
		sleep 0.2
	done
	echo "etcd cluster healthy: $(endpoints) (dir $dir)"
}

stop() {
	[[ -d $dir ]] || {
		echo "etcd-cluster: nothing in $dir"
		return
	}
	# One at a time: a leader hands its leadership to a member still running, then
	# exits. Signalling all three at once makes them pass leadership back and forth
	# and wait seconds for a transfer that cannot finish.
	local i n=0
	for i in 0 1 2; do
		local f=$dir/${names[i]}.pid pid
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		alive "$pid" "$dir/${names[i]}.data" || continue
		kill -CONT "$pid" 2>/dev/null || true # a member frozen by a test
		kill -TERM "$pid" 2>/dev/null || true
		# alive, not kill -0: an exited member stays a zombie until init reaps it.
		local deadline=$((SECONDS + 10))
		while alive "$pid" "$dir/${names[i]}.data" && ((SECONDS < deadline)); do sleep 0.05; done
		if alive "$pid" "$dir/${names[i]}.data"; then
			echo "etcd-cluster: ${names[i]} (pid $pid) still running after 10s; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		n=$((n + 1))
	done
	rm -rf "$dir"
	echo "etcd cluster stopped ($n members)"
}

status() {
	local i
	for i in 0 1 2; do
		local f=$dir/${names[i]}.pid state="not started"
		if [[ -f $f ]]; then
			if alive "$(cat "$f")" "$dir/${names[i]}.data"; then state="running, pid $(cat "$f")"; else state="exited"; fi
		fi
		echo "${names[i]}: $state, client http://127.0.0.1:${client_ports[i]}"
	done
	ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" --dial-timeout=1s --command-timeout=2s endpoint health
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
