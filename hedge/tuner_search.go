package hedge

import (
	"math"
	"slices"
	"time"
)

// The tuner's search over per-replica delays (tuner.go says what it is for).

// point is one set of delays with what the model says of it. Its p99 is the worst
// primary's: the highest p99 among the requests grouped by the replica they went to
// first, so that no replica's requests are given up to meet the target on average
// (leaving one replica's slow answers unhedged can fit in the 1% a p99 allows, and
// is fragile). It is computed only when a comparison needs it (-1 until then).
type point struct {
	ds   []int64
	load float64 // extra attempts per request without the budget
	p99v int64
	// meet says whether the target at meetAt is met for every primary: 1 yes, 0 no.
	meet   int8
	meetAt int64
}

// search holds one tuning's model, candidate delays and evaluated points.
type search struct {
	in     tuneInput
	m      *model
	cands  [][]int64 // per replica, ascending
	ladder []int64
	groups [][][]int // the model's orders, by their first replica
	memo   map[string]*point
	// The goal compared against: the target in ns (≤ 0 in the cap-only form) and the
	// cap, as setGoal left them.
	limit    int64
	capLimit float64
}

// setGoal sets the target (0: none) and the cap that points are measured against.
func (s *search) setGoal(target time.Duration, maxExtra float64) {
	s.limit, s.capLimit = 0, maxExtra
	if s.in.Goal.target > 0 {
		s.limit = max(int64(target), 1)
	}
}

// candidates lists each replica's delays to try: its histogram's (censored)
// percentiles on tuneGrid, the ladder from min_delay to max_delay, and the delay in
// force, all clamped.
func (s *search) candidates() {
	h := s.in.Hedge
	var ladder []int64
	lo := max(h.MinDelay.D(), 100*time.Microsecond)
	hi := h.MaxDelay.D()
	if hi <= 0 {
		hi = max(s.in.Timeout, lo)
	}
	for d := float64(lo); d <= float64(hi)*1.0001; d *= ladderStep {
		ladder = append(ladder, clampDelay(h, time.Duration(d)))
	}
	ladder = append(ladder, clampDelay(h, hi), clampDelay(h, h.MinDelay.D()))
	s.ladder = ladder
	s.cands = make([][]int64, len(s.m.dists))
	for i := range s.m.dists {
		if s.in.Pinned != nil && s.in.Pinned[i] > 0 {
			s.cands[i] = []int64{clampDelay(h, s.in.Pinned[i])}
			continue
		}
		c := slices.Clone(ladder)
		for _, p := range tuneGrid {
			c = append(c, clampDelay(h, s.m.dists[i].quantile(p)))
		}
		if s.in.Current != nil {
			c = append(c, clampDelay(h, s.in.Current[i]))
		}
		slices.Sort(c)
		s.cands[i] = slices.Compact(c)
	}
}

// keepsMostOf says whether p cuts at least roomShare of what edge cuts from the
// p99 of hedging nothing (every free delay at max_delay).
func (s *search) keepsMostOf(p, edge *point) bool {
	none := make([]int64, len(s.cands))
	for i := range none {
		none[i] = s.pin(i, clampDelay(s.in.Hedge, s.in.Hedge.MaxDelay.D()))
	}
	base := s.p99(s.eval(none))
	return float64(base-s.p99(p)) >= roomShare*float64(base-s.p99(edge))
}

// pin is d, or replica i's pinned delay.
func (s *search) pin(i int, d int64) int64 {
	if s.in.Pinned != nil && s.in.Pinned[i] > 0 {
		return clampDelay(s.in.Hedge, s.in.Pinned[i])
	}
	return d
}

// eval is the point at ds, its load computed; memoized.
func (s *search) eval(ds []int64) *point {
	key := delayKey(ds)
	if p, ok := s.memo[key]; ok {
		return p
	}
	p := &point{ds: slices.Clone(ds), load: s.m.extra(ds, 1), p99v: -1, meetAt: -1}
	s.memo[key] = p
	return p
}

func delayKey(ds []int64) string {
	b := make([]byte, 0, 8*len(ds))
	for _, d := range ds {
		for k := range 8 {
			b = append(b, byte(d>>(8*k)))
		}
	}
	return string(b)
}

// p99 is the point's predicted worst-primary p99 (ns), with the budget's share of
// hedges.
func (s *search) p99(p *point) int64 {
	if p.p99v < 0 {
		f := 1.0
		if p.load > s.in.BudgetCap {
			f = s.m.fraction(p.ds, s.in.BudgetCap)
		}
		for _, g := range s.groups {
			if len(g) > 0 {
				p.p99v = max(p.p99v, int64(s.m.latencyOver(g, p.ds, s.m.k, f, 0.99)))
			}
		}
	}
	return p.p99v
}

// meets says whether the point's requests finish by the target, 99% of them, for
// every primary replica: the survival at the target alone, cheaper than a p99. Only
// points within the cap ask, and the budget grants every hedge of those within it;
// past it (a cap above budget.ratio, which validate refuses but tune may be given)
// only the budget's share, as p99 and the prediction count them.
func (s *search) meets(p *point) bool {
	if p.meetAt != s.limit {
		p.meet, p.meetAt = 1, s.limit
		f := 1.0
		if p.load > s.in.BudgetCap {
			f = s.m.fraction(p.ds, s.in.BudgetCap)
		}
		for _, g := range s.groups {
			if len(g) > 0 && s.m.survivalOver(g, s.limit, p.ds, s.m.k, f) > 0.01+1e-9 {
				p.meet = 0
				break
			}
		}
	}
	return p.meet == 1
}

const loadEps = 1e-9 // float noise in the model's sums

