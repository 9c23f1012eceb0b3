#!/usr/bin/env bash
# Render an HTML report (gateway loadtest -html, compare -html, demo) to a PNG
# with headless Chromium, to check how it looks without a desktop.
#
#   scripts/render-html.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
#
# Installs Debian's chromium package if it is missing (needs root and apt).
set -euo pipefail

in=${1:?usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]}
out=${2:-${in%.html}.png}
size=${3:-1200x900}

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
	echo "chromium not found; installing it with apt-get" >&2
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
	browser=$(command -v chromium)
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# No network features: the report must render from the file alone.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --hide-scrollbars \
	--screenshot="$(realpath -m "$out")" --window-size="${size/x/,}" \
	"file://$(realpath "$in")" >&2
echo "$out"
