package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/replicas"
	"github.com/hedgegate/hedgegate/sim"
)

// These scenarios prove issue 3's "what it must show" end to end: simulated replicas,
// the gateway and a client over loopback. Every answer is inspected, so they send real
// requests one by one (a bounded number, a few at a time) instead of the generator.

// quorumVariant is one way of reading a key through a quorum route.
type quorumVariant struct {
	name   string
	route  string // route name, for metrics
	method string
	prefix string // path prefix the route matches before /kv/{key}
}

// quorumVariants are the four routes quorumRoutes builds: header or JSON-pointer
// versions, over GET and over POST reads. Each has its own path prefix, stripped
// before the replica: the router keeps one handler per pattern, so a GET route and a
// POST route cannot share one (see the closing note of the quorum scenario work).
var quorumVariants = []quorumVariant{
	{"header/GET", "hdr-get", http.MethodGet, ""},
	{"header/POST", "hdr-post", http.MethodPost, "/p"},
	{"json_pointer/GET", "json-get", http.MethodGet, "/j"},
	{"json_pointer/POST", "json-post", http.MethodPost, "/jp"},
}

// quorumRoutes is the routes YAML for quorumVariants, each with the quorum block
// quorumYAML (without version) and extra route settings.
func quorumRoutes(quorumYAML, extra string) string {
	var sb strings.Builder
	for _, v := range quorumVariants {
		version := "{header: X-Version}"
		if strings.HasPrefix(v.route, "json") {
			version = "{json_pointer: /version}"
		}
		fmt.Fprintf(&sb, "- name: %s\n  match: %s/kv/{key}\n  strip_prefix: %q\n  methods: [%s]\n  replica_set: kv\n  strategy: quorum\n",
			v.route, v.prefix, v.prefix, v.method)
		fmt.Fprintf(&sb, "  quorum: {read: 2, version: %s, %s}\n", version, quorumYAML)
		if extra != "" {
			sb.WriteString(indent(extra, "  "))
		}
	}
	return sb.String()
}

// read sends one read of key through v; POST reads carry a JSON query body.
func (g *gateway) read(t testing.TB, v quorumVariant, key string) answer {
	var body []byte
	if v.method == http.MethodPost {
		body = []byte(`{"key":"` + key + `","consistent":true}`)
	}
	return g.do(t, v.method, v.prefix+"/kv/"+key, body)
}

// simBody is a simulated replica's data answer.
type simBody struct {
	Key     string `json:"key"`
	Version int64  `json:"version"`
	Replica string `json:"replica"`
}

// errBody is the gateway's error answer.
type errBody struct {
	Error    string `json:"error"`
	Route    string `json:"route"`
	Attempts []struct {
		Replica string `json:"replica"`
		Error   string `json:"error"`
		Version string `json:"version"`
	} `json:"attempts"`
}

// parallelKeys runs fn for keys prefix-0 .. prefix-(n-1), on workers goroutines.
func parallelKeys(n, workers int, prefix string, fn func(key string)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				fn(prefix + "-" + strconv.FormatInt(i, 10))
			}
		})
	}
	wg.Wait()
}

// tally counts a scenario's answers.
type tally struct {
	mu                  sync.Mutex
	requests, ok, fresh int
	codes               map[int]int
	staleKeys           int // keys the lagging replica serves old
	quorumHeader        map[string]int
}

func newTally() *tally { return &tally{codes: map[int]int{}, quorumHeader: map[string]int{}} }

func (c *tally) String() string {
	return fmt.Sprintf("requests=%d ok=%d (%.4f) fresh=%d (%.4f of ok) codes=%v X-Quorum=%v stale-keys=%d",
		c.requests, c.ok, float64(c.ok)/float64(max(c.requests, 1)), c.fresh,
		float64(c.fresh)/float64(max(c.ok, 1)), c.codes, c.quorumHeader, c.staleKeys)
}

