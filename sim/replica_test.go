package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain proves that no test in the package leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testClient returns a client with its own transport, so its idle connections
// are closed when the test ends and goleak sees none of them.
func testClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func startReplica(t *testing.T, name string, p Profile, seed uint64) *Replica {
	t.Helper()
	r, err := NewReplica(name, p, seed)
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

// eventually polls cond a bounded number of times: it waits for an event
// the test caused, and never asserts how long that took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, []byte) {
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

func TestVersions(t *testing.T) {
	p := Profile{StaleFraction: 0.3}
	a := startReplica(t, "r1", p, 9)
	b := startReplica(t, "r1", p, 9) // same name and seed: same stale keys
	c := startReplica(t, "r2", p, 9) // another name: another set
	fresh := startReplica(t, "r3", Profile{}, 9)

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
	cl := testClient(t)
	for i := range 20 {
		k := "key-" + strconv.Itoa(i)
		resp, body := do(t, cl, "GET", a.URL()+"/kv/"+k, "")
		var ans answer
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

func TestRequestKinds(t *testing.T) {
	r := startReplica(t, "r1", Profile{}, 1)
	cl := testClient(t)
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
			resp, _ := do(t, cl, tc.method, r.URL()+tc.path, tc.body)
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

func TestErrors(t *testing.T) {
	r := startReplica(t, "r1", Profile{ErrorRate: 1}, 1)
	cl := testClient(t)
	for range 5 {
		resp, body := do(t, cl, "GET", r.URL()+"/kv/a", "")
		if resp.StatusCode != 500 || !strings.Contains(string(body), "simulated error") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	}
	if st := r.Stats(); st.Errors != 5 || st.Served != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// startRequest sends GET /kv/a in the background and waits until the
// replica has it; the returned channel yields the client's error.
func startRequest(t *testing.T, ctx context.Context, cl *http.Client, r *Replica) <-chan error {
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
	eventually(t, "request reached the replica", func() bool { return r.InFlight() > before })
	return errc
}

func TestHang(t *testing.T) {
	r := startReplica(t, "r1", Profile{Mode: ModeHang}, 1)
	cl := testClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := startRequest(t, ctx, cl, r)

	// A hung replica still answers its control endpoint and warm-up.
	var st Stats
	_, body := do(t, cl, "GET", r.URL()+"/_sim/stats", "")
	if err := json.Unmarshal(body, &st); err != nil || st.Served != 1 || st.InFlight != 1 {
		t.Fatalf("stats %s %v", body, err)
	}
	if resp, _ := do(t, cl, "GET", r.URL()+"/", ""); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d", resp.StatusCode)
	}

	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	eventually(t, "handler exited", func() bool { return r.InFlight() == 0 })
	if got := r.CancelledCount(); got != 1 {
		t.Fatalf("CancelledCount %d, want 1", got)
	}
}

func TestCloseReleasesHung(t *testing.T) {
	r, err := NewReplica("r1", Profile{Mode: ModeHang}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cl := testClient(t)
	errc := startRequest(t, t.Context(), cl, r)
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
func TestLatencyCancelled(t *testing.T) {
	r := startReplica(t, "r1", Profile{Latency: Dist{Kind: "fixed", Value: time.Hour}}, 1)
	cl := testClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	errc := startRequest(t, ctx, cl, r)
	cancel()
	<-errc
	eventually(t, "cancelled counted", func() bool { return r.CancelledCount() == 1 && r.InFlight() == 0 })
}

func TestRefuse(t *testing.T) {
	r := startReplica(t, "r1", Profile{Mode: ModeRefuse}, 1)
	cl := testClient(t)
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
	if resp, _ := do(t, cl, "POST", r.URL()+"/_sim/normal", ""); resp.StatusCode != 200 {
		t.Fatalf("/_sim/normal: %d", resp.StatusCode)
	}
	if resp, _ := do(t, cl, "GET", r.URL()+"/kv/a", ""); resp.StatusCode != 200 {
		t.Fatalf("after normal: %d", resp.StatusCode)
	}
}

func TestControl(t *testing.T) {
	r := startReplica(t, "r1", Profile{Latency: Dist{Kind: "fixed", Value: time.Millisecond}}, 1)
	cl := testClient(t)

	resp, body := do(t, cl, "PUT", r.URL()+"/_sim/profile", `{"error_rate":1,"tail_prob":0.5,"tail_extra":"20ms"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	want := Profile{Latency: Dist{Kind: "fixed", Value: time.Millisecond}, ErrorRate: 1, TailProb: 0.5, TailExtra: 20 * time.Millisecond}
	if got := r.Profile(); got != want {
		t.Fatalf("profile %+v, want %+v", got, want)
	}
	var shown Profile
	_, body = do(t, cl, "GET", r.URL()+"/_sim/profile", "")
	if err := json.Unmarshal(body, &shown); err != nil || shown != want {
		t.Fatalf("GET profile: %s %v", body, err)
	}
	if resp, _ := do(t, cl, "GET", r.URL()+"/kv/a", ""); resp.StatusCode != 500 {
		t.Fatalf("error_rate 1 answered %d", resp.StatusCode)
	}

	for _, bad := range []string{`{"error_rate":1.5}`, `{"latancy":"1ms"}`, `nope`} {
		if resp, body := do(t, cl, "POST", r.URL()+"/_sim/profile", bad); resp.StatusCode != 400 {
			t.Errorf("patch %s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if got := r.Profile(); got != want {
		t.Fatalf("a rejected patch changed the profile to %+v", got)
	}

	for _, m := range []string{"hang", "refuse", "normal"} {
		do(t, cl, "POST", r.URL()+"/_sim/"+m, "")
		if got := modeName(r.Profile().Mode); got != m {
			t.Fatalf("after /_sim/%s mode is %q", m, got)
		}
	}

	before := r.VersionOf("a")
	_, body = do(t, cl, "POST", r.URL()+"/_sim/bump", "")
	if string(body) != "{\"epoch\":1}\n" || r.VersionOf("a") != before+1 {
		t.Fatalf("bump: %s, version %d → %d", body, before, r.VersionOf("a"))
	}

	r.SetProfile(Profile{Mode: "normal"})
	if got := r.Profile(); got != (Profile{}) {
		t.Fatalf("SetProfile: %+v", got)
	}
}

func TestCluster(t *testing.T) {
	c, err := NewCluster([]Spec{
		{Name: "r1"},
		{Name: "r2", Profile: Profile{StaleFraction: 1}},
		{Name: "r3", Profile: Profile{Mode: ModeHang}},
	}, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.URLs()) != 3 || c.Replica("r2") == nil || c.Replica("r9") != nil {
		t.Fatalf("urls %v", c.URLs())
	}
	cl := testClient(t)
	for _, r := range c.Replicas()[:2] {
		do(t, cl, "GET", r.URL()+"/kv/a", "")
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
	do(t, cl, "POST", r2.URL()+"/_sim/bump", "")
	if r1.VersionOf("a") != v+1 || c.Bump() != 2 {
		t.Fatal("bump not shared")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := NewCluster([]Spec{{Name: "a"}, {Name: "a"}}, 1); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := NewCluster([]Spec{{Name: "a"}, {Name: "b", Profile: Profile{ErrorRate: 2}}}, 1); err == nil {
		t.Fatal("invalid profile accepted")
	}
}
