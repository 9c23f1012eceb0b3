package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
)

// These scenarios run simulated replicas, the gateway and the open-loop generator in
// one process over loopback. They assert what must hold whatever the machine's speed:
// success ratios and backend requests per client request counted at the replicas.
// Latency figures come from scripts/scenarios.sh and the demo, not from tests.

const scenarioRate = 200

type scenario struct {
	cluster *loadtest.SimCluster
	url     string
}

func fast() loadtest.SimProfile {
	return loadtest.SimProfile{Latency: loadtest.SimDist{Kind: loadtest.SimDistFixed, Value: time.Millisecond}}
}

// startScenario runs a gateway whose single route /kv/{key} uses routeYAML over three
// simulated replicas.
func startScenario(t *testing.T, profiles [3]loadtest.SimProfile, routeYAML string) *scenario {
	t.Helper()
	specs := make([]loadtest.SimSpec, 3)
	for i, p := range profiles {
		specs[i] = loadtest.SimSpec{Name: fmt.Sprintf("r%d", i+1), Profile: p}
	}
	cluster, err := loadtest.NewSimCluster(specs, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	u := cluster.URLs()
	yaml := fmt.Sprintf(`replica_sets:
  kv:
    warm_connections: 1
    replicas:
      - {name: r1, url: %q}
      - {name: r2, url: %q}
      - {name: r3, url: %q}
routes:
  - name: kv
    match: /kv/{key}
    replica_set: kv
%s`, u[0], u[1], u[2], indent(routeYAML, "    "))
	cfg, err := config.Parse([]byte(yaml), "scenario.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	gw, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := gw.Serve(ctx, ln, adminLn); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })
	return &scenario{cluster: cluster, url: "http://" + ln.Addr().String() + "/kv/{key}"}
}

// load runs the generator and returns its summary and the backend requests per client
// request the replicas counted.
func (s *scenario) load(t *testing.T, d time.Duration) (loadtest.Summary, float64) {
	t.Helper()
	before := s.cluster.Served()
	res, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: s.url, Rate: scenarioRate, Duration: d, Keys: 100, Seed: 1, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary()
	amp := float64(s.cluster.Served()-before) / float64(sum.Requests)
	t.Logf("requests=%d ok=%d codes=%v p50=%.2fms p99=%.2fms backend/req=%.3f",
		sum.Requests, sum.OK, sum.Codes, sum.Latency.P50, sum.Latency.P99, amp)
	return sum, amp
}

func indent(s, prefix string) string {
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out.WriteString(prefix + line + "\n")
	}
	return out.String()
}

func successRatio(s loadtest.Summary) float64 { return float64(s.OK) / float64(s.Requests) }

// budgetBound is the most backend requests per client request a budget allows over a
// run of d: planned attempts, plus ratio per request, plus the per-second floor over
// the 10s window the floor is granted in.
func budgetBound(planned, ratio, floor float64, d time.Duration, requests int64) float64 {
	window := max(d, 10*time.Second).Seconds()
	return planned + ratio + floor*window/float64(requests)
}

func TestScenarioHungReplicaIsRoutedAround(t *testing.T) {
	hung := fast()
	hung.Mode = loadtest.SimModeHang
	s := startScenario(t, [3]loadtest.SimProfile{fast(), hung, fast()},
		"hedge: {percentile: 95, initial_delay: 5ms, max_delay: 20ms}\nbudget: {ratio: 0.2, min_per_second: 10}\n")
	sum, amp := s.load(t, 3*time.Second)
	if r := successRatio(sum); r < 0.999 {
		t.Errorf("success %.4f with one hung replica, want ≥ 0.999", r)
	}
	if bound := budgetBound(1, 0.2, 10, 3*time.Second, sum.Requests); amp > bound {
		t.Errorf("backend/request %.3f above the budget's %.3f", amp, bound)
	}
}

func TestScenarioParallelIsConstantWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode string
	}{{"all healthy", loadtest.SimModeNormal}, {"one hangs", loadtest.SimModeHang}} {
		t.Run(tc.name, func(t *testing.T) {
			third := fast()
			third.Mode = tc.mode
			s := startScenario(t, [3]loadtest.SimProfile{fast(), fast(), third},
				"strategy: parallel\nparallel: {fanout: 2}\n")
			sum, amp := s.load(t, 2*time.Second)
			if sum.OK != sum.Requests {
				t.Errorf("%d of %d requests failed", sum.Requests-sum.OK, sum.Requests)
			}
			if amp < 1.95 || amp > 2.05 {
				t.Errorf("backend/request %.3f, want 2.0 ± 5%% whatever the replicas do", amp)
			}
		})
	}
}

func TestScenarioBudgetHoldsWhenEveryReplicaFails(t *testing.T) {
	flaky := fast()
	flaky.ErrorRate = 0.3
	s := startScenario(t, [3]loadtest.SimProfile{flaky, flaky, flaky},
		"hedge: {initial_delay: 50ms}\nbudget: {ratio: 0.2, min_per_second: 0}\n")
	sum, amp := s.load(t, 3*time.Second)
	if bound := budgetBound(1, 0.2, 0, 3*time.Second, sum.Requests); amp > bound+0.01 {
		t.Errorf("backend/request %.3f above the budget's %.3f: retries amplified the outage", amp, bound)
	}
	// Alone, 70% of first attempts succeed; retries on a fifth of requests should lift
	// that to about 84% (0.70 + 0.2 × 0.70); 0.75 is five standard deviations below.
	if r := successRatio(sum); r <= 0.75 {
		t.Errorf("success %.3f, want retries to lift it clearly above 0.70", r)
	}
}

func TestScenarioOneFailingReplicaIsRetried(t *testing.T) {
	broken := fast()
	broken.ErrorRate = 1
	s := startScenario(t, [3]loadtest.SimProfile{fast(), broken, fast()},
		"hedge: {initial_delay: 50ms}\nbudget: {ratio: 0.1, min_per_second: 10}\n")
	sum, amp := s.load(t, 3*time.Second)
	if r := successRatio(sum); r < 0.999 {
		t.Errorf("success %.4f with one replica failing every read, want ≥ 0.999", r)
	}
	if bound := budgetBound(1, 0.1, 10, 3*time.Second, sum.Requests); amp > bound {
		t.Errorf("backend/request %.3f above the budget's %.3f", amp, bound)
	}
}
