package hedge

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
	"github.com/hedgegate/hedgegate/replicas"
)

// autoPlan is a hedge plan with percentile auto over three replicas r1..r3 answered
// by tr, with latency windows of window (buckets 3: the tuner reads two complete
// windows), the given hedge.auto goal and clamps ("min_delay: 1ms, max_delay: 200ms"
// when empty).
func autoPlan(t *testing.T, tr http.RoundTripper, window time.Duration, goal string, clamps string) (*Plan, *replicas.Set) {
	t.Helper()
	return simPlan(t, tr, window, "percentile: auto, auto: "+goal, clamps)
}

// simPlan is autoPlan with any hedge.percentile (and its auto goal): "percentile: 95".
func simPlan(t *testing.T, tr http.RoundTripper, window time.Duration, percentile string, clamps string) (*Plan, *replicas.Set) {
	t.Helper()
	src := fmt.Sprintf(`latency: {window: %s, buckets: 3, min_samples: 50}
replica_sets:
  s:
    warm_connections: 0
    replicas:
      - {name: r1, url: "http://r1.test"}
      - {name: r2, url: "http://r2.test"}
      - {name: r3, url: "http://r3.test"}
routes:
  - name: rt
    match: /kv/{key}
    replica_set: s
    timeout: 1s
    attempt_timeout: 1s
    hedge: {%s, initial_delay: 10ms, %s, max_attempts: 3}
    budget: {ratio: 0.25, min_per_second: 0}
`, window, percentile, cmp.Or(clamps, "min_delay: 1ms, max_delay: 200ms"))
	cfg, err := config.Parse([]byte(src), "auto.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := replicas.NewSet("s", cfg.ReplicaSets["s"], cfg.Latency, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg.Routes[0], set, Options{Transport: tr, Picker: &uniformPicker{rng: rand.New(rand.NewPCG(5, 6))},
		MinSamples: cfg.Latency.MinSamples, Latency: cfg.Latency})
	if err != nil {
		t.Fatal(err)
	}
	return p, set
}

// uniformPicker draws the next replica uniformly, as the advisor's model does. The
// gateway's P2C steers away from a replica whose first answer was slow for tens of
// seconds, which would leave one of three replicas nearly unsampled on these short
// fake-clock runs; the tuner copes (initial_delay for it), but the tests are about
// the tuner.
type uniformPicker struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (u *uniformPicker) Pick(c []*replicas.Replica) *replicas.Replica {
	if len(c) == 0 {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return c[u.rng.IntN(len(c))]
}

// nextWindow sleeps to the start of the next window, starts its retune and waits for
// it, as the first hedge of the window would.
func nextWindow(p *Plan, window time.Duration) AutoState {
	now := time.Now()
	time.Sleep(now.Truncate(window).Add(window).Sub(now))
	p.HedgeDelay(p.Set().Replicas[0])
	synctest.Wait()
	st, _ := p.Auto()
	return st
}

func delaysOf(st AutoState) []time.Duration {
	var ds []time.Duration
	for _, r := range st.Replicas {
		ds = append(ds, r.Delay)
	}
	return ds
}

// TestAutoChoosesTheModelsDelay: a known distribution recorded into the replicas'
// histograms — 98% of answers at 2ms, 2% at 52ms — gives, from the next window on,
// the delay worked out by hand (TestTuneTwoPoint): 2ms, p98, predicted p99 4ms at
// 2.04% extra, the target met. Until then, initial_delay.
func TestAutoChoosesTheModelsDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, set := autoPlan(t, http.DefaultTransport, time.Second, "{target_p99: 12ms, max_extra_load: 0.2}", "")
		defer p.Close()
		defer set.Close()
		for _, rep := range set.Replicas {
			if d := p.HedgeDelay(rep); d != 10*time.Millisecond {
				t.Errorf("%s: delay %v before any window, want initial_delay 10ms", rep.Name, d)
			}
			for i := range 1000 {
				if i%50 == 0 {
					rep.Latency().Record(52 * time.Millisecond)
				} else {
					rep.Latency().Record(2 * time.Millisecond)
				}
			}
		}
		// The histograms report 2ms as the top of its two-digit bucket.
		two := latency.Reported(2 * time.Millisecond)
		st := nextWindow(p, time.Second)
		if !st.Tuned || !st.TargetMet || st.CapBest || st.Kept {
			t.Fatalf("state %+v: want tuned, the target met", st)
		}
		for _, r := range st.Replicas {
			if r.Delay != two || r.Percentile != 98 || r.Initial || r.Samples != 1000 {
				t.Errorf("%+v: want delay 2ms at p98 from 1000 samples", r)
			}
			if d := p.HedgeDelay(set.Replicas[0]); d != two {
				t.Errorf("the engine's delay %v, want the tuner's 2ms", d)
			}
		}
		if st.Predicted.P99 != 2*two || math.Abs(st.ExtraLoad-0.0204) > 1e-9 {
			t.Errorf("predicted p99 %v extra %v, want 4ms and 2.04%%", st.Predicted.P99, st.ExtraLoad)
		}
		// The window after holds nothing (no traffic): too few samples, initial_delay.
		st = nextWindow(p, time.Second)
		if st.Replicas[0].Delay != two {
			t.Errorf("one window later, with the first still read: %v, want 2ms", st.Replicas[0].Delay)
		}
		st = nextWindow(p, time.Second)
		if r := st.Replicas[0]; !r.Initial || r.Delay != 10*time.Millisecond {
			t.Errorf("two empty windows later: %+v, want initial_delay", r)
		}
	})
}

