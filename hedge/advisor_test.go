package hedge

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/latency"
	"github.com/hedgegate/hedgegate/replicas"
)

// twoPoint is a histogram with fast of n samples at 1ms and the rest at 50ms.
func twoPoint(name string, fast, n int64) replicaLatency {
	return replicaLatency{Name: name, Bars: []latency.Bar{
		{Value: time.Millisecond, Count: fast},
		{Value: 50 * time.Millisecond, Count: n - fast},
	}}
}

// heavyTail records n samples into a real HDR window: lognormal(median, sigma) with
// tailProb of them tailExtra slower, at evenly spaced quantiles so the histogram
// is the same every run.
func heavyTail(name string, n int, median time.Duration, sigma, tailProb float64, tailExtra time.Duration) replicaLatency {
	t0 := time.Unix(1000, 0)
	w := latency.NewWindow(time.Minute, 1, func() time.Time { return t0 })
	every := int(math.Round(1 / tailProb))
	for i := range n {
		z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(n)-1)
		d := time.Duration(float64(median) * math.Exp(sigma*z))
		if tailProb > 0 && i%every == every/2 {
			d += tailExtra
		}
		w.Record(d)
	}
	return replicaLatency{Name: name, Bars: w.Snapshot().Bars()}
}

func hedgeSettings(p float64) config.Hedge {
	return config.Hedge{Percentile: config.HedgePercentile{Fixed: p}, MinDelay: config.Duration(100 * time.Microsecond),
		MaxDelay: config.Duration(200 * time.Millisecond), MaxAttempts: 3}
}

func candidate(t *testing.T, a Advice, p float64) Candidate {
	t.Helper()
	for _, c := range a.Candidates {
		if c.Percentile == p {
			return c
		}
	}
	t.Fatalf("no candidate for p%v in %+v", p, a.Candidates)
	return Candidate{}
}

func TestAdviseTwoPointHistogram(t *testing.T) {
	in := adviceInput{
		Replicas: []replicaLatency{twoPoint("r1", 980, 1000), twoPoint("r2", 980, 1000), twoPoint("r3", 980, 1000)},
		Hedge:    hedgeSettings(95),
		Budget:   config.Budget{Ratio: 1},
	}
	a, err := advise(in)
	if err != nil {
		t.Fatal(err)
	}
	if a.Unhedged.P50 != time.Millisecond || a.Unhedged.P99 != 50*time.Millisecond {
		t.Errorf("unhedged %+v: want p50 1ms, p99 50ms", a.Unhedged)
	}
	c := candidate(t, a, 95)
	if !c.Configured || c.BudgetCapped {
		t.Errorf("p95 row %+v: want configured and not capped", c)
	}
	if !slices.Equal(c.Delays, []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}) {
		t.Errorf("delays %v, want the p95 of every replica: 1ms", c.Delays)
	}
	// A hedge when the primary is slow (2%), a third attempt when the hedge is too (0.04%).
	if want := 0.02 + 0.02*0.02; math.Abs(c.ExtraLoad-want) > 1e-12 {
		t.Errorf("extra load %v, want P(first > 1ms) + P(both > their delay) = %v", c.ExtraLoad, want)
	}
	// p99: the 2% slow primaries are answered by the hedge: delay + its 1ms.
	if c.Latency.P50 != time.Millisecond || c.Latency.P99 != 2*time.Millisecond || c.Latency.P999 != 2*time.Millisecond {
		t.Errorf("latency %+v, want p50 1ms, p99 = p99.9 = 1ms delay + 1ms", c.Latency)
	}
	// At p99 the delay is 50ms: nothing is slower, so nothing is hedged.
	c99 := candidate(t, a, 99)
	if c99.Delays[0] != 50*time.Millisecond || c99.ExtraLoad != 0 || c99.Latency != a.Unhedged {
		t.Errorf("p99 row %+v: want a 50ms delay, no extra load, unhedged latency", c99)
	}
}

