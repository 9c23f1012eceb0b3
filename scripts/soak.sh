#!/usr/bin/env bash
# The soak (docs/faults.md): 10 minutes at a steady 200 req/s over a hedge, a parallel
# and a quorum route, with a fault on one replica switched on and off every minute.
# The gateway's goroutines (from /debug/pprof when the gateway has it, else the
# go_goroutines metric, else only OS threads), open descriptors and RSS are sampled
# every 10 s and must end flat (the rule is printed with the figures). Not run in CI.
#
#   scripts/soak.sh                         # the default: the timeout fault
#   scripts/soak.sh -fault limit_data       # another fault
#   scripts/soak.sh -duration 6m -period 1m # shorter (at least 6 periods)
#
# Ports: 127.0.0.1, FAULTS_BASE_PORT (default 25500, so a soak and a matrix can run at
# once) to +30. Installs Toxiproxy with go install when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
source scripts/lib/toxiproxy.sh
export FAULTS_BASE_PORT=${FAULTS_BASE_PORT:-25500}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/faults" ./integration/faults
"$work/faults" soak -gateway "$work/gateway" -toxiproxy "$TOXIPROXY" "$@"
