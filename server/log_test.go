package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// loggedGateway is newGateway with the logger serve builds, writing to a buffer.
type loggedGateway struct {
	*gateway
	out  *lockedBuffer
	path string // the config file
}

func newLoggedGateway(t *testing.T, yaml string) *loggedGateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(path, []byte(yaml), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	out := new(lockedBuffer)
	log, level := NewLogger(out, cfg.Log)
	s, err := New(cfg, Options{Logger: log, LogLevel: level})
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
	return &loggedGateway{gateway: g, out: out, path: path}
}

// lines are the JSON log lines whose msg is msg, once every request the client saw
// answered has also finished its access line (written after the answer went out).
func (g *loggedGateway) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	waitFor(t, func() bool { return g.srv.state.Load().active.Load() == 0 }, "no request being served")
	g.out.mu.Lock()
	data := append([]byte(nil), g.out.b.Bytes()...)
	g.out.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func accessYAML(urls []string, access string) string {
	return gatewayYAML(urls, "log: {access: "+access+"}\n")
}

func TestAccessLogLinesSayWhatHappened(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	g := newLoggedGateway(t, accessYAML([]string{r1.srv.URL}, "{enabled: true}"))
	long := "/kv/" + strings.Repeat("é", 400)
	for _, req := range []struct{ method, path string }{
		{"GET", "/kv/a"}, {"GET", "/nowhere"}, {"DELETE", "/kv/a"}, {"GET", long},
	} {
		g.do(t, req.method, req.path, nil, nil)
	}
	lines := g.lines(t, "access")
	if len(lines) != 4 {
		t.Fatalf("%d access lines, want 4:\n%s", len(lines), g.out.b.String())
	}
	ok := lines[0]
	want := map[string]any{"level": "INFO", "route": "kv-get", "method": "GET", "path": "/kv/a", "proto": "HTTP/1.1",
		"status": 200.0, "attempts": 1.0, "replica": "r1", "bytes": 8.0, "truncated": false}
	for k, v := range want {
		if ok[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, ok[k], v, ok)
		}
	}
	if c, _ := ok["client"].(string); !strings.HasPrefix(c, "127.0.0.1:") {
		t.Errorf("client %v, want the peer's address", ok["client"])
	}
	if d, _ := ok["duration_ms"].(float64); d <= 0 {
		t.Errorf("duration_ms %v", ok["duration_ms"])
	}
	if l := lines[1]; l["route"] != "" || l["status"] != 404.0 || l["attempts"] != 0.0 || l["bytes"].(float64) == 0 {
		t.Errorf("no route: %v, want route \"\", 404, no attempt, the error body's bytes", l)
	}
	if l := lines[2]; l["route"] != "kv-get" || l["status"] != 405.0 || l["method"] != "DELETE" {
		t.Errorf("405: %v", l)
	}
	if p, _ := lines[3]["path"].(string); len(p) > maxLoggedPath+len("…") || !strings.HasSuffix(p, "…") || !json.Valid([]byte(`"`+p+`"`)) {
		t.Errorf("a %d-byte path was logged as %d bytes: %q", len(long), len(p), p)
	}
}

func TestAccessLogCountsAttemptsOfFailuresAndCuts(t *testing.T) {
	hang := newReplica(t, "h1", func(r *replica) { r.hangs = true })
	stall := stallingReplica(t)
	g := newLoggedGateway(t, fmt.Sprintf(`log: {access: {enabled: true}}
replica_sets:
  hang: {warm_connections: 0, replicas: [{name: h1, url: %q}]}
  stall: {warm_connections: 0, replicas: [{name: s1, url: %q}]}
routes:
  - {name: hang, match: "/hang/{key}", replica_set: hang, timeout: 100ms, hedge: {max_attempts: 1}}
  - {name: stall, match: "/stall/{key}", replica_set: stall, timeout: 100ms, hedge: {max_attempts: 1}}
`, hang.srv.URL, stall.URL))
	g.do(t, "GET", "/hang/a", nil, nil)
	resp, err := g.front.Client().Get(g.front.URL + "/stall/a")
	if err == nil {
		io.Copy(io.Discard, resp.Body) // all that came, until the deadline cuts it
		resp.Body.Close()
	}
	waitFor(t, func() bool { return len(g.lines(t, "access")) == 2 }, "two access lines")
	lines := g.lines(t, "access")
	if l := lines[0]; l["status"] != 504.0 || l["attempts"] != 1.0 || l["replica"] != "" {
		t.Errorf("504: %v, want one attempt and no replica served", l)
	}
	if l := lines[1]; l["status"] != 200.0 || l["truncated"] != true || l["replica"] != "s1" || l["bytes"] != float64(len(firstPart)) {
		t.Errorf("cut answer: %v, want 200, truncated, s1, the bytes that went out", l)
	}
}

