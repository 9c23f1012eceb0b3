//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

// requireCommands fails the test, with what to do about it, when a program the test
// drives is not installed. A missing server is a broken CI machine, not a reason to
// skip.
func requireCommands(t *testing.T, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not found on PATH: run scripts/ci-integration.sh as root (it installs "+
			"Debian's etcd-server, etcd-client and nginx), or apt-get install them", strings.Join(missing, ", "))
	}
}

// repoPath is a path relative to the repository root (tests run in integration/).
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePorts returns n distinct loopback ports that were free a moment ago. The
// listeners are held until all n are picked, so the kernel does not hand one out twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, " ")
}

// runScript runs one of the repository's scripts with extra environment, bounded in
// time, and fails the test with its output if it fails.
func runScript(t *testing.T, timeout time.Duration, env []string, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{repoPath(t, script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readPID reads a PID file written by one of the scripts.
func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		t.Fatalf("%s: bad PID %q", path, b)
	}
	return pid
}

// signal sends sig to pid, failing the test if that is impossible.
func signal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

// gateway is hedgegate running in-process on loopback listeners.
type gateway struct {
	url     string // http://127.0.0.1:PORT, no trailing slash
	metrics string // admin /metrics URL
	cfg     *config.Config
}

// startGateway runs the config in file (relative to the repository root) with every
// key of rewrite replaced by its value (the example files name fixed ports; the tests
// use free ones). It returns once every replica set is warm.
func startGateway(t *testing.T, file string, rewrite map[string]string) *gateway {
	t.Helper()
	raw, err := os.ReadFile(repoPath(t, file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for from, to := range rewrite {
		if !strings.Contains(text, from) {
			t.Fatalf("%s does not contain %q: the test and the example have drifted apart", file, from)
		}
		text = strings.ReplaceAll(text, from, to)
	}
	cfg, err := config.Parse([]byte(text), file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	gw := servertest.New(t, cfg, server.Options{Seed: 1})
	return &gateway{url: gw.URL, metrics: gw.AdminURL + "/metrics", cfg: cfg}
}

// routeTimeout is the configured timeout of the named route.
func (g *gateway) routeTimeout(t *testing.T, name string) time.Duration {
	t.Helper()
	for _, r := range g.cfg.Routes {
		if r.Name == name {
			return time.Duration(r.Timeout)
		}
	}
	t.Fatalf("no route %q", name)
	return 0
}

// load runs the open-loop generator and logs the figures the docs quote: success
// ratio, p50/p99 and backend requests per client request (from the gateway's
// /metrics; only one route is loaded at a time, so the totals are that route's).
func load(t *testing.T, label string, opts loadtest.Options) loadtest.Summary {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	res, err := loadtest.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary()
	per := -1.0
	if sum.Gateway != nil {
		per = sum.Gateway.BackendPerRequest
	}
	t.Logf("%s: requests=%d ok=%d success=%.4f codes=%v errors=%v p50=%.2fms p99=%.2fms max=%.2fms backend/request=%.3f warnings=%q",
		label, sum.Requests, sum.OK, ratio(sum.OK, sum.Requests), sum.Codes, sum.ErrorKinds,
		sum.Latency.P50, sum.Latency.P99, sum.Latency.Max, per, sum.Warnings)
	return sum
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// paced runs n calls of do at rate per second, at most 32 at once, and returns each
// call's latency measured from its scheduled start (so a stall is charged to every
// call that waited behind it). Bounded: n calls, each bounded by do's own timeout.
func paced(n int, rate float64, do func(i int)) []time.Duration {
	lat := make([]time.Duration, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(due))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			do(i)
			lat[i] = time.Since(due)
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat
}

// scrape reads the gateway's /metrics, for a before/after delta.
func scrape(t *testing.T, g *gateway) *loadtest.MetricsSnapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := loadtest.Scrape(ctx, g.metrics)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// isTimeout reports a client-side timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
