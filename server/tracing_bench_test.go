package server

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hedgegate/hedgegate/config"
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
