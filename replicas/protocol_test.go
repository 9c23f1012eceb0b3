package replicas

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// protoReplica is a loopback replica speaking protos, recording the protocol of the
// last request it served. /slow sends part of its body and waits for the client to
// go away.
func protoReplica(t *testing.T, tlsToo bool, protos func(*http.Protocols)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var major atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		major.Store(int32(r.ProtoMajor))
		if r.URL.Path == "/slow" {
			w.Write([]byte("part"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write([]byte("hello"))
	}))
	srv.Config.Protocols = new(http.Protocols)
	protos(srv.Config.Protocols)
	if tlsToo {
		// ALPN offers h2 only when the server speaks it.
		srv.EnableHTTP2 = srv.Config.Protocols.HTTP2()
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &major
}

// Each protocol reaches a loopback replica speaking it, and the request goes out in
// that protocol: HTTP/1.1 by hedgegate's client and by net/http's, h2c by prior
// knowledge, h2 by ALPN over TLS. Over HTTP/2 a cancelled attempt resets its stream
// and the next attempt reuses the connection; over HTTP/1.1 the cancel costs one.
func TestPoolSpeaksItsProtocol(t *testing.T) {
	for _, tc := range []struct {
		name, protocol, client string
		tls                    bool
		serve                  func(*http.Protocols)
		major                  int32
		dialsAfterCancel       uint64 // connections dialled for the three requests
	}{
		{"http1 hedgegate", config.ProtocolHTTP1, config.ClientAuto, false, func(p *http.Protocols) { p.SetHTTP1(true) }, 1, 2},
		{"http1 net/http", config.ProtocolHTTP1, config.ClientNetHTTP, false, func(p *http.Protocols) { p.SetHTTP1(true) }, 1, 2},
		{"h2c", config.ProtocolH2C, config.ClientAuto, false, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, 2, 1},
		{"h2", config.ProtocolH2, config.ClientAuto, true, func(p *http.Protocols) { p.SetHTTP2(true) }, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, major := protoReplica(t, tc.tls, tc.serve)
			scheme := "http"
			if tc.tls {
				scheme = "https"
			}
			p := newPool(poolSettings{connect: time.Second, scheme: scheme, protocol: tc.protocol, client: tc.client})
			defer p.Close()
			if p.pre != nil {
				p.pre.Close() // spares would make the dial count the load's and theirs
				p.pre = nil
			}
			if tc.tls {
				p.std.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
			}
			get := func(ctx context.Context, path string) (*http.Response, error) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
				return p.RoundTrip(req)
			}
			resp, err := get(context.Background(), "/kv/a")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "hello" || major.Load() != tc.major || int32(resp.ProtoMajor) != tc.major {
				t.Fatalf("answer %q over HTTP/%d (replica saw %d), want hello over HTTP/%d", b, resp.ProtoMajor, major.Load(), tc.major)
			}

			// A losing attempt: its body started, then cancelled.
			ctx, cancel := context.WithCancel(context.Background())
			resp, err = get(ctx, "/slow")
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled body: %v, want context.Canceled", err)
			}
			resp.Body.Close()

			resp, err = get(context.Background(), "/kv/a")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := p.Dials(); got != tc.dialsAfterCancel {
				t.Errorf("%d dials for 3 requests with one cancelled, want %d", got, tc.dialsAfterCancel)
			}
		})
	}
}

// protocol: h2 means HTTP/2: a TLS replica that offers only HTTP/1.1 by ALPN fails the
// attempt instead of being spoken to in HTTP/1.1 behind the config's back.
func TestPoolH2RefusesHTTP1Replica(t *testing.T) {
	srv, _ := protoReplica(t, true, func(p *http.Protocols) { p.SetHTTP1(true) })
	p := newPool(poolSettings{connect: time.Second, scheme: "https", protocol: config.ProtocolH2})
	defer p.Close()
	p.std.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/kv/a", nil)
	resp, err := p.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered over HTTP/%d, want an error", resp.ProtoMajor)
	}
	if !strings.Contains(err.Error(), "application protocol") {
		t.Errorf("error %v, want ALPN's refusal", err)
	}
}
