package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
)

// discardExporter takes spans and drops them: the benchmark measures the gateway's
// side of tracing (spans, propagation, the batch queue), not a collector.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkProxiedRequestTraced is BenchmarkProxiedRequest with tracing off, and on
// at three sample ratios: 0 (no trace started), 0.01 (the default: one request in a
// hundred recorded, the others only carry an unsampled traceparent) and 1.
func BenchmarkProxiedRequestTraced(b *testing.B) {
	for _, bc := range []struct{ name, tracing string }{
		{"tracing=off", ""},
		{"ratio=0", "tracing: {sample_ratio: 0}\n"},
		{"ratio=0.01", "tracing: {sample_ratio: 0.01}\n"},
		{"ratio=1", "tracing: {sample_ratio: 1}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r1 := newReplica(b, "r1", nil)
			cfg, err := config.Parse([]byte(gatewayYAML([]string{r1.srv.URL}, bc.tracing)), "bench.yaml")
			if err != nil {
				b.Fatal(err)
			}
			opts := Options{Logger: discardLog}
			if bc.tracing != "" {
				opts.SpanExporter = discardExporter{}
			}
			s, err := New(cfg, opts)
			if err != nil {
				b.Fatal(err)
			}
			s.tracing.start(discardLog) // what Serve does
			front := httptest.NewServer(s.Handler())
			b.Cleanup(func() {
				front.Close()
				for _, set := range s.state.Load().sets {
					set.Close()
				}
				s.tracing.shutdown(context.Background())
			})
			client := front.Client()
			url := front.URL + "/kv/bench"
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// BenchmarkTraceRequest is tracing's own cost for one request of one attempt, without
// the network around it: the request span, the attempt span, traceparent injected.
// unsampled is a request the ratio's draw left out (what 99 in 100 cost at 0.01; a
// ratio near 0 rather than 0, which skips the request altogether); sampled one that is
// recorded and exported (to a discarding exporter).
func BenchmarkTraceRequest(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64
	}{{"unsampled", 1e-12}, {"sampled", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			tr, err := newTracing(config.Tracing{SampleRatio: bc.ratio}, discardExporter{}, discardLog)
			if err != nil {
				b.Fatal(err)
			}
			tr.start(discardLog)
			b.Cleanup(func() { tr.shutdown(context.Background()) })
			at := attemptTracer{tracer: tr.tracer}
			resp := &http.Response{StatusCode: 200}
			prop := tracePropagator{next: roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })}
			out := httptest.NewRequest("GET", "http://127.0.0.1:1/kv/a", nil)
			h := tr.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, end := at.StartAttempt(r.Context(), hedge.AttemptStart{Route: "kv", Replica: "r1"})
				prop.RoundTrip(out.WithContext(ctx))
				end(hedge.AttemptEnd{Outcome: hedge.AttemptWon, Status: 200})
				w.WriteHeader(200)
			}))
			req := httptest.NewRequest("GET", "/kv/a", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