func TestAdviseHigherPercentileHedgesLess(t *testing.T) {
	reps := []replicaLatency{
		heavyTail("r1", 20000, 2*time.Millisecond, 0.3, 0.05, 40*time.Millisecond),
		heavyTail("r2", 20000, 2*time.Millisecond, 0.3, 0.05, 40*time.Millisecond),
		heavyTail("r3", 20000, 3*time.Millisecond, 0.5, 0.02, 60*time.Millisecond),
	}
	a, err := advise(adviceInput{Replicas: reps, Hedge: hedgeSettings(95), Budget: config.Budget{Ratio: 1},
		Percentiles: []float64{99.9, 50, 75, 90, 95, 99, 95}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.Candidates); got != 6 {
		t.Fatalf("%d candidates, want 6 (sorted, duplicates dropped)", got)
	}
	for i := 1; i < len(a.Candidates); i++ {
		prev, c := a.Candidates[i-1], a.Candidates[i]
		if c.Percentile <= prev.Percentile {
			t.Errorf("candidates not ascending: p%v after p%v", c.Percentile, prev.Percentile)
		}
		if c.ExtraLoad > prev.ExtraLoad {
			t.Errorf("p%v extra load %.4f > p%v's %.4f: a later hedge must fire less often",
				c.Percentile, c.ExtraLoad, prev.Percentile, prev.ExtraLoad)
		}
		for r := range c.Delays {
			if c.Delays[r] < prev.Delays[r] {
				t.Errorf("p%v delay of %s %v < p%v's %v", c.Percentile, reps[r].Name, c.Delays[r], prev.Percentile, prev.Delays[r])
			}
		}
	}
	for _, c := range a.Candidates {
		if c.Latency.P99 > a.Unhedged.P99 || c.Latency.P999 > a.Unhedged.P999 {
			t.Errorf("p%v predicts %+v, worse than unhedged %+v: a hedge only adds chances", c.Percentile, c.Latency, a.Unhedged)
		}
		if c.Optimistic != (c.Percentile > 95) {
			t.Errorf("p%v optimistic = %v; want true exactly for delays past the configured p95", c.Percentile, c.Optimistic)
		}
	}
	if c := candidate(t, a, 95); c.Latency.P99 >= a.Unhedged.P99/4 {
		t.Errorf("hedging at p95 predicts p99 %v against %v unhedged: the 5%% tail should be cut", c.Latency.P99, a.Unhedged.P99)
	}
}

// TestAdviseAgreesWithMonteCarlo checks the exact math against a brute-force
// simulation of the same model (seeded), budget fraction included.
func TestAdviseAgreesWithMonteCarlo(t *testing.T) {
	reps := []replicaLatency{
		heavyTail("r1", 5000, 2*time.Millisecond, 0.3, 0.05, 40*time.Millisecond),
		heavyTail("r2", 5000, 2*time.Millisecond, 0.6, 0.05, 40*time.Millisecond),
		heavyTail("r3", 5000, 4*time.Millisecond, 0.3, 0.01, 80*time.Millisecond),
	}
	for _, tc := range []struct {
		name  string
		p     float64
		ratio float64
	}{
		{"p90 uncapped", 90, 1},
		{"p50 capped", 50, 0.2},
		{"p75 capped hard", 75, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := advise(adviceInput{Replicas: reps, Hedge: hedgeSettings(tc.p), Budget: config.Budget{Ratio: tc.ratio},
				Percentiles: []float64{tc.p}})
			if err != nil {
				t.Fatal(err)
			}
			c := a.Candidates[0]
			extra, lat := monteCarlo(reps, c.Delays, 3, c.BudgetFraction, 200000)
			if math.Abs(extra-c.ExtraLoad) > 0.004 {
				t.Errorf("extra load %.4f, simulated %.4f", c.ExtraLoad, extra)
			}
			for _, q := range []struct {
				name      string
				got, want time.Duration
			}{{"p50", c.Latency.P50, lat.P50}, {"p99", c.Latency.P99, lat.P99}} {
				if rel := math.Abs(float64(q.got-q.want)) / float64(q.want); rel > 0.03 {
					t.Errorf("%s %v, simulated %v", q.name, q.got, q.want)
				}
			}
		})
	}
}

func monteCarlo(reps []replicaLatency, delays []time.Duration, attempts int, f float64, n int) (float64, Latencies) {
	rng := rand.New(rand.NewPCG(7, 7))
	draw := make([]func() time.Duration, len(reps))
	for i, r := range reps {
		cum := make([]int64, len(r.Bars))
		var total int64
		for j, b := range r.Bars {
			total += b.Count
			cum[j] = total
		}
		bars := r.Bars
		draw[i] = func() time.Duration {
			k := rng.Int64N(total)
			j, _ := slices.BinarySearch(cum, k+1)
			return bars[j].Value
		}
	}
	lat := make([]time.Duration, n)
	extras := 0
	for i := range n {
		order := rng.Perm(len(reps))[:min(attempts, len(reps))]
		best := time.Duration(math.MaxInt64)
		var at time.Duration
		for j, r := range order {
			if j > 0 {
				at += delays[order[j-1]]
				if best <= at || rng.Float64() >= f {
					break
				}
				extras++
			}
			best = min(best, at+draw[r]())
		}
		lat[i] = best
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(math.Ceil(p*float64(n)))-1] }
	return float64(extras) / float64(n), Latencies{P50: q(0.5), P99: q(0.99), P999: q(0.999)}
}

