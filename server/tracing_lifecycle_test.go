package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

func okReplica(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func getOK(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

// sample_ratio follows a reload; a new otlp_endpoint is refused with the reason, and
// the running tracing stays as it was.
func TestTracingReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	url := okReplica(t)
	write := func(tracing string) {
		t.Helper()
		yaml := fmt.Sprintf("tracing: %s\nreplica_sets:\n  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}\n"+
			"routes:\n  - {name: kv-get, match: \"/kv/{key}\", replica_set: kv}\n", tracing, url)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("{sample_ratio: 0}")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sink := spanSink{tracetest.NewInMemoryExporter()}
	gw := servertest.New(t, cfg, server.Options{SpanExporter: sink})
	getOK(t, gw.URL+"/kv/untraced")

	write("{sample_ratio: 1}")
	if err := gw.Server.Reload(path); err != nil {
		t.Fatal(err)
	}
	getOK(t, gw.URL+"/kv/traced")

	write(`{otlp_endpoint: "http://127.0.0.1:4318", sample_ratio: 1}`)
	err = gw.Server.Reload(path)
	want := path + `:1: tracing.otlp_endpoint: cannot change on reload (restart the gateway)`
	if err == nil || err.Error() != want {
		t.Fatalf("reload with a new endpoint: %v\nwant %s", err, want)
	}
	getOK(t, gw.URL+"/kv/still-traced")

	gw.Close()
	var paths []string
	for _, s := range sink.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			paths = append(paths, attrs(s)["url.path"])
		}
	}
	if strings.Join(paths, " ") != "/kv/traced /kv/still-traced" {
		t.Errorf("requests traced: %v, want the two after the reload to sample_ratio 1", paths)
	}
}

// stuckExporter never finishes an export until its context ends.
type stuckExporter struct {
	once    sync.Once
	started chan struct{}
	ended   chan error
}

func (e *stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	e.once.Do(func() { close(e.started) })
	<-ctx.Done()
	select {
	case e.ended <- ctx.Err():
	default:
	}
	return ctx.Err()
}

func (e *stuckExporter) Shutdown(context.Context) error { return nil }

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The spans queued at shutdown are exported as the gateway stops, and an exporter
// that cannot deliver them does not hold the shutdown past the drain's timeout: its
// export is cancelled, and has returned by the time the gateway has stopped, and the
// loss is logged.
func TestShutdownFlushIsBoundedByTheDrain(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`shutdown: {drain_delay: 0s, timeout: 200ms}
tracing: {sample_ratio: 1}
replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, okReplica(t))), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exp := &stuckExporter{started: make(chan struct{}), ended: make(chan error, 1)}
	var logs logBuffer
	gw := servertest.New(t, cfg, server.Options{SpanExporter: exp, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	getOK(t, gw.URL+"/kv/a")
	closed := make(chan error, 1)
	go func() { closed <- gw.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // the exporter alone would hold it for 30s
		t.Fatal("the gateway still shutting down 20s later, its drain timeout 200ms")
	}
	select {
	case <-exp.started:
	default:
		t.Fatal("the queued spans were never exported: no flush at shutdown")
	}
	select {
	case err := <-exp.ended:
		if err == nil {
			t.Error("the export ended without its context ending")
		}
	default: // shutdown returns once the cancelled export has
		t.Fatal("the stuck export was still running when the gateway had stopped")
	}
	if !strings.Contains(logs.String(), "spans still queued at the end of shutdown were dropped") {
		t.Errorf("the lost spans were not logged:\n%s", logs.String())
	}
}

// With an exporter that works, the spans queued when the gateway stops reach it
// before Close returns, although the batch processor's schedule would send them only
// ten minutes later.
func TestShutdownFlushesQueuedSpans(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // ms
	sink := spanSink{tracetest.NewInMemoryExporter()}
	cfg, err := config.Parse([]byte(fmt.Sprintf("tracing: {sample_ratio: 1}\nreplica_sets:\n  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}\nroutes:\n  - {name: kv-get, match: \"/kv/{key}\", replica_set: kv}\n", okReplica(t))), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := servertest.New(t, cfg, server.Options{SpanExporter: sink})
	getOK(t, gw.URL+"/kv/a")
	if n := len(sink.GetSpans()); n != 0 {
		t.Fatalf("%d spans exported before shutdown, on a ten-minute schedule", n)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.GetSpans()); n != 2 {
		t.Errorf("%d spans exported by the end of shutdown, want 2 (request and attempt)", n)
	}
}
