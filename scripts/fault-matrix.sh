#!/usr/bin/env bash
# The fault matrix (docs/faults.md): Toxiproxy between the gateway and each of three
# replicas, every route strategy through every fault on one and then two replicas.
# Prints one row per cell (success, p99, backend requests per request, cut and wrong
# answers) and exits 1 when a cell misses a goal that the known-failures file
# (integration/faults/known-failures.txt) does not list.
#
#   scripts/fault-matrix.sh                 # the full matrix: 45 cells, about 15 minutes
#   scripts/fault-matrix.sh -short          # what CI runs: one faulty replica, 3 s a cell, about 2 minutes
#   scripts/fault-matrix.sh -faults limit_data -strategies hedge -faulty 1   # one cell
#   scripts/fault-matrix.sh -markdown table.md   # also the table as Markdown
#
# Flags after -short override it; `go run ./integration/faults matrix -h` lists them.
# Ports: 127.0.0.1, FAULTS_BASE_PORT (default 25000) to +30. Installs Toxiproxy with
# go install when it is missing (scripts/lib/toxiproxy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
source scripts/lib/toxiproxy.sh
export FAULTS_BASE_PORT=${FAULTS_BASE_PORT:-25000}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/faults" ./integration/faults

args=()
if [ "${1:-}" = -short ]; then
  shift
  args=(-faulty 1 -warm 1s -measure 3s)
fi
"$work/faults" matrix -gateway "$work/gateway" -toxiproxy "$TOXIPROXY" \
  -known integration/faults/known-failures.txt "${args[@]}" "$@"
