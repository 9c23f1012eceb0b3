package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The standard collectors are what an SRE's existing dashboards and alerts read
// (memory, goroutines, file descriptors): /metrics must carry them.
func TestMetricsExportGoAndProcessSeries(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	resp, err := http.Get(g.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{
		"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "go_info",
		"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total",
		"process_start_time_seconds",
	} {
		if !strings.Contains(string(text), "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// A replica's attempts and failures are exported per replica, so an alert can compare
// one replica's error ratio with its peers'.
func TestMetricsCountAttemptsAndFailuresPerReplica(t *testing.T) {
	bad := newReplica(t, "r1", func(r *replica) { r.status = http.StatusInternalServerError })
	good := newReplica(t, "r2", nil)
	g := newGateway(t, gatewayYAML([]string{bad.srv.URL, good.srv.URL}, ""))
	const requests = 20
	for range requests {
		if resp, body := g.do(t, "GET", "/kv/a", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("%d %s: the retry on r2 should have answered", resp.StatusCode, body)
		}
	}
	reg := g.srv.metrics.registry
	value := func(name, replica string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "replica" && l.GetValue() == replica {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		t.Fatalf("no %s{replica=%q}", name, replica)
		return 0
	}
	// An attempt's end is recorded as its handler returns, which may be just after the
	// client has its answer: poll, bounded, until every call the replicas saw is counted.
	calls := func() float64 { return float64(bad.calls.Load() + good.calls.Load()) }
	for i := 0; i < 200 && value("hedgegate_replica_attempts_total", "r1")+value("hedgegate_replica_attempts_total", "r2") < calls(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if n := float64(bad.calls.Load()); n == 0 || value("hedgegate_replica_attempts_total", "r1") != n ||
		value("hedgegate_replica_failures_total", "r1") != n {
		t.Errorf("r1 (always 500) saw %v calls: attempts %v, failures %v; want all counted as failures", n,
			value("hedgegate_replica_attempts_total", "r1"), value("hedgegate_replica_failures_total", "r1"))
	}
	if n := float64(good.calls.Load()); value("hedgegate_replica_attempts_total", "r2") != n ||
		value("hedgegate_replica_failures_total", "r2") != 0 {
		t.Errorf("r2 (healthy) saw %v calls: attempts %v, failures %v; want no failure", n,
			value("hedgegate_replica_attempts_total", "r2"), value("hedgegate_replica_failures_total", "r2"))
	}
	if n := testutil.CollectAndCount(&stateCollector{s: g.srv}, "hedgegate_replica_failures_total"); n != 2 {
		t.Errorf("%d hedgegate_replica_failures_total series, want one per replica (2)", n)
	}
}
