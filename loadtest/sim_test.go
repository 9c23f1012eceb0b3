package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain proves that no test in the package leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// simClient returns a client with its own transport, so its idle connections
// are closed when the test ends and goleak sees none of them.
func simClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func newSimReplica(t *testing.T, name string, p SimProfile, seed uint64) *SimReplica {
	t.Helper()
	r, err := NewSimReplica(name, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// simEventually polls cond a bounded number of times: it waits for an event
// the test caused, and never asserts how long that took.
func simEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func simDo(t *testing.T, c *http.Client, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestParseSimDist(t *testing.T) {
	ms := time.Millisecond
	good := []struct {
		in   string
		want SimDist
	}{
		{"fixed:1ms", SimDist{Kind: "fixed", Value: ms}},
		{"2ms", SimDist{Kind: "fixed", Value: 2 * ms}},
		{" fixed:0s ", SimDist{Kind: "fixed"}},
		{"uniform:1ms-3ms", SimDist{Kind: "uniform", Min: ms, Max: 3 * ms}},
		{"uniform:2ms-2ms", SimDist{Kind: "uniform", Min: 2 * ms, Max: 2 * ms}},
		{"lognormal:median=2ms,sigma=0.5", SimDist{Kind: "lognormal", Median: 2 * ms, Sigma: 0.5}},
		{"lognormal:sigma=1,median=500us", SimDist{Kind: "lognormal", Median: 500 * time.Microsecond, Sigma: 1}},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSimDist(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := ParseSimDist(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q: %+v, %v", got.String(), again, err)
			}
		})
	}
	bad := []string{
		"", "fast", "fixed:", "fixed:-1ms", "fixed:1", "gauss:1ms",
		"uniform:3ms-1ms", "uniform:1ms", "uniform:-1ms-2ms",
		"lognormal:median=2ms", "lognormal:sigma=1", "lognormal:median=2ms,sigma=-1",
		"lognormal:median=2ms,sigma=NaN", "lognormal:median=2ms,sigma=11",
		"lognormal:median=2ms,sigma=1,sigma=2", "lognormal:median=2ms,sigma=1,mu=3",
	}
	for _, in := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			if d, err := ParseSimDist(in); err == nil {
				t.Fatalf("accepted as %+v", d)
			}
		})
	}
}

func FuzzParseDist(f *testing.F) {
	for _, s := range []string{"fixed:1ms", "2ms", "uniform:1ms-3ms", "lognormal:median=2ms,sigma=0.5",
		"lognormal:sigma=1e-3,median=1h", "uniform:0s-2562047h47m16.854775807s", "fixed:1.5µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSimDist(s)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted %q as invalid %+v: %v", s, d, err)
		}
		again, err := ParseSimDist(d.String())
		if err != nil || again != d {
			t.Fatalf("%q → %q → %+v, %v; want %+v", s, d.String(), again, err, d)
		}
		d.Sample(rand.New(rand.NewPCG(1, 2))) // must not panic
	})
}

func TestSimDistSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 4001
	draw := func(d SimDist) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = d.Sample(rng)
		}
		slices.Sort(s)
		return s
	}
	t.Run("zero", func(t *testing.T) {
		if got := (SimDist{}).Sample(rng); got != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		s := draw(SimDist{Kind: "fixed", Value: 3 * time.Millisecond})
		if s[0] != 3*time.Millisecond || s[n-1] != 3*time.Millisecond {
			t.Fatalf("range %v..%v", s[0], s[n-1])
		}
	})
	t.Run("uniform", func(t *testing.T) {
		s := draw(SimDist{Kind: "uniform", Min: time.Millisecond, Max: 3 * time.Millisecond})
		if s[0] < time.Millisecond || s[n-1] > 3*time.Millisecond {
			t.Fatalf("outside bounds: %v..%v", s[0], s[n-1])
		}
		// Quartiles of U(1ms,3ms) are 1.5ms and 2.5ms; 5% slack is many σ at n=4001.
		for _, q := range []struct {
			i    int
			want float64
		}{{n / 4, 1.5e6}, {n / 2, 2e6}, {3 * n / 4, 2.5e6}} {
			if got := float64(s[q.i]); math.Abs(got-q.want) > 0.05*q.want {
				t.Errorf("quantile at %d: %v, want ≈%v", q.i, s[q.i], time.Duration(q.want))
			}
		}
	})
	t.Run("lognormal", func(t *testing.T) {
		d := SimDist{Kind: "lognormal", Median: 2 * time.Millisecond, Sigma: 0.5}
		s := draw(d)
		med := float64(s[n/2])
		if math.Abs(med-2e6) > 0.05*2e6 {
			t.Errorf("median %v, want ≈2ms", s[n/2])
		}
		// The 84th percentile of a lognormal is median·e^σ.
		p84 := float64(s[n*8413/10000])
		if want := 2e6 * math.Exp(0.5); math.Abs(p84-want) > 0.08*want {
			t.Errorf("p84 %v, want ≈%v", time.Duration(p84), time.Duration(want))
		}
	})
	t.Run("lognormal saturates", func(t *testing.T) {
		d := SimDist{Kind: "lognormal", Median: time.Duration(math.MaxInt64 / 2), Sigma: 10}
		for range 100 {
			if v := d.Sample(rng); v < 0 {
				t.Fatalf("overflowed to %v", v)
			}
		}
	})
}

