// Package systemd holds the example unit, hedgegate.service, and its test with
// systemd's own tools (systemd-analyze verify and security, offline: the unit is not
// started, which needs a running systemd).
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	binary = "/usr/local/bin/gateway"
	config = "/etc/hedgegate/gateway.yaml"
	// The shutdown defaults (drain_delay 0s, timeout 30s) of the config the test points
	// the unit at (the image's default, which sets neither).
	drainAndTimeout = 30 * time.Second
)

func unit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("hedgegate.service")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func directive(t *testing.T, u, key string) []string {
	t.Helper()
	var vals []string
	for _, m := range regexp.MustCompile(`(?m)^`+key+`=(.*)$`).FindAllStringSubmatch(u, -1) {
		vals = append(vals, m[1])
	}
	return vals
}

// systemd-analyze verify, with the binary and config paths pointing at a real build
// and a real file, must find nothing to say.
func TestUnitVerifies(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	example, err := os.ReadFile("../image/rootfs/etc/hedgegate/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, example, 0o644); err != nil {
		t.Fatal(err)
	}
	u := strings.NewReplacer(binary, bin, config, cfg).Replace(unit(t))
	path := filepath.Join(dir, "hedgegate.service")
	if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The ExecStartPre line, run as systemd would run it.
	pre := strings.Fields(directive(t, u, "ExecStartPre")[0])
	if out, err := exec.Command(pre[0], pre[1:]...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "config OK" {
		t.Errorf("ExecStartPre %q: %v %s", pre, err, out)
	}
}

// systemd's own score of the sandbox: 0 is locked down, 10 is exposed; "OK" is
// below 2.
func TestUnitIsLockedDown(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", "hedgegate.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for hedgegate.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure level %.1f", level)
	if level >= 2 {
		t.Errorf("exposure level %.1f, want under 2 (systemd's OK):\n%s", level, out)
	}
}

func TestUnitReloadsOnHUPAndStopsAfterTheDrain(t *testing.T) {
	u := unit(t)
	if got := directive(t, u, "ExecReload"); len(got) != 1 || got[0] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload %q: the gateway reloads on SIGHUP", got)
	}
	if got := directive(t, u, "KillSignal"); len(got) != 1 || got[0] != "SIGTERM" {
		t.Errorf("KillSignal %q: SIGTERM starts the drain", got)
	}
	stop := directive(t, u, "TimeoutStopSec")
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec %q", stop)
	}
	d, err := time.ParseDuration(stop[0])
	if err != nil {
		t.Fatal(err)
	}
	if example, err := os.ReadFile("../image/rootfs/etc/hedgegate/gateway.yaml"); err != nil ||
		regexp.MustCompile(`(?m)^shutdown:`).Match(example) {
		t.Fatalf("the example config sets shutdown keys (or is missing: %v): compare TimeoutStopSec with them", err)
	}
	if d < drainAndTimeout+5*time.Second {
		t.Errorf("TimeoutStopSec %v: SIGKILL would cut the drain (%v) short", d, drainAndTimeout)
	}
	for _, key := range []string{"ExecStartPre", "ExecStart"} {
		if got := directive(t, u, key); len(got) != 1 || !strings.HasPrefix(got[0], binary+" ") || !strings.HasSuffix(got[0], "-config "+config) {
			t.Errorf("%s %q: want %s ... -config %s", key, got, binary, config)
		}
	}
}