func (s *search) fits(p *point) bool { return p.load <= s.capLimit+loadEps }

// class orders points by how much of the goal they meet: 0 all of it, 1 the cap
// alone (target form), 2 not even the cap.
func (s *search) class(p *point) int {
	switch {
	case !s.fits(p):
		return 2
	case s.limit > 0 && !s.meets(p):
		return 1
	}
	return 0
}

// better says whether a beats b for the goal: the target form takes the least load
// that meets the target, the cap-only form the lowest p99 within the cap; short of
// that, the lowest p99 within the cap, and short of that, the least load.
func (s *search) better(a, b *point) bool {
	if b == nil {
		return true
	}
	// A point worse in load than a target-meeting b cannot beat it: skip its p99.
	if s.limit > 0 && a.load > b.load+loadEps && s.class(b) == 0 {
		return false
	}
	ca, cb := s.class(a), s.class(b)
	if ca != cb {
		return ca < cb
	}
	byLoad := ca == 2 || (ca == 0 && s.limit > 0)
	if byLoad && math.Abs(a.load-b.load) > loadEps {
		return a.load < b.load
	}
	if pa, pb := s.p99(a), s.p99(b); pa != pb {
		return pa < pb
	}
	if !byLoad && math.Abs(a.load-b.load) > loadEps {
		return a.load < b.load
	}
	return false
}

// choose searches: the best of the one-parameter families (one percentile, or one
// delay, for every replica), refined one replica at a time; then, among points near
// as good, the one with the most room (see loadSlack, latencySlack).
func (s *search) choose() *point {
	n := len(s.m.dists)
	var best *point
	ds := make([]int64, n)
	for _, p := range tuneGrid {
		for i := range ds {
			ds[i] = s.pin(i, clampDelay(s.in.Hedge, s.m.dists[i].quantile(p)))
		}
		if c := s.eval(ds); s.better(c, best) {
			best = c
		}
	}
	for _, d := range s.ladder {
		for i := range ds {
			ds[i] = s.pin(i, d)
		}
		if c := s.eval(ds); s.better(c, best) {
			best = c
		}
	}
	best = s.descend(best, s.better)
	switch s.class(best) {
	case 2:
		// Over the cap, the samples past the censoring horizon are taken for answers
		// that never came, so every delay past it predicts about the same load: the
		// histograms cannot tell. Among those as cheap, the longest delays let the
		// next windows see the tail they hide (else the delays in force stay, over
		// the cap, window after window).
		top := best
		return s.descend(top, func(a, b *point) bool {
			return a.load <= top.load+keepLoadGain && sumDelays(a) > sumDelays(b)
		})
	case 1:
		return best
	}
	// Room: the lowest p99 within loadSlack of the least load (target form), or
	// the least load within latencySlack of the lowest p99 (cap-only form).
	top := best
	if s.limit > 0 {
		bound := min(top.load+loadSlack, s.capLimit+loadEps)
		return s.descend(top, func(a, b *point) bool {
			if a.load > bound || !s.meets(a) {
				return false
			}
			return s.p99(a) < s.p99(b) || (s.p99(a) == s.p99(b) && a.load < b.load-loadEps)
		})
	}
	bound := int64(float64(s.p99(top)) * (1 + latencySlack))
	return s.descend(top, func(a, b *point) bool {
		if !s.fits(a) || s.p99(a) > bound {
			return false
		}
		return a.load < b.load-loadEps
	})
}

// descend moves one replica's delay at a time to its best candidate, the others
// fixed, until a pass changes nothing (at most maxTunePasses).
func (s *search) descend(x *point, better func(a, b *point) bool) *point {
	ds := slices.Clone(x.ds)
	for range maxTunePasses {
		moved := false
		for i := range ds {
			keep := ds[i]
			for _, d := range s.cands[i] {
				if d == keep {
					continue
				}
				ds[i] = d
				if c := s.eval(ds); better(c, x) {
					x, moved = c, true
				}
			}
			ds[i] = x.ds[i]
		}
		if !moved {
			break
		}
	}
	return x
}

// keep says whether the delays in force should stay rather than move to best.
func (s *search) keep(cur, best *point) bool {
	cc, cb := s.class(cur), s.class(best)
	switch {
	case cc != cb:
		return false
	case cc == 0 && s.limit > 0:
		return cur.load <= best.load+keepLoadGain
	case cc <= 1:
		return float64(s.p99(cur)) <= float64(s.p99(best))*(1+keepLatencyGain)
	}
	// Over the cap: stay only while no longer delays would look past the horizon.
	return cur.load <= best.load+keepLoadGain && sumDelays(cur) >= sumDelays(best)
}

func sumDelays(p *point) int64 {
	var sum int64
	for _, d := range p.ds {
		sum += d
	}
	return sum
}

// describe fills res with the point's delays, their ranks in the recorded
// histograms, and the model's prediction with the budget applied.
func (s *search) describe(p *point, raw []dist, res *tuneResult) {
	res.Delays = make([]time.Duration, len(p.ds))
	res.Percentiles = make([]float64, len(p.ds))
	for i, d := range p.ds {
		res.Delays[i] = time.Duration(d)
		res.Percentiles[i] = 100 * (1 - raw[i].survival(d))
	}
	pr := s.m.predict(p.ds, s.in.BudgetCap)
	res.ExtraLoad = pr.extra
	res.Latency = s.m.latencies(p.ds, s.m.k, pr.fraction)
	switch c := s.class(p); {
	case c == 2:
		res.OverCap, res.CapBest = true, s.limit > 0
	case s.limit > 0:
		res.TargetMet, res.CapBest = c == 0, c == 1
	}
}