// checkFresh asserts that a successful answer is the fresh version of key everywhere
// it shows: X-Version, X-Quorum-Version and the body. It reports whether it was.
func checkFresh(t *testing.T, a answer, key string, fresh int64) bool {
	t.Helper()
	want := strconv.FormatInt(fresh, 10)
	var b simBody
	if err := json.Unmarshal(a.body, &b); err != nil {
		t.Errorf("key %s: body %q: %v", key, a.body, err)
		return false
	}
	if got := a.header.Get("X-Version"); got != want || b.Version != fresh || b.Key != key ||
		a.header.Get("X-Quorum-Version") != want {
		t.Errorf("key %s: served X-Version %q, X-Quorum-Version %q, body version %d of key %q; fresh is %d",
			key, got, a.header.Get("X-Quorum-Version"), b.Version, b.Key, fresh)
		return false
	}
	return true
}

func lagging(p sim.Profile, fraction float64) sim.Profile {
	p.StaleFraction = fraction
	return p
}

func hung(p sim.Profile) sim.Profile {
	p.Mode = sim.ModeHang
	return p
}

// Issue 3, item 1: one replica serves an older version for 40% of keys; with read 2
// and majority every successful answer is fresh, over GET and POST, header and JSON
// pointer versions alike.
func TestQuorumScenarioLaggingReplicaNeverLeaks(t *testing.T) {
	const keys = 300
	g := startGateway(t, []sim.Profile{fast(), fast(), lagging(fast(), 0.4)},
		quorumRoutes("conflict: majority", "timeout: 2s"))
	r3 := g.cluster.Replica("r3")
	for _, v := range quorumVariants {
		t.Run(v.name, func(t *testing.T) {
			c := newTally()
			parallelKeys(keys, 6, "lag-"+v.route, func(key string) {
				fresh := r3.FreshVersion(key)
				a := g.read(t, v, key)
				ok := a.status == http.StatusOK && checkFresh(t, a, key, fresh)
				if a.status != http.StatusOK {
					t.Errorf("key %s: %d %s", key, a.status, a.body)
				}
				c.mu.Lock()
				defer c.mu.Unlock()
				c.requests++
				c.codes[a.status]++
				c.quorumHeader[a.header.Get("X-Quorum")]++
				if r3.VersionOf(key) != fresh {
					c.staleKeys++
				}
				if a.status == http.StatusOK {
					c.ok++
					if ok {
						c.fresh++
					}
				}
			})
			t.Log(c)
			if r := float64(c.ok) / float64(c.requests); r < 0.999 {
				t.Errorf("success %.4f, want ≥ 0.999", r)
			}
			if c.fresh != c.ok {
				t.Errorf("%d of %d successful answers were not fresh, want all", c.ok-c.fresh, c.ok)
			}
			// Answers are decided as soon as two agree, so the header is always 2/3.
			if c.quorumHeader["2/3"] != c.ok {
				t.Errorf("X-Quorum values %v, want 2/3 on every answer", c.quorumHeader)
			}
			// The scenario must really exercise the lagging replica.
			if c.staleKeys < keys/4 || c.staleKeys > keys*3/5 {
				t.Fatalf("r3 lags on %d of %d keys, want about 40%%", c.staleKeys, keys)
			}

			m := g.metrics(t)
			if n := m.value("hedgegate_quorum_results_total", "route", v.route, "result", "agree"); n != keys {
				t.Errorf("quorum results agree = %v, want %d", n, keys)
			}
			for _, res := range []string{"latest", "no_quorum", "stale", "deadline"} {
				if n := m.value("hedgegate_quorum_results_total", "route", v.route, "result", res); n != 0 {
					t.Errorf("quorum results %s = %v, want 0", res, n)
				}
			}
			div := map[string]float64{}
			for _, rep := range []string{"r1", "r2", "r3"} {
				div[rep] = m.value("hedgegate_quorum_divergence_total", "route", v.route, "replica", rep)
			}
			t.Logf("divergence by replica: %v", div)
			// r3's old answer is counted whenever it arrived before the decision: it
			// is one of the first two about two times in three.
			if div["r3"] < float64(c.staleKeys)/4 || div["r3"] > float64(c.staleKeys) || div["r1"] != 0 || div["r2"] != 0 {
				t.Errorf("divergence %v: want only r3, on at most its %d stale keys", div, c.staleKeys)
			}
		})
	}
}