// setTail changes the simulated tail from now on, as the simulator's control
// endpoint does.
func (s *simTransport) setTail(prob float64, extra time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tailProb, s.tailExtra = prob, extra
}

// windowRun is one window of load: what the tuner chose at its start and what the
// engine then did.
type windowRun struct {
	state AutoState
	lat   []time.Duration // sorted
	p99   time.Duration
	extra float64
}

func (w windowRun) String() string {
	return fmt.Sprintf("samples %d/%d/%d delays %v (p%.1f) predicted p99 %v extra %.1f%% met %v kept %v; measured p99 %v extra %.1f%%",
		w.state.Replicas[0].Samples, w.state.Replicas[1].Samples, w.state.Replicas[2].Samples, delaysOf(w.state), w.state.Replicas[0].Percentile, w.state.Predicted.P99, 100*w.state.ExtraLoad,
		w.state.TargetMet, w.state.Kept, w.p99, 100*w.extra)
}

// runAThenB runs nA windows on tr's tail as it is, switches it to profile B (15% of
// answers 20ms late) at a window's start, runs nB more, and logs every window.
func runAThenB(t *testing.T, p *Plan, tr *simTransport, window time.Duration, rate float64, nA, nB int) (a, b []windowRun) {
	a = runWindows(t, p, window, rate, nA)
	tr.setTail(0.15, 20*time.Millisecond)
	b = runWindows(t, p, window, rate, nB)
	var report strings.Builder
	for i, w := range append(slices.Clone(a), b...) {
		fmt.Fprintf(&report, "\n  window %2d %s: %s", i, map[bool]string{true: "A", false: "B"}[i < len(a)], w)
	}
	t.Log(report.String())
	return a, b
}

func runWindows(t *testing.T, p *Plan, window time.Duration, rate float64, n int) []windowRun {
	var out []windowRun
	for range n {
		w := windowRun{state: nextWindow(p, window)}
		lat, extra := openLoop(t, p, rate, window-100*time.Millisecond)
		w.lat, w.p99, w.extra = lat, p99Of(lat), extra
		out = append(out, w)
	}
	return out
}

func p99Of(sorted []time.Duration) time.Duration {
	return sorted[int(math.Ceil(0.99*float64(len(sorted))))-1]
}

// pooledP99 is the p99 of every request of ws: a window's 900 requests put only 9
// past its p99, too few to tell 11.5ms from 12.5ms.
func pooledP99(ws []windowRun) time.Duration {
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
	}
	slices.Sort(all)
	return p99Of(all)
}

func meanExtra(ws []windowRun) float64 {
	var sum float64
	for _, w := range ws {
		sum += w.extra
	}
	return sum / float64(len(ws))
}

// changes counts the windows whose delays differ from the window before's.
func changes(ws []windowRun) int {
	n := 0
	for i := 1; i < len(ws); i++ {
		if !slices.Equal(delaysOf(ws[i].state), delaysOf(ws[i-1].state)) {
			n++
		}
	}
	return n
}

