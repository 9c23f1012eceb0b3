package hedge

import (
	"errors"
	"math"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
)

// The tuner chooses a hedge route's delays itself (hedge.percentile: auto): every
// latency.window, from the last complete windows of each replica's histogram, the
// delays that meet the route's goal according to the advisor's model (the same
// model: advisor_model.go), within [min_delay, max_delay]. tune is the decision, a
// pure function of its input like quorum.Decide; autodelay.go runs it once per
// window and serves its answer to the engine.
//
// Three things make the answer safe to act on, window after window.
//
// The censored tail. While a route hedges at delay d, a primary slower than d is
// usually cancelled when its hedge answers, and its replica records the time it had
// run (d plus the hedge's latency), not its latency: the histogram shows the slow
// answers as if they had come just after d. Read as they are, they would make any
// delay past d look nearly free, the tuner would stop hedging, the tail would come
// back, and the delay would swing between windows. So at and beyond each replica's
// censoring horizon — the lowest delay in force on it while its samples were taken,
// plus the fastest answer any other replica gave — a sample is taken for an answer
// that never came before the route's timeout. Every prediction past the horizon is
// thus pessimistic, never optimistic: the tuner raises a delay past what the
// histograms can vouch for only when the goal would hold even if every unseen
// answer never came.
//
// Hysteresis, with two thresholds. A new choice must meet the goal with room to
// spare (p99 within 90% of the target, extra load within 95% of the cap) when it
// can; the delays in force are kept while they meet it with less (p99 within 95% of
// the target, extra load within the cap) and the new choice would save less than
// keepLoadGain of extra load (or, for the cap-only form, buy less than
// keepLatencyGain of p99). So sampling noise between windows does not move the
// delay, a move needs a real reason, and the p99 measured, which the model predicts
// to within a few percent, stays under the target.
//
// The model's blind spots. The model leaves out the engine's own time (timers that
// fire late on a busy host, the time to start an attempt). The route's measured p99
// in the last window is compared with the prediction for the delays that were in
// force, from that window's histograms, and the difference (a quarter of the way
// from the last estimate, at least 0, at most a quarter of the target) is taken off
// the target. Extra load drifts from the prediction too (hedges fire on the engine's
// timers, not at the instant the model assumes; on a two-core host the route sent
// 1–3 points less than predicted under a 20% cap, and so bought less p99 than the cap
// allowed). The route counts its extra attempts per window; measured minus predicted
// for the delays in force (half way from the last estimate, within a tenth of the
// cap either way) is taken off the cap the model chooses against.

// Tuning constants; docs/tuning.md states them.
const (
	// chooseTargetMargin and chooseCapMargin are the shares of the target and of
	// the cap a new choice keeps in reserve, when it can; keepTargetMargin is the
	// share of the target the delays in force must keep to stay.
	chooseTargetMargin = 0.1
	chooseCapMargin    = 0.05
	keepTargetMargin   = 0.05
	// keepLoadGain: a target-form choice must save this much extra load to replace
	// delays that still meet the goal.
	keepLoadGain = 0.005
	// keepLatencyGain: a cap-form choice must cut p99 by this share to replace
	// delays that still fit the cap. A p99 read from two windows of a replica's
	// answers varies by about 5% from one window to the next (a few hundred samples).
	keepLatencyGain = 0.1
	// roomShare: the cap's best keeps the cap's room only while that keeps this
	// share of the p99 the cap's edge cuts from no hedging at all.
	roomShare = 0.75
	// loadSlack: among choices within this much of the least extra load, the one
	// with the lowest p99 is taken, so a flat cost curve does not put the delay on
	// the edge of the target.
	loadSlack = 0.002
	// latencySlack: among cap-form choices within this share of the lowest p99, the
	// cheapest is taken.
	latencySlack = 0.02
	// loadBiasShare bounds the load bias, as a share of the cap, either way: the
	// drift seen on a two-core host was 1–3 points under a 20% cap, and a window's
	// prediction from a replica with few samples can be off by more (a 5-point
	// estimate on profile A, carried into B, let a window run 2 points past the cap).
	loadBiasShare = 0.1
	// maxTunePasses bounds the per-replica refinement.
	maxTunePasses = 3
)

// tuneGrid are the percentiles of each replica's histogram offered as delays, beside
// the ladder from min_delay to max_delay.
var tuneGrid = []float64{50, 60, 70, 75, 80, 85, 90, 92, 94, 95, 96, 97, 97.5, 98, 98.5, 99, 99.5, 99.9}

