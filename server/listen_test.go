package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// resettingReplica starts a chunked answer, longer than the engine's read-ahead so that
// it has won, and then closes its connection with RST.
func resettingReplica(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" { // warm-up
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(firstPart), firstPart)
		buf.Flush()
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetLinger(0)
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// stallingBody sends its first bytes and then nothing until the test ends.
type stallingBody struct {
	first []byte
	stop  <-chan struct{}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	<-b.stop
	return 0, io.ErrUnexpectedEOF
}

// The edge's cases, the same over HTTP/1.1, HTTP/2 over TLS and h2c.
func TestEdgeHoldsOverEveryProtocol(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	hang := newReplica(t, "h1", func(r *replica) { r.hangs = true })
	stall := stallingReplica(t)
	reset := resettingReplica(t)
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
limits: {max_request_body_bytes: 16, max_header_bytes: 2048}
replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
  hang: {warm_connections: 0, replicas: [{name: h1, url: %q}]}
  stall: {warm_connections: 0, replicas: [{name: s1, url: %q}]}
  reset: {warm_connections: 0, replicas: [{name: x1, url: %q}]}
routes:
  - {name: kv, match: "/kv/{key}", methods: [GET, POST], replica_set: kv}
  - {name: hang, match: "/hang/{key}", replica_set: hang}
  - {name: stall, match: "/stall/{key}", replica_set: stall, timeout: 200ms}
  - {name: reset, match: "/reset/{key}", replica_set: reset, retry: {on: []}}
`, ok.srv.URL, hang.srv.URL, stall.URL, reset.URL)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			g := serveOver(t, p, yaml, false, nil)

			t.Run("proxied", func(t *testing.T) {
				r := g.do(t, "GET", "/kv/a", nil, nil)
				if r.status != 200 || r.body != "r1:/kv/a" {
					t.Fatalf("%d %q", r.status, r.body)
				}
				want := "http"
				if p.tls {
					want = "https"
				}
				if got := ok.lastReq.Load().Header.Get("X-Forwarded-Proto"); got != want {
					t.Errorf("replica got X-Forwarded-Proto %q, want %q", got, want)
				}
			})
			t.Run("deadline header", func(t *testing.T) {
				r := g.do(t, "GET", "/hang/a", nil, http.Header{RequestTimeoutHeader: {"50ms"}})
				if r.status != http.StatusGatewayTimeout {
					t.Fatalf("%d %q, want 504 at the client's 50ms", r.status, r.body)
				}
			})
			t.Run("body limit", func(t *testing.T) {
				r := g.do(t, "POST", "/kv/a", strings.NewReader(strings.Repeat("x", 17)), nil)
				if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "max_request_body_bytes") {
					t.Fatalf("%d %q, want 413", r.status, r.body)
				}
			})
			t.Run("body of unknown length over the limit", func(t *testing.T) {
				body := io.MultiReader(strings.NewReader(strings.Repeat("x", 10)), strings.NewReader(strings.Repeat("y", 10)))
				r := g.do(t, "POST", "/kv/a", io.NopCloser(body), nil) // no Content-Length: chunked, or DATA frames
				if r.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("%d %q, want 413", r.status, r.body)
				}
			})
			t.Run("header limit", func(t *testing.T) {
				r := g.do(t, "GET", "/kv/a", nil, http.Header{"X-Big": {strings.Repeat("x", 2100)}})
				if r.status != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(r.body, "max_header_bytes") {
					t.Fatalf("%d %q, want the gateway's 431", r.status, r.body)
				}
				if r := g.do(t, "GET", "/kv/a", nil, http.Header{"X-Small": {strings.Repeat("x", 1500)}}); r.status != 200 {
					t.Errorf("headers under the limit: %d", r.status)
				}
			})
			t.Run("body missing the deadline", func(t *testing.T) {
				stop := make(chan struct{})
				defer close(stop)
				req, _ := http.NewRequest("POST", g.base+"/kv/a", &stallingBody{first: []byte("ab"), stop: stop})
				req.ContentLength = 10
				req.Header.Set(RequestTimeoutHeader, "200ms")
				resp, err := g.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("status %d, want 408", resp.StatusCode)
				}
				// Over HTTP/2 only the stream ends: the connection, and any other
				// stream on it, stays.
				dials := g.dials.Load()
				if r := g.do(t, "GET", "/kv/b", nil, nil); r.status != 200 {
					t.Fatalf("next request: %d", r.status)
				}
				// Over HTTP/1.1 the rest of the body may still come: the connection closes.
				switch opened := g.dials.Load() - dials; {
				case p.major == 2 && opened != 0:
					t.Errorf("over %s the 408 closed the connection (the next request opened %d)", p.name, opened)
				case p.major == 1 && opened != 1:
					t.Errorf("over %s the 408 left the connection open for the rest of the body", p.name)
				}
			})
			t.Run("cut at the deadline is aborted", func(t *testing.T) {
				before := testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("stall"))
				dials := g.dials.Load()
				r := g.do(t, "GET", "/stall/a", nil, nil)
				checkAborted(t, p, r)
				if r.body != firstPart {
					t.Errorf("body of %d bytes, want the %d that came", len(r.body), len(firstPart))
				}
				waitFor(t, func() bool { return testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("stall")) == before+1 },
					"one more truncated answer counted")
				// A stream reset leaves the connection up; HTTP/1.1 has only the
				// connection to abort.
				if r := g.do(t, "GET", "/kv/b", nil, nil); r.status != 200 {
					t.Fatalf("next request: %d", r.status)
				}
				if opened := g.dials.Load() - dials; p.major == 2 && opened != 0 {
					t.Errorf("over %s the next request opened %d connections: the cut took the connection down, not only its stream", p.name, opened)
				}
			})
			t.Run("replica reset mid-body is aborted", func(t *testing.T) {
				r := g.do(t, "GET", "/reset/a", nil, nil)
				checkAborted(t, p, r)
			})
		})
	}
}

// checkAborted fails unless r's body ended in an error that says how it was cut:
// over HTTP/2 a reset of its stream (RST_STREAM), never a clean END_STREAM.
func checkAborted(t *testing.T, p protocol, r reply) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want the 200 whose body is then cut", r.status)
	}
	if r.bodyErr == nil {
		t.Fatalf("body %q ended cleanly: a cut answer must be aborted", r.body)
	}
	if p.major == 2 && !hasAll(r.bodyErr.Error(), "stream error", "INTERNAL_ERROR") {
		t.Errorf("over %s the body ended with %v, want the stream reset", p.name, r.bodyErr)
	}
	if p.major == 1 && !errors.Is(r.bodyErr, io.ErrUnexpectedEOF) {
		t.Errorf("over %s the body ended with %v, want an unexpected EOF (no last chunk)", p.name, r.bodyErr)
	}
}

// Shedding over every protocol: past max_inflight, 503 at once with Retry-After.
func TestShedsOverEveryProtocol(t *testing.T) {
	hang := newReplica(t, "h1", func(r *replica) { r.hangs = true })
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
limits: {max_inflight: 1}
replica_sets:
  kv: {warm_connections: 0, replicas: [{name: h1, url: %q}]}
routes:
  - {name: kv, match: "/kv/{key}", replica_set: kv, timeout: 10s}
`, hang.srv.URL)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			g := serveOver(t, p, yaml, false, nil)
			held := make(chan int, 1)
			calls := hang.calls.Load()
			go func() {
				resp, err := g.client.Get(g.base + "/kv/held")
				if err != nil {
					held <- 0
					return
				}
				resp.Body.Close()
				held <- resp.StatusCode
			}()
			waitFor(t, func() bool { return hang.calls.Load() > calls }, "the held request at the replica")
			r := g.do(t, "GET", "/kv/a", nil, nil)
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("%d %q Retry-After %q, want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
			}
			hang.released <- struct{}{} // one request lets go
			if code := <-held; code != 200 {
				t.Errorf("held request: %d", code)
			}
		})
	}
}

