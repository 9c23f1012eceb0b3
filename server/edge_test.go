package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hedgegate/hedgegate/config"
)

// rawExchange sends request exactly as written (dot segments and encodings reach the
// gateway untouched, unlike with net/http's client) and reads one answer. The body
// read error is returned as is, so a test can tell a clean end from an aborted one.
func rawExchange(t *testing.T, addr, request string) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func hostOf(u string) string { return strings.TrimPrefix(u, "http://") }

// seenPaths records the request targets a replica received.
type seenPaths struct {
	mu    sync.Mutex
	paths []string
}

func (s *seenPaths) add(p string) { s.mu.Lock(); s.paths = append(s.paths, p); s.mu.Unlock() }
func (s *seenPaths) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.paths) == 0 {
		return ""
	}
	return s.paths[len(s.paths)-1]
}
func (s *seenPaths) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func TestPathNeverEscapesTheReplicaBasePath(t *testing.T) {
	var seen seenPaths
	rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.RequestURI)
		io.WriteString(w, "ok")
	}))
	defer rep.Close()
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  files: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: files, match: "/files/*", strip_prefix: /files, replica_set: files}
  - {name: other, match: "/other/*", replica_set: files}
`, rep.URL+"/public"))
	for _, tc := range []struct {
		target    string
		want      int
		forwarded string // what the replica must see; "" for nothing
	}{
		{"/files/../private/secret", 404, ""}, // normalised to /private/secret: no route
		{"/files/..%2fprivate%2fsecret", 400, ""},
		{"/files/..%2Fprivate", 400, ""},
		{"/files/%2e%2e/private/secret", 404, ""},
		{"/files/.%2E/private", 404, ""},
		{"/files/a/../../private", 404, ""},
		{"/files/%2e%2e%5cprivate", 400, ""},
		{`/files/..\private`, 400, ""},
		{"/files/a%00b", 400, ""},
		{"/files/..;/private", 400, ""}, // Tomcat, Jetty and Spring read ..; as ..
		{"/files/a/..;jsessionid=x/private", 400, ""},
		{"/files/.;/private", 400, ""},
		{"/files/%2e%2e%3b/private", 400, ""},
		{"/files/a;v=1/b", 200, "/public/a;v=1/b"},
		{"/files/a/./b/../c", 200, "/public/a/c"},
		{"/files//a//b", 200, "/public/a/b"},
		{"/files/a%20b/c%3Fd?x=../y", 200, "/public/a%20b/c%3Fd?x=../y"},
		{"/files/a/b/..", 200, "/public/a/"},
		{"/files/", 200, "/public"},
		{"/other/../files/x", 200, "/public/x"}, // routed as what is forwarded
		{"/other/a/../../../../etc/passwd", 404, ""},
		{"/other/%2e%2e/%2e%2e/etc", 404, ""},
		{"/other/x", 200, "/public/other/x"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			before := len(seen.all())
			resp, body, err := rawExchange(t, hostOf(g.front.URL),
				"GET "+tc.target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
			if tc.forwarded == "" {
				if n := len(seen.all()); n != before {
					t.Errorf("the replica was sent %q", seen.last())
				}
			} else if got := seen.last(); got != tc.forwarded {
				t.Errorf("replica saw %q, want %q", got, tc.forwarded)
			}
		})
	}
	for _, p := range seen.all() {
		if p != "/public" && !strings.HasPrefix(p, "/public/") {
			t.Errorf("replica saw %q, outside its base path /public", p)
		}
	}
}

// firstPart is the start of an answer that is then cut: longer than the engine's
// read-ahead, so the answer has won and is streaming when the cut comes (a shorter
// one is a failed attempt, retried; TestBodyCutBeforeItWonIsAFailedAttempt).
var firstPart = strings.Repeat("first part;", 7000)

// stallingReplica writes the start of a chunked answer and then stalls until the
// request is cancelled.
func stallingReplica(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" { // warm-up
			return
		}
		io.WriteString(w, firstPart)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBodyStalledPastTheDeadlineIsAborted(t *testing.T) {
	rep := stallingReplica(t)
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, timeout: 200ms}
`, rep.URL))
	resp, body, err := rawExchange(t, hostOf(g.front.URL), "GET /kv/a HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp == nil {
		t.Fatalf("no answer head: %v", err)
	}
	if err == nil {
		t.Fatalf("got %d %q with a clean end of stream: a cut body must be aborted", resp.StatusCode, body)
	}
	if string(body) != firstPart {
		t.Errorf("body of %d bytes, want the %d that came", len(body), len(firstPart))
	}
	waitFor(t, func() bool { return testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("kv-get")) == 1 },
		"hedgegate_truncated_responses_total{route=kv-get} = 1")
}

