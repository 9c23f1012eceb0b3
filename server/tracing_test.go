package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

// spanSink is the SDK's in-memory exporter, kept past Shutdown (which empties it):
// the spans are read once the gateway has shut down and flushed them.
type spanSink struct{ *tracetest.InMemoryExporter }

func (spanSink) Shutdown(context.Context) error { return nil }

// tracedReplica is a loopback replica that keeps the trace headers of every request
// (but warm-ups) and answers as its rig's script says.
type tracedReplica struct {
	name string
	url  string
	mu   sync.Mutex
	seen []http.Header
}

func (r *tracedReplica) headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

// script answers the nth request (counted over all replicas, from 0) sent to a replica.
type script func(n int, w http.ResponseWriter, r *http.Request)

func answerOK(n int, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

// hangFirst holds the first request until the gateway cancels it; the others answer.
func hangFirst(n int, w http.ResponseWriter, r *http.Request) {
	if n == 0 {
		<-r.Context().Done()
		return
	}
	io.WriteString(w, "ok")
}

type traceRig struct {
	gw     *servertest.Gateway
	sink   spanSink
	reps   []*tracedReplica
	client *http.Client
}

// newTraceRig starts n replicas answering as do says and a gateway in front of them
// (set kv) whose spans go to an in-memory exporter; top is put at the config's top
// level (tracing: ...; "": tracing off), routes are the routes: items.
func newTraceRig(t *testing.T, n int, do script, top, routes string) *traceRig {
	t.Helper()
	rig := &traceRig{sink: spanSink{tracetest.NewInMemoryExporter()}}
	var count atomic.Int64
	var yaml strings.Builder
	yaml.WriteString(top + "\nreplica_sets:\n  kv:\n    warm_connections: 0\n    replicas:\n")
	for i := range n {
		rep := &tracedReplica{name: fmt.Sprintf("r%d", i+1)}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rep.mu.Lock()
			rep.seen = append(rep.seen, r.Header.Clone())
			rep.mu.Unlock()
			do(int(count.Add(1)-1), w, r)
		}))
		t.Cleanup(srv.Close)
		rep.url = srv.URL
		rig.reps = append(rig.reps, rep)
		fmt.Fprintf(&yaml, "      - {name: %s, url: %q}\n", rep.name, srv.URL)
	}
	yaml.WriteString("routes:\n" + indent(routes, "  "))
	cfg, err := config.Parse([]byte(yaml.String()), "traces.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml.String())
	}
	opts := server.Options{Seed: 3}
	if top != "" { // no tracing section: tracing off, no exporter
		opts.SpanExporter = rig.sink
	}
	rig.gw = servertest.New(t, cfg, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rig.client = &http.Client{Transport: tr}
	return rig
}

const hedgeRoute = `- {name: kv-get, match: "/kv/{key}", replica_set: kv, hedge: {initial_delay: 20ms, max_attempts: 2}}`

