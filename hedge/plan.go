// Package hedge is hedgegate's attempt engine: it sends one read to several replicas
// — after a latency-percentile delay, in parallel, or to all for a quorum — and
// decides the answer. One engine runs every strategy; a strategy is a scheduler (when
// attempts launch, how many at once) and a collector (when the result is decided).
//
// Every attempt beyond a request's planned ones spends the route's Budget, so the extra
// load is bounded by the request rate, on a calm day and in an outage alike.
//
// From Go, New builds a Plan from a Config in code and Transport makes it an
// http.RoundTripper; the gateway builds its plans from config files with NewPlan.
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
	// Observer is told about attempts, hedge wins and budget denials. Nil: nothing is.
	Observer Observer
	// Tracer follows every attempt from launch to outcome. Nil: no tracing.
	Tracer Tracer
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
	// quorum version and monotonic settings are unchanged, its monotonic floor too,
	// and while its version is unchanged, the highest version each replica was seen
	// with: a reload must neither grant a fresh budget in an outage nor forget
	// versions already served.
	Previous *Plan
	// MaxResponseBodyBytes bounds a buffered replica answer (quorum bodies, failed answers
	// kept to pass through), and the read-ahead of hedge and parallel answers when it
	// is below 64 KiB. Zero: 8 MiB.
	MaxResponseBodyBytes int64
	// FineTimers fires hedge delays and retry backoffs on a shared timerfd
	// (internal/finesleep) instead of the runtime timer, which in an idle process
	// fires up to 1ms late: Go's poller waits in whole milliseconds. The gateway
	// turns it on. Leave it off under testing/synctest, whose fake clock the timerfd
	// does not keep.
	FineTimers bool
	// Latency is the config's latency section: with hedge.percentile auto, the tuner
	// retunes once per Window from the last complete windows (Buckets − 1 at most,
	// two at most). Zero: the defaults (10s, 6).
	Latency config.Latency
}

// Plan is one route's immutable attempt policy, built once from config. Do runs it
// with fresh per-request state, so a Plan is safe for concurrent use.
type Plan struct {
	route      string
	set        *replicas.Set
	ownsSet    bool // built by New: Close closes it
	transport  http.RoundTripper
	picker     replicas.Picker
	observer   Observer
	tracer     Tracer
	budget     *Budget
	retry      retryPolicy
	backoff    backoff
	delays     delaySource  // what HedgeDelay reports; the hedge strategy's delays
	hedgeCfg   config.Hedge // the route's hedge settings, max_attempts as in force
	auto       *autoDelay   // delays when hedge.percentile is auto; nil otherwise
	minSamples int64
	version    *routeVersion // nil: the route's answers carry no version

	autoTimeout  bool
	fixedTimeout time.Duration
	timeout      time.Duration
	maxBody      int64
	readAhead    int64 // answerReadAhead, or maxBody when lower
	fineTimers   bool  // Options.FineTimers

	strategyName string
	strategy     strategy
	mode         attemptMode // strategy.mode(), read once

	budgetCfg config.Budget // what budget was built from, to carry it over on reload
}

// NewPlan compiles a validated route for its replica set: the gateway's way in, from a
// config file (config.Load), where defaults are already applied and every value is
// taken as written. From Go, New builds the same from a Config with defaults.
//
// The plan reads set's members once, here: a set whose members change (DNS
// discovery) gets a new plan for each new Set, built with the old plan as Previous,
// so a request runs on one unchanging member list. Only a discovery set may be
// empty (before its first answer): its plan's Do fails every request with
// OutcomeNoReplica.
func NewPlan(route *config.Route, set *replicas.Set, opts Options) (*Plan, error) {
	if route == nil || set == nil || len(set.Replicas) == 0 && !set.Discovered() {
		return nil, errors.New("hedge: a plan needs a route and a non-empty replica set")
	}
	retry, err := newRetryPolicy(route.Retry.On)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", route.Name, err)
	}
	p := &Plan{
		route:      route.Name,
		set:        set,
		transport:  set.Transport(),
		picker:     opts.Picker,
		observer:   opts.Observer,
		tracer:     opts.Tracer,
		budget:     newBudget(route.Budget, opts.Now),
		budgetCfg:  route.Budget,
		fineTimers: opts.FineTimers,
		retry:      retry,
		backoff:    backoff{base: route.Retry.BackoffBase.D(), max: route.Retry.BackoffMax.D(), randN: opts.RandN},
		delays: &percentileDelay{
			percentile: route.Hedge.Percentile.Fixed,
			initial:    route.Hedge.InitialDelay.D(),
			minimum:    route.Hedge.MinDelay.D(),
			maximum:    route.Hedge.MaxDelay.D(),
			minSamples: int64(opts.MinSamples),
		},
		hedgeCfg:     route.Hedge,
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
		p.observer = nopObserver{}
	}
	if p.backoff.randN == nil {
		p.backoff.randN = rand.Int64N
	}
	if p.maxBody <= 0 {
		p.maxBody = 8 << 20
	}
	if p.version, err = newRouteVersion(route, set, opts.Previous); err != nil {
		return nil, fmt.Errorf("route %q: %w", route.Name, err)
	}
	p.readAhead = min(answerReadAhead, p.maxBody)
	s, err := p.newStrategy(route, opts.Previous)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", route.Name, err)
	}
	p.use(s)
	p.hedgeCfg.MaxAttempts = p.mode.maxAttempts
	if route.Hedge.Percentile.Auto && p.strategyName == config.StrategyHedge {
		p.auto = newAutoDelay(p, route.Hedge, opts.Latency, opts.Now, opts.Previous)
		p.delays = p.auto
		s.(*hedgeStrategy).delays = p.auto
	}
	return p, nil
}

