package hedge

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// instantTransport answers at once from memory, so a benchmark measures the engine.
type instantTransport struct{}

func (instantTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func benchmarkDo(b *testing.B, extra string) {
	p, _ := newTestPlan(b, []string{"http://a.test", "http://b.test", "http://c.test"}, extra,
		Options{Transport: instantTransport{}})
	req := get(b, "/kv/a")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := p.Do(ctx, req, nil)
		if err != nil {
			b.Fatal(err)
		}
		res.Close()
	}
}

// BenchmarkDoHedge is the engine's cost for one hedged request whose primary answers:
// one attempt goroutine, its request copy, the hedge timer.
func BenchmarkDoHedge(b *testing.B) { benchmarkDo(b, "") }

// BenchmarkDoParallel sends two attempts per request.
func BenchmarkDoParallel(b *testing.B) { benchmarkDo(b, "strategy: parallel") }

// BenchmarkDoQuorum sends three attempts, buffers their bodies and decides.
func BenchmarkDoQuorum(b *testing.B) { benchmarkDo(b, "strategy: quorum\nquorum: {read: 2}") }