// ladderStep is the ratio between neighbouring delays of the ladder: 2^(1/4), about
// 19%, 31 steps from 1ms to 200ms.
var ladderStep = math.Pow(2, 0.25)

// autoGoal is hedge.auto: a p99 target (0: the cap-only form) and the cap on the
// extra load.
type autoGoal struct {
	target   time.Duration
	maxExtra float64
}

// tuneInput is everything one tuning needs.
type tuneInput struct {
	// Replicas are the histograms of the last window, one per replica, at least one;
	// Censor is, per replica, the lowest hedge delay in force on it while they were
	// recorded (0: none, nothing was cut short).
	Replicas []replicaLatency
	Censor   []time.Duration
	// Earlier are the windows before it, newest first, each with its own censor:
	// a window recorded under long delays shows the tail that one under short
	// delays cut short, and must not be read as if it were cut at the shorter.
	Earlier []tuneWindow
	// Current are the delays in force, per replica; nil: none tuned yet.
	Current []time.Duration
	// Pinned are delays the tuner may not change, per replica (0: free): a replica
	// with too few samples keeps initial_delay, the others' histograms standing in
	// for its own. Nil: none pinned.
	Pinned []time.Duration
	// Hedge holds min_delay, max_delay and max_attempts.
	Hedge config.Hedge
	// BudgetCap is the extra attempts per request the budget grants (budgetCap).
	BudgetCap float64
	Goal      autoGoal
	// Timeout is the route's: an answer not seen is taken to come no sooner.
	Timeout time.Duration
	// Overhead is the estimate in force of measured minus predicted p99; MeasuredP99
	// is the route's p99 over the last window (0: too few requests to tell),
	// compared with the prediction from that window's histograms alone (the earlier
	// windows may hold an older tail: its change is no overhead).
	Overhead, MeasuredP99 time.Duration
	// LoadBias is the estimate in force of measured minus predicted extra load;
	// MeasuredLoad is the route's extra attempts per request over the last window,
	// when LoadMeasured (enough requests to tell), compared like MeasuredP99.
	LoadBias, MeasuredLoad float64
	LoadMeasured           bool
}

// tuneWindow is one latency window's histograms, one per replica, and per replica
// the lowest hedge delay in force while they were recorded.
type tuneWindow struct {
	Replicas []replicaLatency
	Censor   []time.Duration
}

// tuneResult is the tuner's choice and what the model predicts for it.
type tuneResult struct {
	Delays []time.Duration
	// Percentiles are each delay's rank in its replica's histogram as recorded.
	Percentiles []float64
	Latency     Latencies
	ExtraLoad   float64 // after the budget, the load bias measured included
	// TargetMet: the target form's predicted p99, overhead included, is within the
	// target. CapBest: the target form found no such delays and took the lowest p99
	// within the cap. OverCap: no delays fit the cap even; the cheapest were taken.
	TargetMet, CapBest, OverCap bool
	// Kept: the delays in force were kept (hysteresis).
	Kept bool
	// Overhead and LoadBias are the estimates to carry to the next window.
	Overhead time.Duration
	LoadBias float64
	// TailChanged: the last window's histograms disagreed with the earlier ones
	// past sampling noise, and were tuned from alone.
	TailChanged bool
}

