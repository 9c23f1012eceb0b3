#!/usr/bin/env bash
# What CI runs after the unit tests: the integration tests against real servers
# (integration/: a three-member etcd cluster and three nginx instances, all on
# 127.0.0.1). Installs what is missing first — Debian's etcd-server, etcd-client and
# nginx, with apt-get, as root — so it works on a fresh Debian machine with only Go.
#
#   scripts/ci-integration.sh [go test flags...]    e.g. -run Etcd
#
# Prints the tests' figures (success ratios, p50/p99, backend requests per client
# request, stale vs fresh reads) as go test -v logs them, then a one-line summary.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]} > 0)); then
	if [[ $(id -u) != 0 ]]; then
		echo "ci-integration: missing ${missing[*]}; run as root to install them with apt-get" >&2
		exit 1
	fi
	echo "ci-integration: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# nginx lives in /usr/sbin, which a non-login shell may not have on its PATH.
[[ :$PATH: == *:/usr/sbin:* ]] || export PATH=$PATH:/usr/sbin

echo "ci-integration: $(etcd --version | head -1), $(nginx -v 2>&1), $(go version)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -tags integration -count=1 -v -timeout 10m "$@" ./integration/ 2>&1 | tee "$log" || status=$?

passed=$(grep -c '^--- PASS: ' "$log" || true)
failed=$(grep -c '^--- FAIL: ' "$log" || true)
echo
echo "ci-integration: figures"
grep -E '^\s+\S+_test\.go:[0-9]+: .*(success=|stale=|backend/request=|two members stopped|caught up|missing key)' "$log" |
	sed -E 's/^\s+//' || true
echo
echo "integration: $passed passed, $failed failed"
# A build failure or panic fails the run even if no test reported FAIL.
exit "$status"
