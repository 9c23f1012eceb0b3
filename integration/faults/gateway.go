package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Every strategy runs with the settings of examples/gateway.yaml: what a user deploys.
var strategies = []string{"hedge", "parallel", "quorum"}

// planned is a strategy's own work in backend requests per client request: the
// goal's 1.2 is read as 1.2 × this for parallel and quorum.
func planned(strategy string, replicas int) float64 {
	switch strategy {
	case "parallel":
		return parallelFanout
	case "quorum":
		return float64(replicas)
	}
	return 1
}

const parallelFanout = 2

// routeTimeout is every route's whole-request deadline.
const routeTimeout = time.Second

// The routes' budget (examples/gateway.yaml's), and the window the gateway keeps it
// over (hedge/budget.go).
const (
	budgetRatio        = 0.1
	budgetMinPerSecond = 10
	budgetWindow       = 10 * time.Second
)

// routeYAML is one route, served at prefix+"/kv/{key}" with prefix stripped.
func routeYAML(strategy, prefix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    match: %s/kv/{key}\n    methods: [GET, HEAD]\n", strategy, prefix)
	if prefix != "" {
		fmt.Fprintf(&b, "    strip_prefix: %s\n", prefix)
	}
	fmt.Fprintf(&b, "    replica_set: kv\n    strategy: %s\n    timeout: %v\n    attempt_timeout: auto\n", strategy, routeTimeout)
	switch strategy {
	case "hedge":
		b.WriteString("    hedge: {percentile: 95, initial_delay: 10ms, min_delay: 1ms, max_delay: 200ms, max_attempts: 3}\n")
	case "parallel":
		fmt.Fprintf(&b, "    parallel: {fanout: %d}\n", parallelFanout)
	case "quorum":
		b.WriteString("    quorum: {read: 2, version: {header: X-Version}, conflict: majority}\n")
	}
	b.WriteString("    retry: {on: [connect_failure, reset, timeout, 5xx], backoff_base: 2ms, backoff_max: 50ms}\n")
	fmt.Fprintf(&b, "    budget: {ratio: %v, min_per_second: %v}\n", budgetRatio, budgetMinPerSecond)
	return b.String()
}

// gatewayYAML is a whole config: the replica set (the Toxiproxy proxies) and routes.
// extra is top-level YAML added as is (the soak's debug block).
func gatewayYAML(listen, admin string, replicaAddrs []string, routes, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: %s\n%sreplica_sets:\n  kv:\n    replicas:\n", listen, admin, extra)
	for i, a := range replicaAddrs {
		fmt.Fprintf(&b, "      - {name: r%d, url: \"http://%s\"}\n", i+1, a)
	}
	b.WriteString("    connect_timeout: 200ms\n    warm_connections: 2\nroutes:\n")
	b.WriteString(routes)
	return b.String()
}

// gateway is a `gateway serve` process.
type gateway struct {
	proc  *proc
	admin string // host:port
	log   string // its log file
}

// startGateway writes yaml to dir/name.yaml and serves it, logging to dir/name.log,
// and returns once /readyz is 200.
func startGateway(ctx context.Context, bin, dir, name, yaml, admin string) (*gateway, error) {
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	p, err := startProc("gateway", logf, nil, bin, "serve", "-config", cfg)
	if err != nil {
		return nil, err
	}
	g := &gateway{proc: p, admin: admin, log: logPath}
	if err := g.waitReady(ctx, 10*time.Second); err != nil {
		p.kill()
		return nil, fmt.Errorf("gateway %s: %w\n%s", name, err, g.tail(20))
	}
	return g, nil
}

func (g *gateway) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + g.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last: %v)", limit, err)
		}
		select {
		case <-g.proc.done:
			return fmt.Errorf("exited: %v", g.proc.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the gateway with SIGTERM (it drains) and says whether it stopped cleanly
// and whether its log shows a panic.
func (g *gateway) stop() error {
	err := g.proc.stop(15 * time.Second)
	if p := g.grep("panic"); p != "" {
		return fmt.Errorf("gateway log has a panic: %s (stop: %v)", p, err)
	}
	return err
}

// grep returns the first log line containing s, or "".
func (g *gateway) grep(s string) string {
	f, err := os.Open(g.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return sc.Text()
		}
	}
	return ""
}

func (g *gateway) tail(n int) string {
	b, _ := os.ReadFile(g.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// metrics scrapes the gateway's /metrics.
func (g *gateway) metrics() (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + g.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return sumFamilies(resp.Body)
}

// sumFamilies parses Prometheus text and sums each counter and gauge over its labels.
func sumFamilies(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[name] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] += m.Gauge.GetValue()
			}
		}
	}
	return out, nil
}

// goroutines asks the gateway how many goroutines it runs: from /debug/pprof when the
// admin listener serves it, else from the go_goroutines metric. It says which, or
// returns ok false when neither is there.
func (g *gateway) goroutines() (n int, source string, ok bool) {
	c := &http.Client{Timeout: 5 * time.Second}
	if resp, err := c.Get("http://" + g.admin + "/debug/pprof/goroutine?debug=1"); err == nil {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		// "goroutine profile: total 42"
		if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err == nil && resp.StatusCode == http.StatusOK {
			return n, "pprof", true
		}
	}
	if m, err := g.metrics(); err == nil {
		if v, found := m["go_goroutines"]; found {
			return int(v), "go_goroutines", true
		}
	}
	return 0, "", false
}
