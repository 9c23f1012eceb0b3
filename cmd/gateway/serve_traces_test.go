package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback, as a Collector's otlp
// receiver is: POST /v1/traces, a protobuf ExportTraceServiceRequest in, an
// ExportTraceServiceResponse out.
type otlpReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string // service.name of each span's resource
	bad     []string // what was wrong with a request it could not take
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v1/traces":
			rc.reject(w, fmt.Sprintf("%s %s", r.Method, r.URL.Path))
			return
		case r.Header.Get("Content-Type") != "application/x-protobuf":
			rc.reject(w, "Content-Type "+r.Header.Get("Content-Type"))
			return
		case err != nil:
			rc.reject(w, err.Error())
			return
		}
		if err := proto.Unmarshal(body, &req); err != nil {
			rc.reject(w, err.Error())
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			name := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					name = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					rc.spans = append(rc.spans, s)
					rc.service = append(rc.service, name)
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *otlpReceiver) reject(w http.ResponseWriter, why string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, why)
	rc.mu.Unlock()
	http.Error(w, why, http.StatusBadRequest)
}

// waitSpans polls, bounded, until n spans have arrived, and returns them.
func (rc *otlpReceiver) waitSpans(t *testing.T, n int) ([]*tracepb.Span, []string) {
	t.Helper()
	for range 1000 {
		rc.mu.Lock()
		spans, service, bad := append([]*tracepb.Span(nil), rc.spans...), append([]string(nil), rc.service...), rc.bad
		rc.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the receiver refused exports: %v", bad)
		}
		if len(spans) >= n {
			return spans, service
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d spans reached the receiver in 10s", n)
	return nil, nil
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// gateway serve, with tracing pointed at an OTLP/HTTP receiver on loopback: the spans
// of a request arrive while it runs, a request span and its attempt's, in the trace
// the replica was told of.
func TestServeExportsTracesToAnOTLPReceiver(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // ms: export while the gateway runs
	receiver := newOTLPReceiver(t)
	seen := make(chan string, 4)
	rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" { // not a warm-up
			seen <- r.Header.Get("Traceparent")
		}
		io.WriteString(w, "ok")
	}))
	defer rep.Close()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
tracing: {otlp_endpoint: %q, sample_ratio: 1}
replica_sets:
  kv: {warm_connections: 1, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, receiver.srv.URL, rep.URL)), 0o600)

	signals := make(chan os.Signal, 1)
	addrs := make(chan string, 1)
	var logs syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- serve(signals, path, &logs, func(at listening) { addrs <- at.client }) }()
	var addr string
	select {
	case addr = <-addrs:
	case code := <-exited:
		t.Fatalf("serve exited %d: %s", code, logs.String())
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	spans, service := receiver.waitSpans(t, 2)
	var req, attempt *tracepb.Span
	for i, s := range spans {
		if service[i] != "hedgegate" {
			t.Errorf("span %q from service %q", s.Name, service[i])
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			req = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempt = s
		}
	}
	if req == nil || attempt == nil {
		t.Fatalf("spans %v: want a server and a client span", spans)
	}
	if req.Name != "GET /kv/{key}" || spanAttr(attempt, "hedgegate.attempt.outcome") != "won" ||
		spanAttr(attempt, "hedgegate.replica") != "r1" {
		t.Errorf("request span %q, attempt %q %v", req.Name, attempt.Name, attempt.Attributes)
	}
	traceparent := <-seen
	want := "00-" + hex.EncodeToString(req.TraceId) + "-" + hex.EncodeToString(attempt.SpanId) + "-01"
	if traceparent != want || !strings.EqualFold(hex.EncodeToString(attempt.ParentSpanId), hex.EncodeToString(req.SpanId)) {
		t.Errorf("the replica saw traceparent %q, want %q (its attempt's span, under the request's)", traceparent, want)
	}

	signals <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(logs.String(), "tracing: exporting spans by OTLP/HTTP") ||
		!strings.Contains(logs.String(), receiver.srv.URL+"/v1/traces") {
		t.Errorf("the log does not say where spans go:\n%s", logs.String())
	}
}
