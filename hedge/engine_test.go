package hedge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// do runs one request and returns the served body, closing the result.
func do(t *testing.T, p *Plan, req *http.Request, body []byte) (string, *Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.Do(ctx, req, body)
	if err != nil {
		return "", nil, err
	}
	defer res.Close()
	b, err := io.ReadAll(res.Response.Body)
	if err != nil {
		t.Fatalf("reading winner body: %v", err)
	}
	return string(b), res, nil
}

func urls(bs ...*backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.srv.URL
	}
	return out
}

func TestHedgeFastPrimaryNeedsNoHedge(t *testing.T) {
	r1, r2 := newBackend(t, "r1", nil), newBackend(t, "r2", nil)
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(r1, r2), "hedge: {initial_delay: 5s}", Options{Observer: obs})
	for range 20 {
		body, res, err := do(t, p, get(t, "/kv/a"), nil)
		if err != nil || body != "r1" || res.Kind != KindPrimary {
			t.Fatalf("got %q %v err %v, want r1's answer from the primary", body, res, err)
		}
	}
	if n := r2.calls.Load(); n != 0 {
		t.Errorf("r2 got %d calls; a primary that answers before the hedge delay needs no hedge", n)
	}
	if obs.wins != 0 {
		t.Errorf("hedge wins = %d, want 0", obs.wins)
	}
}

// On the runtime timer and on the gateway's fine timer (Options.FineTimers).
func TestHedgeWinsOverHungPrimaryAndCancelsIt(t *testing.T) {
	for _, fine := range []bool{false, true} {
		t.Run(fmt.Sprintf("FineTimers=%v", fine), func(t *testing.T) { testHedgeWinsOverHungPrimary(t, fine) })
	}
}

func testHedgeWinsOverHungPrimary(t *testing.T, fine bool) {
	slow := newBackend(t, "slow", hang)
	fast := newBackend(t, "fast", answerAfter(slow, "fast"))
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(slow, fast), "hedge: {initial_delay: 5ms}", Options{Observer: obs, FineTimers: fine})

	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body != "fast" || res.Kind != KindHedge || res.Replica != "r2" {
		t.Fatalf("served %q from %s (%v), want the hedge to r2", body, res.Replica, res.Kind)
	}
	// Close returned, so the loser's context is cancelled and its goroutine gone; the
	// slow replica's handler sees its client leave.
	waitFor(t, func() bool { return slow.cancelled.Load() == 1 }, "the hung primary was not cancelled")
	if obs.wins != 1 || obs.count("r1/primary") != 1 || obs.count("r2/hedge") != 1 {
		t.Errorf("observer: wins=%d attempts=%v", obs.wins, obs.attempts)
	}
}

func TestRetryGoesToAnotherReplicaOn5xx(t *testing.T) {
	bad := newBackend(t, "bad", status(http.StatusServiceUnavailable))
	good := newBackend(t, "good", nil)
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(bad, good), "hedge: {initial_delay: 5s}", Options{Observer: obs})
	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil || body != "good" || res.Kind != KindRetry {
		t.Fatalf("got %q %+v %v, want good's answer via a retry", body, res, err)
	}
	if bad.calls.Load() != 1 || obs.count("r2/retry") != 1 {
		t.Errorf("bad calls=%d attempts=%v", bad.calls.Load(), obs.attempts)
	}
}

func TestRetryOnRefusedConnection(t *testing.T) {
	good := newBackend(t, "good", nil)
	p, _ := newTestPlan(t, []string{deadURL(t), good.srv.URL}, "hedge: {initial_delay: 5s}", Options{})
	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil || body != "good" || res.Kind != KindRetry {
		t.Fatalf("got %q %+v %v, want good's answer via a retry", body, res, err)
	}
}

func TestAll5xxPassesTheLastAnswerThrough(t *testing.T) {
	a := newBackend(t, "a", status(http.StatusInternalServerError))
	b := newBackend(t, "b", status(http.StatusServiceUnavailable))
	p, _ := newTestPlan(t, urls(a, b), "hedge: {initial_delay: 5s, max_attempts: 2}", Options{})
	body, res, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil {
		t.Fatalf("want the replicas' own answer passed through, got %v", err)
	}
	if res.Response.StatusCode != 503 || body != "status 503" {
		t.Errorf("got %d %q, want the last answer: 503 \"status 503\"", res.Response.StatusCode, body)
	}
}

