package replicas

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/internal/testcert"
)

// discoveredConfig is a discovery set's config with the members a lookup found.
func discoveredConfig(d *config.Discovery, warm int, members ...string) *config.ReplicaSet {
	cfg := &config.ReplicaSet{Discovery: d, ConnectTimeout: config.Duration(time.Second), WarmConnections: warm}
	for _, m := range members {
		cfg.Replicas = append(cfg.Replicas, config.Replica{Name: m, URL: d.Scheme + "://" + m})
	}
	return cfg
}

var kvDNS = &config.Discovery{DNS: "kv.test:9101", Scheme: "http"}

func TestDiscoverySetMayBeEmptyButNotReady(t *testing.T) {
	s, err := NewSet("kv", discoveredConfig(kvDNS, 0), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Replicas) != 0 || s.Ready() || !s.Discovered() {
		t.Errorf("an empty discovery set: %d replicas, ready %v, discovered %v; want 0, false, true", len(s.Replicas), s.Ready(), s.Discovered())
	}
	if _, err := NewSet("kv", &config.ReplicaSet{}, config.Latency{}, nil); err == nil {
		t.Error("a fixed list with no replica was accepted")
	}
}

// A member that leaves and comes back within the latency window resumes its
// histogram and counters (with a pool of its own); after the window, or past the
// remembered few, it starts afresh.
func TestDiscoveryMemberReturningResumesItsStats(t *testing.T) {
	clk := newFakeClock()
	lat := config.Latency{Window: config.Duration(time.Second), Buckets: 3} // a 3s window
	a, b := "10.0.0.1:9101", "10.0.0.2:9101"
	s1, err := NewSet("kv", discoveredConfig(kvDNS, 0, a, b), lat, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	feed(s1.Replica(a), 5, 2*time.Millisecond, VerdictSuccess)
	feed(s1.Replica(a), 1, 2*time.Millisecond, VerdictFailure)

	s2, removed, err := NewSetFrom(s1, "kv", discoveredConfig(kvDNS, 0, b), lat, clk.Now)
	if err != nil || len(removed) != 1 || removed[0] != s1.Replica(a) || s2.Replica(b) != s1.Replica(b) {
		t.Fatalf("a leaves: removed %v, err %v; b must be kept", removed, err)
	}
	clk.Advance(time.Second)
	s3, removed, err := NewSetFrom(s2, "kv", discoveredConfig(kvDNS, 0, a, b), lat, clk.Now)
	if err != nil || len(removed) != 0 {
		t.Fatalf("a returns: removed %v, err %v", removed, err)
	}
	back := s3.Replica(a)
	if back == s1.Replica(a) || back.transport == s1.Replica(a).transport {
		t.Error("a returning member must get a new replica and pool: the old one may still be draining")
	}
	if st := back.Stats(); st.Requests != 6 || st.Failures != 1 || st.Samples != 6 || back.ErrorRate() == 0 {
		t.Errorf("returned member: %+v; want its 6 attempts, 1 failure and 6 samples back", st)
	}

	// Gone for longer than the window: a new member like any other.
	s4, _, _ := NewSetFrom(s3, "kv", discoveredConfig(kvDNS, 0, b), lat, clk.Now)
	clk.Advance(4 * time.Second)
	s5, _, _ := NewSetFrom(s4, "kv", discoveredConfig(kvDNS, 0, a, b), lat, clk.Now)
	if st := s5.Replica(a).Stats(); st.Requests != 0 {
		t.Errorf("a member back after the window kept %d attempts", st.Requests)
	}

	// At most maxRetired leavers are remembered, the latest ones.
	var many []string
	for i := range maxRetired + 2 {
		many = append(many, fmt.Sprintf("10.0.1.%d:1", i))
	}
	big, _, err := NewSetFrom(s5, "kv", discoveredConfig(kvDNS, 0, many...), lat, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range many { // they leave one by one
		clk.Advance(time.Millisecond)
		big, _, _ = NewSetFrom(big, "kv", discoveredConfig(kvDNS, 0, many[i+1:]...), lat, clk.Now)
	}
	if len(big.retired) != maxRetired {
		t.Errorf("%d leavers remembered, want %d", len(big.retired), maxRetired)
	}
	if _, ok := big.retired[many[0]]; ok {
		t.Error("the oldest leaver is still remembered")
	}
	if _, ok := big.retired[many[len(many)-1]]; !ok {
		t.Error("the latest leaver is forgotten")
	}
}

// A fixed list forgets a removed replica: a reload is an operator's decision.
func TestFixedSetRemembersNoLeaver(t *testing.T) {
	prev, err := NewSet("kv", setConfig(0, "http://127.0.0.1:1", "http://127.0.0.1:2"), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feed(prev.Replica("r2"), 3, time.Millisecond, VerdictSuccess)
	s, _, _ := NewSetFrom(prev, "kv", setConfig(0, "http://127.0.0.1:1"), config.Latency{}, nil)
	back, _, _ := NewSetFrom(s, "kv", setConfig(0, "http://127.0.0.1:1", "http://127.0.0.1:2"), config.Latency{}, nil)
	if back.Replica("r2").Stats().Requests != 0 || len(s.retired) != 0 {
		t.Error("a fixed set resumed a removed replica's stats")
	}
}

// An https member is dialled at its address and its certificate checked against the
// discovery name: certificates name the service, not each pod's address.
func TestDiscoveryHTTPSChecksTheNameNotTheAddress(t *testing.T) {
	pair := testcert.Write(t, t.TempDir(), testcert.Options{Name: "kv", DNSNames: []string{"kv.test"}})
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	roots := testcert.ClientConfig(pair).RootCAs

	get := func(s *Set) error {
		s.Replicas[0].transport.std.TLSClientConfig.RootCAs = roots
		req, _ := http.NewRequest("GET", s.Replicas[0].URL.String()+"/", nil)
		resp, err := s.Transport().RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	d := &config.Discovery{DNS: "kv.test.:443", Scheme: "https"}
	s, err := NewSet("kv", discoveredConfig(d, 0, addr), config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := get(s); err != nil {
		t.Errorf("a member whose certificate names kv.test: %v", err)
	}

	// The same address listed as a fixed URL is checked against the address, and fails:
	// what the server name is for.
	fixed, err := NewSet("kv", &config.ReplicaSet{Replicas: []config.Replica{{Name: "r1", URL: "https://" + addr}}}, config.Latency{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fixed.Close()
	fixed.Replicas[0].transport.std.TLSClientConfig = &tls.Config{}
	if err := get(fixed); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate for kv.test accepted for %s: %v", addr, err)
	}
}
