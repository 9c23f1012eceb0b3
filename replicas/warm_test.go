package replicas

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// countingServer is a loopback replica that counts the connections it accepts.
type countingServer struct {
	*httptest.Server
	mu    sync.Mutex
	conns int
}

func newCountingServer(t *testing.T, status int) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte("warm"))
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.mu.Lock()
			cs.conns++
			cs.mu.Unlock()
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) Conns() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.conns
}

// deadURL is the address of a closed listener: connections to it are refused.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestWarm(t *testing.T) {
	const warm = 3
	a := newCountingServer(t, http.StatusOK)
	b := newCountingServer(t, http.StatusNotFound) // any answer counts
	s, err := NewSet("kv", setConfig(warm, a.URL, b.URL), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	if !s.Ready() {
		t.Error("not Ready after Warm")
	}
	for _, cs := range []*countingServer{a, b} {
		if got := cs.Conns(); got != warm {
			t.Errorf("%s accepted %d connections, want %d", cs.URL, got, warm)
		}
	}
	for _, r := range s.Replicas {
		if !r.Warmed() {
			t.Errorf("%s not Warmed", r.Name)
		}
	}
	// The warm connections sit idle in the pool: requests reuse them.
	for range warm {
		resp, err := s.Transport().RoundTrip(httptestRequest(t, a.URL))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) // an unread body closes its connection
		resp.Body.Close()
	}
	if got := a.Conns(); got != warm {
		t.Errorf("after requests %d connections, want still %d", got, warm)
	}
}

func httptestRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestWarmDeadReplica(t *testing.T) {
	live := newCountingServer(t, http.StatusOK)
	cfg := setConfig(2, live.URL, deadURL(t))
	s, err := NewSet("kv", cfg, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Warm(context.Background())
	if err == nil || !strings.Contains(err.Error(), "replica r2") || strings.Contains(err.Error(), "replica r1") {
		t.Fatalf("Warm error = %v, want one naming r2 only", err)
	}
	if !s.Ready() {
		t.Error("not Ready although r1 warmed")
	}
	if !s.Replica("r1").Warmed() || s.Replica("r2").Warmed() {
		t.Error("Warmed flags wrong")
	}
	if got := live.Conns(); got != 2 {
		t.Errorf("live replica accepted %d connections, want 2", got)
	}
}

func TestWarmAllDead(t *testing.T) {
	s, err := NewSet("kv", setConfig(2, deadURL(t), deadURL(t)), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Warm(context.Background())
	if err == nil || !strings.Contains(err.Error(), "replica r1") || !strings.Contains(err.Error(), "replica r2") {
		t.Fatalf("Warm error = %v, want both replicas named", err)
	}
	if s.Ready() {
		t.Error("Ready with no replica reachable")
	}
}

func TestWarmCancelled(t *testing.T) {
	live := newCountingServer(t, http.StatusOK)
	s, err := NewSet("kv", setConfig(2, live.URL), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Warm(ctx); err == nil {
		t.Fatal("Warm with a cancelled context succeeded")
	}
	if s.Ready() {
		t.Error("Ready after a cancelled Warm")
	}
}

func TestWarmDisabled(t *testing.T) {
	s, err := NewSet("kv", setConfig(0, deadURL(t)), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Ready() {
		t.Error("not Ready with warm_connections 0")
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Errorf("Warm = %v, want nil", err)
	}
}

// A replica that accepts connections and never answers must not keep the set from
// becoming ready: Warm gives up on it after its own bound, without a deadline from
// the caller.
func TestWarmHungReplica(t *testing.T) {
	live := newCountingServer(t, http.StatusOK)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	cfg := setConfig(1, live.URL, hung.URL)
	cfg.ConnectTimeout = config.Duration(100 * time.Millisecond)
	s, err := NewSet("kv", cfg, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- s.Warm(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second): // a bound on a hang, not a speed claim
		t.Fatal("Warm never returned with one replica hung")
	}
	if err == nil || !strings.Contains(err.Error(), "replica r2") {
		t.Errorf("Warm error = %v, want one naming the hung r2", err)
	}
	if !s.Ready() || s.Replica("r2").Warmed() {
		t.Errorf("ready=%v r2 warmed=%v: want ready on r1 alone", s.Ready(), s.Replica("r2").Warmed())
	}
}