func TestNoHTTPAnswerIsAnErrorListingEveryAttempt(t *testing.T) {
	p, _ := newTestPlan(t, []string{deadURL(t), deadURL(t)}, "hedge: {initial_delay: 5s}", Options{})
	_, _, err := do(t, p, get(t, "/kv/a"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeAllFailed {
		t.Fatalf("got %v, want an *Error with OutcomeAllFailed", err)
	}
	// max_attempts 3 over two replicas: a retry never goes back to a replica that
	// failed, so two attempts are all there is.
	if len(e.Attempts) != 2 || e.Attempts[0].Replica != "r1" || e.Attempts[1].Replica != "r2" {
		t.Fatalf("attempts = %+v, want r1 then r2 only", e.Attempts)
	}
	for _, a := range e.Attempts {
		if !strings.HasPrefix(a.Error, "connect_failure") {
			t.Errorf("attempt %+v: want a connect_failure", a)
		}
	}
}

func Test4xxIsFinalUnlessListed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retryOn  string
		wantBody string
	}{
		{"404 is final by default", "", "status 404"},
		{"404 listed is retried", "retry: {on: [404]}", "good"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			missing := newBackend(t, "missing", status(http.StatusNotFound))
			good := newBackend(t, "good", nil)
			p, _ := newTestPlan(t, urls(missing, good), "hedge: {initial_delay: 5s}\n"+tc.retryOn, Options{})
			body, _, err := do(t, p, get(t, "/kv/a"), nil)
			if err != nil || body != tc.wantBody {
				t.Fatalf("got %q %v, want %q", body, err, tc.wantBody)
			}
		})
	}
}

func TestEmptyBudgetSendsNoHedge(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
			return false
		case <-time.After(30 * time.Millisecond):
		}
		w.Write([]byte("slow"))
		return true
	})
	fast := newBackend(t, "fast", nil)
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(slow, fast),
		"hedge: {initial_delay: 1ms}\nbudget: {ratio: 0, min_per_second: 0}", Options{Observer: obs})
	body, _, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil || body != "slow" {
		t.Fatalf("got %q %v, want the slow primary's answer", body, err)
	}
	if fast.calls.Load() != 0 || obs.denied != 1 {
		t.Errorf("fast calls=%d denied=%d: with an empty budget the hedge must be denied and counted once",
			fast.calls.Load(), obs.denied)
	}
}

