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

// member is one replica behind a discovery set: a loopback server counting its reads,
// its warm-ups and its connections.
type member struct {
	srv           *httptest.Server
	port          uint16
	reads, warms  atomic.Int64
	readCold      atomic.Bool // a read came before any warm-up
	opened, ended atomic.Int64
}

func startMember(t *testing.T) *member {
	t.Helper()
	m := &member{}
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" { // the warm-up's GET
			m.warms.Add(1)
		} else {
			if m.warms.Load() == 0 {
				m.readCold.Store(true)
			}
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

// eventually polls cond every 20ms for at most 15s (a loaded machine's refreshes come
// late, never this late), failing with what if it never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 750 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after 15s: %s", what)
}

// steadyLoad sends rate req/s to url in back-to-back rounds of one second until stop
// is called, which waits for the round in flight and returns the sum of all rounds:
// no request is cut short, however long the test's phases take on a loaded machine.
func steadyLoad(t *testing.T, url string, rate float64) (stop func() loadtest.Summary) {
	var halt atomic.Bool
	done := make(chan loadtest.Summary, 1)
	go func() {
		total := loadtest.Summary{Codes: map[string]int64{}, ErrorKinds: map[string]int64{}}
		for !halt.Load() {
			res, err := loadtest.Run(context.Background(), loadtest.Options{URL: url, Keys: 100, Rate: rate,
				Duration: time.Second, Connections: 32, Timeout: 5 * time.Second})
			if err != nil {
				t.Error(err)
				break
			}
			sum := res.Summary()
			total.Requests += sum.Requests
			total.Errors += sum.Errors
			for k, v := range sum.Codes {
				total.Codes[k] += v
			}
			for k, v := range sum.ErrorKinds {
				total.ErrorKinds[k] += v
			}
			total.Latency.P99 = max(total.Latency.P99, sum.Latency.P99)
		}
		done <- total
	}()
	return func() loadtest.Summary { halt.Store(true); return <-done }
}

// The whole path under a steady load: a real DNS server on loopback answers the
// gateway's own resolver (net's); SRV records are how one loopback address carries
// several members (only 127.0.0.1 may be used, so A records could name one member per
// port only). Members are added and removed, and the DNS server fails, times out and
// recovers, while loadtest sends 150 req/s: not one request may fail. Each phase waits
// for what the gateway shows (members, counters), not for a time.
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
    connect_timeout: 2s   # a loaded machine's connects must not hold a member back
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
	look := func() discoveryView { return viewDiscovery(t, gw.AdminURL) }
	hasMembers := func(want ...*member) func() bool {
		var names []string
		for _, m := range want {
			names = append(names, m.name())
		}
		slices.Sort(names)
		return func() bool { return slices.Equal(look().members, names) }
	}
	eventually(t, "a and b are the members", hasMembers(a, b))

	stop := steadyLoad(t, gw.URL+"/kv/{key}", 150)
	eventually(t, "the load reaches a and b", func() bool { return a.reads.Load() > 0 && b.reads.Load() > 0 })
	srv(a, b, c) // c joins
	eventually(t, "c joins", hasMembers(a, b, c))
	eventually(t, "c gets reads", func() bool { return c.reads.Load() > 0 })
	srv(b, c) // a leaves
	eventually(t, "a leaves", hasMembers(b, c))
	aReads := a.reads.Load()

	for _, phase := range []struct {
		mode   dnstest.Mode
		result string
	}{{dnstest.ServFail, "error"}, {dnstest.Silent, "timeout"}, {dnstest.Answer, "ok"}} {
		before := look().refreshes[phase.result]
		dns.SetMode(phase.mode)
		eventually(t, "a lookup counted and shown "+phase.result, func() bool {
			v := look()
			return v.refreshes[phase.result] > before && v.last == phase.result
		})
		if v := look(); !slices.Equal(v.members, []string{min(b.name(), c.name()), max(b.name(), c.name())}) {
			t.Errorf("after a lookup %s: members %v; want b and c kept", phase.result, v.members)
		}
	}
	sum := stop()

	t.Logf("%d requests, codes %v, errors %v, worst round's p99 %.2fms", sum.Requests, sum.Codes, sum.ErrorKinds, sum.Latency.P99)
	if sum.Requests < 300 || sum.Errors != 0 || sum.Codes["200"] != sum.Requests {
		t.Errorf("%d requests: %d without an answer (%v), codes %v; want at least 300, every one 200",
			sum.Requests, sum.Errors, sum.ErrorKinds, sum.Codes)
	}
	if c.readCold.Load() {
		t.Error("c got a read before its warm-up: a new member must be warmed before traffic")
	}
	// A request that started before a left may still hedge to it; none starts after.
	if late := a.reads.Load() - aReads; late > 5 {
		t.Errorf("a got %d reads after it left", late)
	}
	eventually(t, "a's connections all closed (the server sees closes late)", func() bool {
		return a.opened.Load() > 0 && a.ended.Load() == a.opened.Load()
	})
	if text := look().metrics; strings.Contains(text, a.name()) {
		t.Errorf("series of a member that left remain:\n%s", text)
	}
}

// discoveryView is what the admin port shows of the first replica set: its members,
// its last lookup's result, its refreshes by result and the whole /metrics text.
type discoveryView struct {
	members   []string
	last      string
	refreshes map[string]float64
	metrics   string
}

func viewDiscovery(t *testing.T, admin string) discoveryView {
	t.Helper()
	var report struct {
		ReplicaSets []struct {
			Discovery *server.DiscoveryReport `json:"discovery"`
			Replicas  []struct {
				Name string `json:"name"`
			} `json:"replicas"`
		} `json:"replica_sets"`
	}
	var v discoveryView
	get := func(path string) []byte {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	if err := json.Unmarshal(get("/debug/replicas"), &report); err != nil {
		t.Fatal(err)
	}
	for _, r := range report.ReplicaSets[0].Replicas {
		v.members = append(v.members, r.Name)
	}
	slices.Sort(v.members)
	if d := report.ReplicaSets[0].Discovery; d != nil && d.LastLookup != nil {
		v.last = d.LastLookup.Result
	}
	v.metrics = string(get("/metrics"))
	v.refreshes = map[string]float64{}
	for _, result := range []string{"ok", "not_found", "empty", "timeout", "error"} {
		v.refreshes[result] = promText(v.metrics).value("hedgegate_discovery_refresh_total", "set", "kv", "result", result)
	}
	return v
}