// newStrategy builds the route's scheduler and collector pair for the plan's set.
func (p *Plan) newStrategy(route *config.Route, prev *Plan) (strategy, error) {
	n := len(p.set.Replicas)
	p.strategyName = route.Strategy
	switch route.Strategy {
	case config.StrategyHedge, "":
		p.strategyName = config.StrategyHedge
		// Each attempt goes to a replica the request has not tried: the set caps it.
		return &hedgeStrategy{maxAttempts: min(max(1, route.Hedge.MaxAttempts), n),
			delays: p.delays, retry: &p.retry, backoff: &p.backoff, bodyVersion: p.version.needsBody()}, nil
	case config.StrategyParallel:
		// Replacements for failed fan-out attempts go to replicas not yet tried.
		return &parallelStrategy{fanout: min(max(1, route.Parallel.Fanout), n), maxAttempts: n,
			retry: &p.retry, backoff: &p.backoff, bodyVersion: p.version.needsBody()}, nil
	case config.StrategyQuorum:
		return newQuorumStrategy(route, n, prev, p.version)
	}
	return nil, fmt.Errorf("unknown strategy %q", route.Strategy)
}

// use makes s the plan's strategy. Only NewPlan (and tests that bring their own
// strategy) call it, before the plan serves.
func (p *Plan) use(s strategy) {
	p.strategy, p.mode = s, s.mode()
	p.mode.maxAttempts = min(p.mode.maxAttempts, len(p.set.Replicas))
}

// previousStrategy is prev's strategy, or nil.
func previousStrategy(prev *Plan) strategy {
	if prev == nil {
		return nil
	}
	return prev.strategy
}

// Set is the replica set the plan sends to.
func (p *Plan) Set() *replicas.Set { return p.set }

// Budget is the route's extra-attempt budget.
func (p *Plan) Budget() *Budget { return p.budget }

// Close waits for an auto route's retune that may be running (none starts after it)
// and closes the idle connections of a plan built by New, which owns its replica
// set; requests in flight finish first. A plan from NewPlan leaves its set to the
// set's owner.
func (p *Plan) Close() {
	if p.auto != nil {
		p.auto.close()
	}
	if p.ownsSet {
		p.set.Close()
	}
}

// autoDelay is p's tuner, nil for a nil plan or one with a fixed percentile.
func (p *Plan) autoDelay() *autoDelay {
	if p == nil {
		return nil
	}
	return p.auto
}

// Auto is what the tuner of a hedge route with percentile auto chose for the
// current window; false for every other plan. Asking may start the window's retune.
func (p *Plan) Auto() (AutoState, bool) {
	if p.auto == nil {
		return AutoState{}, false
	}
	return p.auto.snapshot(), true
}

// HedgeDelay is how long a hedge route waits on an attempt to rep before sending the
// next: rep's configured latency percentile, clamped to [min_delay, max_delay], or
// initial_delay while rep has fewer than min_samples samples; with percentile auto,
// the tuner's choice for the current window.
func (p *Plan) HedgeDelay(rep *replicas.Replica) time.Duration { return p.delays.delay(rep) }

// AttemptTimeout bounds one attempt to rep until its answer could win (its headers,
// and its body up to the read-ahead; on quorum routes the whole body): fixed, or
// rep's p99.9 × 1.5 clamped to [10ms, route timeout] once rep has 1000 samples (and
// min_samples), the route timeout before. The histogram's samples are that same span.
//
// On quorum routes auto is the route timeout: a quorum cancels its slowest answers
// as soon as `read` agree, so a replica's histogram lacks exactly the slow answers,
// and a p99.9 from it would cut them off when the quorum does need them (measured:
// 1 read in 1600 lost in the demo). Set a fixed attempt_timeout to bound them.
func (p *Plan) AttemptTimeout(rep *replicas.Replica) time.Duration {
	if !p.autoTimeout {
		return p.fixedTimeout
	}
	if p.mode.autoTimeoutIsRoute {
		return p.timeout
	}
	q, ok := rep.Latency().QuantileOf(99.9, max(p.minSamples, autoTimeoutMinSamples))
	if !ok {
		return p.timeout
	}
	padded := time.Duration(float64(q) * autoTimeoutPadding)
	return min(max(padded, autoTimeoutFloor), p.timeout)
}
