#!/usr/bin/env bash
# CI for the deployment artefacts (deploy/ is a Go module of its own, so the gateway's
# go.mod stays small). Installs what it needs from Debian when missing (prometheus and
# promtool; systemd-analyze), then:
#   - vets and tests the module: the image built and run chrooted as its non-root user,
#     the Kubernetes manifests decoded strictly, the dashboard model, go install
#     @version, the systemd unit;
#   - checks and unit-tests the alert rules and the example scrape config with promtool;
#   - deploy/prometheus/live.sh: a real Prometheus scraping a gateway under load, every
#     dashboard query and rule run against it.
# go test runs with -v so that .ci/run can count the tests.
set -uo pipefail
cd "$(dirname "$0")"
status=0
t0=$(date +%s)
step() { printf '\n== deploy: %s (at %ss)\n' "$*" "$(($(date +%s) - t0))"; }

need() { # command package
  command -v "$1" >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$2" >/dev/null; } ||
    { echo "could not install $2"; status=1; }
}
step "tools"
need promtool prometheus
need prometheus prometheus
need systemd-analyze systemd

step "go vet (deploy module)"
go vet ./... || status=1
go vet -tags live ./... || status=1

step "go test (deploy module)"
# -race where the module runs processes and goroutines; the manifest and dashboard
# tests only decode files, and their dependencies (k8s.io/api, the Grafana SDK) would
# be compiled a second time, instrumented, for nothing (minutes on a cold cache).
go test -race -count=1 -v ./image/ ./install/ ./systemd/ || status=1
go test -count=1 -v ./kubernetes/ ./grafana/ ./cmd/... || status=1

step "promtool"
promtool check rules prometheus/alerts.yaml || status=1
(cd prometheus && promtool test rules alerts_test.yaml) || status=1
# Debian builds Prometheus without Kubernetes service discovery, so the example's
# kubernetes_sd_configs block is swapped for a static target here; the rest of the
# file (relabelling, rule_files) is checked as written.
tmp=$(mktemp -d)
sed -e 's/^    kubernetes_sd_configs:$/    static_configs: [{targets: ["127.0.0.1:9901"]}]/' -e '/^      - role: pod$/d' \
  prometheus/kubernetes.yml >"$tmp/kubernetes.yml"
cp prometheus/alerts.yaml "$tmp/"
promtool check config "$tmp/kubernetes.yml" || status=1
rm -rf "$tmp"

step "live Prometheus (deploy/prometheus/live.sh)"
timeout 240 bash prometheus/live.sh || status=1

step "done: exit $status"
exit $status
