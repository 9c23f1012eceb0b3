package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}

func TestTraceOfFailuresAndRetries(t *testing.T) {
	status := func(codes ...int) script {
		return func(n int, w http.ResponseWriter, r *http.Request) {
			if n < len(codes) {
				w.WriteHeader(codes[n])
			}
			io.WriteString(w, "answer")
		}
	}
	type attempt struct{ kind, outcome, status, errType string }
	for _, tc := range []struct {
		name     string
		do       script
		route    string
		method   string
		code     int
		request  map[string]string
		failed   bool // the request span's status is an error
		attempts []attempt
	}{
		{"a 503 retried", status(503), hedgeRoute, "GET", 200,
			map[string]string{"hedgegate.attempts": "2", "hedgegate.winner.kind": "retry", "error.type": ""}, false,
			[]attempt{{"primary", "failed", "503", "503"}, {"retry", "won", "200", ""}}},
		{"every replica 503: the last answer passed on", status(503, 503), hedgeRoute, "GET", 503,
			map[string]string{"hedgegate.attempts": "2", "error.type": "503"}, true,
			[]attempt{{"primary", "failed", "503", "503"}, {"retry", "failed", "503", "503"}}},
		{"the deadline", func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			`- {name: kv-get, match: "/kv/{key}", replica_set: kv, timeout: 100ms, hedge: {max_attempts: 1}}`, "GET", 504,
			map[string]string{"hedgegate.attempts": "1", "error.type": "deadline", "hedgegate.replica": ""}, true,
			[]attempt{{"primary", "failed|cancelled", "", ""}}},
		{"a method that is not a read", answerOK, hedgeRoute, "DELETE", 405,
			map[string]string{"hedgegate.route": "kv-get", "hedgegate.attempts": "0", "error.type": "method_not_allowed"}, false, nil},
		{"no route", answerOK, hedgeRoute, "GET", 404,
			map[string]string{"hedgegate.route": "", "error.type": "not_found"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newTraceRig(t, 2, tc.do, "tracing: {sample_ratio: 1}", tc.route)
			path := "/kv/a"
			if tc.code == 404 {
				path = "/elsewhere"
			}
			if code := rig.get(t, tc.method, path); code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			req, attempts := split(t, rig.spans(t))
			want := map[string]string{"http.response.status_code": fmt.Sprint(tc.code)}
			for k, v := range tc.request {
				want[k] = v
			}
			wantAttrs(t, req, want)
			if got := req.Status.Code == codes.Error; got != tc.failed {
				t.Errorf("request span status %v, want an error: %v", req.Status, tc.failed)
			}
			if len(attempts) != len(tc.attempts) {
				t.Fatalf("attempt spans %v, want %d", names(attempts), len(tc.attempts))
			}
			for i, a := range attempts {
				w := tc.attempts[i]
				if attrs(a)["hedgegate.attempt.kind"] != w.kind {
					a = attempts[len(attempts)-1-i] // ended in the other order
				}
				if w.outcome == "failed|cancelled" {
					// At the deadline the engine either sees the attempt end with it
					// (a timeout) or cancels it first as it gives the request up.
					w.outcome, w.errType = "cancelled", ""
					if attrs(a)["hedgegate.attempt.outcome"] == "failed" {
						w.outcome, w.errType = "failed", "timeout"
					}
				}
				wantAttrs(t, a, map[string]string{"hedgegate.attempt.kind": w.kind, "hedgegate.attempt.outcome": w.outcome,
					"http.response.status_code": w.status, "error.type": w.errType})
				if got := a.Status.Code == codes.Error; got != (w.outcome == "failed") {
					t.Errorf("attempt %q status %v", a.Name, a.Status)
				}
			}
		})
	}
}

