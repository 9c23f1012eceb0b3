package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// At sample_ratio 0, a request that brings no traceparent costs what it costs with
// tracing off: not one allocation in the request wrapper, the attempt tracer or the
// transport, and no header added for the replica.
func TestRatioZeroCostsNothing(t *testing.T) {
	tr, err := newTracing(config.Tracing{SampleRatio: 0}, tracetest.NewInMemoryExporter(), discardLog)
	if err != nil || tr == nil {
		t.Fatalf("tracing %v, %v", tr, err)
	}
	var reached *http.Request
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = r })
	req := httptest.NewRequest("GET", "/kv/a", nil)
	w := httptest.NewRecorder()
	h := tr.handler(next)
	if n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) }); n != 0 {
		t.Errorf("the request wrapper allocates %v times per request", n)
	}
	if reached != req {
		t.Error("the request was copied (WithContext) though nothing is traced")
	}

	at := attemptTracer{tracer: tr.tracer}
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() {
		actx, end := at.StartAttempt(ctx, hedge.AttemptStart{Route: "r", Replica: "r1"})
		end(hedge.AttemptEnd{Outcome: hedge.AttemptWon, Status: 200})
		if actx != ctx {
			t.Fatal("the attempt's context changed")
		}
	}); n != 0 {
		t.Errorf("the attempt tracer allocates %v times per attempt", n)
	}

	resp := &http.Response{StatusCode: 200}
	prop := tracePropagator{next: roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })}
	out := httptest.NewRequest("GET", "http://127.0.0.1:1/kv/a", nil)
	if n := testing.AllocsPerRun(200, func() { prop.RoundTrip(out) }); n != 0 {
		t.Errorf("the transport allocates %v times per attempt", n)
	}
	if len(out.Header) != 0 {
		t.Errorf("the replica would get headers %v", out.Header)
	}
	if len(tracetestSpans(t, tr)) != 0 {
		t.Error("spans recorded at sample_ratio 0")
	}
}

func tracetestSpans(t *testing.T, tr *tracing) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tr.provider.RegisterSpanProcessor(rec)
	h := tr.handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/kv/b", nil))
	return rec.Ended()
}

// Off is nothing at all: no tracing built, the client handler unwrapped.
func TestTracingOffIsNil(t *testing.T) {
	tr, err := newTracing(config.Tracing{SampleRatio: 1}, nil, discardLog)
	if tr != nil || err != nil {
		t.Fatalf("no endpoint, no exporter: tracing %v, %v", tr, err)
	}
	next := http.NewServeMux() // comparable, unlike a HandlerFunc
	if h := tr.handler(next); h != http.Handler(next) {
		t.Error("tracing off wraps the handler")
	}
	opts := hedge.Options{}
	tr.instrument(&opts, nil)
	if opts.Tracer != nil || opts.Transport != nil {
		t.Error("tracing off instruments plans")
	}
}

// flakyExporter fails its first failures exports.
type flakyExporter struct {
	calls, failures int
}

func (e *flakyExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	e.calls++
	if e.calls <= e.failures {
		return errors.New("connection refused")
	}
	return nil
}

func (e *flakyExporter) Shutdown(context.Context) error { return nil }

// A failing export is logged when it starts failing and when it recovers, not once
// per batch, and the error goes no further (the SDK would print it again).
func TestExportFailuresLoggedOnChange(t *testing.T) {
	var logs strings.Builder
	e := newLoggedExporter(&flakyExporter{failures: 3}, "http://127.0.0.1:4318/v1/traces",
		slog.New(slog.NewTextHandler(&logs, nil)))
	for range 6 {
		if err := e.ExportSpans(context.Background(), nil); err != nil {
			t.Errorf("returned %v", err)
		}
	}
	got := logs.String()
	if strings.Count(got, "export failing") != 1 || strings.Count(got, "export recovered") != 1 ||
		!strings.Contains(got, "connection refused") || strings.Count(got, "\n") != 2 {
		t.Errorf("logs:\n%s", got)
	}
}
