package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hedgegate/hedgegate/config"
)

// replica is a loopback backend that records what it was sent.
type replica struct {
	srv      *httptest.Server
	calls    atomic.Int64
	lastReq  atomic.Pointer[http.Request]
	delay    time.Duration
	status   int
	hangs    bool
	released chan struct{}
}

func newReplica(t testing.TB, name string, configure func(*replica)) *replica {
	t.Helper()
	r := &replica{status: http.StatusOK, released: make(chan struct{})}
	if configure != nil {
		configure(r)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		r.lastReq.Store(req.Clone(context.Background()))
		if r.hangs {
			select {
			case <-req.Context().Done():
			case <-r.released:
			}
			return
		}
		if r.delay > 0 {
			select {
			case <-req.Context().Done():
				return
			case <-time.After(r.delay):
			}
		}
		w.Header().Set("X-Version", "7")
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.WriteHeader(r.status)
		fmt.Fprintf(w, "%s:%s", name, req.URL.Path)
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() {
		select {
		case <-r.released:
		default:
			close(r.released)
		}
	})
	return r
}

// gatewayYAML fronts the given replicas with routes tests share.
func gatewayYAML(urls []string, extra string) string {
	var sb strings.Builder
	sb.WriteString("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:1\n")
	sb.WriteString(extra)
	sb.WriteString("replica_sets:\n  kv:\n    warm_connections: 1\n    replicas:\n")
	for i, u := range urls {
		fmt.Fprintf(&sb, "      - {name: r%d, url: %q}\n", i+1, u)
	}
	sb.WriteString(`routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    hedge: {initial_delay: 5ms}
  - name: search
    match: /api/search/*
    methods: [GET, POST]
    strip_prefix: /api
    replica_set: kv
    timeout: 300ms
`)
	return sb.String()
}

type gateway struct {
	srv   *Server
	front *httptest.Server
	admin *httptest.Server
}

func newGateway(t testing.TB, yaml string) *gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{srv: s, front: httptest.NewServer(s.Handler()), admin: httptest.NewServer(s.AdminHandler())}
	t.Cleanup(func() {
		g.front.Close()
		g.admin.Close()
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	})
	return g
}

func (g *gateway) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.front.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range header {
		req.Header[k] = vv
	}
	resp, err := g.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func decodeError(t *testing.T, body string) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	return e
}

func TestProxiesAReadWithCleanHeaders(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	// The test client is the trusted proxy, so its X-Forwarded-For is extended.
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "trusted_proxies: [127.0.0.1]\n"))
	resp, body := g.do(t, "GET", "/kv/k1?x=1", nil, http.Header{
		"Connection":      {"X-Drop-Me"},
		"X-Drop-Me":       {"1"},
		"X-Keep":          {"yes"},
		"X-Forwarded-For": {"10.1.2.3"},
	})
	if resp.StatusCode != 200 || body != "r1:/kv/k1" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Version") != "7" || resp.Header.Get(ReplicaHeader) != "r1" || resp.Header.Get(AttemptsHeader) != "1" {
		t.Errorf("response headers %v: want the replica's X-Version and %s", resp.Header, ReplicaHeader)
	}
	if resp.Header.Get("X-Secret") != "" {
		t.Error("a header the replica named in Connection was passed to the client")
	}
	got := r1.lastReq.Load()
	if got.Header.Get("X-Drop-Me") != "" || got.Header.Get("X-Keep") != "yes" {
		t.Errorf("replica got headers %v: want hop-by-hop dropped, others kept", got.Header)
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "10.1.2.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client appended", xff)
	}
	if got.URL.RawQuery != "x=1" {
		t.Errorf("query %q lost", got.URL.RawQuery)
	}
}

// A replica closing its connection says so in the same Connection header that names
// its hop-by-hop headers; net/http's parser deletes that header, and with it the only
// record of which headers were the connection's.
func TestHeadersAClosingAnswerNamesHopByHopStayBehind(t *testing.T) {
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "X-Secret, close")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("X-Version", "7")
		io.WriteString(w, "ok")
	}))
	t.Cleanup(replica.Close)
	g := newGateway(t, gatewayYAML([]string{replica.URL}, ""))
	for range 2 {
		resp, body := g.do(t, "GET", "/kv/k1", nil, nil)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Secret") != "" || resp.Header.Get("X-Version") != "7" {
			t.Errorf("client got %v: want X-Version and no X-Secret", resp.Header)
		}
	}
}

