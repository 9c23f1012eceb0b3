package server

// Helpers of the discovery tests: a fake resolver, small replicas on loopback, a round
// of the refresh loop run by hand.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// fakeDNS is a Resolver a test edits: SRV records per name, each target resolving to
// 127.0.0.1, or an error for every lookup. It records when each lookup came.
type fakeDNS struct {
	mu    sync.Mutex
	srv   map[string][]*net.SRV
	addrs map[string][]netip.Addr
	err   error
	at    []time.Time
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{srv: map[string][]*net.SRV{}, addrs: map[string][]netip.Addr{}}
}

// setPorts makes name's SRV records one target per port, each on 127.0.0.1.
func (f *fakeDNS) setPorts(name string, ports ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var recs []*net.SRV
	for _, p := range ports {
		target := "p" + strconv.Itoa(p) + ".test."
		recs = append(recs, &net.SRV{Target: target, Port: uint16(p)})
		f.addrs[target] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	f.srv[name] = recs
}

func (f *fakeDNS) setAddrs(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	f.addrs[host] = as
}

func (f *fakeDNS) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeDNS) lookups() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.at...)
}

var errNXDOMAIN = &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}

func (f *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	if f.err != nil {
		return nil, f.err
	}
	if a, ok := f.addrs[host]; ok {
		return a, nil
	}
	return nil, errNXDOMAIN
}

func (f *fakeDNS) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	if f.err != nil {
		return "", nil, f.err
	}
	if r, ok := f.srv[name]; ok {
		return name, r, nil
	}
	return "", nil, errNXDOMAIN
}

// discoveryYAML is a gateway config of one discovery set kv (discovery as given) and
// one route on it.
func discoveryYAML(discovery string, warm int, route string) string {
	// A generous connect_timeout: on a loaded machine a warm-up may take longer than the
	// default 200ms, and a member it misses is held back, which is not what most of
	// these tests look at.
	// It comes after discovery so that discovery stays on line 4, which errors name.
	return "replica_sets:\n  kv:\n    warm_connections: " + strconv.Itoa(warm) + "\n    discovery: " + discovery +
		"\n    connect_timeout: 5s\nroutes:\n  - {name: kv-get, match: \"/kv/{key}\", replica_set: kv, " + route + "}\n"
}

// newDiscoveryServer builds a gateway from yaml (kept in a file, for reloads) with
// resolver r, logging into logs.
func newDiscoveryServer(t *testing.T, yaml string, r replicas.Resolver, logs io.Writer) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = io.Discard
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, set := range s.state.Load().sets {
			set.Close()
		}
	})
	return s, path
}

// refresh runs one round of the discovery loop's lookups and applies them, then
// waits for the replicas it removed to be closed.
func refresh(s *Server) {
	var retiring sync.WaitGroup
	st := s.state.Load()
	s.applyFound(context.Background(), s.lookupAll(context.Background(), st, discoverySets(st.cfg)), &retiring)
	retiring.Wait()
}

// sorted joins names in the order Lookup lists members.
func sorted(names ...string) string {
	slices.Sort(names)
	return strings.Join(names, " ")
}

func memberNames(s *Server, set string) string {
	var out []string
	for _, r := range s.state.Load().sets[set].Replicas {
		out = append(out, r.Name)
	}
	return strings.Join(out, " ")
}

// replicaServer is a replica on loopback that counts its reads (not warm-ups) and
// its connections.
type replicaServer struct {
	srv   *httptest.Server
	port  int
	reads atomic.Int64
	conns connCounter
	// hold, when set, keeps each read waiting until it is closed.
	hold chan struct{}
}

func startReplica(t *testing.T, hold chan struct{}) *replicaServer {
	t.Helper()
	r := &replicaServer{hold: hold}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/" {
			r.reads.Add(1)
			if r.hold != nil {
				<-r.hold
			}
		}
		w.Write([]byte(strconv.Itoa(r.port)))
	}))
	r.conns.track(r.srv)
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	r.port = r.srv.Listener.Addr().(*net.TCPAddr).Port
	return r
}

// allClosed reports whether every connection opened has closed, waiting up to 2s for
// the server to see closes the gateway made.
func (c *connCounter) allClosed() bool {
	for i := 0; i < 200 && c.closed.Load() != c.opened.Load(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return c.opened.Load() > 0 && c.closed.Load() == c.opened.Load()
}

func (r *replicaServer) member() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// flakyListener refuses connections (accepts and closes them at once) while down.
type flakyListener struct {
	net.Listener
	down atomic.Bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		c.Close()
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}
