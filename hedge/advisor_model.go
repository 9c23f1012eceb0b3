package hedge

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
)

// The advisor predicts, from the replicas' latency histograms, what a hedge route would
// cost and buy at each candidate hedge percentile, before an operator changes it.
//
// Model. A request's primary goes to a replica drawn uniformly from the set; attempt
// i+1 goes to a replica not yet tried (uniformly) if nothing has answered by
// t(i+1) = t(i) + delay(replica of attempt i), as the engine arms its timer; at most
// min(max_attempts, replicas) attempts. Attempt latencies are independent draws from
// their replicas' histograms, so for one sequence of replicas
//
//	P(L > t) = Π over attempts launched by t of P(V_i > t − t_i)
//
// and the extra load is Σ_i P(no attempt before i has answered by t_i). Every order
// is weighted equally (enumerated exactly up to maxAdviceSequences, else a fixed-seed
// sample; the last attempt's replica is folded in as a mixture of the untried ones).
// The math is exact over the histogram bars: no simulation noise, and the same
// snapshot always gives the same answer.
//
// Budget. When the would-be extra load exceeds what the budget grants per request
// (ratio + min_per_second / request rate), each hedge is granted with probability f,
// solved so the extra load equals the cap, and a denied hedge ends the request's
// hedging (attempt i happens with probability f^(i−1)). The engine looks again after
// a denial, but the budget refills at a steady rate that every request's tries
// compete for: against the engine on a fake clock this rule predicted p99 within 3%,
// while granting each re-look at random predicted half the measured p99
// (advisor_validate_test.go).
//
// Limits, all documented in docs/tuning.md: the real picker prefers faster and less
// busy replicas, so a uniform primary is pessimistic when replicas differ; failures
// and retries are not modelled; latencies are assumed independent (a shared cause — a
// GC pause on every replica, a slow key — hedging cannot beat); and the histograms
// hold cancelled losers' elapsed times, so when the route already hedges, latency
// beyond its current delay is under-represented and candidates with longer delays
// look better than they will be (Candidate.Optimistic).

// dist is one replica's latency distribution, ready for survival look-ups.
type dist struct {
	vals  []int64   // distinct values in ns, ascending
	cum   []int64   // cum[i]: samples with a value ≤ vals[i]
	above []float64 // above[i]: share of samples with a value ≥ vals[i]; above[len] = 0
	n     int64
}

func newDist(bars []latency.Bar) dist {
	bs := slices.Clone(bars)
	slices.SortFunc(bs, func(a, b latency.Bar) int { return cmp.Compare(a.Value, b.Value) })
	var d dist
	for _, b := range bs {
		if b.Count <= 0 {
			continue
		}
		d.n += b.Count
		if k := len(d.vals); k > 0 && d.vals[k-1] == int64(b.Value) {
			d.cum[k-1] = d.n
			continue
		}
		d.vals = append(d.vals, int64(b.Value))
		d.cum = append(d.cum, d.n)
	}
	d.above = make([]float64, len(d.vals)+1)
	for i := range d.vals {
		below := int64(0)
		if i > 0 {
			below = d.cum[i-1]
		}
		d.above[i] = float64(d.n-below) / float64(d.n)
	}
	return d
}

// survival is P(V > x).
func (d *dist) survival(x int64) float64 {
	i := sort.Search(len(d.vals), func(i int) bool { return d.vals[i] > x })
	return d.above[i]
}

// quantile is the p-th percentile as hdrhistogram-go computes it — the first value
// whose cumulative count reaches p/100 × n rounded — so delays match the engine's.
func (d *dist) quantile(p float64) time.Duration {
	rank := int64(1)
	if r := p/100*float64(d.n) + 0.5; r >= float64(d.n) {
		rank = d.n
	} else if r >= 1 {
		rank = int64(r)
	}
	i := sort.Search(len(d.cum), func(i int) bool { return d.cum[i] >= rank })
	return time.Duration(d.vals[i])
}

