package hedge

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
)

// The advisor predicts, from the replicas' latency histograms, what a hedge route would
// cost and buy at each candidate hedge percentile, before an operator changes it. The
// model and its limits are described in advisor_model.go.

// maxAdviceSequences bounds the replica orders evaluated per candidate. Three
// attempts over ten replicas is 720 orders; beyond the bound a fixed-seed sample keeps
// the cost flat and the answer deterministic.
const maxAdviceSequences = 1024

// ErrNotEnoughSamples: a replica's histogram has fewer than min_samples samples, too
// few to predict from (the engine itself would still be using initial_delay).
var ErrNotEnoughSamples = errors.New("not enough samples")

// advisorPercentiles returns the percentiles the advisor evaluates by default — 50,
// 75, 90, 95, 99, 99.9 — plus configured, ascending and without duplicates.
func advisorPercentiles(configured float64) []float64 {
	ps := []float64{50, 75, 90, 95, 99, 99.9}
	if !slices.Contains(ps, configured) {
		ps = append(ps, configured)
		slices.Sort(ps)
	}
	return ps
}

// replicaLatency is one replica's latency histogram as the advisor reads it.
type replicaLatency struct {
	Name string
	// Bars are the histogram's distinct values with their counts (latency.Snapshot's
	// Bars). Order does not matter.
	Bars []latency.Bar
}

// adviceInput is what the advisor needs about one hedge route.
type adviceInput struct {
	// Replicas of the route's set, each with its histogram. At least one.
	Replicas []replicaLatency
	// Hedge holds the route's percentile (the configured row), min_delay, max_delay
	// and max_attempts. A zero MaxDelay means no upper clamp; max_attempts < 1 is 1.
	Hedge config.Hedge
	// Budget holds ratio and min_per_second.
	Budget config.Budget
	// RequestRate is the route's requests per second, for the budget's floor. Zero:
	// unknown, and the floor is left out (a lower cap: conservative).
	RequestRate float64
	// MinSamples is latency.min_samples: a replica with fewer samples makes Advise
	// fail with ErrNotEnoughSamples. Values below 1 are 1.
	MinSamples int
	// Percentiles are the candidates, each in (0, 100]. Nil: advisorPercentiles of
	// Hedge.Percentile (the default set alone when it is auto).
	Percentiles []float64
	// InForce are the delays the route uses now, per replica, against which rows are
	// marked optimistic. Nil: the configured percentile's (an auto route passes
	// its tuner's).
	InForce []time.Duration
}

// Latencies are predicted client latency percentiles.
type Latencies struct {
	P50, P99, P999 time.Duration
}

// Candidate is the prediction for one hedge percentile.
type Candidate struct {
	Percentile float64
	// Configured: this is the route's hedge.percentile.
	Configured bool
	// Delays is each replica's hedge delay at Percentile, clamped to
	// [min_delay, max_delay], in adviceInput.Replicas order.
	Delays []time.Duration
	// ExtraLoad is the expected extra attempts per request, after the budget.
	ExtraLoad float64
	// UncappedExtraLoad is the same without a budget.
	UncappedExtraLoad float64
	// BudgetCapped: the budget would deny hedges; only a BudgetFraction of the
	// would-be hedges is sent.
	BudgetCapped   bool
	BudgetFraction float64
	// Latency is the predicted client latency (gateway overhead not included).
	Latency Latencies
	// Optimistic: some replica's delay is longer than at the configured percentile
	// while the route hedges, so the histograms lack part of the tail this row depends
	// on (cancelled losers are recorded at their elapsed time, not their full latency).
	Optimistic bool
}

// Advice is the advisor's answer for one route.
type Advice struct {
	// Samples per replica, in adviceInput.Replicas order.
	Samples []int64
	// BudgetCap is the extra attempts per request the budget grants hedges:
	// ratio + min_per_second / RequestRate (ratio alone when the rate is unknown),
	// less the retry reserve (a tenth) that only retries of failed requests spend.
	BudgetCap float64
	// Unhedged is the predicted latency with one attempt per request.
	Unhedged Latencies
	// Candidates, ascending by percentile.
	Candidates []Candidate
}

