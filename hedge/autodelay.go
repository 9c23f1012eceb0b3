package hedge

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
	"github.com/hedgegate/hedgegate/replicas"
)

// autoSpan is how many complete windows the tuner reads: two, so a change in the tail
// is wholly in what it reads two windows after it began, whatever latency.buckets is
// (fewer when the buckets keep fewer: buckets − 1).
const autoSpan = 2

// autoDelay is the delay source of hedge.percentile: auto. The request path reads
// the delays in force from an atomic pointer; the first call in a new window (a
// hedge, /debug/replicas, a scrape) starts one retune in a goroutine of its own,
// which reads the last complete windows, runs tune and swaps the answer in. So the
// work is once per window and off the request path, no goroutine runs between
// windows, and Plan.Close waits for the one that may be running.
type autoDelay struct {
	plan                      *Plan
	goal                      autoGoal
	initial, minimum, maximum time.Duration
	minSamples                int64
	window                    time.Duration
	span                      int
	now                       func() time.Time
	index                     map[*replicas.Replica]int
	// requests are the route's request latencies (Plan.Do's, to the decision), for
	// the overhead the model leaves out.
	requests *latency.Window
	// loads counts the route's requests and extra attempts per window, for the
	// extra load the model mispredicts.
	loads *loadCounts

	state atomic.Pointer[autoState]
	epoch atomic.Int64 // the window whose retune is done or running

	mu       sync.Mutex // guards what follows, and wg.Add against Close
	closed   bool
	wg       sync.WaitGroup
	history  []autoState // the states installed lately, oldest first
	overhead time.Duration
	loadBias float64
}

// autoState is one window's delays and what the tuner said of them.
type autoState struct {
	epoch int64
	at    time.Time
	// delays per replica in set order; initial[i]: replica i had fewer than
	// min_samples samples in the windows read, and uses initial_delay.
	delays  []time.Duration
	initial []bool
	samples []int64 // per replica, in the windows read
	tuned   bool    // tune ran (some replica had enough samples)
	result  tuneResult
	err     string
}

// AutoState is what an auto-tuned hedge route chose in the current window, for
// /debug/replicas, metrics and gateway tune.
type AutoState struct {
	// TargetP99 (0: the cap-only form) and MaxExtraLoad are the goal.
	TargetP99    time.Duration
	MaxExtraLoad float64
	// Tuned is false until a window gave some replica min_samples samples; until
	// then every replica uses initial_delay. At is when the delays were chosen.
	Tuned bool
	At    time.Time
	// Replicas, in set order.
	Replicas []AutoReplica
	// Predicted is the model's client latency for the delays chosen, and ExtraLoad
	// its extra attempts per request after the budget.
	Predicted Latencies
	ExtraLoad float64
	// TargetMet: predicted p99 plus Overhead is within TargetP99. CapBest: no delays
	// meet the target, and the lowest p99 within the cap was taken. OverCap: even the
	// cheapest delays the histograms vouch for exceed the cap (the budget still caps
	// what is sent).
	TargetMet, CapBest, OverCap bool
	// Kept: the previous window's delays still met the goal and were kept.
	Kept bool
	// TailChanged: the last window disagreed with the one before past sampling
	// noise, and was tuned from alone.
	TailChanged bool
	// Overhead is the measured p99 minus the predicted, taken off the target.
	Overhead time.Duration
	// LoadBias is the measured extra load minus the predicted, taken off the cap.
	LoadBias float64
	// Error says why the last retune failed, when it did; the delays stay.
	Error string
}

// AutoReplica is one replica's delay in an AutoState.
type AutoReplica struct {
	Name  string
	Delay time.Duration
	// Percentile is Delay's rank in the replica's recent histogram.
	Percentile float64
	// Initial: too few samples; Delay is initial_delay and Percentile 0.
	Initial bool
	Samples int64
}

func newAutoDelay(p *Plan, h config.Hedge, lat config.Latency, now func() time.Time, prev *Plan) *autoDelay {
	if now == nil {
		now = time.Now
	}
	window, buckets := lat.Window.D(), lat.Buckets
	if window <= 0 {
		window = config.DefaultWindow
	}
	if buckets <= 0 {
		buckets = config.DefaultBuckets
	}
	a := &autoDelay{
		plan: p, goal: autoGoal{target: h.Auto.TargetP99.D(), maxExtra: h.Auto.MaxExtraLoad},
		initial: h.InitialDelay.D(), minimum: h.MinDelay.D(), maximum: h.MaxDelay.D(),
		minSamples: p.minSamples, window: window, span: min(autoSpan, max(buckets-1, 1)), now: now,
		index: map[*replicas.Replica]int{},
	}
	for i, rep := range p.set.Replicas {
		a.index[rep] = i
	}
	a.requests = latency.NewWindow(window, max(buckets, 2), now)
	a.loads = &loadCounts{window: window}
	a.epoch.Store(floorEpoch(now(), window))
	if old := prev.autoDelay(); old != nil && a.sameAs(old) {
		// A reload that keeps the route's replicas and goal keeps what was learnt.
		old.mu.Lock()
		a.history, a.overhead, a.requests = slices.Clone(old.history), old.overhead, old.requests
		a.loads, a.loadBias = old.loads, old.loadBias
		old.mu.Unlock()
		if st := old.state.Load(); st != nil {
			a.state.Store(st)
			a.epoch.Store(max(a.epoch.Load(), st.epoch))
		}
	}
	return a
}