func TestAdviseBudget(t *testing.T) {
	reps := []replicaLatency{twoPoint("r1", 980, 1000), twoPoint("r2", 980, 1000), twoPoint("r3", 980, 1000)}
	const wouldBe = 0.02 + 0.02*0.02
	for _, tc := range []struct {
		name       string
		budget     config.Budget
		rate       float64
		wantCap    float64
		wantCapped bool
		wantP99    time.Duration
	}{
		// Hedges get 90% of the budget (the rest is the retry reserve).
		// Over half the slow primaries wait their full 50ms: p99 is lost.
		{"ratio alone caps", config.Budget{Ratio: 0.01, MinPerSecond: 10}, 0, 0.009, true, 50 * time.Millisecond},
		// 88% of the hedges still go: enough to cover p99.
		{"floor at a high rate still caps", config.Budget{Ratio: 0.01, MinPerSecond: 10}, 1000, 0.018, true, 2 * time.Millisecond},
		{"floor at a low rate lifts the cap", config.Budget{Ratio: 0.01, MinPerSecond: 10}, 500, 0.027, false, 2 * time.Millisecond},
		{"no budget, no hedges", config.Budget{}, 100, 0, true, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := advise(adviceInput{Replicas: reps, Hedge: hedgeSettings(95), Budget: tc.budget, RequestRate: tc.rate})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(a.BudgetCap-tc.wantCap) > 1e-12 {
				t.Errorf("budget cap %v, want %v", a.BudgetCap, tc.wantCap)
			}
			c := candidate(t, a, 95)
			if c.BudgetCapped != tc.wantCapped || math.Abs(c.UncappedExtraLoad-wouldBe) > 1e-12 {
				t.Fatalf("capped %v (uncapped extra %v), want %v (%v)", c.BudgetCapped, c.UncappedExtraLoad, tc.wantCapped, wouldBe)
			}
			if c.Latency.P99 != tc.wantP99 {
				t.Errorf("p99 %v, want %v", c.Latency.P99, tc.wantP99)
			}
			if !tc.wantCapped {
				if c.ExtraLoad != wouldBe || c.BudgetFraction != 1 {
					t.Errorf("uncapped row: extra %v, fraction %v", c.ExtraLoad, c.BudgetFraction)
				}
				return
			}
			if math.Abs(c.ExtraLoad-tc.wantCap) > 1e-6 {
				t.Errorf("capped extra load %v, want the cap %v", c.ExtraLoad, tc.wantCap)
			}
			if c.BudgetFraction >= 1 || c.BudgetFraction < 0 {
				t.Errorf("budget fraction %v, want in [0, 1)", c.BudgetFraction)
			}
		})
	}
}