// advise predicts each candidate percentile's extra load and client latency.
func advise(in adviceInput) (Advice, error) {
	n := len(in.Replicas)
	if n == 0 {
		return Advice{}, errors.New("advisor: no replicas")
	}
	minSamples := max(int64(in.MinSamples), 1)
	adv := Advice{Samples: make([]int64, n)}
	dists := make([]dist, n)
	var thin []string
	for i, r := range in.Replicas {
		dists[i] = newDist(r.Bars)
		adv.Samples[i] = dists[i].n
		if dists[i].n < minSamples {
			thin = append(thin, fmt.Sprintf("%s has %d", r.Name, dists[i].n))
		}
	}
	if len(thin) > 0 {
		return Advice{}, fmt.Errorf("%w: replica %s (min %d)", ErrNotEnoughSamples, strings.Join(thin, ", "), minSamples)
	}
	percentiles := in.Percentiles
	if percentiles == nil {
		percentiles = advisorPercentiles(in.Hedge.Percentile.Fixed)
		if in.Hedge.Percentile.Auto {
			percentiles = advisorPercentiles(50)
		}
	}
	for _, p := range percentiles {
		if !(p > 0 && p <= 100) {
			return Advice{}, fmt.Errorf("advisor: percentile %v is outside (0, 100]", p)
		}
	}
	percentiles = slices.Clone(percentiles)
	slices.Sort(percentiles)
	percentiles = slices.Compact(percentiles)

	adv.BudgetCap = budgetCap(in.Budget, in.RequestRate)
	attempts := min(max(in.Hedge.MaxAttempts, 1), n)
	m := newModel(dists, attempts)

	unhedged := make([]int64, n) // delays are irrelevant with one attempt
	adv.Unhedged = m.latencies(unhedged, 1, 1)

	configured := m.delays(in.Hedge, in.Hedge.Percentile.Fixed)
	if len(in.InForce) == n {
		for i, d := range in.InForce {
			configured[i] = int64(d)
		}
	}
	for _, p := range percentiles {
		adv.Candidates = append(adv.Candidates, m.candidate(in.Hedge, p, configured, adv.BudgetCap))
	}
	return adv, nil
}

// budgetCap is the extra attempts per request a budget grants at rate requests per
// second: ratio + min_per_second / rate, ratio alone when the rate is unknown.
func budgetCap(b config.Budget, rate float64) float64 {
	c := max(b.Ratio, 0)
	if rate > 0 {
		c += max(b.MinPerSecond, 0) / rate
	}
	return c * (1 - retryReserve) // hedges may not take the retries' share
}

// candidate predicts hedge percentile p; configured are the delays in force.
func (m *model) candidate(h config.Hedge, p float64, configured []int64, budgetCap float64) Candidate {
	c := Candidate{Percentile: p, Configured: !h.Percentile.Auto && p == h.Percentile.Fixed}
	ds := m.delays(h, p)
	c.Delays = make([]time.Duration, len(ds))
	for i, d := range ds {
		c.Delays[i] = time.Duration(d)
		c.Optimistic = c.Optimistic || (m.k > 1 && d > configured[i])
	}
	pr := m.predict(ds, budgetCap)
	c.UncappedExtraLoad, c.ExtraLoad, c.BudgetCapped, c.BudgetFraction = pr.uncapped, pr.extra, pr.capped, pr.fraction
	c.Latency = m.latencies(ds, m.k, c.BudgetFraction)
	return c
}

// RequestRate is the budget's view of the request rate: requests counted in its 10s
// window, per second of window. The budget's floor is min_per_second over that same
// window, so this is the rate that makes ratio + min_per_second/rate its exact cap. A
// budget younger than its window under-reports.
func (b *Budget) RequestRate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return b.sumReq / budgetWindow.Seconds()
}

// Advise runs the advisor on the plan's replicas' current histograms, with the
// route's hedge settings, budget and request rate. percentiles nil: the default set.
// Only hedge plans can be advised.
func (p *Plan) Advise(percentiles []float64) (Advice, error) {
	if _, ok := p.strategy.(*hedgeStrategy); !ok {
		return Advice{}, fmt.Errorf("advisor: route %q uses strategy %s; only hedge routes are modelled", p.route, p.strategyName)
	}
	in := adviceInput{
		Hedge:       p.hedgeCfg,
		Budget:      config.Budget{Ratio: p.budget.ratio, MinPerSecond: p.budget.floor / budgetWindow.Seconds()},
		RequestRate: p.budget.RequestRate(),
		MinSamples:  int(p.minSamples),
		Percentiles: percentiles,
	}
	for _, rep := range p.set.Replicas {
		in.Replicas = append(in.Replicas, replicaLatency{Name: rep.Name, Bars: rep.Latency().Snapshot().Bars()})
		if p.auto != nil {
			in.InForce = append(in.InForce, p.HedgeDelay(rep))
		}
	}
	return advise(in)
}
