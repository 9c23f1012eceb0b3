package replicas

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// pickCounts picks n times from candidates and counts the winners by name.
func pickCounts(p Picker, candidates []*Replica, n int) map[string]int {
	counts := make(map[string]int)
	for range n {
		counts[p.Pick(candidates).Name]++
	}
	return counts
}

func between(n, lo, hi int) bool { return n >= lo && n <= hi }

func TestPickTrivial(t *testing.T) {
	p := NewP2C(1)
	if got := p.Pick(nil); got != nil {
		t.Errorf("Pick(nil) = %v, want nil", got)
	}
	r := testReplica("only", newFakeClock())
	if got := p.Pick([]*Replica{r}); got != r {
		t.Errorf("Pick(one) = %v, want it", got)
	}
}

func TestPickAvoidsSlow(t *testing.T) {
	clk := newFakeClock()
	a, b, slow := testReplica("a", clk), testReplica("b", clk), testReplica("slow", clk)
	feed(a, 50, 10*time.Millisecond, VerdictSuccess)
	feed(b, 50, 10*time.Millisecond, VerdictSuccess)
	feed(slow, 50, 200*time.Millisecond, VerdictSuccess)
	all := []*Replica{a, b, slow}

	c := pickCounts(NewP2C(1), all, 10000)
	if c["slow"] > 50 {
		t.Errorf("slow picked %d of 10000, want (almost) never: %v", c["slow"], c)
	}
	if !between(c["a"], 4500, 5500) || !between(c["b"], 4500, 5500) {
		t.Errorf("fast replicas should split evenly: %v", c)
	}

	// It answers fast now, but gets no traffic to show it: only time brings it back,
	// as the fast ones keep serving and its old estimate decays.
	c = simulate(NewP2C(2), clk, all, 6000, answerAround(10*time.Millisecond, nil))
	t.Logf("last 30s after recovery: %v; slow now %v", c, slow.Stats().EWMALatency)
	if c["slow"] < 60 {
		t.Errorf("recovered replica should be picked again: %v", c)
	}
	if got := slow.Stats().EWMALatency; got > 12*time.Millisecond {
		t.Errorf("recovered replica's estimate = %v, want ≈10ms", got)
	}
}

// answerAround answers successfully in d ± 20%, uniformly: real latencies vary, and
// the variation is what lets P2C compare replicas of equal means fairly.
func answerAround(d time.Duration, _ *Replica) func(*Replica) (time.Duration, Verdict) {
	rng := rand.New(rand.NewPCG(1, 2))
	return func(*Replica) (time.Duration, Verdict) {
		return d*8/10 + time.Duration(rng.Int64N(int64(d)*4/10)), VerdictSuccess
	}
}

// simulate picks once per 10ms of the injected clock for steps picks; each picked
// replica answers at once as answer says. It returns the counts of the second half.
func simulate(p Picker, clk *fakeClock, all []*Replica, steps int,
	answer func(*Replica) (time.Duration, Verdict)) map[string]int {
	counts := make(map[string]int)
	for i := range steps {
		clk.Advance(10 * time.Millisecond)
		r := p.Pick(all)
		r.Begin()(answer(r))
		if i >= steps/2 {
			counts[r.Name]++
		}
	}
	return counts
}

func TestPickAvoidsErrors(t *testing.T) {
	clk := newFakeClock()
	a, b, bad := testReplica("a", clk), testReplica("b", clk), testReplica("bad", clk)
	for _, r := range []*Replica{a, b, bad} {
		feed(r, 50, 10*time.Millisecond, VerdictSuccess)
	}
	// bad fails half its attempts, with answers as slow as the others' (5xx).
	for range 50 {
		feed(bad, 1, 10*time.Millisecond, VerdictSuccess)
		feed(bad, 1, 10*time.Millisecond, VerdictFailure)
	}
	all := []*Replica{a, b, bad}
	c := pickCounts(NewP2C(3), all, 10000)
	if c["bad"] > 1000 {
		t.Errorf("bad picked %d of 10000, want much less than a third: %v", c["bad"], c)
	}
	// It stops failing, but gets little traffic to show it: time brings it back.
	c = simulate(NewP2C(4), clk, all, 6000, answerAround(10*time.Millisecond, nil))
	t.Logf("last 30s after recovery: %v; bad now %.3f", c, bad.ErrorRate())
	if c["bad"] < 300 {
		t.Errorf("recovered replica should win back traffic: %v", c)
	}
	if got := bad.ErrorRate(); got > 0.05 {
		t.Errorf("recovered replica's error rate = %v, want ≈0", got)
	}
}