// A body cut before the answer could win (within the engine's read-ahead) is a failed
// attempt: the client gets another replica's whole answer, never the cut one, and
// nothing is counted as truncated.
func TestBodyCutBeforeItWonIsAFailedAttempt(t *testing.T) {
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush() // the headers and half the body go out
		panic(http.ErrAbortHandler)
	}))
	defer cut.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, all")
	}))
	defer good.Close()
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}, {name: r2, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, hedge: {initial_delay: 1s}}
`, cut.URL, good.URL))
	for i := range 20 {
		resp, body, err := rawExchange(t, hostOf(g.front.URL), "GET /kv/a HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
		if err != nil || resp.StatusCode != 200 || string(body) != "hello, all" {
			t.Fatalf("request %d: %v %q %v, want r2's whole answer", i, resp, body, err)
		}
	}
	if n := testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("kv-get")); n != 0 {
		t.Errorf("%v answers counted as truncated, want none: no client saw a cut", n)
	}
}

func TestReplicaResetMidBodyIsAborted(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("rst=%v", reset), func(t *testing.T) {
			rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(firstPart), firstPart)
				buf.Flush()
				if tcp, ok := conn.(*net.TCPConn); ok && reset {
					tcp.SetLinger(0) // close with RST
				}
				conn.Close()
			}))
			defer rep.Close()
			g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, rep.URL))
			resp, body, err := rawExchange(t, hostOf(g.front.URL), "GET /kv/a HTTP/1.1\r\nHost: gw\r\n\r\n")
			if resp == nil {
				t.Fatalf("no answer head: %v", err)
			}
			if err == nil {
				t.Fatalf("got %d %q with a clean end of stream after the replica reset", resp.StatusCode, body)
			}
			waitFor(t, func() bool { return testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("kv-get")) == 1 },
				"hedgegate_truncated_responses_total{route=kv-get} = 1")
		})
	}
}

// A client that stops reading holds its slot until the route deadline plus one
// route timeout (the write budget), and then loses the connection.
func TestClientThatStopsReadingIsCutOffAfterTheWriteBudget(t *testing.T) {
	chunk := strings.Repeat("x", 64<<10)
	rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 1024 { // 64 MiB, far more than socket buffers hold
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer rep.Close()
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv, timeout: 200ms}
`, rep.URL))
	conn, err := net.Dial("tcp", hostOf(g.front.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /kv/a HTTP/1.1\r\nHost: gw\r\n\r\n")
	// Read nothing until the gateway has given up on this answer.
	waitFor(t, func() bool { return testutil.ToFloat64(g.srv.metrics.truncated.WithLabelValues("kv-get")) == 1 },
		"hedgegate_truncated_responses_total{route=kv-get} = 1")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return // cut before the head: aborted, as wanted
	}
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Error("the answer ended cleanly although the gateway cut it off")
	}
}