// TLS serves HTTP/1.1 too, to clients that do not offer h2 in ALPN.
func TestTLSListenerServesHTTP1ByALPN(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	g := serveOver(t, protocols[1], gatewayYAML([]string{ok.srv.URL}, ""), false, nil)
	g.proto = protocol{name: "https1", tls: true, major: 1}
	g.tr = g.transport(protocol{name: "https1"}) // HTTP/1.1 only
	g.tr.TLSClientConfig = g.transport(protocols[1]).TLSClientConfig
	g.tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	g.client.Transport = g.tr
	r := g.do(t, "GET", "/kv/a", nil, nil)
	if r.status != 200 || r.tls == nil || r.tls.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("%d, TLS %+v: want 200 over TLS with ALPN http/1.1", r.status, r.tls)
	}
	// A cleartext request to the TLS port is refused, not served in the clear.
	resp, _, err := rawExchange(t, strings.TrimPrefix(g.base, "https://"), "GET /kv/a HTTP/1.1\r\nHost: gw\r\n\r\n")
	if err == nil && resp.StatusCode == 200 {
		t.Error("the TLS listener served a cleartext request")
	}
}

// Without h2c, a client with prior knowledge gets no HTTP/2; the listener speaks
// HTTP/1.1 only (today's default, kept).
func TestH2COffRefusesPriorKnowledge(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	g := serveOver(t, protocols[0], gatewayYAML([]string{ok.srv.URL}, ""), false, nil)
	g.tr = g.transport(protocols[2]) // h2c prior knowledge
	g.client.Transport = g.tr
	resp, err := g.client.Get(g.base + "/kv/a")
	if err == nil {
		resp.Body.Close()
		if resp.ProtoMajor == 2 {
			t.Fatal("HTTP/2 with prior knowledge was served with h2c off")
		}
	}
}