// Attempts that have not ended yet count at their age: a replica that stopped
// answering loses traffic before any attempt times out.
func TestPickHungInflight(t *testing.T) {
	clk := newFakeClock()
	a, hung := testReplica("a", clk), testReplica("hung", clk)
	feed(a, 10, 10*time.Millisecond, VerdictSuccess)
	feed(hung, 10, 5*time.Millisecond, VerdictSuccess)
	end := hung.Begin()
	clk.Advance(100 * time.Millisecond)
	feed(a, 1, 10*time.Millisecond, VerdictSuccess)
	c := pickCounts(NewP2C(9), []*Replica{a, hung}, 1000)
	if c["a"] != 1000 {
		t.Errorf("hung replica picked: %v", c)
	}
	end(time.Second, VerdictFailure)
}

func TestPickInflight(t *testing.T) {
	clk := newFakeClock()
	a, b := testReplica("a", clk), testReplica("b", clk)
	feed(a, 10, 10*time.Millisecond, VerdictSuccess)
	feed(b, 10, 10*time.Millisecond, VerdictSuccess)
	var ends []func(time.Duration, Verdict)
	for range 3 {
		ends = append(ends, a.Begin())
	}
	c := pickCounts(NewP2C(5), []*Replica{a, b}, 1000)
	if c["b"] != 1000 {
		t.Errorf("busy replica picked: %v", c)
	}
	for _, end := range ends {
		end(10*time.Millisecond, VerdictSuccess)
	}
}

// A replica with no data yet is priced like its rival, so it is tried at once.
func TestPickNewReplica(t *testing.T) {
	clk := newFakeClock()
	a, b, fresh := testReplica("a", clk), testReplica("b", clk), testReplica("new", clk)
	feed(a, 50, 10*time.Millisecond, VerdictSuccess)
	feed(b, 50, 10*time.Millisecond, VerdictSuccess)
	c := pickCounts(NewP2C(6), []*Replica{a, b, fresh}, 9000)
	if !between(c["new"], 2000, 4000) {
		t.Errorf("new replica should get about a third: %v", c)
	}
	empty := []*Replica{testReplica("x", clk), testReplica("y", clk)}
	c = pickCounts(NewP2C(7), empty, 1000)
	if !between(c["x"], 400, 600) {
		t.Errorf("replicas without data should split evenly: %v", c)
	}
}

func TestPickConcurrent(t *testing.T) {
	clk := newFakeClock()
	all := []*Replica{testReplica("a", clk), testReplica("b", clk), testReplica("c", clk)}
	p := NewP2C(8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 500 {
				r := p.Pick(all)
				r.Begin()(time.Duration(i%20+1)*time.Millisecond, Verdict(i%3))
			}
		})
	}
	wg.Wait()
	for _, r := range all {
		if r.Inflight() != 0 {
			t.Errorf("%s: Inflight = %d", r.Name, r.Inflight())
		}
	}
}

func BenchmarkPick(b *testing.B) {
	clk := newFakeClock()
	all := []*Replica{testReplica("a", clk), testReplica("b", clk), testReplica("c", clk)}
	for i, r := range all {
		feed(r, 100, time.Duration(i+1)*time.Millisecond, VerdictSuccess)
	}
	p := NewP2C(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = p.Pick(all)
	}
}

// A replica that fails in a fraction of a millisecond (a reset, a refused connection)
// must not draw primaries back while the others answer: a failure costs the request
// at least another replica's answer, however little time the failing one took, and
// however far its own latency average decayed while it was avoided.
func TestPickAvoidsFastFailures(t *testing.T) {
	clk := newFakeClock()
	a, b, bad := testReplica("a", clk), testReplica("b", clk), testReplica("bad", clk)
	for _, r := range []*Replica{a, b, bad} {
		feed(r, 50, 2*time.Millisecond, VerdictSuccess) // all healthy at first
	}
	healthy := answerAround(2*time.Millisecond, nil)
	answer := func(r *Replica) (time.Duration, Verdict) {
		if r == bad {
			return 200 * time.Microsecond, VerdictFailure
		}
		return healthy(r)
	}
	// 60s at one pick per 10ms; the second half counted.
	c := simulate(NewP2C(10), clk, []*Replica{a, b, bad}, 6000, answer)
	t.Logf("last 30s with bad failing fast: %v", c)
	if c["bad"] > 10 {
		t.Errorf("bad picked %d of 3000 in 30s, want only the odd probe: %v", c["bad"], c)
	}
}