func (a *autoDelay) sameAs(o *autoDelay) bool {
	return o.goal == a.goal && o.initial == a.initial && o.minimum == a.minimum && o.maximum == a.maximum &&
		o.window == a.window && slices.Equal(o.plan.set.Replicas, a.plan.set.Replicas)
}

func floorEpoch(t time.Time, window time.Duration) int64 {
	return floorDivInt(t.UnixNano(), int64(window))
}

func floorDivInt(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (a *autoDelay) delay(rep *replicas.Replica) time.Duration {
	a.maybeRetune()
	st := a.state.Load()
	i, ok := a.index[rep]
	if st == nil || !ok || st.initial[i] {
		return a.initial
	}
	return st.delays[i]
}

// maybeRetune starts the window's retune if this is the window's first look.
func (a *autoDelay) maybeRetune() {
	e := floorEpoch(a.now(), a.window)
	old := a.epoch.Load()
	if e <= old || !a.epoch.CompareAndSwap(old, e) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.retune(e)
	}()
}

// close waits for a retune that may be running; none starts after it.
func (a *autoDelay) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.wg.Wait()
}

// retune chooses window e's delays from windows e−span … e−1.
func (a *autoDelay) retune(e int64) {
	prev := a.state.Load()
	n := len(a.plan.set.Replicas)
	a.mu.Lock()
	censors := make([][]time.Duration, a.span) // censors[k]: window e−1−k's
	for k := range censors {
		censors[k] = a.censorLocked(e-1-int64(k), n)
	}
	overhead, loadBias := a.overhead, a.loadBias
	a.mu.Unlock()
	st, in, enough := a.inputs(e, prev, censors, overhead)
	in.LoadBias = loadBias
	if enough {
		res, err := tune(in)
		if err != nil {
			st.err = err.Error()
			if prev != nil {
				copy(st.delays, prev.delays)
				copy(st.initial, prev.initial)
			}
		} else {
			st.tuned, st.result, overhead, loadBias = true, res, res.Overhead, res.LoadBias
			copy(st.delays, res.Delays)
		}
	}
	a.mu.Lock()
	a.overhead, a.loadBias = overhead, loadBias
	a.history = append(a.history, *st)
	if len(a.history) > autoSpan+2 {
		a.history = a.history[1:]
	}
	a.mu.Unlock()
	a.state.Store(st)
}

// inputs reads the windows for window e's retune, each with its censor (censors[k]
// is window e−1−k's): the new state with every replica that has too few samples on
// initial_delay, and what tune needs; enough is false when no replica has enough
// samples.
func (a *autoDelay) inputs(e int64, prev *autoState, censors [][]time.Duration, overhead time.Duration) (*autoState, tuneInput, bool) {
	p := a.plan
	n := len(p.set.Replicas)
	st := &autoState{epoch: e, at: a.now(), delays: make([]time.Duration, n), initial: make([]bool, n), samples: make([]int64, n)}
	in := tuneInput{Hedge: p.hedgeCfg, BudgetCap: budgetCap(p.budgetCfg, p.budget.RequestRate()), Goal: a.goal,
		Timeout: p.timeout, Overhead: overhead, Pinned: make([]time.Duration, n)}
	if in.Hedge.MaxDelay <= 0 {
		in.Hedge.MaxDelay = config.Duration(p.timeout)
	}
	windows := make([]tuneWindow, len(censors))
	for k := range windows {
		windows[k].Censor = censors[k]
		for _, rep := range p.set.Replicas {
			snap := rep.Latency().Past(k + 1)
			windows[k].Replicas = append(windows[k].Replicas, replicaLatency{Name: rep.Name, Bars: snap.Bars()})
		}
	}
	for i := range p.set.Replicas {
		for _, w := range windows {
			for _, b := range w.Replicas[i].Bars {
				st.samples[i] += b.Count
			}
		}
		in.Current = append(in.Current, a.inForce(prev, i))
	}
	// A replica with too few samples keeps initial_delay; in the model it answers as
	// the others do in each window, so that hedges sent to it are still counted.
	tunable := false
	for i := range p.set.Replicas {
		if st.samples[i] < max(a.minSamples, 1) {
			st.initial[i], st.delays[i], in.Pinned[i] = true, a.initial, a.initial
		} else {
			tunable = true
		}
	}
	for _, w := range windows {
		var pooled []latency.Bar
		lowest := time.Duration(math.MaxInt64)
		for i := range w.Replicas {
			if !st.initial[i] {
				pooled = append(pooled, w.Replicas[i].Bars...)
				lowest = min(lowest, w.Censor[i])
			}
		}
		for i := range w.Replicas {
			if st.initial[i] {
				w.Replicas[i].Bars, w.Censor[i] = pooled, lowest
			}
		}
	}
	in.Replicas, in.Censor, in.Earlier = windows[0].Replicas, windows[0].Censor, windows[1:]
	if prev == nil || !prev.tuned {
		in.Current = nil // initial_delay was no choice of the tuner's: nothing to hold on to
	}
	if reqs := a.requests.Recent(1); reqs.Count() >= max(a.minSamples, 1) {
		in.MeasuredP99 = reqs.Quantile(99)
	}
	if c := a.loads.last(e); c.requests >= max(a.minSamples, 1) {
		in.MeasuredLoad, in.LoadMeasured = float64(c.extra)/float64(c.requests), true
	}
	return st, in, tunable
}