func TestDeadlineIs504WithDetail(t *testing.T) {
	a, b := newBackend(t, "a", hang), newBackend(t, "b", hang)
	p, _ := newTestPlan(t, urls(a, b), "hedge: {initial_delay: 1ms}", Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Do(ctx, get(t, "/kv/a"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Outcome != OutcomeDeadline {
		t.Fatalf("got %v, want OutcomeDeadline", err)
	}
	if len(e.Attempts) != 2 {
		t.Errorf("attempts = %+v, want the primary and its hedge", e.Attempts)
	}
	waitFor(t, func() bool { return a.cancelled.Load()+b.cancelled.Load() == 2 }, "attempts outlived the deadline")
}

func TestParallelSendsFanoutAtOnce(t *testing.T) {
	bs := []*backend{newBackend(t, "a", hang), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	obs := newRecorder()
	p, _ := newTestPlan(t, urls(bs...), "strategy: parallel\nparallel: {fanout: 2}", Options{Observer: obs})
	body, _, err := do(t, p, get(t, "/kv/a"), nil)
	if err != nil || body != "b" {
		t.Fatalf("got %q %v, want b (a hangs)", body, err)
	}
	if bs[2].calls.Load() != 0 || obs.count("r1/primary") != 1 || obs.count("r2/primary") != 1 {
		t.Errorf("attempts=%v c calls=%d: want exactly the fan-out of 2", obs.attempts, bs[2].calls.Load())
	}
	if obs.denied != 0 {
		t.Errorf("fan-out attempts spent the budget (%d denials)", obs.denied)
	}
}

func TestRequestBodyIsReplayedToEveryAttempt(t *testing.T) {
	slow := newBackend(t, "slow", hang)
	fast := newBackend(t, "fast", answerAfter(slow, "fast"))
	p, _ := newTestPlan(t, urls(slow, fast), "methods: [POST]\nhedge: {initial_delay: 2ms}", Options{})
	req, _ := http.NewRequest(http.MethodPost, "http://gateway.invalid/kv/a", nil)
	payload := []byte(`{"query":"x"}`)
	if _, _, err := do(t, p, req, payload); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*backend{slow, fast} {
		select {
		case got := <-b.bodies:
			if got != string(payload) {
				t.Errorf("%s got body %q", b.name, got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s got no body", b.name)
		}
	}
}

func TestPathJoinAndQuery(t *testing.T) {
	seen := make(chan string, 1)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) bool {
		seen <- r.URL.RequestURI()
		return true
	})
	p, _ := newTestPlan(t, []string{b.srv.URL + "/base/"}, "", Options{})
	if _, _, err := do(t, p, get(t, "/kv/a%2Fb?x=1"), nil); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "/base/kv/a%2Fb?x=1" {
		t.Errorf("replica saw %q", got)
	}
}

// waitFor polls cond, bounded in count and time, for effects that land on another
// goroutine (a server handler noticing its client left).
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(msg)
}

func TestOvertakenPrimaryIsReportedToItsReplica(t *testing.T) {
	slow := newBackend(t, "slow", hang)
	fast := newBackend(t, "fast", nil)
	p, set := newTestPlan(t, urls(slow, fast), "hedge: {initial_delay: 2ms}", Options{})
	for range 5 {
		if _, _, err := do(t, p, get(t, "/kv/a"), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The hung primary lost to hedges sent after it: a signal for the picker. The
	// winning replica's record stays clean.
	if r := set.Replicas[0].ErrorRate(); r < 0.5 {
		t.Errorf("hung primary's error rate %.2f, want it raised by being overtaken", r)
	}
	if r := set.Replicas[1].ErrorRate(); r != 0 {
		t.Errorf("winner's error rate %.2f, want 0", r)
	}
	if f := set.Replicas[0].Stats().Failures; f != 0 {
		t.Errorf("overtaken attempts counted as %d failures", f)
	}
}

func TestReloadedPlanKeepsBudgetAndFloor(t *testing.T) {
	route := "strategy: quorum\nquorum: {version: {header: X-Version}, monotonic: {enabled: true}}\nbudget: {ratio: 0.2}"
	cfg, rc := testConfig(t, []string{"http://a.test", "http://b.test", "http://c.test"}, route)
	set, err := replicas.NewSet("s", cfg.ReplicaSets["s"], cfg.Latency, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := NewPlan(rc, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	same, err := NewPlan(rc, set, Options{Previous: old})
	if err != nil {
		t.Fatal(err)
	}
	if same.budget != old.budget || quorumFloor(same) != quorumFloor(old) {
		t.Error("unchanged settings: a reload must keep the budget and the monotonic floor")
	}
	changed := *rc
	changed.Budget.Ratio = 0.3
	changed.Quorum.Version.Header = "ETag"
	fresh, err := NewPlan(&changed, set, Options{Previous: old})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.budget == old.budget || quorumFloor(fresh) == quorumFloor(old) {
		t.Error("changed settings: the budget and the floor must be rebuilt")
	}
}

// Hedges of requests still in flight may not spend the last of the budget: a request
// whose only attempt failed outright gets its retry from the reserve they leave.
func TestRetryOfAFailedRequestBeatsHedgesToTheBudget(t *testing.T) {
	var calls atomic.Int64
	primary := newBackend(t, "primary", func(w http.ResponseWriter, r *http.Request) bool {
		if calls.Add(1) == 3 {
			return status(http.StatusServiceUnavailable)(w, r)
		}
		select { // slow enough for a hedge, quick enough to answer
		case <-r.Context().Done():
			return false
		case <-time.After(30 * time.Millisecond):
		}
		fmt.Fprint(w, "primary")
		return true
	})
	other := newBackend(t, "other", nil)
	// Two extra attempts per window: hedges may take 90% of them, one; the other is
	// the reserve.
	p, _ := newTestPlan(t, urls(primary, other),
		"hedge: {initial_delay: 1ms}\nbudget: {ratio: 0, min_per_second: 0.2}", Options{RandN: func(int64) int64 { return 0 }})
	for i, want := range []string{"other", "primary", "other"} {
		body, res, err := do(t, p, get(t, "/kv/a"), nil)
		if err != nil || body != want {
			t.Fatalf("request %d: got %q (%+v) %v, want %q", i+1, body, res, err, want)
		}
	}
}

// A discovery set with no member yet still gets a plan; every request fails with
// OutcomeNoReplica, at once, whatever the strategy.
func TestPlanOnAnEmptyDiscoverySet(t *testing.T) {
	for _, route := range []string{"strategy: hedge", "strategy: parallel", "strategy: quorum\nquorum: {read: 2}"} {
		cfg, rc := testConfig(t, []string{"http://a.test", "http://b.test"}, route)
		rs := *cfg.ReplicaSets["s"]
		rs.Replicas, rs.Discovery = nil, &config.Discovery{DNS: "s.test:1", Scheme: "http"}
		set, err := replicas.NewSet("s", &rs, cfg.Latency, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := NewPlan(rc, set, Options{})
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		_, err = plan.Do(context.Background(), get(t, "/k"), nil)
		var herr *Error
		if !errors.As(err, &herr) || herr.Outcome != OutcomeNoReplica {
			t.Errorf("%s: Do = %v, want OutcomeNoReplica", route, err)
		}
	}
	cfg, rc := testConfig(t, []string{"http://a.test"}, "")
	rs := *cfg.ReplicaSets["s"]
	rs.Replicas = []config.Replica{{Name: "a", URL: "http://a.test"}}
	fixed, _ := replicas.NewSet("s", &rs, cfg.Latency, nil)
	fixed.Replicas = nil // what no fixed list can be
	if _, err := NewPlan(rc, fixed, Options{}); err == nil {
		t.Error("a plan on an empty fixed set was built")
	}
}