// TestAutoFollowsTheTail runs the engine against scripted latency on a fake clock:
// profile A (2% of answers 50ms late), then B (15% of answers 20ms late) switched at
// a window's start. The tuner's own hedging censors the tail it reads, window after
// window. It must meet the target on A, follow B within two windows (the retune two
// windows after the switch reads only B), never leave the cap or the clamps, and
// hold its delays in each steady stretch rather than swing between windows.
func TestAutoFollowsTheTail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 13,000 requests")
	}
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 1000
		tr := newSimTransport(2*time.Millisecond, 0.3, 0.02, 50*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{target_p99: 12ms, max_extra_load: 0.2}", "")
		defer p.Close()
		defer set.Close()

		a, b := runAThenB(t, p, tr, window, rate, 7, 6)

		var overCap []int
		for i, w := range append(slices.Clone(a), b...) {
			for _, r := range w.state.Replicas {
				if r.Delay < time.Millisecond || r.Delay > 200*time.Millisecond {
					t.Errorf("window %d: %s delay %v outside [1ms, 200ms]", i, r.Name, r.Delay)
				}
			}
			// Over the cap, the model cannot tell (the tail it reads was cut short) and
			// the tuner looks past it at max_delay: for one window only, on B only.
			if w.state.OverCap {
				overCap = append(overCap, i)
				continue
			}
			if w.state.ExtraLoad > 0.2+1e-9 {
				t.Errorf("window %d: predicted extra load %.3f past the 0.2 cap", i, w.state.ExtraLoad)
			}
		}
		if len(overCap) > 1 || (len(overCap) == 1 && overCap[0] != len(a)+1) {
			t.Errorf("over the cap in windows %v; want at most the first retune after the switch (%d)", overCap, len(a)+1)
		}
		// Measured, a window of 900 requests varies by ±2 points; on average, within.
		if e := meanExtra(b[2:]); e > 0.2 {
			t.Errorf("B: measured extra load %.3f on average, past the 0.2 cap", e)
		}
		// A: tuned from the second window on (the first runs on initial_delay).
		for i, w := range a[2:] {
			if !w.state.TargetMet {
				t.Errorf("A window %d: %s; want the target met", i+2, w)
			}
		}
		if p := pooledP99(a[2:]); p > 12*time.Millisecond {
			t.Errorf("A: p99 %v from the third window on, want ≤ 12ms", p)
		}
		if e := meanExtra(a[2:]); e > 0.03 {
			t.Errorf("A: extra %.3f on average; hedging the 2%% tail should cost about 2%%", e)
		}
		// B: the first window runs on A's delays and misses; two windows after the
		// switch the target is met again.
		if b[0].p99 <= 12*time.Millisecond {
			t.Errorf("B window 0: p99 %v with A's delays; the premise is that it misses", b[0].p99)
		}
		for i, w := range b[2:] {
			if !w.state.TargetMet {
				t.Errorf("B window %d: %s; want the target met within two windows of the switch", i+2, w)
			}
		}
		if p := pooledP99(b[2:]); p > 12*time.Millisecond {
			t.Errorf("B: p99 %v from two windows after the switch, want ≤ 12ms", p)
		}
		// No swing: in each steady stretch the delays move at most once.
		if n := changes(a[2:]); n > 1 {
			t.Errorf("A: the delays changed in %d of %d windows", n, len(a)-3)
		}
		if n := changes(b[2:]); n > 1 {
			t.Errorf("B: the delays changed in %d of %d windows", n, len(b)-3)
		}
	})
}

// TestAutoCapAlone: {max_extra_load: 0.05} on profile A: the lowest p99 within 5%.
func TestAutoCapAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 6,000 requests")
	}
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 1000
		tr := newSimTransport(2*time.Millisecond, 0.3, 0.02, 50*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{max_extra_load: 0.05}", "")
		defer p.Close()
		defer set.Close()
		ws := runWindows(t, p, window, rate, 6)
		for i, w := range ws {
			t.Logf("window %d: %s", i, w)
		}
		if e := meanExtra(ws[2:]); e > 0.055 {
			t.Errorf("measured extra %.3f on average; want about the 5%% cap at most", e)
		}
		for i, w := range ws[2:] {
			if w.state.ExtraLoad > 0.05+1e-9 {
				t.Errorf("window %d: %.3f predicted extra load; want within the 5%% cap", i+2, w.state.ExtraLoad)
			}

		}
		// Hedging the 2% tail and some of the body: p99 well under the tail.
		if p := pooledP99(ws[2:]); p > 8*time.Millisecond {
			t.Errorf("p99 %v, want the tail cut", p)
		}
		if n := changes(ws[2:]); n > 1 {
			t.Errorf("the delays changed in %d of %d windows", n, len(ws)-3)
		}
	})
}

