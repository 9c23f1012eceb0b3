package server

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A scrape must not copy the replicas' latency windows: a copy is a whole HDR
// histogram (1µs..1h at three digits, about 180 KB) per replica, merged under the
// lock every attempt records into. Eight load testers scraping every 2s made those
// copies (two per replica) a CPU and GC burst that held every in-flight request back
// by tens of milliseconds (scripts/autotune.sh's p99 of 30–65 ms on every route).
func TestMetricsScrapeDoesNotCopyLatencyWindows(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	r2 := newReplica(t, "r2", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL, r2.srv.URL}, ""))
	for range 20 {
		if resp, body := g.do(t, "GET", "/kv/a", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	c := &stateCollector{s: g.srv}
	collect := func() {
		ch := make(chan prometheus.Metric, 64)
		go func() { c.Collect(ch); close(ch) }()
		for range ch {
		}
	}
	collect() // warm anything lazily built
	const scrapes = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range scrapes {
		collect()
	}
	runtime.ReadMemStats(&after)
	// The series themselves cost a few hundred bytes each; 32 KB per replica per
	// scrape leaves room for them and none for a histogram copy.
	const perReplica = 32 << 10
	if got := (after.TotalAlloc - before.TotalAlloc) / scrapes / 2; got > perReplica {
		t.Errorf("a scrape allocates %d bytes per replica, want ≤ %d (no latency-window copy)", got, perReplica)
	}
}
