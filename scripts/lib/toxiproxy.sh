# Sourced by the fault scripts: sets TOXIPROXY to a Toxiproxy server binary, building
# it with `go install` from the Go module proxy when it is missing (a fresh machine
# has only Go). TOXIPROXY, when already set, names a binary to use as is.
TOXIPROXY_VERSION=v2.5.0 # the newest the module proxy serves (v2.3.0 is the other); go.mod's client is the same
if [ -z "${TOXIPROXY:-}" ]; then
  toxi_dir="$(go env GOPATH)/hedgegate-tools/toxiproxy-$TOXIPROXY_VERSION"
  TOXIPROXY="$toxi_dir/server" # the module's cmd/server: go install names it after its directory
  if [ ! -x "$TOXIPROXY" ]; then
    echo "installing Toxiproxy $TOXIPROXY_VERSION into $toxi_dir" >&2
    GOBIN="$toxi_dir" GOFLAGS=-buildvcs=false go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  fi
fi
[ -x "$TOXIPROXY" ] || { echo "no Toxiproxy server at $TOXIPROXY" >&2; exit 1; }
export TOXIPROXY