// tune chooses the delays for in's goal.
func tune(in tuneInput) (tuneResult, error) {
	n := len(in.Replicas)
	if n == 0 || len(in.Censor) != n || (in.Current != nil && len(in.Current) != n) || (in.Pinned != nil && len(in.Pinned) != n) {
		return tuneResult{}, errors.New("tuner: one histogram, censor and delay per replica")
	}
	last := make([]dist, n)
	for i, r := range in.Replicas {
		last[i] = newDist(r.Bars)
	}
	windows := [][]dist{last}
	censors := [][]time.Duration{in.Censor}
	for _, w := range in.Earlier {
		if len(w.Replicas) != n || len(w.Censor) != n {
			return tuneResult{}, errors.New("tuner: one histogram and censor per replica in every window")
		}
		ds := make([]dist, n)
		for i, r := range w.Replicas {
			ds[i] = newDist(r.Bars)
		}
		windows, censors = append(windows, ds), append(censors, w.Censor)
	}
	res := tuneResult{Overhead: in.Overhead, LoadBias: in.LoadBias}
	res.TailChanged = tailChanged(in, windows, censors)
	if res.TailChanged {
		windows, censors = windows[:1], censors[:1]
	}
	// Each window censored at its own delays, then pooled.
	raw, model := make([]dist, n), make([]dist, n)
	for i := range n {
		var rawBars, modelBars []latency.Bar
		for k, w := range windows {
			rawBars = append(rawBars, w[i].bars()...)
			modelBars = append(modelBars, censoredOne(w, i, censors[k][i], in.Timeout).bars()...)
		}
		if raw[i], model[i] = newDist(rawBars), newDist(modelBars); raw[i].n == 0 {
			return tuneResult{}, ErrNotEnoughSamples
		}
	}
	s := newSearch(in, model)
	s.candidates()

	var current *point
	if in.Current != nil {
		ds := make([]int64, n)
		for i, d := range in.Current {
			ds[i] = clampDelay(in.Hedge, d)
		}
		current = s.eval(ds)
		seen := seenInLast(in, last, ds)
		if seen.p99OK {
			// A window's p99 can sit on a cliff of the distribution (a few requests
			// more or fewer past it move it by the whole cliff): each window moves
			// the estimate by a quarter, by at most a quarter of the target.
			limit := in.Goal.target / 4
			res.Overhead = min((3*in.Overhead+min(seen.p99, limit))/4, limit)
		}
		if seen.loadOK {
			// A window's extra load is a mean over its requests, steadier than a
			// p99: each window moves the estimate by half.
			limit := in.Goal.maxExtra * loadBiasShare
			res.LoadBias = max(min((in.LoadBias+seen.load)/2, limit), -limit)
		}
	}
	target := in.Goal.target - res.Overhead
	// The cap as the model counts load: what it predicts plus the bias measured is
	// what the route will send.
	capModel := in.Goal.maxExtra - res.LoadBias

	// With room to spare; when nothing meets the goal so, with less; then without.
	var best *point
	for _, g := range []struct{ target, cap float64 }{
		{1 - chooseTargetMargin, 1 - chooseCapMargin}, {1 - keepTargetMargin, 1}, {1, 1},
	} {
		s.setGoal(time.Duration(float64(target)*g.target), capModel*g.cap)
		if best = s.choose(); s.class(best) == 0 {
			break
		}
	}
	if s.class(best) == 1 {
		// The target is out of reach: the cap's best keeps the room to spare that the
		// cap-only form keeps. Taken at the cap's very edge, it exceeds the cap in
		// about half the windows that follow, as a window's extra load varies by a
		// point or two; and it is the cheapest choice's estimate that is the lowest.
		// But not when the room costs most of what hedging buys: where the tail
		// alone costs about the cap (15% of answers late, a 20% cap), the delays
		// within the room hedge little of it, and hysteresis would then hold even
		// max_delay after a look past the cap.
		edge := best
		s.setGoal(time.Duration(float64(target)*(1-chooseTargetMargin)), capModel*(1-chooseCapMargin))
		if roomy := s.choose(); s.class(roomy) == 1 && s.keepsMostOf(roomy, edge) {
			best = roomy
		}
	}
	if current != nil {
		s.setGoal(time.Duration(float64(target)*(1-keepTargetMargin)), capModel)
		if s.keep(current, best) {
			best, res.Kept = current, true
		}
	}
	s.setGoal(target, capModel)
	s.describe(best, raw, &res)
	// What the route is expected to send, as the cap counts it.
	res.ExtraLoad = max(res.ExtraLoad+res.LoadBias, 0)
	return res, nil
}

// newSearch is a search over the model of dists, censored already.
func newSearch(in tuneInput, dists []dist) *search {
	n := len(dists)
	s := &search{in: in, m: newModel(dists, min(max(in.Hedge.MaxAttempts, 1), n)), memo: map[string]*point{}}
	s.groups = make([][][]int, n)
	for _, seq := range s.m.seqs {
		s.groups[seq[0]] = append(s.groups[seq[0]], seq)
	}
	return s
}

// seen is what the last window measured beyond the model's prediction for the delays
// that were in force, from that window's histograms alone: p99 (at least 0) and extra
// load (budget applied; either sign). Each is known only when both sides are.
type seen struct {
	p99    time.Duration
	load   float64
	p99OK  bool
	loadOK bool
}