// TestAutoNeverLeavesTheClamps: a tail the model would hedge at once (0.2ms answers,
// min_delay 3ms) and one it cannot reach (max_delay 5ms below a 30ms tail).
func TestAutoNeverLeavesTheClamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 500
		tr := newSimTransport(200*time.Microsecond, 0.3, 0.02, 30*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{max_extra_load: 0.1}", "min_delay: 3ms, max_delay: 200ms")
		defer p.Close()
		defer set.Close()
		for i, w := range runWindows(t, p, window, rate, 4)[1:] {
			for _, r := range w.state.Replicas {
				if r.Delay != 3*time.Millisecond {
					t.Errorf("window %d: %s delay %v, want min_delay 3ms", i+1, r.Name, r.Delay)
				}
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 500
		tr := newSimTransport(2*time.Millisecond, 0.3, 0.3, 30*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{max_extra_load: 0.05}", "min_delay: 1ms, max_delay: 5ms")
		defer p.Close()
		defer set.Close()
		for i, w := range runWindows(t, p, window, rate, 4)[1:] {
			for _, r := range w.state.Replicas {
				if r.Delay < time.Millisecond || r.Delay > 5*time.Millisecond {
					t.Errorf("window %d: %s delay %v outside [1ms, 5ms]", i+1, r.Name, r.Delay)
				}
			}
		}
	})
}

// TestAutoSurvivesAReload: a plan rebuilt for the same replicas and goal (a reload)
// starts with the delays the old one chose, not initial_delay; a changed goal starts
// afresh. Close waits for a retune that is running.
func TestAutoSurvivesAReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, set := autoPlan(t, http.DefaultTransport, time.Second, "{target_p99: 12ms, max_extra_load: 0.2}", "")
		defer set.Close()
		for _, rep := range set.Replicas {
			for i := range 1000 {
				d := 2 * time.Millisecond
				if i%50 == 0 {
					d = 52 * time.Millisecond
				}
				rep.Latency().Record(d)
			}
		}
		st := nextWindow(p, time.Second)
		if !st.Tuned {
			t.Fatalf("not tuned: %+v", st)
		}
		again := func(goal string) *Plan {
			cfg, err := config.Parse([]byte(fmt.Sprintf(`latency: {window: 1s, buckets: 3, min_samples: 50}
replica_sets: {s: {warm_connections: 0, replicas: [{name: r1, url: "http://r1.test"}, {name: r2, url: "http://r2.test"}, {name: r3, url: "http://r3.test"}]}}
routes:
  - {name: rt, match: "/kv/{key}", replica_set: s, timeout: 1s, budget: {ratio: 0.25},
     hedge: {percentile: auto, auto: %s, initial_delay: 10ms, min_delay: 1ms, max_delay: 200ms, max_attempts: 3}}
`, goal)), "reload.yaml")
			if err != nil {
				t.Fatal(err)
			}
			q, err := NewPlan(cfg.Routes[0], set, Options{Previous: p, MinSamples: 50, Latency: cfg.Latency})
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		same := again("{target_p99: 12ms, max_extra_load: 0.2}")
		defer same.Close()
		p.Close()
		if got, want := same.HedgeDelay(set.Replicas[1]), st.Replicas[1].Delay; got != want {
			t.Errorf("after a reload with the same goal: delay %v, want the tuned %v", got, want)
		}
		other := again("{max_extra_load: 0.05}")
		defer other.Close()
		if got := other.HedgeDelay(set.Replicas[1]); got != 10*time.Millisecond {
			t.Errorf("after a reload with another goal: delay %v, want initial_delay until the next window", got)
		}
	})
}