// inForce is replica i's delay in force under st.
func (a *autoDelay) inForce(st *autoState, i int) time.Duration {
	if st == nil || st.initial[i] {
		return a.initial
	}
	return st.delays[i]
}

// censorLocked is, per replica, the delay in force during window w: that of the
// state installed for w, or, when none was, of the one in force before (initial_delay
// before any). Not the lower of the two: the retune is done within the window's
// first requests, and a window run at max_delay to see a tail must not be read as
// cut short at the delays before it (only the few attempts that were in flight
// across the boundary were).
func (a *autoDelay) censorLocked(w int64, n int) []time.Duration {
	var st *autoState
	for k := range a.history {
		if h := &a.history[k]; h.epoch <= w {
			st = h
		}
	}
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = a.inForce(st, i)
	}
	return out
}

// observe records one request's latency, from Do's start to its decision, and the
// attempts it sent beyond the first.
func (a *autoDelay) observe(start time.Time, extra int) {
	now := a.now()
	a.requests.Record(now.Sub(start))
	a.loads.add(now, extra)
}

// loadCounts counts requests and the attempts they sent beyond the first, in the
// current latency window and the one before (windows aligned as latency.Window's).
type loadCounts struct {
	window time.Duration
	mu     sync.Mutex // guards what follows
	epoch  int64      // the window cur counts
	cur    loadCount
	prev   loadCount // window epoch−1's
}

type loadCount struct{ requests, extra int64 }

func (c *loadCounts) add(t time.Time, extra int) {
	c.mu.Lock()
	c.advanceLocked(floorEpoch(t, c.window))
	c.cur.requests++
	c.cur.extra += int64(extra)
	c.mu.Unlock()
}

// last is window e−1's counts, read in window e (zero when none were kept).
func (c *loadCounts) last(e int64) loadCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(e)
	if c.epoch != e {
		return loadCount{}
	}
	return c.prev
}

// advanceLocked moves to window e; a clock that stepped back counts on in the
// current one.
func (c *loadCounts) advanceLocked(e int64) {
	switch {
	case e <= c.epoch:
		return
	case e == c.epoch+1:
		c.prev = c.cur
	default:
		c.prev = loadCount{}
	}
	c.cur, c.epoch = loadCount{}, e
}

// snapshot is the AutoState of the delays in force.
func (a *autoDelay) snapshot() AutoState {
	a.maybeRetune()
	out := AutoState{TargetP99: a.goal.target, MaxExtraLoad: a.goal.maxExtra}
	st := a.state.Load()
	for i, rep := range a.plan.set.Replicas {
		r := AutoReplica{Name: rep.Name, Delay: a.inForce(st, i), Initial: st == nil || st.initial[i]}
		if st != nil && st.tuned && !r.Initial {
			r.Percentile = st.result.Percentiles[i]
		}
		if st != nil && st.samples != nil {
			r.Samples = st.samples[i]
		}
		out.Replicas = append(out.Replicas, r)
	}
	if st == nil {
		return out
	}
	res := st.result
	out.Tuned, out.At, out.Error = st.tuned, st.at, st.err
	out.Predicted, out.ExtraLoad = res.Latency, res.ExtraLoad
	out.TargetMet, out.CapBest, out.OverCap, out.Kept, out.Overhead = res.TargetMet, res.CapBest, res.OverCap, res.Kept, res.Overhead
	out.TailChanged, out.LoadBias = res.TailChanged, res.LoadBias
	return out
}