func TestSimDecide(t *testing.T) {
	cases := []struct {
		name        string
		p           SimProfile
		errs, tails float64
		minD, maxD  time.Duration
	}{
		{"calm", SimProfile{Latency: SimDist{Kind: "fixed", Value: time.Millisecond}}, 0, 0, time.Millisecond, time.Millisecond},
		{"errors 0.3", SimProfile{ErrorRate: 0.3}, 0.3, 0, 0, 0},
		{"tail 0.1", SimProfile{TailProb: 0.1, TailExtra: time.Second}, 0, 0.1, 0, time.Second},
		{"everything", SimProfile{ErrorRate: 1, TailProb: 1, TailExtra: time.Second}, 1, 1, time.Second, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, 1))
			const n = 2000
			var errs, tails int
			for range n {
				d := tc.p.simDecide(rng)
				if d.fail {
					errs++
				}
				if d.delay >= time.Second {
					tails++
				}
				if d.delay < tc.minD || d.delay > tc.maxD {
					t.Fatalf("delay %v outside %v..%v", d.delay, tc.minD, tc.maxD)
				}
			}
			// 0.03 is over 4σ of a binomial proportion at n=2000.
			if got := float64(errs) / n; math.Abs(got-tc.errs) > 0.03 {
				t.Errorf("error rate %.3f, want ≈%.2f", got, tc.errs)
			}
			if got := float64(tails) / n; math.Abs(got-tc.tails) > 0.03 {
				t.Errorf("tail rate %.3f, want ≈%.2f", got, tc.tails)
			}
		})
	}
}

func TestParseSimTail(t *testing.T) {
	for _, tc := range []struct {
		in    string
		prob  float64
		extra time.Duration
		ok    bool
	}{
		{"0.02:50ms", 0.02, 50 * time.Millisecond, true},
		{"", 0, 0, true},
		{"0", 0, 0, true},
		{"1:1s", 1, time.Second, true},
		{"1.5:1s", 0, 0, false},
		{"0.1", 0, 0, false},
		{"0.1:-1ms", 0, 0, false},
		{"x:1ms", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, e, err := ParseSimTail(tc.in)
			if (err == nil) != tc.ok || p != tc.prob || e != tc.extra {
				t.Fatalf("got %v %v %v", p, e, err)
			}
		})
	}
}

