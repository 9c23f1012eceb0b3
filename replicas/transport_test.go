package replicas

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// Through a Set: a request cancelled in flight closes its connection, a replacement is
// dialled before the next request, and that request uses it.
func TestSetReplacesCancelledAttemptConnection(t *testing.T) {
	entered := make(chan struct{}, 1)
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	s, err := NewSet("kv", setConfig(1, srv.URL), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context, path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.Transport().RoundTrip(req)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := get(ctx, "/slow")
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled request succeeded")
	}
	if spareOf(s.Replicas[0].transport.pre) == nil {
		t.Fatal("no spare after a cancelled request closed its connection")
	}
	resp, err := get(context.Background(), "/fast")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The warm connection and the spare: a third would mean the request dialled.
	if got := conns.Load(); got != 2 {
		t.Errorf("the replica accepted %d connections, want 2 (the warm one, then the spare)", got)
	}
}

// Spares only for plain http: a TLS pool dials as net/http would.
func TestPoolSparesOnlyForHTTP(t *testing.T) {
	s, err := NewSet("kv", setConfig(0, "http://127.0.0.1:1", "https://127.0.0.1:2"), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Replica("r1").transport.pre == nil {
		t.Error("http replica has no preconnector")
	}
	if s.Replica("r2").transport.pre != nil {
		t.Error("https replica has a preconnector")
	}
}

// A reload that removes one of two replicas on one host leaves the kept one's shared
// pool, spares included, working.
func TestReloadKeepsSharedPoolOpen(t *testing.T) {
	prev, err := NewSet("kv", setConfig(0, "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, removed, err := NewSetFrom(prev, "kv", setConfig(0, "http://127.0.0.1:1/a"), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if len(removed) != 1 || removed[0].Name != "r2" {
		t.Fatalf("removed = %v, want r2", removed)
	}
	removed[0].Close()
	pre := next.Replica("r1").transport.pre
	pre.mu.Lock()
	closed := pre.closed
	pre.mu.Unlock()
	if closed {
		t.Error("closing the removed r2 closed the pool r1 still uses")
	}
}
