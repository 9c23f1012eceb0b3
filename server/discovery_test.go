package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Members come and go with the SRV answer; a failed lookup, of any kind, keeps the
// last good set; every lookup is counted by result; a member that left loses its
// series once its requests are done.
func TestDiscoveryFollowsTheAnswerAndKeepsTheSetOnFailure(t *testing.T) {
	a, b, c := startReplica(t, nil), startReplica(t, nil), startReplica(t, nil)
	dns := newFakeDNS()
	dns.setPorts("_http._tcp.kv.test.", a.port, b.port)
	var logs bytes.Buffer
	s, _ := newDiscoveryServer(t, discoveryYAML("{srv: _http._tcp.kv.test.}", 1, "strategy: hedge"), dns, &logs)
	front := httptest.NewServer(s.Handler())
	defer front.Close()

	if s.Ready() || memberNames(s, "kv") != "" {
		t.Fatalf("before any lookup: ready %v, members %q", s.Ready(), memberNames(s, "kv"))
	}
	refresh(s)
	if got, want := memberNames(s, "kv"), sorted(a.member(), b.member()); got != want || !s.Ready() {
		t.Fatalf("members %q ready %v; want %q, ready", got, s.Ready(), want)
	}
	for range 20 {
		resp, err := front.Client().Get(front.URL + "/kv/k")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if a.reads.Load() == 0 {
		t.Fatal("a got no read: what follows would not show its series going")
	}
	keptB := s.state.Load().sets["kv"].Replica(b.member())

	dns.setPorts("_http._tcp.kv.test.", b.port, c.port)
	refresh(s)
	if got, want := memberNames(s, "kv"), sorted(b.member(), c.member()); got != want {
		t.Fatalf("after a change: members %q, want %q", got, want)
	}
	if s.state.Load().sets["kv"].Replica(b.member()) != keptB {
		t.Error("b stayed in the answer: it must keep its replica (connections, histogram, stats)")
	}
	if !a.conns.allClosed() {
		t.Errorf("a left: %d connections opened, %d closed; want all closed", a.conns.opened.Load(), a.conns.closed.Load())
	}
	if !strings.Contains(logs.String(), "discovery: members changed") {
		t.Errorf("no log of the change:\n%s", logs.String())
	}

	// Each failure keeps the set; the resolver failing is logged once, not per lookup.
	for _, err := range []error{
		&net.DNSError{Err: "server misbehaving", IsTemporary: true},
		&net.DNSError{Err: "server misbehaving", IsTemporary: true},
		&net.DNSError{Err: "i/o timeout", IsTimeout: true},
		errNXDOMAIN,
	} {
		dns.fail(err)
		refresh(s)
		if got := memberNames(s, "kv"); got != sorted(b.member(), c.member()) {
			t.Fatalf("after a failed lookup (%v): members %q", err, got)
		}
	}
	dns.fail(nil)
	dns.setPorts("_http._tcp.kv.test.") // an empty answer
	refresh(s)
	if got := memberNames(s, "kv"); got != sorted(b.member(), c.member()) {
		t.Fatalf("an empty answer emptied the set: %q", got)
	}
	if n := strings.Count(logs.String(), "lookup failed"); n != 4 {
		t.Errorf("%d 'lookup failed' lines for error, error, timeout, not_found, empty; want one per change of result (4)\n%s", n, logs.String())
	}
	for result, want := range map[string]float64{"ok": 2, "error": 2, "timeout": 1, "not_found": 1, "empty": 1} {
		if got := testutil.ToFloat64(s.metrics.discovery.WithLabelValues("kv", result)); got != want {
			t.Errorf("hedgegate_discovery_refresh_total{result=%q} = %v, want %v", result, got, want)
		}
	}

	// a's series went with it; b's stay.
	var metrics bytes.Buffer
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&metrics, resp.Body)
	resp.Body.Close()
	if strings.Contains(metrics.String(), `replica="`+a.member()+`"`) {
		t.Errorf("series of a member that left remain:\n%s", grep(metrics.String(), a.member()))
	}
	if !strings.Contains(metrics.String(), `hedgegate_replica_latency_seconds{quantile="0.5",replica="`+b.member()+`"}`) {
		t.Errorf("no latency series for b:\n%s", grep(metrics.String(), "replica_latency"))
	}
}