// TestAutoOnTheLibraryFace: hedge.New takes the same goal, checked as a file is.
func TestAutoOnTheLibraryFace(t *testing.T) {
	urls := []string{"http://a.test", "http://b.test"}
	p, err := New(Config{Replicas: urls, Strategy: Hedge{Auto: &Auto{TargetP99: 10 * time.Millisecond, MaxExtraLoad: 0.05}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if st, ok := p.Auto(); !ok || st.TargetP99 != 10*time.Millisecond || st.MaxExtraLoad != 0.05 || st.Tuned {
		t.Errorf("Auto() = %+v, %v; want the goal, not tuned yet", st, ok)
	}
	for _, tc := range []struct {
		name string
		h    Hedge
		want string
	}{
		{"cap above the default budget", Hedge{Auto: &Auto{MaxExtraLoad: 0.2}}, "hedge.auto.max_extra_load: 0.2 exceeds budget.ratio (0.1)"},
		{"a goal beside a percentile", Hedge{Percentile: 90, Auto: &Auto{MaxExtraLoad: 0.05}}, "hedge.auto: is read only with percentile: auto"},
		{"target without cap", Hedge{Auto: &Auto{TargetP99: time.Millisecond}}, "hedge.auto.max_extra_load: required with target_p99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Config{Replicas: urls, Strategy: tc.h}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, ok := (&Plan{}).Auto(); ok {
		t.Error("a plan without auto reports an AutoState")
	}
}

// TestAutoEndsAnExcursionInOneWindow: windows scripted as the route would record
// them. Window 0, under initial_delay (10ms): 30% of answers cut short at 12ms, as
// the primaries a 10ms hedge overtook — read at that delay, every delay's extra load
// is past the 20% cap, so the tuner takes max_delay to see the tail. Window 1, under
// max_delay: the whole tail, 15% of answers at 22ms, none cut. The retune after it
// must read window 1 at its own delay: hedging a 15% tail fits the cap. Read at
// window 0's 10ms, the span's lowest (as it was), window 1's tail looked cut short
// too, every delay stayed past the cap, and the route ran a second window at
// max_delay (p99 22ms on real processes, docs/tuning.md).
func TestAutoEndsAnExcursionInOneWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, set := autoPlan(t, http.DefaultTransport, time.Second, "{target_p99: 12ms, max_extra_load: 0.2}", "")
		defer p.Close()
		defer set.Close()
		record := func(fast time.Duration, slowAt time.Duration, slowEvery int) {
			for _, rep := range set.Replicas {
				for i := range 1000 {
					d := fast + time.Duration(i%7)*100*time.Microsecond // 2.0ms-2.6ms
					if i%100 < slowEvery {
						d = slowAt
					}
					rep.Latency().Record(d)
				}
			}
		}
		record(2*time.Millisecond, 12*time.Millisecond, 30)
		st := nextWindow(p, time.Second)
		for _, r := range st.Replicas {
			if !st.OverCap || r.Delay != 200*time.Millisecond {
				t.Fatalf("after a window cut short at 12ms: %+v; want over the cap, max_delay", st)
			}
		}
		record(2*time.Millisecond, 22*time.Millisecond, 15)
		st = nextWindow(p, time.Second)
		if st.OverCap || !st.Tuned || st.ExtraLoad > 0.2 {
			t.Errorf("after a window at max_delay that shows the tail: %+v; want delays within the cap", st)
		}
		for _, r := range st.Replicas {
			if r.Delay >= 22*time.Millisecond {
				t.Errorf("%s: delay %v, want the 15%% tail at 22ms hedged", r.Name, r.Delay)
			}
		}
	})
}

// TestAutoFollowsAWiderTail is TestAutoFollowsTheTail on the replicas real processes
// show (scripts/autotune.sh: median 3.2ms, not the simulator's 2ms, as the gateway's
// own time and a busy host's scheduling add to every attempt): median 3ms, sigma
// 0.4. On B, 12ms is out of reach within the 20% cap (the model's best is about
// 17ms), so the tuner must take the cap's best, and keep it without swinging: no
// window's delays cost more than the cap on B's tail, and a look past the cap at
// max_delay lasts one window. Before each window was read at its own delays, two
// windows ran at max_delay after the switch (p99 25ms, 0% extra): the second was
// read cut short at the first's shorter delays.
func TestAutoFollowsAWiderTail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 11,000 requests")
	}
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 1000
		tr := newSimTransport(3*time.Millisecond, 0.4, 0.02, 50*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{target_p99: 12ms, max_extra_load: 0.2}", "")
		defer p.Close()
		defer set.Close()
		_, b := runAThenB(t, p, tr, window, rate, 4, 7)

		// B's tail, as the model reads it: 6,000 answers a replica.
		var truth []dist
		for _, name := range []string{"r1", "r2", "r3"} {
			truth = append(truth, newDist(heavyTail(name, 6000, 3*time.Millisecond, 0.4, 0.15, 20*time.Millisecond).Bars))
		}
		onB := newModel(truth, 3)
		for i, w := range b[1:] {
			var ds []int64
			for _, d := range delaysOf(w.state) {
				ds = append(ds, int64(d))
			}
			if load := onB.extra(ds, 1); load > 0.205 {
				t.Errorf("B window %d: delays %v cost %.3f on B's tail; want within the 0.2 cap", i+1, delaysOf(w.state), load)
			}
			if i > 0 && w.state.OverCap && b[i].state.OverCap {
				t.Errorf("B windows %d and %d both at max_delay: a look past the cap lasts one window", i, i+1)
			}
		}
		for i, w := range b[2:] {
			if !w.state.CapBest || w.state.TargetMet {
				t.Errorf("B window %d: %s; want the cap's best", i+2, w)
			}
		}
		if e := meanExtra(b[2:]); e > 0.2 {
			t.Errorf("B: measured extra %.3f on average, past the 0.2 cap", e)
		}
	})
}