// model is one route's replicas and the orders its attempts may visit them in.
type model struct {
	dists []dist
	all   dist // every replica's samples, each replica weighted equally
	// seqs are the replicas of attempts 1..k−1 (all k when k = 1), distinct. The last
	// attempt's replica is drawn from the rest; as nothing follows it, only its
	// survival matters, and that is a mixture: no need to enumerate it.
	seqs   [][]int
	k      int     // attempts per request at most
	launch []int64 // scratch for extra: when each attempt was sent
}

func newModel(dists []dist, k int) *model {
	n := len(dists)
	m := &model{dists: dists, k: k, launch: make([]int64, k)}
	m.seqs = sequences(n, max(k-1, 1))
	// The equal-weight mixture: above is averaged at every value of any replica.
	var vals []int64
	for _, d := range dists {
		vals = append(vals, d.vals...)
	}
	slices.Sort(vals)
	m.all.vals = slices.Compact(vals)
	m.all.above = make([]float64, len(m.all.vals)+1)
	for i, v := range m.all.vals {
		var sum float64
		for j := range dists {
			sum += dists[j].survival(v - 1) // share at or above v
		}
		m.all.above[i] = sum / float64(n)
	}
	return m
}

// surv is P(V > x) for attempt i (0-based) of seq: its replica's, or for the last
// attempt, the mixture of the replicas seq has not tried.
func (m *model) surv(seq []int, i int, x int64) float64 {
	if x < 0 {
		return 1
	}
	if i < len(seq) {
		return m.dists[seq[i]].survival(x)
	}
	s := float64(len(m.dists)) * m.all.survival(x)
	for _, r := range seq {
		s -= m.dists[r].survival(x)
	}
	return max(s/float64(len(m.dists)-len(seq)), 0)
}

// delays is each replica's hedge delay (ns) at percentile p, clamped as the engine
// does.
func (m *model) delays(h config.Hedge, p float64) []int64 {
	out := make([]int64, len(m.dists))
	for i := range m.dists {
		out[i] = clampDelay(h, m.dists[i].quantile(p))
	}
	return out
}

// clampDelay is d (ns) clamped as the engine clamps a hedge delay: to [min_delay,
// max_delay] and at least 1ns; a zero MaxDelay is no upper clamp.
func clampDelay(h config.Hedge, d time.Duration) int64 {
	d = max(d, h.MinDelay.D(), 1)
	if h.MaxDelay > 0 {
		d = min(d, h.MaxDelay.D())
	}
	return int64(d)
}

// prediction is what the model says of one set of delays.
type prediction struct {
	uncapped float64 // extra attempts per request without a budget
	extra    float64 // after the budget
	fraction float64 // share of would-be hedges the budget grants
	capped   bool
}

// predict is the extra load of delays under a budget granting budgetCap extra
// attempts per request; the latencies follow from m.latencies(ds, m.k, fraction).
func (m *model) predict(ds []int64, budgetCap float64) prediction {
	pr := prediction{fraction: 1}
	pr.uncapped = m.extra(ds, 1)
	pr.extra = pr.uncapped
	if pr.uncapped > budgetCap {
		pr.capped = true
		pr.fraction = m.fraction(ds, budgetCap)
		pr.extra = m.extra(ds, pr.fraction)
	}
	return pr
}

// extra is the expected extra attempts per request when each hedge is granted with
// probability f, and a denied one ends the request's hedging.
func (m *model) extra(delays []int64, f float64) float64 {
	if m.k < 2 {
		return 0
	}
	var sum float64
	for _, seq := range m.seqs {
		sum += m.extraFrom(seq, 1, delays[seq[0]], 1, delays, f)
	}
	return sum / float64(len(m.seqs))
}

// extraFrom is the expected number of attempts i.. sent, given attempts before i
// went out at m.launch[:i], attempt i's try at tau, and w the probability that the
// budget granted every hedge so far.
func (m *model) extraFrom(seq []int, i int, tau int64, w float64, delays []int64, f float64) float64 {
	if i >= m.k {
		return 0
	}
	// The try happens only while nothing sent so far has answered.
	alive := 1.0
	for l := range i {
		alive *= m.surv(seq, l, tau-m.launch[l])
	}
	if alive == 0 {
		return 0
	}
	sum := w * f * alive
	if i+1 < m.k {
		m.launch[i] = tau
		sum += m.extraFrom(seq, i+1, tau+delays[seq[i]], w*f, delays, f)
	}
	return sum
}

