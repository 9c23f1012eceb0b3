package server

import (
	"bytes"
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

// switchListener refuses connections (accepts and closes them at once) while down,
// so a replica can be down and come back on the same address.
type switchListener struct {
	net.Listener
	down    atomic.Bool
	refused atomic.Int64
	warmups atomic.Int64 // warm-up requests answered while up
}

func (l *switchListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		l.refused.Add(1)
		c.Close()
	}
}

func switchReplica(t *testing.T) (*httptest.Server, *switchListener) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &switchListener{Listener: ln}
	sl.down.Store(true)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == "hedgegate-warmup" {
			sl.warmups.Add(1)
		}
		io.WriteString(w, "b")
	}))
	srv.Listener.Close()
	srv.Listener = sl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, sl
}

// lockedBuffer is a log sink tests can read while the gateway writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// servingGateway runs s.Serve on loopback listeners until the test ends.
func servingGateway(t *testing.T, s *Server) (front, admin string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, ln, adminLn); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	return "http://" + ln.Addr().String(), "http://" + adminLn.Addr().String()
}

func getReady(t *testing.T, admin string) (int, string, map[string]any) {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body is not JSON: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestReadyzTurns200WhenASetAddedByReloadComesUp(t *testing.T) {
	a := newReplica(t, "a", nil)
	b, bl := switchReplica(t)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	base := fmt.Sprintf(`replica_sets:
  a: {warm_connections: 1, replicas: [{name: a1, url: %q}]}
routes:
  - {name: a, match: "/a/{key}", replica_set: a}
`, a.srv.URL)
	withB := fmt.Sprintf(`replica_sets:
  a: {warm_connections: 1, replicas: [{name: a1, url: %q}]}
  b: {warm_connections: 1, replicas: [{name: b1, url: %q}]}
routes:
  - {name: a, match: "/a/{key}", replica_set: a}
  - {name: b, match: "/b/{key}", replica_set: b}
`, a.srv.URL, b.URL)
	os.WriteFile(path, []byte(base), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.warm.every, s.warm.offset = 20*time.Millisecond, 0
	_, admin := servingGateway(t, s)
	waitFor(t, func() bool { code, _, _ := getReady(t, admin); return code == 200 }, "/readyz 200 before the reload")

	os.WriteFile(path, []byte(withB), 0o600)
	if err := s.Reload(path); err != nil {
		t.Fatal(err)
	}
	code, ctype, body := getReady(t, admin)
	if code != 503 || ctype != "application/json" || fmt.Sprint(body["warming"]) != "[b]" {
		t.Fatalf("/readyz with set b down: %d %s %v, want 503 application/json warming [b]", code, ctype, body)
	}
	// Several warm-up passes fail; the replica is logged down once.
	waitFor(t, func() bool { return bl.refused.Load() >= 5 }, "warm-up to keep trying b1")
	bl.down.Store(false)
	waitFor(t, func() bool { code, _, _ := getReady(t, admin); return code == 200 }, "/readyz 200 once b1 is up")
	code, ctype, body = getReady(t, admin)
	if ctype != "application/json" || body["ready"] != true {
		t.Errorf("/readyz: %d %s %v", code, ctype, body)
	}
	if n := logs.count("replica down"); n != 1 {
		t.Errorf("%d 'replica down' lines, want one per state change:\n%s", n, logs.b.String())
	}
	if n := logs.count("replica back"); n != 1 {
		t.Errorf("%d 'replica back' lines, want one", n)
	}
	if !strings.Contains(logs.b.String(), "replica=b1") {
		t.Errorf("the log does not name the replica:\n%s", logs.b.String())
	}
}

// A set is ready with one replica reachable; the dead one is logged down once, tried
// again until it answers, and logged back once.
func TestADeadReplicaIsLoggedOnceDownAndOnceBack(t *testing.T) {
	a := newReplica(t, "a", nil)
	b, bl := switchReplica(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`replica_sets:
  kv: {warm_connections: 1, replicas: [{name: r1, url: %q}, {name: r2, url: %q}]}
routes:
  - {name: kv, match: "/kv/{key}", replica_set: kv}
`, a.srv.URL, b.URL)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.warm.every, s.warm.offset = 20*time.Millisecond, 0
	_, admin := servingGateway(t, s)
	waitFor(t, func() bool { code, _, _ := getReady(t, admin); return code == 200 }, "/readyz 200 with r1 up")
	before := bl.refused.Load()
	waitFor(t, func() bool { return bl.refused.Load() >= before+5 }, "r2 tried again after the set is ready")
	if n := logs.count("replica down"); n != 1 {
		t.Errorf("%d 'replica down' lines over several failed passes, want 1:\n%s", n, logs.b.String())
	}
	bl.down.Store(false)
	waitFor(t, func() bool { return logs.count("replica back") == 1 }, "one 'replica back' line")
	warmups := bl.warmups.Load()
	time.Sleep(100 * time.Millisecond) // five intervals: a warmed replica is left alone
	if n := bl.warmups.Load() - warmups; n != 0 || logs.count("replica back") != 1 {
		t.Errorf("a replica back in service got %d more warm-ups, or was logged again", n)
	}
}
