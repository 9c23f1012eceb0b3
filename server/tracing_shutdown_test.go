package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hedgegate/hedgegate/config"
)

// heldExporter records what the batch processor hands it. Its exports return when
// their context ends or, if ignoreCancel, only when release is closed.
type heldExporter struct {
	ignoreCancel bool
	release      chan struct{}

	mu       sync.Mutex
	spans    int
	returned int
	shut     bool
}

func (e *heldExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	e.spans += len(spans)
	e.mu.Unlock()
	if e.ignoreCancel {
		<-e.release
	} else {
		<-ctx.Done()
	}
	e.mu.Lock()
	e.returned++
	e.mu.Unlock()
	return ctx.Err()
}

func (e *heldExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shut = true
	return nil
}

func (e *heldExporter) state() (spans, returned int, shut bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spans, e.returned, e.shut
}

// startedTracing is tracing as Serve starts it, with one span queued.
func startedTracing(t *testing.T, exp sdktrace.SpanExporter) *tracing {
	t.Helper()
	tr, err := newTracing(config.Tracing{SampleRatio: 1}, exp, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	tr.start(discardLog)
	_, span := tr.tracer.Start(context.Background(), "queued")
	span.End()
	return tr
}

// A flush whose deadline has passed before it began (the drain used its whole
// timeout) still stops the batch processor: the queued span is handed over, its
// export cancelled, and the exporter shut down before shutdown returns. The
// provider's Shutdown alone returns at once on such a context, shutting nothing,
// and leaves the processor's goroutine and the exporter running.
func TestShutdownPastItsDeadlineStillStopsTheProcessor(t *testing.T) {
	exp := &heldExporter{}
	tr := startedTracing(t, exp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("shutdown: %v, want the context's error", err)
	}
	spans, returned, shut := exp.state()
	if spans != 1 || returned != 1 || !shut {
		t.Errorf("by the end of shutdown: %d spans handed over, %d exports returned, exporter shut %v; "+
			"want 1, 1, true", spans, returned, shut)
	}
}

// An export stuck when the flush's deadline comes is cancelled, and shutdown returns
// then, not at the processor's 30s export timeout, once the export has returned.
func TestShutdownCancelsTheStuckExport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exp := &heldExporter{}
		tr := startedTracing(t, exp)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := tr.shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("shutdown: %v, want the deadline's error", err)
		}
		if took := time.Since(start); took != 200*time.Millisecond {
			t.Errorf("shutdown took %s, its deadline 200ms", took)
		}
		if spans, returned, shut := exp.state(); spans != 1 || returned != 1 || !shut {
			t.Errorf("by the end of shutdown: %d spans handed over, %d exports returned, exporter shut %v; "+
				"want 1, 1, true", spans, returned, shut)
		}
	})
}

// An exporter that ignores the cancel holds shutdown for abortWait past the
// deadline, no longer, and the error says so.
func TestShutdownLeavesAnExporterThatIgnoresTheCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exp := &heldExporter{ignoreCancel: true, release: make(chan struct{})}
		defer close(exp.release) // lets the processor's goroutine end with the bubble
		tr := startedTracing(t, exp)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := tr.shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "had not returned 1s after") {
			t.Errorf("shutdown: %v", err)
		}
		if took := time.Since(start); took != 200*time.Millisecond+abortWait {
			t.Errorf("shutdown took %s, want the deadline 200ms + abortWait %s", took, abortWait)
		}
	})
}