// A slow answer in flight when the listener closes finishes, over every protocol
// (HTTP/2 clients get GOAWAY; their open streams complete).
func TestShutdownFinishesInFlightOverEveryProtocol(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			slow := newReplica(t, "r1", func(r *replica) { r.delay = 300 * time.Millisecond })
			g := serveOver(t, p, gatewayYAML([]string{slow.srv.URL}, ""), false, nil)
			g.waitReady(t)
			got := make(chan string, 1)
			go func() {
				resp, err := g.client.Get(g.base + "/kv/slow")
				if err != nil {
					got <- err.Error()
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- fmt.Sprint(resp.StatusCode, " ", string(b), " ", err)
			}()
			waitFor(t, func() bool { return inFlightAt(slow, "/kv/slow") }, "the request at the replica")
			g.sigterm()
			if res := <-got; res != "200 r1:/kv/slow <nil>" {
				t.Errorf("in-flight request got %q, want it finished", res)
			}
			select {
			case err := <-g.served:
				g.served <- err // for the cleanup
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after the drain")
			}
		})
	}
}

// During the drain delay every answer sends its client elsewhere for the next
// request: Connection: close over HTTP/1.1, GOAWAY over HTTP/2 (net/http turns the
// header into one). Before the signal, the same client reuses one connection.
func TestDrainDelayMovesEveryProtocolToNewConnections(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	yaml := gatewayYAML([]string{ok.srv.URL}, "shutdown: {drain_delay: 1h, timeout: 5s}\n")
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			g := serveOver(t, p, yaml, false, nil)
			for range 3 {
				if r := g.do(t, "GET", "/kv/a", nil, nil); r.status != 200 {
					t.Fatalf("before the signal: %d", r.status)
				}
			}
			if n := g.dials.Load(); n != 1 {
				t.Fatalf("before the signal, 3 requests opened %d connections, want 1", n)
			}
			g.sigterm()
			waitFor(t, func() bool { return g.srv.draining.Load() }, "the drain")
			for i := range 3 {
				before := g.dials.Load()
				if r := g.do(t, "GET", "/kv/a", nil, nil); r.status != 200 {
					t.Fatalf("during the drain delay: %d", r.status)
				}
				// The first answer of the drain may ride the old connection; each
				// answer then tells its connection to close.
				if opened := g.dials.Load() - before; i > 0 && opened != 1 {
					t.Errorf("request %d of the drain opened %d connections, want 1: the previous answer did not move the client", i, opened)
				}
			}
			// Stop now rather than wait an hour; the cleanup checks Serve returned.
			g.srv.Close()
		})
	}
}