// Issue 3, items 2 and 3: a second replica hangs. Under majority, keys on which the
// two live replicas disagree fail with 502 or 504 and a body naming each replica's
// version or error; keys they agree on succeed. Under latest with numeric versions,
// the highest version is served. Both when the hung attempt times out before the
// deadline (attempt_timeout 500ms) and when only the deadline ends it. The margins
// are wide because a 1ms replica can take 100ms on a loaded machine under -race.
func TestQuorumScenarioHungAndLaggingReplicas(t *testing.T) {
	const keys = 120
	for _, tc := range []struct {
		name, conflict, attemptTimeout string
	}{
		{"majority/attempt timeout", "majority", "500ms"},
		{"majority/deadline", "majority", "auto"},
		{"latest/attempt timeout", "latest", "500ms"},
		{"latest/deadline", "latest", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Most of the time is spent waiting on the hung replica, so cases run in
			// parallel, with wide margins: a 1ms replica once answered after 200ms
			// under -race while other packages' tests ran, and a wall-clock bound must
			// not decide the outcome.
			t.Parallel()
			g := startGateway(t, []sim.Profile{fast(), hung(fast()), lagging(fast(), 0.4)},
				quorumRoutes("conflict: "+tc.conflict, "timeout: 1200ms\nattempt_timeout: "+tc.attemptTimeout))
			r3 := g.cluster.Replica("r3")
			for _, v := range quorumVariants {
				t.Run(v.name, func(t *testing.T) {
					t.Parallel()
					c := newTally()
					parallelKeys(keys, 16, "hung-"+v.route, func(key string) {
						fresh := r3.FreshVersion(key)
						disagree := r3.VersionOf(key) != fresh
						a := g.read(t, v, key)
						c.mu.Lock()
						c.requests++
						c.codes[a.status]++
						c.quorumHeader[a.header.Get("X-Quorum")]++
						if disagree {
							c.staleKeys++
						}
						c.mu.Unlock()
						if a.status == http.StatusOK {
							ok := checkFresh(t, a, key, fresh)
							c.mu.Lock()
							c.ok++
							if ok {
								c.fresh++
							}
							c.mu.Unlock()
						}
						switch {
						case !disagree && a.status != http.StatusOK:
							t.Errorf("%s key %s: r1 and r3 agree, got %d %s", v.name, key, a.status, a.body)
						case disagree && tc.conflict == "latest":
							if a.status != http.StatusOK || a.header.Get("X-Quorum") != "1/3" {
								t.Errorf("%s key %s: latest should serve the highest version: %d X-Quorum %q %s",
									v.name, key, a.status, a.header.Get("X-Quorum"), a.body)
							}
						case disagree:
							checkNoQuorumBody(t, v, key, a, fresh)
						}
					})
					t.Logf("%s: %v", v.name, c)
					if c.fresh != c.ok {
						t.Errorf("%s: %d of %d successful answers were not fresh", v.name, c.ok-c.fresh, c.ok)
					}
					if c.staleKeys < keys/5 || c.staleKeys == keys {
						t.Fatalf("%s: r3 lags on %d of %d keys: the scenario needs both kinds of key", v.name, c.staleKeys, keys)
					}
					m := g.metrics(t)
					result := func(r string) int {
						return int(m.value("hedgegate_quorum_results_total", "route", v.route, "result", r))
					}
					if result("agree") != keys-c.staleKeys {
						t.Errorf("%s: agree = %d, want the %d keys r1 and r3 agree on", v.name, result("agree"), keys-c.staleKeys)
					}
					if tc.conflict == "latest" {
						if result("latest") != c.staleKeys {
							t.Errorf("%s: latest = %d, want %d", v.name, result("latest"), c.staleKeys)
						}
					} else {
						failed := c.codes[http.StatusBadGateway] + c.codes[http.StatusGatewayTimeout]
						if failed != c.staleKeys || result("no_quorum")+result("deadline") != failed ||
							result("deadline") != c.codes[http.StatusGatewayTimeout] {
							t.Errorf("%s: codes %v, no_quorum %d, deadline %d: want one failure per stale key (%d)",
								v.name, c.codes, result("no_quorum"), result("deadline"), c.staleKeys)
						}
						if tc.attemptTimeout != "auto" && c.codes[http.StatusGatewayTimeout] != 0 {
							t.Errorf("%s: %d answers 504: the hung attempt times out at 500ms, long before the 1200ms deadline",
								v.name, c.codes[http.StatusGatewayTimeout])
						}
					}
				})
			}
		})
	}
}