// fraction solves extra(delays, f) = budget for f in [0, 1]; extra grows with f.
func (m *model) fraction(delays []int64, budget float64) float64 {
	lo, hi := 0.0, 1.0
	for range 30 { // 1e-9: far below what a histogram can tell
		mid := (lo + hi) / 2
		if m.extra(delays, mid) > budget {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

// survival is P(L > t) for a request using at most attempts attempts, each hedge
// granted with probability f. A request answered by t has an attempt with
// V_i ≤ t − t_i, and every attempt sent by t was sent while nothing had answered, so
// the survivals at t alone decide.
func (m *model) survival(t int64, delays []int64, attempts int, f float64) float64 {
	return m.survivalOver(m.seqs, t, delays, attempts, f)
}

// survivalOver is survival for requests whose attempts follow one of seqs, each
// weighted equally: all of m.seqs, or those of one primary replica (the tuner's).
func (m *model) survivalOver(seqs [][]int, t int64, delays []int64, attempts int, f float64) float64 {
	var sum float64
	for _, seq := range seqs {
		p := m.surv(seq, 0, t)
		if attempts > 1 && p > 0 {
			p *= m.pending(seq, 1, delays[seq[0]], t, delays, attempts, f)
		}
		sum += p
	}
	return sum / float64(len(seqs))
}

// pending is P(no attempt i.. answers by t) when attempt i's try is at tau.
func (m *model) pending(seq []int, i int, tau, t int64, delays []int64, attempts int, f float64) float64 {
	if i >= attempts || tau > t {
		return 1
	}
	p := m.surv(seq, i, t-tau)
	if p > 0 && i+1 < attempts {
		p *= m.pending(seq, i+1, tau+delays[seq[i]], t, delays, attempts, f)
	}
	return (1 - f) + f*p
}

// latencies finds p50, p99 and p99.9.
func (m *model) latencies(delays []int64, attempts int, f float64) Latencies {
	return Latencies{P50: m.latency(delays, attempts, f, 0.5), P99: m.latency(delays, attempts, f, 0.99),
		P999: m.latency(delays, attempts, f, 0.999)}
}

// latency is the q-quantile (0.99 for p99) of the client latency: the smallest t (ns)
// with P(L > t) ≤ 1 − q.
func (m *model) latency(delays []int64, attempts int, f, q float64) time.Duration {
	return m.latencyOver(m.seqs, delays, attempts, f, q)
}

// latencyOver is latency for the requests whose attempts follow one of seqs.
func (m *model) latencyOver(seqs [][]int, delays []int64, attempts int, f, q float64) time.Duration {
	// No request outlasts its primary: the slowest replica's slowest sample bounds all.
	var hi int64
	for _, d := range m.dists {
		hi = max(hi, d.vals[len(d.vals)-1])
	}
	// A tolerance for float sums: 1 − 0.99 is not exactly 0.01.
	target := 1 - q + 1e-9
	lo, up := int64(0), hi
	for lo < up {
		mid := lo + (up-lo)/2
		if m.survivalOver(seqs, mid, delays, attempts, f) <= target {
			up = mid
		} else {
			lo = mid + 1
		}
	}
	return time.Duration(lo)
}

// sequences lists the orders in which k attempts may visit n replicas: every ordered
// k-tuple of distinct replicas, or a fixed-seed sample of maxAdviceSequences of them
// when there are more.
func sequences(n, k int) [][]int {
	total := 1.0
	for i := range k {
		total *= float64(n - i)
	}
	var out [][]int
	if total <= maxAdviceSequences {
		var walk func(prefix []int)
		walk = func(prefix []int) {
			if len(prefix) == k {
				out = append(out, slices.Clone(prefix))
				return
			}
			for r := range n {
				if !slices.Contains(prefix, r) {
					walk(append(prefix, r))
				}
			}
		}
		walk(make([]int, 0, k))
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range maxAdviceSequences {
		out = append(out, rng.Perm(n)[:k])
	}
	return out
}