func TestSimProfileWithOverrides(t *testing.T) {
	base := SimProfile{Latency: SimDist{Kind: "fixed", Value: time.Millisecond}}
	got, err := base.WithOverrides("latency=lognormal:median=2ms,sigma=0.5,tail=0.1:100ms,error=0.3,stale=0.4,mode=hang")
	if err != nil {
		t.Fatal(err)
	}
	want := SimProfile{
		Latency:  SimDist{Kind: "lognormal", Median: 2 * time.Millisecond, Sigma: 0.5},
		TailProb: 0.1, TailExtra: 100 * time.Millisecond, ErrorRate: 0.3, StaleFraction: 0.4, Mode: SimModeHang,
	}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got, err := base.WithOverrides("mode=normal"); err != nil || got != base {
		t.Fatalf("mode=normal: %+v %v", got, err)
	}
	for _, bad := range []string{"speed=1", "error=2", "mode=sleep", "latency=fast", "tail", "stale=-0.1"} {
		if _, err := base.WithOverrides(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSimProfileJSON(t *testing.T) {
	p := SimProfile{
		Latency:  SimDist{Kind: "uniform", Min: time.Millisecond, Max: 2 * time.Millisecond},
		TailProb: 0.5, TailExtra: 40 * time.Millisecond, ErrorRate: 0.1, StaleFraction: 0.2, Mode: SimModeRefuse,
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"latency":"uniform:1ms-2ms","tail_prob":0.5,"tail_extra":"40ms","error_rate":0.1,"stale_fraction":0.2,"mode":"refuse"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var back SimProfile
	if err := json.Unmarshal(b, &back); err != nil || back != p {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`{"latancy":"1ms"}`, `{"error_rate":2}`, `{"mode":"sleep"}`, `{"tail_extra":"soon"}`, `{} {}`} {
		q := p
		if err := q.simApplyPatch([]byte(bad)); err == nil || q != p {
			t.Errorf("patch %s: err %v, profile %+v", bad, err, q)
		}
	}
}

func TestSimVersions(t *testing.T) {
	p := SimProfile{StaleFraction: 0.3}
	a := newSimReplica(t, "r1", p, 9)
	b := newSimReplica(t, "r1", p, 9) // same name and seed: same stale keys
	c := newSimReplica(t, "r2", p, 9) // another name: another set
	fresh := newSimReplica(t, "r3", SimProfile{}, 9)

	const n = 2000
	var stale, differ int
	for i := range n {
		k := "key-" + strconv.Itoa(i)
		f := a.FreshVersion(k)
		if f < 1000 || f >= 2000 || f != fresh.FreshVersion(k) {
			t.Fatalf("fresh version of %s: %d vs %d", k, f, fresh.FreshVersion(k))
		}
		if v := fresh.VersionOf(k); v != f {
			t.Fatalf("replica with StaleFraction 0 served %d for %s, fresh is %d", v, k, f)
		}
		va := a.VersionOf(k)
		if va != f && va != f-1 {
			t.Fatalf("version %d of %s, fresh %d", va, k, f)
		}
		if va == f-1 {
			stale++
		}
		if va != b.VersionOf(k) {
			t.Fatalf("same name and seed disagree on %s", k)
		}
		if va != c.VersionOf(k) {
			differ++
		}
	}
	if got := float64(stale) / n; math.Abs(got-0.3) > 0.04 {
		t.Errorf("stale fraction %.3f, want ≈0.3", got)
	}
	if differ == 0 {
		t.Error("replicas r1 and r2 are stale on exactly the same keys")
	}

	// Over HTTP: the header and the body carry the version VersionOf predicts.
	cl := simClient(t)
	for i := range 20 {
		k := "key-" + strconv.Itoa(i)
		resp, body := simDo(t, cl, "GET", a.URL()+"/kv/"+k, "")
		var ans simAnswer
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatal(err)
		}
		want := a.VersionOf(k)
		if resp.StatusCode != 200 || resp.Header.Get("X-Version") != strconv.FormatInt(want, 10) ||
			ans.Version != want || ans.Key != k || ans.Replica != "r1" || ans.Value == "" {
			t.Fatalf("GET %s: %d %v %+v, want version %d", k, resp.StatusCode, resp.Header, ans, want)
		}
	}
	if st := a.Stats(); st.Served != 20 || st.Stale == 0 {
		t.Errorf("stats %+v", st)
	}

	// A bump is a write: every key's fresh version moves up by one.
	before := fresh.VersionOf("x")
	if e := fresh.Bump(); e != 1 {
		t.Fatalf("epoch %d", e)
	}
	if got := fresh.VersionOf("x"); got != before+1 {
		t.Fatalf("after bump %d, want %d", got, before+1)
	}
}

func TestSimRequestKinds(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{}, 1)
	cl := simClient(t)
	want := strconv.FormatInt(r.VersionOf("k"), 10)
	for _, tc := range []struct {
		method, path, body string
		code               int
		version            string
	}{
		{"GET", "/kv/k", "", 200, want},
		{"HEAD", "/kv/k", "", 200, want},
		{"POST", "/kv/k", "ignored", 200, want},
		{"POST", "/query", `{"key":"k"}`, 200, want},
		{"POST", "/query", `not json`, 400, ""},
		{"GET", "/kv/", "", 400, ""},
		{"DELETE", "/kv/k", "", 405, ""},
		{"GET", "/", "", 200, ""},
		{"HEAD", "/", "", 200, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, _ := simDo(t, cl, tc.method, r.URL()+tc.path, tc.body)
			if resp.StatusCode != tc.code || resp.Header.Get("X-Version") != tc.version {
				t.Fatalf("got %d version %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Version"), tc.code, tc.version)
			}
		})
	}
	// Served counts data requests at arrival, bad ones included; / is a warm-up.
	if st := r.Stats(); st.Served != 6 || st.Warmups != 2 {
		t.Fatalf("stats %+v, want served 6, warmups 2", st)
	}
}

