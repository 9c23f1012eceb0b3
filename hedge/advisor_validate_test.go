package hedge

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// TestAdvisorPredictsTheEngine checks the model against the real engine — its P2C
// picker, timers, budget and the histograms it records (cancelled losers included) —
// on synctest's fake clock, so the machine's own scheduling noise is out of the
// comparison. Replicas answer like `gateway sim -latency lognormal:median=2ms,sigma=0.3
// -tail 0.05:40ms`. As an operator would: warm up at p99.9 (hedges are rare, the
// histograms whole), read the advisor, switch to the candidate and measure.
func TestAdvisorPredictsTheEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 54,000 requests")
	}
	synctest.Test(t, func(t *testing.T) {
		const rate = 300
		urls := []string{"http://r1.test", "http://r2.test", "http://r3.test"}
		route := func(p float64) string {
			return fmt.Sprintf("attempt_timeout: 1s\nhedge: {percentile: %g, initial_delay: 10ms, min_delay: 1ms, max_delay: 200ms, max_attempts: 3}\n"+
				"budget: {ratio: 0.1, min_per_second: 10}", p)
		}
		tr := newSimTransport(2*time.Millisecond, 0.3, 0.05, 40*time.Millisecond)
		opts := Options{Transport: tr, Picker: replicas.NewP2C(1), MinSamples: 50}
		// The warm-up draws replicas uniformly: P2C shuns a replica whose first answer
		// was late for tens of seconds (by design), and the 20 s warm-up then left one
		// with a handful of samples, too few to advise from, in about 1 run of 40.
		warmOpts := opts
		warmOpts.Picker = &uniformPicker{rng: rand.New(rand.NewPCG(3, 4))}
		for _, p := range []float64{50, 90, 99} {
			// Warm up, read the advisor, then switch the route to p keeping the
			// histograms, as a reload does.
			warm, set := newTestPlan(t, urls, route(99.9), warmOpts)
			openLoop(t, warm, rate, 20*time.Second)
			adv, err := warm.Advise([]float64{p})
			if err != nil {
				t.Fatal(err)
			}
			c := adv.Candidates[0]
			_, rc := testConfig(t, urls, route(p))
			pl, err := NewPlan(rc, set, opts)
			if err != nil {
				t.Fatal(err)
			}
			openLoop(t, pl, rate, 10*time.Second)
			lat, extra := openLoop(t, pl, rate, 20*time.Second)
			p99 := lat[int(math.Ceil(0.99*float64(len(lat))))-1]
			t.Logf("p%v: predicted p99 %v extra %.1f%% (capped %v); engine p99 %v extra %.1f%%",
				p, c.Latency.P99, 100*c.ExtraLoad, c.BudgetCapped, p99, 100*extra)
			// The bar: 20% on p99, 2 percentage points on extra load.
			if rel := math.Abs(float64(c.Latency.P99-p99)) / float64(p99); rel > 0.2 {
				t.Errorf("p%v: predicted p99 %v, engine %v (%.0f%% off)", p, c.Latency.P99, p99, 100*rel)
			}
			if math.Abs(c.ExtraLoad-extra) > 0.02 {
				t.Errorf("p%v: predicted extra load %.1f%%, engine %.1f%%", p, 100*c.ExtraLoad, 100*extra)
			}
		}
	})
}

// openLoop sends rate requests per second for d through p, each timed from when it
// was due, and returns the latencies (sorted) and the extra attempts per request.
func openLoop(t *testing.T, p *Plan, rate float64, d time.Duration) ([]time.Duration, float64) {
	t.Helper()
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	sent := make([]int, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(due))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			res, err := p.Do(ctx, get(t, "/kv/k"), nil)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			res.Close()
			lat[i], sent[i] = time.Since(due), res.Sent
		})
	}
	wg.Wait()
	slices.Sort(lat)
	extra := 0
	for _, s := range sent {
		extra += s - 1
	}
	return lat, float64(extra) / float64(n)
}

// simTransport answers every host after median·exp(sigma·Z), plus extra with
// probability tail, drawn from the host's own seeded stream, on the caller's clock;
// a cancelled request returns at once, as a simulated replica frees its handler.
type simTransport struct {
	median          time.Duration
	sigma, tailProb float64
	tailExtra       time.Duration

	mu  sync.Mutex
	rng map[string]*rand.Rand
}

func newSimTransport(median time.Duration, sigma, tailProb float64, tailExtra time.Duration) *simTransport {
	return &simTransport{median: median, sigma: sigma, tailProb: tailProb, tailExtra: tailExtra, rng: map[string]*rand.Rand{}}
}

func (s *simTransport) draw(host string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rng[host]
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(len(s.rng)+1), 42))
		s.rng[host] = r
	}
	d := time.Duration(float64(s.median) * math.Exp(s.sigma*r.NormFloat64()))
	if r.Float64() < s.tailProb {
		d += s.tailExtra
	}
	return d
}

func (s *simTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := time.NewTimer(s.draw(req.URL.Host))
	defer t.Stop()
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-t.C:
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: 2,
		Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}