// checkNoQuorumBody asserts a refusal of a key r1 and r3 disagree on: 502 or 504, and
// a JSON body giving r1's fresh version, r3's old one and r2's error.
func checkNoQuorumBody(t *testing.T, v quorumVariant, key string, a answer, fresh int64) {
	t.Helper()
	if a.status != http.StatusBadGateway && a.status != http.StatusGatewayTimeout {
		t.Errorf("%s key %s: r1 and r3 disagree and r2 hangs: got %d %s, want 502 or 504", v.name, key, a.status, a.body)
		return
	}
	var e errBody
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Errorf("%s key %s: error body %q: %v", v.name, key, a.body, err)
		return
	}
	got := map[string]string{}
	for _, at := range e.Attempts {
		got[at.Replica] = "version " + at.Version
		if at.Version == "" {
			got[at.Replica] = "error " + at.Error
		}
	}
	want := map[string]string{
		"r1": "version " + strconv.FormatInt(fresh, 10),
		"r3": "version " + strconv.FormatInt(fresh-1, 10),
	}
	if e.Route != v.route || len(e.Attempts) != 3 || got["r1"] != want["r1"] || got["r3"] != want["r3"] ||
		!strings.HasPrefix(got["r2"], "error timeout") {
		t.Errorf("%s key %s: %d body %s: want route %s and attempts r1 %s, r3 %s, r2 a timeout",
			v.name, key, a.status, a.body, v.route, want["r1"], want["r3"])
	}
}

// Issue 3, item 4: once the fresh version was served, a quorum that can only agree on
// the older one is refused with 502 "stale quorum", while a key never read before is
// served whatever the quorum agrees on.
func TestQuorumScenarioMonotonicFloorRefusesOlderQuorum(t *testing.T) {
	g := startGateway(t, []sim.Profile{fast(), fast(), fast()},
		quorumRoutes("conflict: majority, monotonic: {enabled: true, max_keys: 1000}", ""))
	r1, r2 := g.cluster.Replica("r1"), g.cluster.Replica("r2")
	for _, v := range quorumVariants {
		t.Run(v.name, func(t *testing.T) {
			for _, r := range []*sim.Replica{r1, r2} {
				r.SetProfile(lagging(r.Profile(), 0))
			}
			key, unread := "floor-"+v.route, "unread-"+v.route
			fresh := r1.FreshVersion(key)
			if a := g.read(t, v, key); a.status != http.StatusOK || !checkFresh(t, a, key, fresh) {
				t.Fatalf("first read: %d %s", a.status, a.body)
			}
			// r1 and r2 now lag on every key: the only quorum is on the older version.
			for _, r := range []*sim.Replica{r1, r2} {
				r.SetProfile(lagging(r.Profile(), 1))
			}
			for i := range 3 {
				a := g.read(t, v, key)
				var e errBody
				json.Unmarshal(a.body, &e)
				if a.status != http.StatusBadGateway || !strings.HasPrefix(e.Error, "stale quorum") {
					t.Fatalf("read %d after the floor was set: %d %s, want 502 stale quorum", i, a.status, a.body)
				}
				for _, at := range e.Attempts {
					if at.Replica != "r3" && at.Version != strconv.FormatInt(fresh-1, 10) {
						t.Errorf("attempt %+v: want the lagging replicas' version %d", at, fresh-1)
					}
				}
			}
			// Without a floor the same agreement is served: it is the floor that refused.
			unreadFresh := r1.FreshVersion(unread)
			a := g.read(t, v, unread)
			if a.status != http.StatusOK || a.header.Get("X-Version") != strconv.FormatInt(unreadFresh-1, 10) {
				t.Errorf("key never served: %d X-Version %q, want 200 with the agreed %d", a.status, a.header.Get("X-Version"), unreadFresh-1)
			}
			// Healed: the fresh version is served again.
			r1.SetProfile(lagging(r1.Profile(), 0))
			if a := g.read(t, v, key); a.status != http.StatusOK || !checkFresh(t, a, key, fresh) {
				t.Errorf("after r1 healed: %d %s", a.status, a.body)
			}
			m := g.metrics(t)
			if n := m.value("hedgegate_quorum_results_total", "route", v.route, "result", "stale"); n != 3 {
				t.Errorf("quorum results stale = %v, want 3", n)
			}
			if n := m.value("hedgegate_quorum_results_total", "route", v.route, "result", "agree"); n != 3 {
				t.Errorf("quorum results agree = %v, want 3", n)
			}
		})
	}
}