func TestSimErrors(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{ErrorRate: 1}, 1)
	cl := simClient(t)
	for range 5 {
		resp, body := simDo(t, cl, "GET", r.URL()+"/kv/a", "")
		if resp.StatusCode != 500 || !strings.Contains(string(body), "simulated error") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	}
	if st := r.Stats(); st.Errors != 5 || st.Served != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// startSimRequest sends GET /kv/a in the background and waits until the
// replica has it; the returned channel yields the client's error.
func startSimRequest(t *testing.T, ctx context.Context, cl *http.Client, r *SimReplica) <-chan error {
	t.Helper()
	before := r.InFlight()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.URL()+"/kv/a", nil)
		resp, err := cl.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("got an answer: " + resp.Status)
		}
		errc <- err
	}()
	simEventually(t, "request reached the replica", func() bool { return r.InFlight() > before })
	return errc
}

func TestSimHang(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{Mode: SimModeHang}, 1)
	cl := simClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := startSimRequest(t, ctx, cl, r)

	// A hung replica still answers its control endpoint and warm-up.
	var st SimStats
	_, body := simDo(t, cl, "GET", r.URL()+"/_sim/stats", "")
	if err := json.Unmarshal(body, &st); err != nil || st.Served != 1 || st.InFlight != 1 {
		t.Fatalf("stats %s %v", body, err)
	}
	if resp, _ := simDo(t, cl, "GET", r.URL()+"/", ""); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d", resp.StatusCode)
	}

	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	simEventually(t, "handler exited", func() bool { return r.InFlight() == 0 })
	if got := r.CancelledCount(); got != 1 {
		t.Fatalf("CancelledCount %d, want 1", got)
	}
}

