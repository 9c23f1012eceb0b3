#!/usr/bin/env bash
# Screenshot of the dashboard's panels drawn from live Prometheus data: runs
# deploy/prometheus/live.sh (recording every panel's query results), draws them with
# hedgegate-render on the dashboard's own grid, and has headless Chromium (Debian's
# chromium package) save a PNG. Grafana itself is not packaged for Debian.
#
#   deploy/grafana/render.sh [OUT.png]       # default: hedgegate-dashboard.png
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-hedgegate-dashboard.png}")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
RENDER=$dir bash prometheus/live.sh
height=$(go run ./cmd/hedgegate-render -dashboard grafana/hedgegate.json -data "$dir/panels.json" -o "$dir/dashboard.html" \
  -caption "drawn from a live Prometheus scraping gateway serve under load on loopback ($(date -u +%Y-%m-%dT%H:%MZ))")
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$dir/chrome" --hide-scrollbars \
  --window-size=1600,$((height + 40)) --screenshot="$out" "file://$dir/dashboard.html" 2>/dev/null
echo "wrote $out"