// The sample decides for answers below 500 and for shed 503s; every other 5xx is
// logged whatever it says.
func TestAccessLogSampling(t *testing.T) {
	ok := newReplica(t, "r1", nil)
	down := newReplica(t, "r2", func(r *replica) { r.status = http.StatusServiceUnavailable })
	hang := newReplica(t, "h1", func(r *replica) { r.hangs = true })
	g := newLoggedGateway(t, fmt.Sprintf(`limits: {max_inflight: 1}
log: {access: {enabled: true, sample: 0.25}}
replica_sets:
  ok: {warm_connections: 0, replicas: [{name: r1, url: %q}]}
  down: {warm_connections: 0, replicas: [{name: r2, url: %q}]}
  hang: {warm_connections: 0, replicas: [{name: h1, url: %q}]}
routes:
  - {name: ok, match: "/ok/{key}", replica_set: ok}
  - {name: down, match: "/down/{key}", replica_set: down}
  - {name: hang, match: "/hang/{key}", replica_set: hang, timeout: 10s}
`, ok.srv.URL, down.srv.URL, hang.srv.URL))
	draws := []float64{0.1, 0.9, 0.24, 0.25, 0.99}
	g.srv.sample = func() float64 { d := draws[0]; draws = append(draws[1:], d); return d }
	for range len(draws) {
		g.do(t, "GET", "/ok/a", nil, nil)
	}
	if n := len(g.lines(t, "access")); n != 2 {
		t.Errorf("5 answers drawn 0.1, 0.9, 0.24, 0.25, 0.99 at sample 0.25 logged %d lines, want 2", n)
	}
	g.srv.sample = func() float64 { return 0.99 } // never in the sample from here
	g.do(t, "GET", "/down/a", nil, nil)
	held := make(chan struct{})
	go func() { defer close(held); g.do(t, "GET", "/hang/held", nil, nil) }()
	waitFor(t, func() bool { return hang.calls.Load() > 0 }, "the held request")
	shed, _ := g.do(t, "GET", "/ok/b", nil, nil)
	close(hang.released)
	<-held
	lines := g.lines(t, "access")
	var statuses []float64
	for _, l := range lines[2:] {
		statuses = append(statuses, l["status"].(float64))
	}
	// The 503 passed through from r2 is logged; the shed 503 is not; the held
	// request ends 200 and is out of the sample.
	if shed.StatusCode != 503 || len(statuses) != 1 || statuses[0] != 503 || lines[2]["route"] != "down" {
		t.Errorf("after the 5xx, the shed 503 and the held 200: statuses %v logged, want only the replica's 503", statuses)
	}
}

// Level and access settings follow reloads; the access log is switched by its own
// key, not by log.level.
func TestLogSettingsFollowReloads(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	urls := []string{r1.srv.URL}
	g := newLoggedGateway(t, gatewayYAML(urls, ""))
	g.do(t, "GET", "/kv/a", nil, nil)
	if n := len(g.lines(t, "access")); n != 0 {
		t.Fatalf("%d access lines with the access log off (the default)", n)
	}
	reload := func(extra string) {
		t.Helper()
		os.WriteFile(g.path, []byte(gatewayYAML(urls, extra)), 0o600)
		if err := g.srv.Reload(g.path); err != nil {
			t.Fatal(err)
		}
	}
	reload("log: {level: warn, access: {enabled: true}}\n")
	g.do(t, "GET", "/kv/a", nil, nil)
	if n := len(g.lines(t, "access")); n != 1 {
		t.Errorf("%d access lines at level warn with the access log on, want 1", n)
	}
	reloaded := len(g.lines(t, "config reloaded"))
	reload("log: {level: warn, access: {enabled: false}}\n")
	g.do(t, "GET", "/kv/a", nil, nil)
	if n := len(g.lines(t, "access")); n != 1 {
		t.Errorf("the access log still writes after a reload turned it off (%d lines)", n)
	}
	if n := len(g.lines(t, "config reloaded")); n != reloaded {
		t.Errorf("an info line was written at level warn")
	}
	reload("log: {level: debug}\n")
	if n := len(g.lines(t, "config reloaded")); n != reloaded+1 {
		t.Errorf("no info line after the level went back down to debug")
	}
}

func TestNewLoggerFormats(t *testing.T) {
	var b bytes.Buffer
	log, _ := NewLogger(&b, config.Log{Level: "debug", Format: "text"})
	log.Debug("hello", "k", "v")
	if got := b.String(); !strings.Contains(got, "level=DEBUG msg=hello k=v") {
		t.Errorf("text: %q", got)
	}
	b.Reset()
	log, level := NewLogger(&b, config.Log{Level: "error", Format: "json"})
	log.Warn("hidden")
	log.Error("shown")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown"`) {
		t.Errorf("json at error: %q", got)
	}
	if level.Level() != slog.LevelError {
		t.Errorf("level %v", level.Level())
	}
}

func TestClientAddrBelievesOnlyTrustedHops(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer", "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1:5000"},
		{"trusted peer, no header", "10.0.0.1:5000", nil, "10.0.0.1:5000"},
		{"trusted peer", "10.0.0.1:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"forged hops left of the last untrusted", "10.0.0.1:5000", []string{"1.2.3.4, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"several headers", "10.0.0.1:5000", []string{"1.2.3.4", "198.51.100.7", "10.9.9.9"}, "198.51.100.7"},
		{"all trusted", "10.0.0.1:5000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage hop", "10.0.0.1:5000", []string{"198.51.100.7, <script>"}, "10.0.0.1:5000"},
		{"mapped", "[::ffff:10.0.0.1]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{"X-Forwarded-For": tc.xff}}
		if got := clientAddr(r, trusted); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBoundedCutsOnACharacter(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 3, "abc"}, {"abcd", 3, "abc…"}, {"aéé", 2, "a…"}, {"aéé", 3, "aé…"}} {
		if got := bounded(tc.s, tc.n); got != tc.want {
			t.Errorf("bounded(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// net/http's error lines: failed TLS handshakes (one per scanner or TCP check) at
// debug, the rest at warn.
func TestServerErrorLogLevels(t *testing.T) {
	var b bytes.Buffer
	l := serverErrorLog(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Print("http: TLS handshake error from 127.0.0.1:5000: EOF")
	l.Print("http: Accept error: too many open files; retrying in 5ms")
	got := b.String()
	if !strings.Contains(got, `level=DEBUG msg="http: TLS handshake error from 127.0.0.1:5000: EOF"`) ||
		!strings.Contains(got, `level=WARN msg="http: Accept error`) {
		t.Errorf("got:\n%s", got)
	}
}