func TestStripPrefixAndPostReads(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	resp, body := g.do(t, "POST", "/api/search/q", strings.NewReader(`{"q":1}`), nil)
	if resp.StatusCode != 200 || body != "r1:/search/q" {
		t.Fatalf("got %d %q, want the path without /api", resp.StatusCode, body)
	}
}

func TestClientErrors(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "limits: {max_request_body_bytes: 16}\n"))
	for _, tc := range []struct {
		name, method, path string
		body               string
		header             http.Header
		want               int
		wantInError        string
	}{
		{"write method", "DELETE", "/kv/a", "", nil, 405, "not a read"},
		{"body too large", "POST", "/api/search/x", strings.Repeat("x", 17), nil, 413, "max_request_body_bytes"},
		{"bad request timeout", "GET", "/kv/a", "", http.Header{RequestTimeoutHeader: {"soon"}}, 400, RequestTimeoutHeader},
		{"no route", "GET", "/nowhere", "", nil, 404, "no route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			before := r1.calls.Load()
			resp, got := g.do(t, tc.method, tc.path, body, tc.header)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.want, got)
			}
			if e := decodeError(t, got); !strings.Contains(e.Error, tc.wantInError) {
				t.Errorf("error %q, want it to mention %q", e.Error, tc.wantInError)
			}
			if r1.calls.Load() != before {
				t.Error("a refused request reached a replica")
			}
		})
	}
	resp, _ := g.do(t, "DELETE", "/kv/a", nil, nil)
	if resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}
}

func TestRequestTimeoutHeaderShortensTheDeadline(t *testing.T) {
	r1 := newReplica(t, "r1", func(r *replica) { r.hangs = true })
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	resp, body := g.do(t, "GET", "/kv/a", nil, http.Header{RequestTimeoutHeader: {"30ms"}})
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	e := decodeError(t, body)
	if e.Route != "kv-get" || len(e.Attempts) == 0 || e.Attempts[0].Replica != "r1" {
		t.Errorf("error body %+v: want the route and the attempt to r1", e)
	}
	// A longer client timeout cannot lengthen the route's 300ms.
	resp, _ = g.do(t, "GET", "/api/search/x", nil, http.Header{RequestTimeoutHeader: {"1h"}})
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504 at the route timeout", resp.StatusCode)
	}
}

func TestShedsPastMaxInflight(t *testing.T) {
	r1 := newReplica(t, "r1", func(r *replica) { r.hangs = true })
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "limits: {max_inflight: 1}\n"))
	done := make(chan int, 1)
	go func() {
		resp, _ := g.do(t, "GET", "/api/search/slow", nil, nil)
		done <- resp.StatusCode
	}()
	for i := 0; r1.calls.Load() == 0 && i < 500; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	resp, body := g.do(t, "GET", "/kv/a", nil, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q, want 503 with Retry-After", resp.StatusCode, body)
	}
	if n := testutil.ToFloat64(g.srv.metrics.shed); n != 1 {
		t.Errorf("hedgegate_shed_total = %v", n)
	}
	close(r1.released)
	<-done
}

