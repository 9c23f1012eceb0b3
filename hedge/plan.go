// Package hedge is hedgegate's attempt engine: it sends one read to several replicas
// — after a latency-percentile delay, in parallel, or to all for a quorum — and
// decides the answer. One engine runs every strategy; a strategy only changes how many
// attempts are planned up front, when extra ones launch, and when the result is decided.
//
// Every attempt beyond a request's planned ones spends the route's Budget, so the extra
// load is bounded by the request rate, on a calm day and in an outage alike.
package hedge

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// Bounds of an automatic attempt timeout (the replica's p99.9 × autoTimeoutPadding).
const (
	autoTimeoutPadding = 1.5
	autoTimeoutFloor   = 10 * time.Millisecond
	// autoTimeoutMinSamples: a p99.9 from fewer samples is only the largest of a few
	// answers, and would cut legitimately slow ones (measured: a quorum route lost
	// 0.75% of reads to a "p99.9" taken from 50 samples).
	autoTimeoutMinSamples = 1000
)

// Options are a Plan's collaborators. Every field may be left zero.
type Options struct {
	// Observer is told about attempts, hedge wins and budget denials. Nil: NopObserver.
	Observer Observer
	// Picker chooses among untried replicas. Nil: power-of-two-choices seeded by Seed.
	Picker replicas.Picker
	// Seed seeds the default picker. Zero is a valid seed.
	Seed uint64
	// Now is the budget's clock. Nil: time.Now.
	Now func() time.Time
	// RandN draws backoff jitter: uniform in [0, n). Nil: math/rand/v2's Int64N.
	RandN func(n int64) int64
	// Transport sends attempts. Nil: the replica set's transport.
	Transport http.RoundTripper
	// MinSamples is latency.min_samples: fewer samples and a replica's histogram is not
	// trusted (the hedge uses initial_delay, an auto attempt timeout the route timeout).
	MinSamples int
	// Previous is the plan this one replaces on a reload (nil at start). When the
	// route's budget settings are unchanged its budget carries over, and when its
	// quorum version and monotonic settings are unchanged, its monotonic floor too:
	// a reload must neither grant a fresh budget in an outage nor forget versions
	// already served.
	Previous *Plan
	// MaxResponseBodyBytes bounds a buffered replica answer (quorum bodies, failed answers
	// kept to pass through). Zero: 8 MiB.
	MaxResponseBodyBytes int64
}

// Plan is one route's immutable attempt policy, built once from config. Do runs it
// with fresh per-request state, so a Plan is safe for concurrent use.
type Plan struct {
	route     string
	strategy  string
	set       *replicas.Set
	transport http.RoundTripper
	picker    replicas.Picker
	observer  Observer
	budget    *Budget
	retry     retryPolicy
	backoff   backoff

	percentile   float64
	initialDelay time.Duration
	minDelay     time.Duration
	maxDelay     time.Duration
	maxAttempts  int
	planned      int // attempts sent at once, outside the budget
	minSamples   int64

	autoTimeout  bool
	fixedTimeout time.Duration
	timeout      time.Duration
	maxBody      int64

	quorum *quorumPlan // nil unless the strategy is quorum

	budgetCfg config.Budget // what budget was built from, to carry it over on reload
}

