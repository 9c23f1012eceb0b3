package server

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Traced, with the access log on, over HTTP/1.1, HTTP/2 over TLS and h2c: the request
// span learns its route through the access log's writer and names the protocol, the
// access log still has its line, and an answer cut short is still aborted to the
// client (the tracing writer in between keeps the stream reset) and marked so.
func TestTracesOverEveryProtocol(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	reset := resettingReplica(t)
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
log: {format: text, access: {enabled: true}}
tracing: {sample_ratio: 1}
replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
  reset: {warm_connections: 0, replicas: [{name: x1, url: %q}]}
routes:
  - {name: kv, match: "/kv/{key}", replica_set: kv}
  - {name: reset, match: "/reset/{key}", replica_set: reset, retry: {on: []}}
`, ok.srv.URL, reset.URL)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			var logs lockedBuffer
			g := serveOverWith(t, p, yaml, false, Options{SpanExporter: exp,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if r := g.do(t, "GET", "/kv/a", nil, nil); r.status != 200 {
				t.Fatalf("%d %q", r.status, r.body)
			}
			checkAborted(t, p, g.do(t, "GET", "/reset/a", nil, nil))
			if err := g.srv.tracing.provider.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			byPath := map[string]tracetest.SpanStub{}
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindServer {
					byPath[attrs(s)["url.path"]] = s
				}
			}
			version := "1.1"
			if p.major == 2 {
				version = "2"
			}
			proxied, cut := byPath["/kv/a"], byPath["/reset/a"]
			wantAttrs(t, proxied, map[string]string{"hedgegate.route": "kv", "hedgegate.replica": "r1",
				"network.protocol.version": version, "http.response.status_code": "200", "hedgegate.aborted": ""})
			wantAttrs(t, cut, map[string]string{"hedgegate.route": "reset", "hedgegate.aborted": "true",
				"http.response.status_code": "200"})
			if cut.Status.Code != codes.Error || proxied.Status.Code != codes.Unset {
				t.Errorf("statuses: cut %v, proxied %v", cut.Status, proxied.Status)
			}
			if n := logs.count("route=kv "); n != 1 {
				t.Errorf("%d access lines for route kv, want 1", n)
			}
		})
	}
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