func seenInLast(in tuneInput, last []dist, ds []int64) seen {
	var out seen
	for _, d := range last {
		if d.n == 0 {
			return out
		}
	}
	s := newSearch(in, censored(last, in.Censor, in.Timeout))
	if in.MeasuredP99 > 0 && in.Goal.target > 0 {
		out.p99, out.p99OK = max(in.MeasuredP99-time.Duration(s.p99(s.eval(ds))), 0), true
	}
	if in.LoadMeasured {
		out.load, out.loadOK = in.MeasuredLoad-s.m.predict(ds, in.BudgetCap).extra, true
	}
	return out
}

// tailChangeZ is how many standard deviations apart two windows' extra loads must
// be, at the same delays, to say the tail changed: two windows of one tail are that
// far apart about once in 16,000 retunes.
const tailChangeZ = 4

// tailChanged says whether the last window (windows[0]) predicts, for the delays in
// force while it was recorded, an extra load that some earlier window does not,
// past sampling noise. The last window's own prediction there is exact (its
// censoring horizon lies beyond those delays); an earlier window that disagrees
// either held another tail or was cut short at shorter delays and cannot see
// there. Either way the last window is the better guide to the next, alone.
func tailChanged(in tuneInput, windows [][]dist, censors [][]time.Duration) bool {
	n := len(in.Replicas)
	ds := make([]int64, n)
	for i, c := range in.Censor {
		if c <= 0 {
			return false // no hedging in force: no load to compare
		}
		ds[i] = clampDelay(in.Hedge, c)
	}
	k := min(max(in.Hedge.MaxAttempts, 1), n)
	loadOf := func(w []dist, censor []time.Duration) (float64, float64, bool) {
		var samples int64
		for i := range w {
			if w[i].n == 0 {
				return 0, 0, false
			}
			samples += w[i].n
		}
		return newModel(censored(w, censor, in.Timeout), k).extra(ds, 1), float64(samples), true
	}
	a, na, ok := loadOf(windows[0], censors[0])
	if !ok {
		return false
	}
	for j := 1; j < len(windows); j++ {
		b, nb, ok := loadOf(windows[j], censors[j])
		if !ok {
			continue
		}
		// Extra attempts are counts: their variance is at most their mean.
		pooled := (a*na + b*nb) / (na + nb)
		if pooled > 0 && math.Abs(a-b) > tailChangeZ*math.Sqrt(pooled*(1/na+1/nb)) {
			return true
		}
	}
	return false
}

// censored is each replica's distribution with every sample past its censoring
// horizon moved to the timeout (censoredOne).
func censored(raw []dist, censor []time.Duration, timeout time.Duration) []dist {
	out := make([]dist, len(raw))
	for i := range raw {
		out[i] = censoredOne(raw, i, censor[i], timeout)
	}
	return out
}

// censoredOne is replica i's distribution of raw (one window's) with every sample
// past its censoring horizon moved to the timeout: an answer the histogram may hold
// cut short is taken for one that never came in time.
func censoredOne(raw []dist, i int, censor, timeout time.Duration) dist {
	d := raw[i]
	if censor <= 0 || d.n == 0 {
		return d
	}
	// A primary overtaken by a hedge sent at censor ran at least that long plus
	// the hedge's own latency: the fastest any other replica answered.
	fastest := int64(math.MaxInt64)
	for j, o := range raw {
		if j != i && o.n > 0 {
			fastest = min(fastest, o.vals[0])
		}
	}
	if fastest == math.MaxInt64 {
		fastest = 0
	}
	horizon := int64(censor) + fastest
	var bars []latency.Bar
	var unseen int64
	for k, v := range d.vals {
		c := d.cum[k]
		if k > 0 {
			c -= d.cum[k-1]
		}
		if v >= horizon {
			unseen += c
			continue
		}
		bars = append(bars, latency.Bar{Value: time.Duration(v), Count: c})
	}
	if unseen > 0 {
		bars = append(bars, latency.Bar{Value: max(timeout, time.Duration(horizon)+1), Count: unseen})
	}
	return newDist(bars)
}

// bars is d as histogram bars again, for pooling windows.
func (d dist) bars() []latency.Bar {
	out := make([]latency.Bar, len(d.vals))
	for k, v := range d.vals {
		c := d.cum[k]
		if k > 0 {
			c -= d.cum[k-1]
		}
		out[k] = latency.Bar{Value: time.Duration(v), Count: c}
	}
	return out
}
