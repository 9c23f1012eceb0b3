package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// connCounter counts a test server's connections opened and closed.
type connCounter struct{ opened, closed atomic.Int64 }

func (c *connCounter) track(srv *httptest.Server) {
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			c.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			c.closed.Add(1)
		}
	}
}

func setYAML(replicas map[string]string, order ...string) string {
	var sb strings.Builder
	sb.WriteString("replica_sets:\n  kv:\n    warm_connections: 1\n    replicas:\n")
	for _, name := range order {
		fmt.Fprintf(&sb, "      - {name: %s, url: %q}\n", name, replicas[name])
	}
	sb.WriteString("routes:\n  - name: kv-get\n    match: /kv/{key}\n    replica_set: kv\n    hedge: {initial_delay: 5ms}\n")
	return sb.String()
}

func TestReloadReplacesAReplicaWithoutFailingARequest(t *testing.T) {
	urls := map[string]string{}
	calls := map[string]*atomic.Int64{}
	var r3conns connCounter
	for _, name := range []string{"r1", "r2", "r3", "r4"} {
		n := new(atomic.Int64)
		calls[name] = n
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" { // warm-up requests are not reads
				n.Add(1)
			}
			w.Write([]byte(name))
		}))
		if name == "r3" {
			r3conns.track(srv)
		}
		srv.Start()
		t.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write := func(yaml string) {
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(setYAML(urls, "r1", "r2", "r3"))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	front, admin := httptest.NewServer(s.Handler()), httptest.NewServer(s.AdminHandler())
	t.Cleanup(func() {
		front.Close()
		admin.Close()
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	})
	r1 := s.state.Load().sets["kv"].Replica("r1")

	// Steady load from four clients while the reload happens.
	var failed, served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := front.Client().Get(front.URL + "/kv/k")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				served.Add(1)
			}
		})
	}
	for i := 0; calls["r3"].Load() == 0 && i < 500; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	samplesBefore := r1.Latency().Count()

	write(setYAML(urls, "r1", "r2", "r4"))
	resp, err := http.Post(admin.URL+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /reload = %d", resp.StatusCode)
	}
	r3After := calls["r3"].Load()
	servedAtReload := served.Load()
	for i := 0; served.Load() < servedAtReload+200 && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed across the reload", n, served.Load())
	}
	if n := calls["r3"].Load(); n != r3After {
		t.Errorf("the removed replica got %d requests after the reload returned", n-r3After)
	}
	if calls["r4"].Load() == 0 {
		t.Error("the added replica got no request")
	}
	if s.state.Load().sets["kv"].Replica("r1") != r1 || r1.Latency().Count() < samplesBefore {
		t.Error("a kept replica lost its state or histogram")
	}
	if r3conns.opened.Load() == 0 || r3conns.closed.Load() != r3conns.opened.Load() {
		t.Errorf("removed replica: %d connections opened, %d closed; want all closed",
			r3conns.opened.Load(), r3conns.closed.Load())
	}
}

func TestReloadEndpointRefusesABadFile(t *testing.T) {
	r1 := newReplica(t, "r1", nil)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	good := setYAML(map[string]string{"r1": r1.srv.URL}, "r1")
	os.WriteFile(path, []byte(good), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	defer s.state.Load().sets["kv"].Close()

	os.WriteFile(path, []byte(strings.Replace(good, "initial_delay: 5ms", "initial_delay: 5ms, percentile: 150", 1)), 0o600)
	resp, err := http.Post(admin.URL+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Problems []string `json:"problems"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || len(body.Problems) != 1 ||
		!strings.HasPrefix(body.Problems[0], path+":10: routes[0].hedge.percentile:") {
		t.Fatalf("got %d %q, want 400 with the validate line", resp.StatusCode, body.Problems)
	}
	if s.Config() != cfg {
		t.Error("a refused reload replaced the running config")
	}
}

// A reload that only removes a replica leaves the others, already reached by warm-up,
// serving: the gateway must stay ready (it used to turn 503 for good, since the new
// set waited for a warm-up that had nothing left to warm).
func TestReloadRemovingAReplicaKeepsTheGatewayReady(t *testing.T) {
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	urls := map[string]string{"r1": r1.srv.URL, "r2": r2.srv.URL}
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(setYAML(urls, "r1", "r2")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Warm(ctx)
	if !s.Ready() {
		t.Fatal("not ready after warm-up")
	}
	if err := os.WriteFile(path, []byte(setYAML(urls, "r1")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(path); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() {
		t.Error("not ready after a reload that removed r2; r1 is still warm")
	}
}