func TestAdviseDegenerateInputs(t *testing.T) {
	good := twoPoint("r1", 980, 1000)
	for _, tc := range []struct {
		name    string
		in      adviceInput
		wantErr string
		isThin  bool
	}{
		{"no replicas", adviceInput{Hedge: hedgeSettings(95)}, "no replicas", false},
		{"a replica without samples", adviceInput{Replicas: []replicaLatency{good, {Name: "r2"}}, Hedge: hedgeSettings(95)},
			"not enough samples: replica r2 has 0 (min 1)", true},
		{"below min_samples", adviceInput{Replicas: []replicaLatency{good, twoPoint("r2", 9, 10)}, Hedge: hedgeSettings(95), MinSamples: 50},
			"not enough samples: replica r2 has 10 (min 50)", true},
		{"percentile out of range", adviceInput{Replicas: []replicaLatency{good}, Hedge: hedgeSettings(95), Percentiles: []float64{0}},
			"percentile 0 is outside", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := advise(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrNotEnoughSamples) != tc.isThin {
				t.Errorf("errors.Is(err, ErrNotEnoughSamples) = %v", !tc.isThin)
			}
		})
	}

	for _, tc := range []struct {
		name string
		in   adviceInput
	}{
		{"one replica", adviceInput{Replicas: []replicaLatency{good}, Hedge: hedgeSettings(95), Budget: config.Budget{Ratio: 1}}},
		{"max_attempts 1", adviceInput{Replicas: []replicaLatency{good, good}, Budget: config.Budget{Ratio: 1},
			Hedge: config.Hedge{Percentile: config.HedgePercentile{Fixed: 95}, MaxAttempts: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := advise(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range a.Candidates {
				if c.ExtraLoad != 0 || c.Latency != a.Unhedged || c.Optimistic {
					t.Errorf("p%v: %+v, want no hedging and the unhedged latency %+v", c.Percentile, c, a.Unhedged)
				}
			}
		})
	}
}

func TestAdvisorPercentiles(t *testing.T) {
	if got, want := advisorPercentiles(95), []float64{50, 75, 90, 95, 99, 99.9}; !slices.Equal(got, want) {
		t.Errorf("advisorPercentiles(95) = %v, want %v", got, want)
	}
	if got, want := advisorPercentiles(97.5), []float64{50, 75, 90, 95, 97.5, 99, 99.9}; !slices.Equal(got, want) {
		t.Errorf("advisorPercentiles(97.5) = %v, want %v", got, want)
	}
	a, err := advise(adviceInput{Replicas: []replicaLatency{twoPoint("r1", 98, 100), twoPoint("r2", 98, 100)}, Hedge: hedgeSettings(97.5)})
	if err != nil {
		t.Fatal(err)
	}
	var configured []float64
	for _, c := range a.Candidates {
		if c.Configured {
			configured = append(configured, c.Percentile)
		}
	}
	if !slices.Equal(configured, []float64{97.5}) {
		t.Errorf("configured rows %v, want exactly p97.5", configured)
	}
}

// The advisor's delays must be the engine's: same rank rounding as hdrhistogram-go.
func TestAdvisorQuantileMatchesHistogram(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := latency.NewWindow(time.Minute, 1, func() time.Time { return t0 })
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1237 {
		w.Record(time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond)))
	}
	snap := w.Snapshot()
	d := newDist(snap.Bars())
	for _, p := range []float64{0.01, 1, 50, 75, 90, 95, 99, 99.9, 99.99, 100} {
		if got, want := d.quantile(p), snap.Quantile(p); got != want {
			t.Errorf("p%v: advisor %v, histogram %v", p, got, want)
		}
	}
}

func TestPlanAdvise(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	set, err := replicas.NewSet("kv", &config.ReplicaSet{Replicas: []config.Replica{
		{Name: "r1", URL: "http://127.0.0.1:1"}, {Name: "r2", URL: "http://127.0.0.1:2"},
	}}, config.Latency{}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	route := &config.Route{Name: "kv-get", Strategy: config.StrategyHedge, Hedge: hedgeSettings(90),
		Budget: config.Budget{Ratio: 0.1, MinPerSecond: 10}}
	p, err := NewPlan(route, set, Options{Now: clock.now, MinSamples: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Advise(nil); !errors.Is(err, ErrNotEnoughSamples) {
		t.Fatalf("advice from empty histograms: err %v, want ErrNotEnoughSamples", err)
	}
	for i := range 100 {
		for _, rep := range set.Replicas {
			rep.Latency().Record(time.Duration(i+1) * 100 * time.Microsecond)
		}
	}
	for range 500 {
		p.Budget().request()
	}
	if got := p.Budget().RequestRate(); got != 50 {
		t.Errorf("request rate %v, want 500 requests / 10s window", got)
	}
	a, err := p.Advise(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Samples, []int64{100, 100}) {
		t.Errorf("samples %v", a.Samples)
	}
	if want := (0.1 + 10.0/50) * (1 - retryReserve); math.Abs(a.BudgetCap-want) > 1e-12 {
		t.Errorf("budget cap %v, want ratio + min_per_second/rate less the retry reserve = %v", a.BudgetCap, want)
	}
	c := candidate(t, a, 90)
	if !c.Configured || c.Delays[0] != p.HedgeDelay(set.Replicas[0]) {
		t.Errorf("p90 row %+v: want configured, delay = the engine's %v", c, p.HedgeDelay(set.Replicas[0]))
	}

	route.Strategy, route.Parallel.Fanout = config.StrategyParallel, 2
	q, err := NewPlan(route, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Advise(nil); err == nil || !strings.Contains(err.Error(), "only hedge routes") {
		t.Errorf("advice on a parallel route: err %v", err)
	}
}

func BenchmarkAdvise(b *testing.B) {
	for _, n := range []int{3, 10} {
		var reps []replicaLatency
		for i := range n {
			reps = append(reps, heavyTail("r", 50000, 2*time.Millisecond, 0.3+0.05*float64(i), 0.05, 40*time.Millisecond))
		}
		in := adviceInput{Replicas: reps, Hedge: hedgeSettings(95), Budget: config.Budget{Ratio: 0.1, MinPerSecond: 10}, RequestRate: 300}
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := advise(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