// NewPlan compiles a validated route for its replica set.
func NewPlan(route *config.Route, set *replicas.Set, opts Options) (*Plan, error) {
	if route == nil || set == nil || len(set.Replicas) == 0 {
		return nil, errors.New("hedge: a plan needs a route and a non-empty replica set")
	}
	retry, err := newRetryPolicy(route.Retry.On)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", route.Name, err)
	}
	p := &Plan{
		route:        route.Name,
		strategy:     route.Strategy,
		set:          set,
		transport:    set.Transport(),
		picker:       opts.Picker,
		observer:     opts.Observer,
		budget:       NewBudget(route.Budget, opts.Now),
		budgetCfg:    route.Budget,
		retry:        retry,
		backoff:      backoff{base: route.Retry.BackoffBase.D(), max: route.Retry.BackoffMax.D(), randN: opts.RandN},
		percentile:   route.Hedge.Percentile,
		initialDelay: route.Hedge.InitialDelay.D(),
		minDelay:     route.Hedge.MinDelay.D(),
		maxDelay:     route.Hedge.MaxDelay.D(),
		minSamples:   int64(opts.MinSamples),
		autoTimeout:  route.AttemptTimeout.Auto,
		fixedTimeout: route.AttemptTimeout.Fixed,
		timeout:      route.Timeout.D(),
		maxBody:      opts.MaxResponseBodyBytes,
	}
	if prev := opts.Previous; prev != nil && prev.budgetCfg == route.Budget {
		p.budget = prev.budget
	}
	if opts.Transport != nil {
		p.transport = opts.Transport
	}
	if p.picker == nil {
		p.picker = replicas.NewP2C(opts.Seed)
	}
	if p.observer == nil {
		p.observer = NopObserver{}
	}
	if p.backoff.randN == nil {
		p.backoff.randN = rand.Int64N
	}
	if p.maxBody <= 0 {
		p.maxBody = 8 << 20
	}
	n := len(set.Replicas)
	switch route.Strategy {
	case config.StrategyHedge, "":
		p.strategy = config.StrategyHedge
		p.planned = 1
		// Each attempt goes to a replica the request has not tried: the set caps it.
		p.maxAttempts = min(max(1, route.Hedge.MaxAttempts), n)
	case config.StrategyParallel:
		// Replacements for failed fan-out attempts go to replicas not yet tried.
		p.planned = min(max(1, route.Parallel.Fanout), n)
		p.maxAttempts = n
	case config.StrategyQuorum:
		q, err := newQuorumPlan(route, n)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", route.Name, err)
		}
		if prev := opts.Previous; prev != nil && prev.quorum != nil && prev.quorum.floor != nil &&
			q.floor != nil && prev.quorum.cfg.Version == route.Quorum.Version &&
			prev.quorum.cfg.Monotonic == route.Quorum.Monotonic {
			q.floor = prev.quorum.floor
		}
		p.quorum = q
		p.planned = n
		p.maxAttempts = n
	default:
		return nil, fmt.Errorf("route %q: unknown strategy %q", route.Name, route.Strategy)
	}
	return p, nil
}

// Route is the route's name.
func (p *Plan) Route() string { return p.route }

// Strategy is hedge, parallel or quorum.
func (p *Plan) Strategy() string { return p.strategy }

// Set is the replica set the plan sends to.
func (p *Plan) Set() *replicas.Set { return p.set }

// Budget is the route's extra-attempt budget.
func (p *Plan) Budget() *Budget { return p.budget }

// HedgeDelay is how long a hedge route waits on an attempt to rep before sending the
// next: rep's configured latency percentile, clamped to [min_delay, max_delay], or
// initial_delay while rep has fewer than min_samples samples.
func (p *Plan) HedgeDelay(rep *replicas.Replica) time.Duration {
	w := rep.Latency()
	if w.Count() < p.minSamples {
		return p.initialDelay
	}
	return min(max(w.Quantile(p.percentile), p.minDelay), p.maxDelay)
}

// AttemptTimeout bounds one attempt to rep until its response headers arrive:
// fixed, or rep's p99.9 × 1.5 clamped to [10ms, route timeout] once rep has
// 1000 samples (and min_samples), the route timeout before.
//
// On quorum routes auto is the route timeout: a quorum cancels its slowest answers
// as soon as `read` agree, so a replica's histogram lacks exactly the slow answers,
// and a p99.9 from it would cut them off when the quorum does need them (measured:
// 1 read in 1600 lost in the demo). Set a fixed attempt_timeout to bound them.
func (p *Plan) AttemptTimeout(rep *replicas.Replica) time.Duration {
	if !p.autoTimeout {
		return p.fixedTimeout
	}
	if p.quorum != nil {
		return p.timeout
	}
	w := rep.Latency()
	if w.Count() < max(p.minSamples, autoTimeoutMinSamples) {
		return p.timeout
	}
	padded := time.Duration(float64(w.Quantile(99.9)) * autoTimeoutPadding)
	return min(max(padded, autoTimeoutFloor), p.timeout)
}
