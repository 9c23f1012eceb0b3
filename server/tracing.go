package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
	"github.com/hedgegate/hedgegate/replicas"
)

// tracing is the gateway's OpenTelemetry side: the SDK's tracer provider, sampling
// as the config's tracing section says, and spans exported by OTLP/HTTP. The engine
// knows none of it; it reports attempts through hedge.Tracer (attemptTracer). A nil
// *tracing is tracing off: every method is then a no-op and no request pays for it.
//
// The OpenTelemetry globals (otel.SetTracerProvider, the global propagator and error
// handler) are left alone: two gateways in one process trace independently.
type tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	sampler  *ratioSampler
	exporter *loggedExporter
	batcher  sdktrace.SpanProcessor // set by start
	prop     propagation.TraceContext
	endpoint string // where spans go, for logs ("" for an exporter given in Options)
	started  atomic.Bool
}

// instrumentationName names the spans' instrumentation scope.
const instrumentationName = "github.com/hedgegate/hedgegate/server"

// newTracing builds tracing for cfg, or returns nil when it is off: no otlp_endpoint and
// no exporter given. It starts no goroutine; start does, from Serve.
func newTracing(cfg config.Tracing, exporter sdktrace.SpanExporter, log *slog.Logger) (*tracing, error) {
	if cfg.OTLPEndpoint == "" && exporter == nil {
		return nil, nil
	}
	t := &tracing{sampler: newRatioSampler(cfg.SampleRatio)}
	if exporter == nil {
		t.endpoint = cfg.OTLPTracesURL()
		// The OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
		// certificates) apply; the endpoint is the config's.
		e, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(t.endpoint))
		if err != nil {
			return nil, err
		}
		exporter = e
	}
	t.exporter = newLoggedExporter(exporter, t.endpoint, log)
	res, err := resource.New(context.Background(),
		resource.WithAttributes(semconv.ServiceName("hedgegate"), semconv.ServiceVersion(moduleVersion())),
		resource.WithHost(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && res == nil {
		return nil, err
	}
	// Parent-based: a caller's traceparent decides for its request (sampled or not),
	// so a trace is whole or absent across services; sample_ratio decides for
	// requests that bring none.
	t.provider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(t.sampler)),
		sdktrace.WithResource(res))
	t.tracer = t.provider.Tracer(instrumentationName, trace.WithInstrumentationVersion(moduleVersion()))
	return t, nil
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// start begins batching and exporting spans; Serve calls it.
func (t *tracing) start(log *slog.Logger) {
	if t == nil || t.started.Swap(true) {
		return
	}
	// The SDK's batch processor: its queue is bounded (2048 spans, OTEL_BSP_* to
	// change), and a full queue drops spans rather than slowing a request.
	t.batcher = sdktrace.NewBatchSpanProcessor(t.exporter)
	t.provider.RegisterSpanProcessor(t.batcher)
	log.Info("tracing: exporting spans by OTLP/HTTP", "endpoint", t.endpoint,
		"sample_ratio", t.sampler.ratio())
}

// abortWait is how long shutdown waits, once ctx has ended and the export running
// was cancelled, for the batch processor to stop: an exporter that honours its
// context returns at once; one that does not is left behind rather than holding
// the gateway's exit.
const abortWait = time.Second

// shutdown exports the spans still queued and stops the exporter, giving up when ctx
// ends: an export still running then is cancelled, and shutdown returns once the
// processor has stopped (or abortWait later).
func (t *tracing) shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if t.batcher == nil {
		// No processor owned the exporter.
		return errors.Join(t.provider.Shutdown(ctx), t.exporter.Shutdown(ctx))
	}
	// The processor itself, not the provider: the provider's Shutdown returns at
	// once, shutting no processor down, when ctx has already ended (a drain that
	// used its whole timeout), and the queue, its goroutine and the exporter would
	// be left running.
	err := t.batcher.Shutdown(ctx)
	if err != nil && ctx.Err() != nil {
		// Cancelled here, after Shutdown returned, rather than by
		// context.AfterFunc(ctx): that runs the abort in a goroutine started after
		// ctx.Done is closed, and the stop deferred by a return on ctx.Done could
		// win the race and leave the export running for the processor's 30s.
		t.exporter.abort()
		select {
		case <-t.exporter.shut:
		case <-time.After(abortWait):
			err = fmt.Errorf("%w; the exporter had not returned %s after its export was cancelled", err, abortWait)
		}
	}
	// Its processor stopped, the provider only marks itself shut.
	return errors.Join(err, t.provider.Shutdown(context.Background()))
}