// BenchmarkQuorum2of3 measures a 2-of-3 quorum read against a read of the
// second-fastest replica, interleaved over the same run, on replicas that answer in a
// fixed 1ms, 2ms and 4ms. Issue 3 asks p50(quorum) ≤ 1.1 × p50(second fastest).
// Client, gateway and replicas share one process here, so replica-side work (the
// cancelled loser noticing its client gone, accepting the replacement connection)
// competes with the gateway for the same cores, as it would not in production.
//
//   - "gateway": sequential reads of the quorum route and of a route whose set holds
//     only r2, both through the gateway, so both pay the same client hop.
//     direct-p50-ms is r2 read without the gateway, for the hop's own cost.
//   - "open": the same two routes under one open-loop Poisson load at once (run with
//     -benchtime 1x: one iteration is 10s).
//   - "engine": the route's hedge.Plan called in process against r2 read directly:
//     both cross one hop, and the difference is the quorum's own cost.
func BenchmarkQuorum2of3(b *testing.B) {
	fixed := func(d time.Duration) sim.Profile {
		return sim.Profile{Latency: sim.Dist{Kind: sim.DistFixed, Value: d}}
	}
	const route = "- name: q\n  match: /kv/{key}\n  replica_set: kv\n  strategy: quorum\n  quorum: {read: 2, version: {header: X-Version}}\n"
	cluster, err := sim.NewCluster([]sim.Spec{
		{Name: "r1", Profile: fixed(time.Millisecond)},
		{Name: "r2", Profile: fixed(2 * time.Millisecond)},
		{Name: "r3", Profile: fixed(4 * time.Millisecond)},
	}, 7)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cluster.Close() })
	second := cluster.Replica("r2").URL()
	g := serveGateway(b, cluster,
		fmt.Sprintf("second:\n  warm_connections: 2\n  replicas: [{name: r2, url: %q}]\n", second+"/kv"),
		route+"- name: one\n  match: /one/{key}\n  strip_prefix: /one\n  replica_set: second\n")
	read := func(url string) time.Duration {
		start := time.Now()
		resp, err := g.client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, body, err)
		}
		return time.Since(start)
	}

	u := cluster.URLs()
	cfg, err := config.Parse([]byte(fmt.Sprintf("replica_sets:\n  kv:\n    replicas:\n      - {name: r1, url: %q}\n      - {name: r2, url: %q}\n      - {name: r3, url: %q}\nroutes:\n%s",
		u[0], u[1], u[2], indent(route, "  "))), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	set, err := replicas.NewSet("kv", cfg.ReplicaSets["kv"], cfg.Latency, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	plan, err := hedge.NewPlan(cfg.Routes[0], set, hedge.Options{MinSamples: cfg.Latency.MinSamples})
	if err != nil {
		b.Fatal(err)
	}
	engine := func(path string) time.Duration {
		start := time.Now()
		req, err := http.NewRequest(http.MethodGet, "http://gateway.invalid"+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := plan.Do(ctx, req, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Response.Body)
		// The caller has its answer here; Close then cancels and waits for the loser,
		// which no client waits for.
		elapsed := time.Since(start)
		res.Close()
		if err != nil {
			b.Fatal(err)
		}
		return elapsed
	}

	b.Run("gateway", func(b *testing.B) {
		for i := range 50 { // warm every path's connections
			k := "/warm-" + strconv.Itoa(i)
			read(g.base + "/kv" + k)
			read(g.base + "/one" + k)
			read(second + "/kv" + k)
		}
		var quorum, one, direct []time.Duration
		for i := 0; b.Loop(); i++ {
			k := "/k" + strconv.Itoa(i%1000)
			quorum = append(quorum, read(g.base+"/kv"+k))
			one = append(one, read(g.base+"/one"+k))
			direct = append(direct, read(second+"/kv"+k))
		}
		q, s := p50ms(quorum), p50ms(one)
		b.ReportMetric(q, "quorum-p50-ms")
		b.ReportMetric(s, "second-p50-ms")
		b.ReportMetric(q/s, "p50-ratio")
		b.ReportMetric(p50ms(direct), "direct-p50-ms")
		b.ReportMetric(0, "ns/op")
	})
	// Whatever work a read leaves behind (a cancelled loser, a replacement connection)
	// lands on random later requests of either route, rather than on the next read of
	// a fixed sequence.
	b.Run("open", func(b *testing.B) {
		const rate = 200 // per route
		for b.Loop() {
			var wg sync.WaitGroup
			sums := make([]loadtest.Summary, 2)
			for i, path := range []string{"/kv/k{key}", "/one/k{key}"} {
				wg.Go(func() {
					res, err := loadtest.Run(context.Background(), loadtest.Options{
						URL: g.base + path, Rate: rate, Duration: 10 * time.Second, Keys: 1000, Poisson: true, Seed: int64(i + 1),
					})
					if err != nil {
						b.Error(err)
						return
					}
					sums[i] = res.Summary()
				})
			}
			wg.Wait()
			q, s := sums[0].Latency.P50, sums[1].Latency.P50
			b.ReportMetric(q, "quorum-p50-ms")
			b.ReportMetric(s, "second-p50-ms")
			b.ReportMetric(q/s, "p50-ratio")
			b.ReportMetric(sums[0].Latency.P99, "quorum-p99-ms")
			b.ReportMetric(sums[1].Latency.P99, "second-p99-ms")
			b.ReportMetric(0, "ns/op")
			if sums[0].OK != sums[0].Requests || sums[1].OK != sums[1].Requests {
				b.Errorf("quorum %d/%d ok, second %d/%d ok", sums[0].OK, sums[0].Requests, sums[1].OK, sums[1].Requests)
			}
		}
	})
	b.Run("engine", func(b *testing.B) {
		for i := range 50 {
			k := "/kv/warm-" + strconv.Itoa(i)
			engine(k)
			read(second + k)
		}
		var quorum, direct []time.Duration
		for i := 0; b.Loop(); i++ {
			k := "/kv/k" + strconv.Itoa(i%1000)
			quorum = append(quorum, engine(k))
			direct = append(direct, read(second+k))
		}
		q, s := p50ms(quorum), p50ms(direct)
		b.ReportMetric(q, "quorum-p50-ms")
		b.ReportMetric(s, "second-p50-ms")
		b.ReportMetric(q/s, "p50-ratio")
		b.ReportMetric(0, "ns/op")
	})
}

func p50ms(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e6
}