func TestClientConnectionCloseDoesNotCloseReplicaConnections(t *testing.T) {
	var conns connCounter
	var last struct {
		sync.Mutex
		proto string
		close bool
	}
	rep := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Lock()
		last.proto, last.close = r.Proto, r.Close
		last.Unlock()
		io.WriteString(w, "ok")
	}))
	conns.track(rep)
	rep.Start()
	defer rep.Close()
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 1, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv-get, match: "/kv/{key}", replica_set: kv}
`, rep.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.srv.Warm(ctx)
	opened := conns.opened.Load()
	for i := range 20 {
		request := "GET /kv/a HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
		if i%2 == 1 {
			request = "GET /kv/a HTTP/1.0\r\nHost: gw\r\n\r\n"
		}
		resp, body, err := rawExchange(t, hostOf(g.front.URL), request)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v %q", i, err, resp, body)
		}
		last.Lock()
		proto, closed := last.proto, last.close
		last.Unlock()
		if proto != "HTTP/1.1" || closed {
			t.Fatalf("replica got %s with Connection: close=%v, want HTTP/1.1 keep-alive", proto, closed)
		}
	}
	// One spare may be dialled ahead of need; a connection per request is the bug.
	if n := conns.opened.Load() - opened; n > 2 {
		t.Errorf("20 client requests with Connection: close or HTTP/1.0 opened %d replica connections, want the pooled one reused", n)
	}
}

// waitFor polls cond for at most five seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after 5s: want %s", what)
}

func TestForwardedHeadersAreBelievedOnlyFromTrustedProxies(t *testing.T) {
	sent := http.Header{
		"X-Forwarded-For":   {"10.1.2.3"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Port":  {"443"},
		"Forwarded":         {"for=10.1.2.3;proto=https"},
		"X-Real-Ip":         {"10.1.2.3"},
		// What CGI-style servers read as X-Forwarded-For and X-Real-Ip.
		"X_forwarded_for": {"10.6.6.6"},
		"X_real_ip":       {"10.6.6.6"},
	}
	for _, tc := range []struct {
		name, trusted string
		want          map[string]string // "" means absent
	}{
		{"untrusted peer", "", map[string]string{
			"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw.example",
			"X-Forwarded-Port": "", "Forwarded": "", "X-Real-Ip": "", "X_forwarded_for": "", "X_real_ip": ""}},
		{"peer outside the trusted range", "trusted_proxies: [10.0.0.0/8]\n", map[string]string{
			"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw.example",
			"Forwarded": "", "X_forwarded_for": ""}},
		{"trusted peer", "trusted_proxies: [10.0.0.0/8, 127.0.0.0/8]\n", map[string]string{
			"X-Forwarded-For": "10.1.2.3, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
			"X-Forwarded-Port": "443", "Forwarded": "for=10.1.2.3;proto=https", "X-Real-Ip": "10.1.2.3",
			"X_forwarded_for": "10.6.6.6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r1 := newReplica(t, "r1", nil)
			g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, tc.trusted))
			req, _ := http.NewRequest("GET", g.front.URL+"/kv/a", nil)
			req.Host = "gw.example"
			for k, v := range sent {
				req.Header[k] = v
			}
			resp, err := g.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := r1.lastReq.Load().Header
			for k, want := range tc.want {
				if v := strings.Join(got.Values(k), ", "); v != want {
					t.Errorf("replica got %s %q, want %q", k, v, want)
				}
			}
		})
	}
}

func TestTrustedProxiesMustBeCIDRsOrAddresses(t *testing.T) {
	_, err := config.Parse([]byte(gatewayYAML([]string{"http://127.0.0.1:1"}, "trusted_proxies: [10.0.0.0/8, 10.0.0.1, lb.internal]\n")), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[2]") || strings.Contains(err.Error(), "trusted_proxies[1]") {
		t.Fatalf("got %v, want one problem naming trusted_proxies[2]", err)
	}
}

// The fast path must agree with the full rule on every path it lets through.
func TestAlreadyCleanAgreesWithTheRule(t *testing.T) {
	for _, p := range []string{"/", "/kv/a", "/a/b/", "/a b/c", "/a%b", "/a.b/.c", "//a", "/a/./b", "/a/../b",
		"/a\\b", "/a\x00b", "/.", "/..", "/a/.", "kv", ""} {
		u := &url.URL{Path: p}
		want := *u
		full := normalizeFull(&want)
		if alreadyClean(p) && (full != nil || want.Path != p || want.RawPath != "") {
			t.Errorf("alreadyClean(%q) but the rule gives %q (%v)", p, want.Path, full)
		}
	}
}

// The X-Forwarded-For text taken from RemoteAddr is the address's own text.
func TestPeerTextIsTheAddressText(t *testing.T) {
	for _, remote := range []string{"127.0.0.1:5000", "10.1.2.3:1", "[::ffff:10.1.2.3]:80", "[::1]:9",
		"[fe80::1%eth0]:80", "[2001:db8::1]:443", "255.255.255.255:65535"} {
		peer, ok := peerAddr(remote)
		if !ok {
			t.Fatalf("%s: not an address", remote)
		}
		if got, want := peerText(remote, peer), peer.String(); got != want {
			t.Errorf("peerText(%s) = %q, want %q", remote, got, want)
		}
	}
}

// TestChunkedRequestClosesTheConnection: a request with Content-Length beside
// Transfer-Encoding: chunked is framed by its chunks (net/http drops the length), so
// a front proxy that framed it by the length and the gateway disagree on where it
// ends. The gateway answers it and closes the connection (RFC 9112 §6.1): the bytes
// after the last chunk are never served as a second request. Before, both were
// answered on one connection and the second reached a replica.
func TestChunkedRequestClosesTheConnection(t *testing.T) {
	var seen seenPaths
	rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Method + " " + r.URL.Path)
		io.Copy(io.Discard, r.Body)
	}))
	defer rep.Close()
	g := newGateway(t, fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
routes:
  - {name: kv, match: "/kv/{key}", methods: [GET, POST], replica_set: kv, timeout: 1s}
`, rep.URL))
	smuggled := "GET /kv/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, c := range []struct{ name, head string }{
		{"CL+TE", "POST /kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"TE alone", "POST /kv/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := "0\r\n\r\n" + smuggled
			head := c.head
			if strings.Contains(head, "%d") {
				head = fmt.Sprintf(head, len(body))
			}
			before := len(seen.all())
			conn, err := net.Dial("tcp", hostOf(g.front.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, head+body); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !resp.Close {
				t.Errorf("first answer %d, close %v; want 200 and the connection closed", resp.StatusCode, resp.Close)
			}
			if second, err := http.ReadResponse(br, nil); err == nil {
				second.Body.Close()
				t.Errorf("a second answer (%d) on the same connection: the bytes after the last chunk were served", second.StatusCode)
			}
			for _, p := range seen.all()[before:] {
				if strings.Contains(p, "SMUGGLED") {
					t.Errorf("the replica received %q", p)
				}
			}
		})
	}
}