// flushTraces is Serve's last step: the spans of the requests the drain served go
// out, by flushBy (the end of the drain's shutdown.timeout) or until Close.
func (s *Server) flushTraces(flushBy time.Time) {
	if s.tracing == nil {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), flushBy)
	defer cancel()
	go func() {
		select {
		case <-s.stopNow:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.tracing.shutdown(ctx); err != nil {
		s.log.Warn("tracing: spans still queued at the end of shutdown were dropped", "err", err)
	}
}

// instrument gives a route's plan the attempt tracer and a transport to set that
// passes each attempt's trace context on.
func (t *tracing) instrument(opts *hedge.Options, set *replicas.Set) {
	if t == nil {
		return
	}
	opts.Tracer = attemptTracer{tracer: t.tracer}
	opts.Transport = tracePropagator{next: set.Transport()}
}

// setRatio applies a reloaded sample_ratio to the requests that start after it.
func (t *tracing) setRatio(r float64) {
	if t != nil {
		t.sampler.set(r)
	}
}

// ratioSampler samples the share of new traces that sample_ratio says, by trace ID
// (as the SDK's TraceIDRatioBased, which it swaps on reload).
type ratioSampler struct {
	root  atomic.Pointer[sdktrace.Sampler]
	share atomic.Uint64 // math.Float64bits of the ratio
}

var _ sdktrace.Sampler = (*ratioSampler)(nil)

func newRatioSampler(r float64) *ratioSampler {
	s := &ratioSampler{}
	s.set(r)
	return s
}

func (s *ratioSampler) set(r float64) {
	root := sdktrace.TraceIDRatioBased(r)
	s.root.Store(&root)
	s.share.Store(math.Float64bits(r))
}

func (s *ratioSampler) ratio() float64 { return math.Float64frombits(s.share.Load()) }

func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return (*s.root.Load()).ShouldSample(p)
}

func (s *ratioSampler) Description() string {
	return "SampleRatio{" + (*s.root.Load()).Description() + "}"
}

// loggedExporter logs when exporting starts failing and when it recovers, once each,
// and can be aborted, so that shutdown is bounded by its own deadline rather than the
// batch processor's 30s export timeout.
type loggedExporter struct {
	sdktrace.SpanExporter
	endpoint string
	log      *slog.Logger
	failing  atomic.Bool
	stopped  context.Context
	abort    context.CancelFunc
	shut     chan struct{} // closed when Shutdown has returned
	shutOnce sync.Once
}

func newLoggedExporter(e sdktrace.SpanExporter, endpoint string, log *slog.Logger) *loggedExporter {
	ctx, abort := context.WithCancel(context.Background())
	return &loggedExporter{SpanExporter: e, endpoint: endpoint, log: log, stopped: ctx, abort: abort,
		shut: make(chan struct{})}
}

// Shutdown is the batch processor's last call, after its last export.
func (e *loggedExporter) Shutdown(ctx context.Context) error {
	defer e.shutOnce.Do(func() { close(e.shut) })
	return e.SpanExporter.Shutdown(ctx)
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.stopped, cancel)
	defer stop()
	err := e.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err != nil && !e.failing.Swap(true):
		e.log.Warn("tracing: export failing; spans are dropped until it recovers",
			"endpoint", e.endpoint, "spans", len(spans), "err", err)
	case err == nil && e.failing.Swap(false):
		e.log.Info("tracing: export recovered", "endpoint", e.endpoint)
	}
	// Logged here: returned, the SDK would hand it to OpenTelemetry's global error
	// handler, which writes one more unstructured line per failed batch to stderr.
	return nil
}