// A request in flight keeps the members it started with: the member that leaves
// answers it, and its connections close only once it has.
func TestDiscoveryDrainsAMemberThatLeaves(t *testing.T) {
	hold := make(chan struct{})
	a := startReplica(t, hold)
	b := startReplica(t, nil)
	dns := newFakeDNS()
	dns.setPorts("_http._tcp.kv.test.", a.port)
	s, _ := newDiscoveryServer(t, discoveryYAML("{srv: _http._tcp.kv.test.}", 1, "strategy: hedge, hedge: {max_attempts: 1}"), dns, nil)
	front := httptest.NewServer(s.Handler())
	defer front.Close()
	refresh(s)

	answered := make(chan string, 1)
	go func() {
		resp, err := front.Client().Get(front.URL + "/kv/k")
		if err != nil {
			answered <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- strconv.Itoa(resp.StatusCode) + " " + string(body)
	}()
	for i := 0; a.reads.Load() == 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}

	dns.setPorts("_http._tcp.kv.test.", b.port)
	var retiring sync.WaitGroup
	st := s.state.Load()
	s.applyFound(context.Background(), s.lookupAll(context.Background(), st, []string{"kv"}), &retiring)
	if got := memberNames(s, "kv"); got != b.member() {
		t.Fatalf("members %q, want b alone", got)
	}
	time.Sleep(20 * time.Millisecond) // the drain waits; a's connection must stay open
	if a.conns.closed.Load() != 0 {
		t.Fatal("a's connection closed under a request in flight")
	}
	close(hold)
	if got := <-answered; got != "200 "+strconv.Itoa(a.port) {
		t.Errorf("the request in flight got %q, want a's answer", got)
	}
	retiring.Wait()
	if !a.conns.allClosed() {
		t.Errorf("a: %d connections opened, %d closed once its request ended", a.conns.opened.Load(), a.conns.closed.Load())
	}
}

// A new member warm-up cannot reach gets no traffic: it is held back (logged once,
// listed in /debug/replicas) and joins at a later lookup once it answers.
func TestDiscoveryHoldsBackANewMemberUntilItIsWarm(t *testing.T) {
	a := startReplica(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln}
	flaky.down.Store(true)
	var cReads atomic.Int64
	c := &httptest.Server{Listener: flaky, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			cReads.Add(1)
		}
	})}}
	c.Start()
	defer c.Close()
	cPort := ln.Addr().(*net.TCPAddr).Port
	cName := "127.0.0.1:" + strconv.Itoa(cPort)

	dns := newFakeDNS()
	dns.setPorts("_http._tcp.kv.test.", a.port, cPort)
	var logs bytes.Buffer
	s, _ := newDiscoveryServer(t, discoveryYAML("{srv: _http._tcp.kv.test.}", 1, "strategy: parallel, parallel: {fanout: 2}"), dns, &logs)
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	refresh(s)
	refresh(s)
	if got := memberNames(s, "kv"); got != a.member() {
		t.Fatalf("members %q, want a alone while c cannot be reached", got)
	}
	if n := strings.Count(logs.String(), "new member held back"); n != 1 {
		t.Errorf("%d 'held back' lines over two lookups, want 1:\n%s", n, logs.String())
	}
	var report ReplicaReport
	getJSON(t, admin.URL+"/debug/replicas", &report)
	if d := report.ReplicaSets[0].Discovery; d == nil || len(d.HeldBack) != 1 || d.HeldBack[0] != cName ||
		d.LastLookup == nil || d.LastLookup.Result != "ok" || d.LastLookup.Members != 2 || d.NextLookup != nil {
		t.Errorf("/debug/replicas discovery = %+v, want c held back and an ok lookup of 2 members", d)
	}

	flaky.down.Store(false)
	refresh(s)
	if got := memberNames(s, "kv"); got != sorted(a.member(), cName) {
		t.Fatalf("members %q, want c to join once warm", got)
	}
	if !strings.Contains(logs.String(), "held-back member reached") {
		t.Errorf("no log of c joining:\n%s", logs.String())
	}
	if cReads.Load() != 0 {
		t.Errorf("c got %d reads before it joined", cReads.Load())
	}
}