func TestMetricsCountRequestsAndAttempts(t *testing.T) {
	r1 := newReplica(t, "r1", func(r *replica) { r.hangs = true })
	r2 := newReplica(t, "r2", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL, r2.srv.URL}, ""))
	// Pin r1 as everyone's first choice by giving r2 an awful recent record? No: the
	// picker is random, so count totals instead of per-replica values.
	for range 5 {
		if resp, body := g.do(t, "GET", "/kv/a", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	// The answer is flushed before the handler cancels the hung attempt and records the
	// request, so the last request's counts may land just after the client has it.
	var text []byte
	for i := 0; i < 200; i++ {
		resp, err := http.Get(g.admin.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(text), `hedgegate_inflight_requests 0`) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		`hedgegate_requests_total{code="200",route="kv-get"} 5`,
		`hedgegate_request_duration_seconds_count{route="kv-get"} 5`,
		`hedgegate_replica_latency_seconds{quantile="0.99",replica="r2"}`,
		`hedgegate_hedge_delay_seconds{replica="r1",route="kv-get"}`,
		`hedgegate_inflight_requests 0`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	primaries := testutil.ToFloat64(g.srv.metrics.backend.WithLabelValues("kv-get", "r1", "primary")) +
		testutil.ToFloat64(g.srv.metrics.backend.WithLabelValues("kv-get", "r2", "primary"))
	hedges := testutil.ToFloat64(g.srv.metrics.backend.WithLabelValues("kv-get", "r2", "hedge"))
	wins := testutil.ToFloat64(g.srv.metrics.hedgeWins.WithLabelValues("kv-get"))
	if primaries != 5 || hedges != wins {
		t.Errorf("primaries=%v hedges to r2=%v wins=%v: every hedge to r2 must win (r1 hangs)", primaries, hedges, wins)
	}
}

func TestReadyzWaitsForWarmConnections(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	get := func(path string) int {
		resp, err := http.Get(g.admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/readyz"); code != 503 {
		t.Errorf("/readyz before warm-up = %d, want 503", code)
	}
	if code := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.srv.Warm(ctx)
	if code := get("/readyz"); code != 200 {
		t.Errorf("/readyz after warm-up = %d, want 200", code)
	}
}

func TestDebugEndpoints(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	g.do(t, "GET", "/kv/a", nil, nil)
	resp, err := http.Get(g.admin.URL + "/debug/replicas")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		ReplicaSets []struct {
			Name     string           `json:"name"`
			Replicas []map[string]any `json:"replicas"`
		} `json:"replica_sets"`
	}
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if len(rep.ReplicaSets) != 1 || len(rep.ReplicaSets[0].Replicas) != 1 {
		t.Fatalf("/debug/replicas = %+v", rep)
	}
	r := rep.ReplicaSets[0].Replicas[0]
	for _, key := range []string{"name", "inflight", "error_rate", "p50_ms", "p999_ms", "hedge_delay_ms", "hedge_percentile", "attempt_timeout_ms"} {
		if _, ok := r[key]; !ok {
			t.Errorf("/debug/replicas replica lacks %q: %v", key, r)
		}
	}
	if d := r["hedge_delay_ms"].(map[string]any)["kv-get"]; d != 5.0 {
		t.Errorf("hedge delay for kv-get = %v, want initial_delay 5ms", d)
	}
	if p := r["hedge_percentile"].(map[string]any)["kv-get"]; p != 95.0 {
		t.Errorf("hedge percentile for kv-get = %v, want the default 95", p)
	}
	resp, err = http.Get(g.admin.URL + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"kv-get"`) {
		t.Errorf("/debug/config = %s", b)
	}
}

func TestServeDrainsInFlightOnShutdown(t *testing.T) {
	r1 := newReplica(t, "r1", func(r *replica) { r.delay = 200 * time.Millisecond })
	cfg, err := config.Parse([]byte(gatewayYAML([]string{r1.srv.URL}, "")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, adminLn) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/kv/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	// Not r1.calls: the warm-up, started by Serve, counts there too.
	for i := 0; !inFlightAt(r1, "/kv/slow") && i < 500; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	stop() // SIGTERM, in effect, while the request is in flight
	if res := <-got; res != "200 r1:/kv/slow" {
		t.Errorf("in-flight request got %q, want it drained to completion", res)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// inFlightAt reports whether the last request r got was for path.
func inFlightAt(r *replica, path string) bool {
	last := r.lastReq.Load()
	return last != nil && last.URL.Path == path
}

func TestReloadSwapsValidConfigAndKeepsOnBadOne(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	base := gatewayYAML([]string{r1.srv.URL}, "")
	os.WriteFile(path, []byte(base), 0o600)
	g := newGateway(t, base)

	os.WriteFile(path, []byte(strings.Replace(base, "match: /kv/{key}", "match: /v2/kv/{key}", 1)), 0o600)
	if err := g.srv.Reload(path); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.do(t, "GET", "/v2/kv/a", nil, nil); resp.StatusCode != 200 {
		t.Errorf("new route: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "GET", "/kv/a", nil, nil); resp.StatusCode != 404 {
		t.Errorf("old route still served: %d", resp.StatusCode)
	}

	os.WriteFile(path, []byte(strings.Replace(base, "initial_delay: 5ms", "initial_delay: 5ms, percentile: 150", 1)), 0o600)
	err := g.srv.Reload(path)
	var problems config.Problems
	if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Path != "routes[0].hedge.percentile" {
		t.Fatalf("bad reload: %v, want config.Problems naming routes[0].hedge.percentile", err)
	}
	if resp, _ := g.do(t, "GET", "/v2/kv/a", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after a refused reload the running config must stay: %d", resp.StatusCode)
	}
	if v := testutil.ToFloat64(g.srv.metrics.reloadError); v != 1 {
		t.Errorf("last reload error gauge = %v", v)
	}
}

func TestRoutesSharingAPatternSplitByMethod(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	r2 := newReplica(t, "r2", nil)
	yaml := fmt.Sprintf(`replica_sets:
  a: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
  b: {warm_connections: 0, replicas: [{name: r2, url: %q}]}
routes:
  - {name: reads, match: "/kv/{key}", methods: [GET], replica_set: a}
  - {name: queries, match: "/kv/{key}", methods: [POST], replica_set: b}
`, r1.srv.URL, r2.srv.URL)
	g := newGateway(t, yaml)
	if resp, body := g.do(t, "GET", "/kv/x", nil, nil); resp.StatusCode != 200 || body != "r1:/kv/x" {
		t.Errorf("GET: %d %q, want the GET route's replica", resp.StatusCode, body)
	}
	if resp, body := g.do(t, "POST", "/kv/x", strings.NewReader("q"), nil); resp.StatusCode != 200 || body != "r2:/kv/x" {
		t.Errorf("POST: %d %q, want the POST route's replica", resp.StatusCode, body)
	}
	resp, _ := g.do(t, "PUT", "/kv/x", nil, nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d Allow %q, want 405 with both routes' methods", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestSlowClientBodyGets408AtTheDeadline(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, ""))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Declares 10 bytes, sends 2, then nothing: the route's 300ms deadline must end it.
	fmt.Fprint(conn, "POST /api/search/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nab")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if r1.calls.Load() != 0 {
		t.Error("an incomplete body reached a replica")
	}
}

func TestHeadOnABodyVersionedQuorumRoute(t *testing.T) {
	// Three replicas with identical answers ("same:/kv/x"), a quorum on the body hash.
	var urls []string
	var reps []*replica
	for range 3 {
		r := newReplica(t, "same", nil)
		reps = append(reps, r)
		urls = append(urls, r.srv.URL)
	}
	yaml := fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 0, replicas: [{name: r1, url: %q}, {name: r2, url: %q}, {name: r3, url: %q}]}
routes:
  - {name: q, match: "/kv/{key}", replica_set: kv, strategy: quorum, quorum: {read: 2}}
`, urls[0], urls[1], urls[2])
	g := newGateway(t, yaml)
	resp, body := g.do(t, "HEAD", "/kv/x", nil, nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Length") != "10" {
		t.Fatalf("HEAD: %d %q Content-Length %q, want 200, no body, the GET body's length 10",
			resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	for _, r := range reps {
		if m := r.lastReq.Load(); m != nil && m.Method != http.MethodGet {
			t.Errorf("a replica got %s: HEAD must go out as GET so the version can be read", m.Method)
		}
	}
}

func TestHeadersOverTheLimitGet431JSON(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newGateway(t, gatewayYAML([]string{r1.srv.URL}, "limits: {max_header_bytes: 2048}\n"))
	resp, body := g.do(t, "GET", "/kv/a", nil, http.Header{"X-Big": {strings.Repeat("x", 2100)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431 (net/http alone would allow 4 KiB more)", resp.StatusCode)
	}
	if e := decodeError(t, body); !strings.Contains(e.Error, "max_header_bytes") {
		t.Errorf("error %q", e.Error)
	}
	if resp, _ := g.do(t, "GET", "/kv/a", nil, http.Header{"X-Small": {strings.Repeat("x", 1500)}}); resp.StatusCode != 200 {
		t.Errorf("headers under the limit: %d", resp.StatusCode)
	}
	if r1.calls.Load() != 1 {
		t.Errorf("replica calls %d, want only the request under the limit", r1.calls.Load())
	}
}