// TestAutoCensorIsTheWindowsOwnDelay: a window is read as cut short at the delays
// installed for it, not at the lower of those and the ones before: the retune runs
// on the window's first requests, and a window at max_delay would otherwise be read
// as cut at the short delays before it (and the look past the cap last two windows:
// TestAutoFollowsAWiderTail, about one run in thirty before).
func TestAutoCensorIsTheWindowsOwnDelay(t *testing.T) {
	ms := time.Millisecond
	state := func(epoch int64, d time.Duration) autoState {
		return autoState{epoch: epoch, delays: []time.Duration{d, d}, initial: []bool{false, true}}
	}
	a := &autoDelay{initial: 10 * ms, history: []autoState{state(5, 7*ms), state(6, 200*ms)}}
	for _, tc := range []struct {
		window int64
		want   time.Duration
	}{
		{4, 10 * ms},  // before any state: initial_delay
		{5, 7 * ms},   // the state installed for it
		{6, 200 * ms}, // max_delay, though 7ms was in force as it began
		{7, 200 * ms}, // no retune in it: the state before
	} {
		got := a.censorLocked(tc.window, 2)
		if got[0] != tc.want || got[1] != 10*ms {
			t.Errorf("window %d: censor %v, want [%v 10ms] (r2 on initial_delay)", tc.window, got, tc.want)
		}
	}
}

// TestLoadCounts: counts are kept per window, aligned as the latency windows are; the
// window before is read from the one after it only.
func TestLoadCounts(t *testing.T) {
	const window = time.Second
	c := &loadCounts{window: window}
	at := func(e int64, off time.Duration) time.Time { return time.Unix(0, e*int64(window)).Add(off) }
	c.add(at(10, 0), 0)
	c.add(at(10, 999*time.Millisecond), 2)
	c.add(at(11, 0), 1)
	if got := c.last(11); got != (loadCount{requests: 2, extra: 2}) {
		t.Errorf("window 10 read in 11: %+v, want 2 requests, 2 extra", got)
	}
	c.add(at(10, 500*time.Millisecond), 1) // a clock that stepped back counts in 11
	if got := c.last(12); got != (loadCount{requests: 2, extra: 2}) {
		t.Errorf("window 11 read in 12: %+v, want 2 requests, 2 extra", got)
	}
	if got := c.last(14); got != (loadCount{}) {
		t.Errorf("window 13 (no requests) read in 14: %+v, want none", got)
	}
	if got := c.last(12); got != (loadCount{}) {
		t.Errorf("a read for a window past: %+v, want none", got)
	}
}

// TestAutoMeasuresTheLoadItSends: the route counts, per window, the requests and the
// attempts they sent beyond the first, as the callers see them (Result.Sent); on the
// fake clock the model predicts the engine exactly, so the bias measured stays within
// sampling noise of 0 (counting every attempt, or none, would pin it at a tenth of
// the cap either way).
func TestAutoMeasuresTheLoadItSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, rate = time.Second, 1000
		tr := newSimTransport(2*time.Millisecond, 0.3, 0.15, 20*time.Millisecond)
		p, set := autoPlan(t, tr, window, "{max_extra_load: 0.2}", "")
		defer p.Close()
		defer set.Close()
		ws := runWindows(t, p, window, rate, 5)
		now := time.Now()
		time.Sleep(now.Truncate(window).Add(window).Sub(now))
		got := p.auto.loads.last(floorEpoch(time.Now(), window))
		n := int64(rate * (window - 100*time.Millisecond).Seconds())
		if want := (loadCount{requests: n, extra: int64(math.Round(ws[4].extra * float64(n)))}); got != want {
			t.Errorf("last window counted %+v; the callers saw %+v", got, want)
		}
		for i, w := range ws[3:] {
			t.Logf("window %d: %s, bias %+.4f", i+3, w, w.state.LoadBias)
			if b := w.state.LoadBias; math.Abs(b) > 0.01 {
				t.Errorf("window %d: load bias %+.4f on a clock the model predicts exactly; want about 0", i+3, b)
			}
		}
	})
}