// Before its first good answer a discovery set is not ready, /readyz says why, and
// its routes answer 503 with the reason; a quorum route answers 503 while the set has
// fewer members than it reads.
func TestDiscoveryBeforeTheFirstAnswer(t *testing.T) {
	dns := newFakeDNS()
	s, _ := newDiscoveryServer(t, discoveryYAML(`{dns: "kv.test.:9101"}`, 0, "strategy: quorum, quorum: {read: 2}"), dns, nil)
	front, admin := httptest.NewServer(s.Handler()), httptest.NewServer(s.AdminHandler())
	defer front.Close()
	defer admin.Close()

	var ready struct {
		Ready       bool              `json:"ready"`
		Discovering map[string]string `json:"discovering"`
	}
	if code := getJSON(t, admin.URL+"/readyz", &ready); code != 503 || ready.Discovering["kv"] != "no lookup has answered yet" {
		t.Errorf("/readyz before a lookup: %d %+v", code, ready)
	}
	refresh(s) // NXDOMAIN
	ready.Discovering = nil
	if code := getJSON(t, admin.URL+"/readyz", &ready); code != 503 || !strings.HasPrefix(ready.Discovering["kv"], "last lookup not_found (") {
		t.Errorf("/readyz after NXDOMAIN: %d %+v", code, ready)
	}
	var body errorBody
	resp, err := front.Client().Get(front.URL + "/kv/k")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(body.Error, `replica set "kv" has no member yet: last lookup not_found`) {
		t.Errorf("a read with no member: %d %q", resp.StatusCode, body.Error)
	}

	dns.setAddrs("kv.test.", "127.0.0.1")
	refresh(s)
	if code := getJSON(t, admin.URL+"/readyz", &ready); code != 200 {
		t.Errorf("/readyz with a member: %d %+v", code, ready)
	}
	resp, err = front.Client().Get(front.URL + "/kv/k")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || body.Error != `quorum impossible: replica set "kv" has 1 members, quorum.read is 2` {
		t.Errorf("a quorum of 2 over 1 member: %d %q", resp.StatusCode, body.Error)
	}
}

// A reload whose discovery settings are unchanged keeps the members and their state;
// one that names another service resolves it first, and is refused if that fails.
func TestDiscoveryAcrossReloads(t *testing.T) {
	dns := newFakeDNS()
	dns.setAddrs("kv.test.", "10.0.0.1", "10.0.0.2")
	yaml := discoveryYAML(`{dns: "kv.test.:9101", refresh: 10s}`, 0, "strategy: hedge")
	s, path := newDiscoveryServer(t, yaml, dns, nil)
	refresh(s)
	kept := s.state.Load().sets["kv"].Replica("10.0.0.1:9101")
	if kept == nil {
		t.Fatalf("members %q", memberNames(s, "kv"))
	}
	write := func(y string) {
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lookups := len(dns.lookups())
	write(strings.Replace(yaml, "refresh: 10s", "refresh: 30s", 1))
	if err := s.Reload(path); err != nil {
		t.Fatal(err)
	}
	if s.state.Load().sets["kv"].Replica("10.0.0.1:9101") != kept || len(dns.lookups()) != lookups {
		t.Error("a reload that only changed refresh must keep the members, without a lookup")
	}

	write(strings.Replace(yaml, "kv.test.", "kv2.test.", 1))
	err := s.Reload(path)
	if err == nil || !strings.Contains(err.Error(), path+":4: replica_sets.kv.discovery: lookup") ||
		!strings.Contains(err.Error(), "(not_found): a new discovery must answer before the config goes in force") {
		t.Fatalf("a reload to a name that does not resolve: %v", err)
	}
	if memberNames(s, "kv") != "10.0.0.1:9101 10.0.0.2:9101" {
		t.Errorf("a refused reload changed the members: %q", memberNames(s, "kv"))
	}
	dns.setAddrs("kv2.test.", "10.0.0.3")
	if err := s.Reload(path); err != nil {
		t.Fatal(err)
	}
	if got := memberNames(s, "kv"); got != "10.0.0.3:9101" {
		t.Errorf("after a reload to kv2: members %q", got)
	}
}