// get sends one request with the given headers (name, value, ...) and returns its status.
func (rig *traceRig) get(t *testing.T, method, path string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, rig.gw.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rig.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// spans shuts the gateway down, which flushes its spans, and returns them.
func (rig *traceRig) spans(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := rig.gw.Close(); err != nil {
		t.Fatal(err)
	}
	return rig.sink.GetSpans()
}

// seenBy returns the replica's recorded request headers.
func (rig *traceRig) seenBy(name string) []http.Header {
	for _, rep := range rig.reps {
		if rep.name == name {
			return rep.headers()
		}
	}
	return nil
}

// split returns the request (server) span and the attempt (client) spans.
func split(t *testing.T, spans tracetest.SpanStubs) (tracetest.SpanStub, []tracetest.SpanStub) {
	t.Helper()
	var req []tracetest.SpanStub
	var attempts []tracetest.SpanStub
	for _, s := range spans {
		switch s.SpanKind {
		case trace.SpanKindServer:
			req = append(req, s)
		case trace.SpanKindClient:
			attempts = append(attempts, s)
		default:
			t.Errorf("span %q of kind %v", s.Name, s.SpanKind)
		}
	}
	if len(req) != 1 {
		t.Fatalf("%d request spans, want 1: %v", len(req), names(spans))
	}
	return req[0], attempts
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// attrs is a span's attributes by key, formatted.
func attrs(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// wantAttrs checks each key/value pair of want ("" for a key that must be absent).
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if g, ok := got[k]; v == "" && ok {
			t.Errorf("span %q: %s = %q, want none", s.Name, k, g)
		} else if v != "" && g != v {
			t.Errorf("span %q: %s = %q, want %q", s.Name, k, g, v)
		}
	}
}

// parentOf parses a traceparent header: trace ID, parent span ID and flags.
func parentOf(t *testing.T, h http.Header) (tid, sid, flags string) {
	t.Helper()
	parts := strings.Split(h.Get("Traceparent"), "-")
	if len(parts) != 4 || parts[0] != "00" {
		t.Fatalf("traceparent %q", h.Get("Traceparent"))
	}
	return parts[1], parts[2], parts[3]
}

// A hedged request: the request span and two attempt spans, the primary cancelled
// and the hedge winning after the hedge delay; each replica got a traceparent of
// the request's trace whose parent is its own attempt's span.
func TestTraceOfAHedgedRequest(t *testing.T) {
	rig := newTraceRig(t, 2, hangFirst, "tracing: {sample_ratio: 1}", hedgeRoute)
	if code := rig.get(t, "GET", "/kv/a"); code != 200 {
		t.Fatalf("status %d", code)
	}
	req, attempts := split(t, rig.spans(t))
	if req.Name != "GET /kv/{key}" || req.Parent.IsValid() {
		t.Errorf("request span %q, parent %v: want GET /kv/{key}, a root", req.Name, req.Parent)
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2: %v", len(attempts), names(attempts))
	}
	primary, hedge := attempts[0], attempts[1]
	if attrs(primary)["hedgegate.attempt.kind"] != "primary" {
		primary, hedge = hedge, primary
	}
	winner := attrs(hedge)["hedgegate.replica"]
	wantAttrs(t, req, map[string]string{"hedgegate.route": "kv-get", "http.route": "/kv/{key}",
		"http.request.method": "GET", "url.path": "/kv/a", "http.response.status_code": "200",
		"hedgegate.attempts": "2", "hedgegate.replica": winner, "hedgegate.winner.kind": "hedge", "error.type": ""})
	wantAttrs(t, primary, map[string]string{"hedgegate.attempt.kind": "primary", "hedgegate.attempt.outcome": "cancelled",
		"hedgegate.attempt.delay_ms": "0", "http.response.status_code": "", "hedgegate.route": "kv-get"})
	wantAttrs(t, hedge, map[string]string{"hedgegate.attempt.kind": "hedge", "hedgegate.attempt.outcome": "won",
		"hedgegate.attempt.delay_ms": "20", "http.response.status_code": "200", "server.address": "127.0.0.1"})
	if winner == attrs(primary)["hedgegate.replica"] || hedge.Name != "hedge "+winner {
		t.Errorf("the hedge %q went to %s, the primary to %s", hedge.Name, winner, attrs(primary)["hedgegate.replica"])
	}
	for _, a := range attempts {
		if a.Parent.SpanID() != req.SpanContext.SpanID() || a.SpanContext.TraceID() != req.SpanContext.TraceID() {
			t.Errorf("attempt %q is not a child of the request span", a.Name)
		}
		if a.Status.Code != codes.Unset {
			t.Errorf("attempt %q has status %v: neither a cancelled loser nor a winner is an error", a.Name, a.Status)
		}
		seen := rig.seenBy(attrs(a)["hedgegate.replica"])
		if len(seen) != 1 {
			t.Fatalf("%s got %d requests, want 1", attrs(a)["hedgegate.replica"], len(seen))
		}
		tid, parent, flags := parentOf(t, seen[0])
		if tid != req.SpanContext.TraceID().String() || parent != a.SpanContext.SpanID().String() || flags != "01" {
			t.Errorf("%s saw traceparent %s; want trace %s, parent %s (its attempt), sampled",
				attrs(a)["hedgegate.replica"], seen[0].Get("Traceparent"), req.SpanContext.TraceID(), a.SpanContext.SpanID())
		}
	}
	if !hedge.StartTime.After(primary.StartTime) || !primary.EndTime.After(primary.StartTime) {
		t.Errorf("primary %v–%v, hedge from %v", primary.StartTime, primary.EndTime, hedge.StartTime)
	}
}

// An attempt's span lasts as the attempt did, to the moment its answer won (its
// headers and the engine's read-ahead of its body, here passed), not until the
// request let go of it once the winner's body had streamed to the client.
func TestAttemptSpanEndsWithItsAnswer(t *testing.T) {
	firstPart := strings.Repeat("first part;", 7000) // longer than the read-ahead
	release := make(chan struct{})
	rig := newTraceRig(t, 1, func(n int, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, firstPart)
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "rest")
	}, "tracing: {sample_ratio: 1}", hedgeRoute)
	resp, err := rig.client.Get(rig.gw.URL + "/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len(firstPart))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	released := time.Now() // the attempt had its headers before the client had a byte
	close(release)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, attempts := split(t, rig.spans(t))
	if len(attempts) != 1 {
		t.Fatalf("attempts %v", names(attempts))
	}
	if a := attempts[0]; !a.EndTime.Before(released) || !req.EndTime.After(released) {
		t.Errorf("attempt span ends %v, request span %v; the body was released at %v", a.EndTime, req.EndTime, released)
	}
}
