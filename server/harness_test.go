package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
	"github.com/hedgegate/hedgegate/sim"
)

// gateway is a running gateway in front of a simulated replica set "kv" (r1..rN),
// with a client of its own so that its connections end with the test.
type gateway struct {
	cluster *sim.Cluster
	base    string // http://host:port of the client listener
	admin   string // http://host:port of the admin listener
	client  *http.Client
}

// startGateway starts one simulated replica per profile and a gateway whose routes are
// routesYAML (the items of the routes: list, unindented, using replica set kv).
func startGateway(t testing.TB, profiles []sim.Profile, routesYAML string) *gateway {
	t.Helper()
	specs := make([]sim.Spec, len(profiles))
	for i, p := range profiles {
		specs[i] = sim.Spec{Name: fmt.Sprintf("r%d", i+1), Profile: p}
	}
	cluster, err := sim.NewCluster(specs, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	return serveGateway(t, cluster, "", routesYAML)
}

// serveGateway starts a gateway in front of cluster, as replica set kv, plus the sets in
// setsYAML (items of replica_sets:, unindented).
func serveGateway(t testing.TB, cluster *sim.Cluster, setsYAML, routesYAML string) *gateway {
	t.Helper()
	var yaml strings.Builder
	yaml.WriteString("replica_sets:\n  kv:\n    warm_connections: 2\n    replicas:\n")
	for i, u := range cluster.URLs() {
		fmt.Fprintf(&yaml, "      - {name: r%d, url: %q}\n", i+1, u)
	}
	yaml.WriteString(indent(setsYAML, "  "))
	yaml.WriteString("routes:\n" + indent(routesYAML, "  "))
	cfg, err := config.Parse([]byte(yaml.String()), "harness.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml.String())
	}
	gw := servertest.New(t, cfg, server.Options{Seed: 3})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &gateway{
		cluster: cluster,
		base:    gw.URL,
		admin:   gw.AdminURL,
		client:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

// answer is one client request's outcome as read off the wire.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the gateway; body nil means none.
func (g *gateway) do(t testing.TB, method, path string, body []byte) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: reading body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// metrics scrapes the admin /metrics page.
func (g *gateway) metrics(t testing.TB) promText {
	t.Helper()
	resp, err := g.client.Get(g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return promText(b)
}

// promText is a Prometheus text exposition.
type promText []byte

// value sums the samples of metric name whose labels include every pair of want
// (given as "k", "v", ...): 0 when none matches.
func (p promText) value(name string, want ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if !strings.Contains(","+labels+",", ","+want[i]+"="+strconv.Quote(want[i+1])+",") {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			sum += f
		}
	}
	return sum
}

// indent prefixes every line of s, so YAML fragments can be nested.
func indent(s, prefix string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out.WriteString(prefix + line + "\n")
	}
	return out.String()
}
