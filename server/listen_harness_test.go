package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/internal/testcert"
)

// protocol is one way a client speaks to the client listener, and the config that
// makes the listener speak it.
type protocol struct {
	name  string
	tls   bool // tls: {cert_file, key_file}; HTTP/2 by ALPN
	h2c   bool // h2c: true; HTTP/2 with prior knowledge
	major int  // the HTTP major version every answer must come in
}

// protocols are the cases every edge behaviour must hold over.
var protocols = []protocol{
	{name: "http1", major: 1},
	{name: "h2", tls: true, major: 2},
	{name: "h2c", h2c: true, major: 2},
}

// live is a gateway served by ServeListeners on loopback, with a client that speaks
// one protocol and counts the connections it opens.
type live struct {
	srv     *Server
	base    string // scheme://host:port of the client listener
	admin   string
	metrics string // "" without a metrics listener
	path    string // the config file, for Reload
	pair    testcert.Pair
	client  *http.Client
	tr      *http.Transport
	dials   atomic.Int64
	proto   protocol
	sigterm context.CancelFunc
	served  chan error
}

// serveOver writes yaml (a whole config, without tls or h2c) to a file, adds the keys
// p needs (a certificate made for the test), and serves it. metrics adds a metrics
// listener. The gateway is closed at the end of the test.
func serveOver(t *testing.T, p protocol, yaml string, metrics bool, log *slog.Logger) *live {
	t.Helper()
	return serveOverWith(t, p, yaml, metrics, Options{Logger: log})
}

// serveOverWith is serveOver with the server's options (a nil Logger discards).
func serveOverWith(t *testing.T, p protocol, yaml string, metrics bool, opts Options) *live {
	t.Helper()
	dir := t.TempDir()
	g := &live{proto: p, path: filepath.Join(dir, "gw.yaml"), served: make(chan error, 1)}
	var edge string
	if p.tls {
		g.pair = testcert.Write(t, dir, testcert.Options{Name: "gw"})
		edge = "tls: {cert_file: " + g.pair.CertFile + ", key_file: " + g.pair.KeyFile + "}\n"
	}
	if p.h2c {
		edge = "h2c: true\n"
	}
	if err := os.WriteFile(g.path, []byte(edge+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(g.path)
	if err != nil {
		t.Fatalf("%v\n%s", err, edge+yaml)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g.srv, err = New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	lns := Listeners{Client: listenLoopback(t), Admin: listenLoopback(t)}
	if metrics {
		lns.Metrics = listenLoopback(t)
		g.metrics = "http://" + lns.Metrics.Addr().String()
	}
	scheme := "http://"
	if p.tls {
		scheme = "https://"
	}
	g.base, g.admin = scheme+lns.Client.Addr().String(), "http://"+lns.Admin.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	g.sigterm = sigterm
	go func() { g.served <- g.srv.ServeListeners(ctx, lns) }()
	g.tr = g.transport(p)
	g.client = &http.Client{Transport: g.tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		g.tr.CloseIdleConnections()
		g.srv.Close()
		sigterm()
		select {
		case <-g.served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return 10s after Close")
		}
	})
	return g
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// transport speaks p only: a client that cannot fall back proves the listener
// speaks it.
func (g *live) transport(p protocol) *http.Transport {
	protos := new(http.Protocols)
	tr := &http.Transport{Protocols: protos, MaxIdleConnsPerHost: 16}
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		g.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	switch {
	case p.tls:
		protos.SetHTTP2(true)
		tr.TLSClientConfig = testcert.ClientConfig(g.pair)
	case p.h2c:
		protos.SetUnencryptedHTTP2(true)
	default:
		protos.SetHTTP1(true)
	}
	return tr
}

// reply is one answer as the client read it. bodyErr is the error reading the body
// ended with, nil for a clean end.
type reply struct {
	status  int
	header  http.Header
	body    string
	bodyErr error
	proto   int
	tls     *tls.ConnectionState
}

// do sends one request; hdr adds headers, body nil sends none.
func (g *live) do(t *testing.T, method, path string, body io.Reader, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", method, path, g.proto.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.ProtoMajor != g.proto.major {
		t.Errorf("%s %s over %s: answered in %s", method, path, g.proto.name, resp.Proto)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), bodyErr: err,
		proto: resp.ProtoMajor, tls: resp.TLS}
}

// waitReady polls /readyz for at most five seconds.
func (g *live) waitReady(t *testing.T) {
	t.Helper()
	for range 500 {
		if g.srv.Ready() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("gateway not ready after 5s")
}

// get fetches url with a plain HTTP/1.1 client: the admin and metrics listeners.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hasAll reports whether s contains every one of subs.
func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
