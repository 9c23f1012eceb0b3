package replicas

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

func setConfig(warm int, urls ...string) *config.ReplicaSet {
	cfg := &config.ReplicaSet{ConnectTimeout: config.Duration(time.Second), WarmConnections: warm}
	for i, u := range urls {
		cfg.Replicas = append(cfg.Replicas, config.Replica{Name: "r" + string(rune('1'+i)), URL: u})
	}
	return cfg
}

func TestNewSet(t *testing.T) {
	cfg := setConfig(2, "http://127.0.0.1:9101", "https://127.0.0.1:9102/base")
	s, err := NewSet("kv", cfg, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Name != "kv" || len(s.Replicas) != 2 {
		t.Fatalf("set = %q with %d replicas", s.Name, len(s.Replicas))
	}
	r2 := s.Replica("r2")
	if r2 == nil || r2.Set != "kv" || r2.URL.Path != "/base" || r2.URL.Scheme != "https" {
		t.Fatalf("Replica(r2) = %+v", r2)
	}
	if s.Replica("nope") != nil {
		t.Error("Replica(nope) != nil")
	}
	if s.Ready() {
		t.Error("Ready before Warm")
	}
}

func TestNewSetErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.ReplicaSet
		want string
	}{
		{"nil config", nil, "no config"},
		{"no replicas", &config.ReplicaSet{}, "no replicas"},
		{"negative warm", setConfig(-1, "http://127.0.0.1:1"), "warm_connections"},
		{"bad url", setConfig(0, "http://[::1"), `replica "r1": url`},
		{"relative url", setConfig(0, "/just/a/path"), `replica "r1": url "/just/a/path": scheme`},
		{"ftp", setConfig(0, "ftp://127.0.0.1"), "scheme must be http or https"},
		{"no host", setConfig(0, "http:///x"), "no host"},
		{"duplicate", &config.ReplicaSet{Replicas: []config.Replica{
			{Name: "a", URL: "http://127.0.0.1:1"}, {Name: "a", URL: "http://127.0.0.1:2"}}}, `replica "a": duplicate`},
		{"empty name", &config.ReplicaSet{Replicas: []config.Replica{{URL: "http://127.0.0.1:1"}}}, "replicas[0]: name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSet("kv", tt.cfg, config.Latency{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), `replica set "kv"`) {
				t.Errorf("err = %v, want it to name the set", err)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	cfg := setConfig(40, "http://127.0.0.1:1")
	cfg.ConnectTimeout = config.Duration(150 * time.Millisecond)
	s, err := NewSet("kv", cfg, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	own := s.Replicas[0].transport
	if own.h1 == nil || own.std != nil || own.h1.maxIdle != maxIdlePerHost || own.h1.idleTimeout != 90*time.Second {
		t.Errorf("an http replica's pool = %+v, want hedgegate's client keeping %d idle for 90s", own, maxIdlePerHost)
	}

	// net/http's Transport, when asked for, as it was before hedgegate had its own.
	cfg.Client = config.ClientNetHTTP
	s1, err := NewSet("kv", cfg, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	tr := s1.Replicas[0].transport.std
	if tr == nil || tr.MaxIdleConnsPerHost != maxIdlePerHost || tr.MaxConnsPerHost != 0 || tr.IdleConnTimeout != 90*time.Second ||
		tr.ForceAttemptHTTP2 || !tr.DisableCompression || tr.ResponseHeaderTimeout != 0 ||
		tr.TLSHandshakeTimeout != 150*time.Millisecond || tr.Proxy != nil || tr.DialContext == nil ||
		!tr.Protocols.HTTP1() || tr.Protocols.HTTP2() || tr.Protocols.UnencryptedHTTP2() {
		t.Errorf("transport = %+v", tr)
	}

	// The idle ceiling never closes warm connections.
	for _, client := range []string{config.ClientAuto, config.ClientNetHTTP} {
		cfg.Client, cfg.WarmConnections = client, maxIdlePerHost+1
		s2, err := NewSet("kv", cfg, config.Latency{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		p := s2.Replicas[0].transport
		got := 0
		if p.h1 != nil {
			got = p.h1.maxIdle
		} else {
			got = p.std.MaxIdleConnsPerHost
		}
		if got != maxIdlePerHost+1 {
			t.Errorf("client %s: idle ceiling %d, want warm_connections %d", client, got, maxIdlePerHost+1)
		}
	}
}

// Each protocol gets the client that speaks it; a client or protocol that cannot
// reach a replica's scheme is refused when the set is built, not at the first request.
func TestPoolProtocols(t *testing.T) {
	for _, tc := range []struct {
		url, protocol, client string
		own                   bool
		h1, h2, h2c           bool // what net/http's Transport speaks
		err                   string
	}{
		{url: "http://127.0.0.1:1", own: true},
		{url: "http://127.0.0.1:1", protocol: "http1", client: "hedgegate", own: true},
		{url: "http://127.0.0.1:1", client: "net/http", h1: true},
		{url: "https://127.0.0.1:1", h1: true},
		{url: "http://127.0.0.1:1", protocol: "h2c", h2c: true},
		{url: "https://127.0.0.1:1", protocol: "h2", h2: true},
		{url: "https://127.0.0.1:1", protocol: "h2c", err: "h2c is HTTP/2 without TLS"},
		{url: "http://127.0.0.1:1", protocol: "h2", err: "ALPN over TLS"},
		{url: "https://127.0.0.1:1", client: "hedgegate", err: "no TLS"},
		{url: "http://127.0.0.1:1", protocol: "h2c", client: "hedgegate", err: "HTTP/1.1 only"},
		{url: "http://127.0.0.1:1", protocol: "http2", err: `unknown protocol "http2"`},
		{url: "http://127.0.0.1:1", client: "curl", err: `unknown client "curl"`},
	} {
		cfg := setConfig(0, tc.url)
		cfg.Protocol, cfg.Client = tc.protocol, tc.client
		s, err := NewSet("kv", cfg, config.Latency{}, nil)
		name := tc.url + " " + tc.protocol + " " + tc.client
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		p := s.Replicas[0].transport
		switch {
		case tc.own && p.h1 == nil:
			t.Errorf("%s: not hedgegate's client", name)
		case !tc.own && (p.std == nil || p.std.Protocols.HTTP1() != tc.h1 || p.std.Protocols.HTTP2() != tc.h2 ||
			p.std.Protocols.UnencryptedHTTP2() != tc.h2c):
			t.Errorf("%s: transport speaks %v, want http1 %v h2 %v h2c %v", name, p.std.Protocols, tc.h1, tc.h2, tc.h2c)
		}
		// Spares only where a cancelled attempt closes its connection: HTTP/1.1 over TCP.
		if want := strings.HasPrefix(tc.url, "http:") && !tc.h2c; (p.pre != nil) != want {
			t.Errorf("%s: preconnector %v, want %v", name, p.pre != nil, want)
		}
		s.Close()
	}
}

// The set's clock and latency settings reach every replica's window.
func TestNewSetLatency(t *testing.T) {
	clk := newFakeClock()
	s, err := NewSet("kv", setConfig(0, "http://127.0.0.1:1"),
		config.Latency{Window: config.Duration(time.Second), Buckets: 2}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.Replicas[0]
	r.Begin()(3*time.Millisecond, VerdictSuccess)
	if got := r.Latency().Count(); got != 1 {
		t.Fatalf("Count = %d, want 1", got)
	}
	clk.Advance(2 * time.Second) // buckets × window
	if got := r.Latency().Count(); got != 0 {
		t.Errorf("after 2s: Count = %d, want 0", got)
	}
}

func TestNewSetFromKeepsUnchangedReplicas(t *testing.T) {
	clk := newFakeClock()
	cfg := setConfig(2, "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3")
	prev, err := NewSet("kv", cfg, config.Latency{}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer prev.Close()
	prev.Replicas[0].Latency().Record(time.Millisecond)
	prev.Replicas[0].warmed.Store(true) // a warm-up reached r1

	// r2 moves to another URL, r3 is removed, r4 is new.
	next := setConfig(2, "http://127.0.0.1:1", "http://127.0.0.1:22", "http://127.0.0.1:4")
	next.Replicas[2].Name = "r4"
	s, removed, err := NewSetFrom(prev, "kv", next, config.Latency{}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Replica("r1") != prev.Replica("r1") || s.Replica("r1").Latency().Count() != 1 {
		t.Error("r1 is unchanged: it must keep its state and histogram")
	}
	if s.Replica("r2") == prev.Replica("r2") {
		t.Error("r2 changed URL: it must be a new replica")
	}
	var names []string
	for _, r := range removed {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "r2,r3" {
		t.Errorf("removed %v, want r2 (moved) and r3", names)
	}
	if !s.Ready() {
		t.Error("r1, reached by a warm-up and kept, is enough for the set to be ready")
	}
	if _, err := s.Transport().RoundTrip(httptestRequest(t, "http://127.0.0.1:3/")); err == nil ||
		!strings.Contains(err.Error(), "not a replica") {
		t.Errorf("a removed replica's host must not be reachable through the new set: %v", err)
	}

	same, removed, err := NewSetFrom(s, "kv", next, config.Latency{}, clk.Now)
	if err != nil || len(removed) != 0 || same.Replica("r4") != s.Replica("r4") {
		t.Fatalf("an identical reload must keep every replica: removed=%v err=%v", removed, err)
	}
	changed := *next
	changed.ConnectTimeout = config.Duration(2 * time.Second)
	fresh, removed, err := NewSetFrom(s, "kv", &changed, config.Latency{}, clk.Now)
	if err != nil || len(removed) != 3 || fresh.Replica("r1") == s.Replica("r1") {
		t.Errorf("new connection settings need new pools: removed %d, err %v", len(removed), err)
	}
	if fresh.Ready() {
		t.Error("a set of new replicas only is ready before a warm-up reached one")
	}
}

// The URL's credentials go out as basic auth, replacing the client's Authorization,
// without changing the request the engine passed in; the userinfo stays off the wire.
func TestTransportSendsURLCredentials(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
	}))
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://gw:s%40cret@", 1) // "@" escaped in the URL
	s, err := NewSet("kv", setConfig(0, withCreds, srv.URL+"/plain"), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range s.Replicas {
		u := *r.URL
		req, _ := http.NewRequest("GET", u.String(), nil)
		req.Header.Set("Authorization", "Bearer client")
		resp, err := s.Transport().RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") != "Bearer client" || (req.URL.User == nil) != (r.URL.User == nil) {
			t.Error("RoundTrip changed the caller's request")
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d requests arrived", len(got))
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("gw:s@cret"))
	if a := got[0].Get("Authorization"); a != want {
		t.Errorf("replica with credentials got Authorization %q, want %q", a, want)
	}
	if a := got[1].Get("Authorization"); a != "Bearer client" {
		t.Errorf("replica without credentials got Authorization %q, want the client's", a)
	}
}

func TestURLErrorsRedactThePassword(t *testing.T) {
	for _, u := range []string{"ftp://gw:s3cret@127.0.0.1:1", "http://gw:s3cret@127.0.0.1:bad port"} {
		_, err := NewSet("kv", setConfig(0, u), config.Latency{}, nil)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%s: error %v, want it with the password redacted", u, err)
		}
	}
}