// Every replica refusing connections: 502 all_failed, each attempt a connect_failure.
func TestTraceOfReplicasRefusingConnections(t *testing.T) {
	sink := spanSink{tracetest.NewInMemoryExporter()}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`tracing: {sample_ratio: 1}
replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}, {name: r2, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, closedURL(t), closedURL(t))), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := servertest.New(t, cfg, server.Options{SpanExporter: sink})
	resp, err := http.Get(gw.URL + "/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	gw.Close()
	req, attempts := split(t, sink.GetSpans())
	wantAttrs(t, req, map[string]string{"http.response.status_code": "502", "error.type": "all_failed", "hedgegate.attempts": "2"})
	if req.Status.Code != codes.Error || req.Status.Description != "every attempt failed" {
		t.Errorf("request status %v", req.Status)
	}
	if len(attempts) != 2 {
		t.Fatalf("attempts %v", names(attempts))
	}
	for _, a := range attempts {
		wantAttrs(t, a, map[string]string{"hedgegate.attempt.outcome": "failed", "error.type": "connect_failure"})
		if !strings.Contains(a.Status.Description, "connection refused") {
			t.Errorf("attempt %q status %v: want the reason", a.Name, a.Status)
		}
	}
}

func TestTraceparentFromClients(t *testing.T) {
	const (
		tid    = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent = "00f067aa0ba902b7"
	)
	for _, tc := range []struct {
		name    string
		tracing string
		header  []string
		spans   int    // 0 or 2 (request and attempt)
		trace   string // the trace the replica must see; "new": one of the gateway's; "": none
		flags   string
		state   string // the tracestate the replica must see
	}{
		{"a sampled parent is followed at ratio 0", "tracing: {sample_ratio: 0}",
			[]string{"Traceparent", "00-" + tid + "-" + parent + "-01", "Tracestate", "vendor=x"}, 2, tid, "01", "vendor=x"},
		{"an unsampled parent is followed at ratio 1", "tracing: {sample_ratio: 1}",
			[]string{"Traceparent", "00-" + tid + "-" + parent + "-00"}, 0, tid, "00", ""},
		{"a malformed traceparent is replaced", "tracing: {sample_ratio: 1}",
			[]string{"Traceparent", "00-" + tid + "-zz-01", "Tracestate", "stale=1"}, 2, "new", "01", ""},
		{"at ratio 0, no trace is started", "tracing: {sample_ratio: 0}", nil, 0, "", "", ""},
		{"tracing off: the client's headers go on as sent", "",
			[]string{"Traceparent", "00-" + tid + "-" + parent + "-01"}, 0, tid, "01", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newTraceRig(t, 1, answerOK, tc.tracing, hedgeRoute)
			if code := rig.get(t, "GET", "/kv/a", tc.header...); code != 200 {
				t.Fatalf("status %d", code)
			}
			spans := rig.spans(t)
			if len(spans) != tc.spans {
				t.Fatalf("%d spans %v, want %d", len(spans), names(spans), tc.spans)
			}
			seen := rig.seenBy("r1")[0]
			if tc.trace == "" {
				if v := seen.Get("Traceparent"); v != "" {
					t.Errorf("the replica saw traceparent %q, want none", v)
				}
				return
			}
			gotTrace, gotParent, flags := parentOf(t, seen)
			switch {
			case tc.trace == "new" && (gotTrace == tid || gotTrace != spans[0].SpanContext.TraceID().String()):
				t.Errorf("the replica saw trace %s, want the gateway's own %s", gotTrace, spans[0].SpanContext.TraceID())
			case tc.trace != "new" && gotTrace != tc.trace:
				t.Errorf("the replica saw trace %s, want %s", gotTrace, tc.trace)
			case flags != tc.flags:
				t.Errorf("the replica saw flags %s, want %s", flags, tc.flags)
			case tc.tracing != "" && gotParent == parent:
				t.Errorf("the replica's parent is the client's span, not the gateway's")
			case tc.tracing == "" && gotParent != parent:
				t.Errorf("tracing off, the replica's parent %s is not the client's %s", gotParent, parent)
			}
			if got := seen.Get("Tracestate"); got != tc.state {
				t.Errorf("the replica saw tracestate %q, want %q", got, tc.state)
			}
			if tc.spans == 0 {
				return
			}
			req, _ := split(t, spans)
			if tc.trace == tid && (req.Parent.SpanID().String() != parent || !req.Parent.IsRemote()) {
				t.Errorf("request span's parent %v, want the client's span %s", req.Parent, parent)
			}
		})
	}
}

// A quorum read: every replica asked at once, two agreeing answers decide, the one
// still running is cancelled; the request span says who agreed on what.
func TestTraceOfAQuorumRead(t *testing.T) {
	rig := newTraceRig(t, 3, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 2 {
			<-r.Context().Done()
			return
		}
		w.Header().Set("X-Version", "7")
		io.WriteString(w, "v7")
	}, "tracing: {sample_ratio: 1}",
		`- {name: kv-quorum, match: "/kv/{key}", replica_set: kv, strategy: quorum, quorum: {read: 2, version: {header: X-Version}}}`)
	if code := rig.get(t, "GET", "/kv/a"); code != 200 {
		t.Fatalf("status %d", code)
	}
	req, attempts := split(t, rig.spans(t))
	wantAttrs(t, req, map[string]string{"hedgegate.quorum.agreeing": "2", "hedgegate.quorum.asked": "3",
		"hedgegate.quorum.version": "7", "hedgegate.attempts": "3", "hedgegate.winner.kind": "primary"})
	outcomes := map[string]int{}
	for _, a := range attempts {
		outcomes[attrs(a)["hedgegate.attempt.outcome"]]++
		if attrs(a)["hedgegate.attempt.kind"] != "primary" || attrs(a)["hedgegate.attempt.delay_ms"] != "0" {
			t.Errorf("quorum attempt %q: %v", a.Name, attrs(a))
		}
	}
	if outcomes["won"] != 1 || outcomes["lost"] != 1 || outcomes["cancelled"] != 1 {
		t.Errorf("outcomes %v, want one won, one lost, one cancelled", outcomes)
	}
}

// An answer below the client's X-Min-Version: its attempt is stale (an error, with
// error.type stale) and the retry that meets the floor wins. No replica meeting it:
// the request span is the 503 floor_unmet.
func TestTraceOfStaleAnswers(t *testing.T) {
	const route = `- {name: kv-get, match: "/kv/{key}", replica_set: kv, version: {header: X-Version}, hedge: {initial_delay: 1s}}`
	versions := func(vs ...string) script {
		return func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Version", vs[n%len(vs)])
			io.WriteString(w, "v")
		}
	}
	t.Run("retried", func(t *testing.T) {
		rig := newTraceRig(t, 2, versions("5", "7"), "tracing: {sample_ratio: 1}", route)
		if code := rig.get(t, "GET", "/kv/a", "X-Min-Version", "7"); code != 200 {
			t.Fatalf("status %d", code)
		}
		req, attempts := split(t, rig.spans(t))
		wantAttrs(t, req, map[string]string{"hedgegate.attempts": "2", "hedgegate.winner.kind": "retry", "error.type": ""})
		outcomes := map[string]string{}
		for _, a := range attempts {
			outcomes[attrs(a)["hedgegate.attempt.kind"]] = attrs(a)["hedgegate.attempt.outcome"] + "/" + attrs(a)["error.type"]
			if attrs(a)["hedgegate.attempt.outcome"] == "stale" && a.Status.Code != codes.Error {
				t.Errorf("stale attempt status %v", a.Status)
			}
		}
		if outcomes["primary"] != "stale/stale" || outcomes["retry"] != "won/" {
			t.Errorf("attempts %v, want the primary stale and the retry won", outcomes)
		}
	})
	t.Run("floor unmet", func(t *testing.T) {
		rig := newTraceRig(t, 2, versions("5"), "tracing: {sample_ratio: 1}", route)
		if code := rig.get(t, "GET", "/kv/a", "X-Min-Version", "7"); code != 503 {
			t.Fatalf("status %d", code)
		}
		req, _ := split(t, rig.spans(t))
		wantAttrs(t, req, map[string]string{"error.type": "floor_unmet", "http.response.status_code": "503"})
		if req.Status.Code != codes.Error {
			t.Errorf("request status %v", req.Status)
		}
	})
}