func TestSimCloseReleasesHung(t *testing.T) {
	r, err := NewSimReplica("r1", SimProfile{Mode: SimModeHang}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cl := simClient(t)
	errc := startSimRequest(t, t.Context(), cl, r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The client gets a connection error, not an empty 200.
	if err := <-errc; err == nil || strings.Contains(err.Error(), "got an answer") {
		t.Fatalf("client: %v", err)
	}
	if r.InFlight() != 0 || r.CancelledCount() != 0 {
		t.Fatalf("after Close: inflight %d cancelled %d", r.InFlight(), r.CancelledCount())
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A loser that the gateway cancels mid-latency frees its handler at once.
func TestSimLatencyCancelled(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{Latency: SimDist{Kind: "fixed", Value: time.Hour}}, 1)
	cl := simClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := startSimRequest(t, ctx, cl, r)
	cancel()
	<-errc
	simEventually(t, "cancelled counted", func() bool { return r.CancelledCount() == 1 && r.InFlight() == 0 })
}

func TestSimRefuse(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{Mode: SimModeRefuse}, 1)
	cl := simClient(t)
	for _, path := range []string{"/kv/a", "/"} {
		resp, err := cl.Get(r.URL() + path)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s in refuse mode: %s", path, resp.Status)
		}
	}
	if st := r.Stats(); st.Refused < 2 || st.Served < 1 {
		t.Fatalf("stats %+v", st)
	}
	// The control endpoint still works, and heals the replica.
	if resp, _ := simDo(t, cl, "POST", r.URL()+"/_sim/normal", ""); resp.StatusCode != 200 {
		t.Fatalf("/_sim/normal: %d", resp.StatusCode)
	}
	if resp, _ := simDo(t, cl, "GET", r.URL()+"/kv/a", ""); resp.StatusCode != 200 {
		t.Fatalf("after normal: %d", resp.StatusCode)
	}
}

func TestSimControl(t *testing.T) {
	r := newSimReplica(t, "r1", SimProfile{Latency: SimDist{Kind: "fixed", Value: time.Millisecond}}, 1)
	cl := simClient(t)

	resp, body := simDo(t, cl, "PUT", r.URL()+"/_sim/profile", `{"error_rate":1,"tail_prob":0.5,"tail_extra":"20ms"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	want := SimProfile{Latency: SimDist{Kind: "fixed", Value: time.Millisecond}, ErrorRate: 1, TailProb: 0.5, TailExtra: 20 * time.Millisecond}
	if got := r.Profile(); got != want {
		t.Fatalf("profile %+v, want %+v", got, want)
	}
	var shown SimProfile
	_, body = simDo(t, cl, "GET", r.URL()+"/_sim/profile", "")
	if err := json.Unmarshal(body, &shown); err != nil || shown != want {
		t.Fatalf("GET profile: %s %v", body, err)
	}
	if resp, _ := simDo(t, cl, "GET", r.URL()+"/kv/a", ""); resp.StatusCode != 500 {
		t.Fatalf("error_rate 1 answered %d", resp.StatusCode)
	}

	for _, bad := range []string{`{"error_rate":1.5}`, `{"latancy":"1ms"}`, `nope`} {
		if resp, body := simDo(t, cl, "POST", r.URL()+"/_sim/profile", bad); resp.StatusCode != 400 {
			t.Errorf("patch %s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if got := r.Profile(); got != want {
		t.Fatalf("a rejected patch changed the profile to %+v", got)
	}

	for _, m := range []string{"hang", "refuse", "normal"} {
		simDo(t, cl, "POST", r.URL()+"/_sim/"+m, "")
		if got := simModeName(r.Profile().Mode); got != m {
			t.Fatalf("after /_sim/%s mode is %q", m, got)
		}
	}

	before := r.VersionOf("a")
	_, body = simDo(t, cl, "POST", r.URL()+"/_sim/bump", "")
	if string(body) != "{\"epoch\":1}\n" || r.VersionOf("a") != before+1 {
		t.Fatalf("bump: %s, version %d → %d", body, before, r.VersionOf("a"))
	}

	r.SetProfile(SimProfile{Mode: "normal"})
	if got := r.Profile(); got != (SimProfile{}) {
		t.Fatalf("SetProfile: %+v", got)
	}
}

func TestSimCluster(t *testing.T) {
	c, err := NewSimCluster([]SimSpec{
		{Name: "r1"},
		{Name: "r2", Profile: SimProfile{StaleFraction: 1}},
		{Name: "r3", Profile: SimProfile{Mode: SimModeHang}},
	}, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.URLs()) != 3 || c.Replica("r2") == nil || c.Replica("r9") != nil {
		t.Fatalf("urls %v", c.URLs())
	}
	cl := simClient(t)
	for _, r := range c.Replicas()[:2] {
		simDo(t, cl, "GET", r.URL()+"/kv/a", "")
	}
	if got := c.Served(); got != 2 {
		t.Fatalf("Served %d", got)
	}
	// One epoch for all: a bump through any replica's control endpoint is seen by all.
	r1, r2 := c.Replica("r1"), c.Replica("r2")
	if r2.VersionOf("a") != r1.VersionOf("a")-1 {
		t.Fatal("r2 should be one version behind")
	}
	v := r1.VersionOf("a")
	simDo(t, cl, "POST", r2.URL()+"/_sim/bump", "")
	if r1.VersionOf("a") != v+1 || c.Bump() != 2 {
		t.Fatal("bump not shared")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := NewSimCluster([]SimSpec{{Name: "a"}, {Name: "a"}}, 1); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := NewSimCluster([]SimSpec{{Name: "a"}, {Name: "b", Profile: SimProfile{ErrorRate: 2}}}, 1); err == nil {
		t.Fatal("invalid profile accepted")
	}
}
