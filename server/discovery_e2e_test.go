package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/internal/dnstest"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
)

// member is one replica behind a discovery set: a loopback server counting its reads
// and connections.
type member struct {
	srv           *httptest.Server
	port          uint16
	reads         atomic.Int64
	opened, ended atomic.Int64
}

func startMember(t *testing.T) *member {
	t.Helper()
	m := &member{}
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			m.reads.Add(1)
		}
		w.Write([]byte("v"))
	}))
	m.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			m.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			m.ended.Add(1)
		}
	}
	m.srv.Start()
	t.Cleanup(m.srv.Close)
	m.port = uint16(m.srv.Listener.Addr().(*net.TCPAddr).Port)
	return m
}

func (m *member) name() string { return "127.0.0.1:" + strconv.Itoa(int(m.port)) }

// The whole path under a steady load: a real DNS server on loopback answers the
// gateway's own resolver (net's); SRV records are how one loopback address carries
// several members (only 127.0.0.1 may be used, so A records could name one member per
// port only). Members are added and removed, and the DNS server fails, times out and
// recovers, while loadtest sends 150 req/s: not one request may fail.
func TestDiscoveryUnderLoadLosesNoRequest(t *testing.T) {
	a, b, c := startMember(t), startMember(t), startMember(t)
	dns := dnstest.Start(t)
	const name = "_http._tcp.kv.test."
	srv := func(ms ...*member) {
		var recs []dnstest.SRV
		for i, m := range ms {
			target := fmt.Sprintf("m%d.kv.test", m.port)
			dns.SetAddrs(target, netip.MustParseAddr("127.0.0.1"))
			recs = append(recs, dnstest.SRV{Target: target, Port: m.port, Priority: uint16(i)})
		}
		dns.SetSRV(name, recs...)
	}
	srv(a, b)
	cfg, err := config.Parse([]byte(`
replica_sets:
  kv:
    warm_connections: 2
    discovery: {srv: "`+name+`", refresh: 1s}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    timeout: 2s
    hedge: {initial_delay: 20ms}
`), "discovery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := servertest.New(t, cfg, server.Options{Resolver: dns.Resolver(), Seed: 5})
	members := func() (names []string, d *server.DiscoveryReport) {
		resp, err := http.Get(gw.AdminURL + "/debug/replicas")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var report struct {
			ReplicaSets []struct {
				Discovery *server.DiscoveryReport `json:"discovery"`
				Replicas  []struct {
					Name string `json:"name"`
				} `json:"replicas"`
			} `json:"replica_sets"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
			t.Fatal(err)
		}
		for _, r := range report.ReplicaSets[0].Replicas {
			names = append(names, r.Name)
		}
		return names, report.ReplicaSets[0].Discovery
	}
	// waitFor polls /debug/replicas until the members are want (at most 10s).
	waitFor := func(want ...*member) {
		t.Helper()
		var wantNames []string
		for _, m := range want {
			wantNames = append(wantNames, m.name())
		}
		exp := slices.Sorted(slices.Values(wantNames))
		var got []string
		for range 200 {
			if got, _ = members(); fmt.Sprint(got) == fmt.Sprint(exp) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("members %v, want %v", got, exp)
	}
	waitFor(a, b)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *loadtest.Result, 1)
	go func() {
		res, err := loadtest.Run(ctx, loadtest.Options{URL: gw.URL + "/kv/{key}", Keys: 100, Rate: 150,
			Duration: 7 * time.Second, Connections: 32, Timeout: 5 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()

	time.Sleep(500 * time.Millisecond)
	srv(a, b, c) // c joins
	waitFor(a, b, c)
	srv(b, c) // a leaves
	waitFor(b, c)
	aReads := a.reads.Load()

	dns.SetMode(dnstest.ServFail)
	time.Sleep(1500 * time.Millisecond)
	dns.SetMode(dnstest.Silent)
	time.Sleep(2500 * time.Millisecond)
	if got, d := members(); len(got) != 2 || d.LastLookup == nil || d.LastLookup.Result == "ok" {
		t.Errorf("while DNS fails: members %v, last lookup %+v; want b and c kept, a failed lookup shown", got, d.LastLookup)
	}
	dns.SetMode(dnstest.Answer)

	res := <-done
	if res == nil {
		t.FailNow()
	}
	sum := res.Summary()
	t.Logf("%d requests, codes %v, errors %v, p99 %.2fms", sum.Requests, sum.Codes, sum.ErrorKinds, sum.Latency.P99)
	if sum.Requests < 500 || sum.Errors != 0 || sum.Codes["200"] != sum.Requests {
		t.Errorf("%d requests: %d without an answer (%v), codes %v; want every one 200", sum.Requests, sum.Errors, sum.ErrorKinds, sum.Codes)
	}
	if c.reads.Load() == 0 {
		t.Error("c joined but got no read")
	}
	// A request that started before a left may still hedge to it; none starts after.
	if late := a.reads.Load() - aReads; late > 5 {
		t.Errorf("a got %d reads after it left", late)
	}
	for i := 0; i < 200 && a.ended.Load() != a.opened.Load(); i++ { // the server sees closes late
		time.Sleep(10 * time.Millisecond)
	}
	if a.opened.Load() == 0 || a.ended.Load() != a.opened.Load() {
		t.Errorf("a left: %d connections opened, %d closed; want all closed", a.opened.Load(), a.ended.Load())
	}

	resp, err := http.Get(gw.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := promText(text)
	for _, result := range []string{"ok", "error", "timeout"} {
		if v := metrics.value("hedgegate_discovery_refresh_total", "set", "kv", "result", result); v < 1 {
			t.Errorf("hedgegate_discovery_refresh_total{result=%q} = %v, want ≥ 1", result, v)
		}
	}
	if strings.Contains(string(text), a.name()) {
		t.Errorf("series of a member that left remain:\n%s", text)
	}
}
