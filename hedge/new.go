package hedge

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// Config is a Plan built in Go: what a route and its replica set say in a gateway
// config file, with Go types. A zero field means the default it names, the one a
// config file gets when it leaves the key out (package config holds them), so
// Config{Replicas: urls} is a whole hedging plan.
type Config struct {
	// Replicas are the replicas' base URLs: absolute http:// or https://, all
	// different. An attempt's path and query are appended to the replica's path. A
	// replica is named by its URL (Result.Replica, AttemptReport.Replica, Observer
	// calls). Required.
	Replicas []string
	// Strategy is Hedge, Parallel or Quorum with its settings. Nil: Hedge{}.
	Strategy Strategy
	// Name labels the plan in Observer and Tracer calls. Empty: "default".
	Name string

	// Version says where the plan's answers carry their version, whatever the
	// strategy, as a route's version key does: a header, a JSON pointer into the
	// body, or &config.Version{} for a hash of status and body (a version in the
	// body makes every answer be read whole, up to MaxResponseBodyBytes). With one,
	// Result.Version and the X-Hedgegate-Version header of Transport's answers carry
	// it, and a request may carry a floor (WithMinVersion, or the MinVersionHeader
	// header): it is then answered only with a version at least that high, or an
	// *Error with OutcomeFloorUnmet. On Quorum, Quorum.Version (when it names a
	// header or pointer) is what replicas agree on and this the floor's. Nil: none,
	// but a Quorum plan's version is its Quorum.Version.
	Version *config.Version
	// MinVersionHeader is the request header a floor is read from when the
	// request's context carries none. Empty: X-Min-Version, on a plan with a version.
	MinVersionHeader string

	// Timeout is each request's deadline, hedges and retries and the winner's body
	// included (as http.Client.Timeout): Transport applies it unless the request's
	// context ends sooner. Do leaves deadlines to its caller's context. It also bounds
	// automatic attempt timeouts. Zero: 1s.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt until its answer's headers arrive. On Hedge
	// and Parallel an attempt past it keeps running while a retry (if Retry.On has
	// "timeout") goes to another replica beside it; on Quorum it is cancelled. Zero:
	// automatic: the replica's p99.9 × 1.5 clamped to [10ms, Timeout] once it has 1000
	// samples, Timeout before (and always on Quorum, whose histograms lack the slow
	// answers it cancels).
	AttemptTimeout time.Duration
	// Retry says which failed attempts are retried, after what backoff.
	Retry Retry
	// Budget caps the attempts beyond each request's planned ones (hedges, retries):
	// over a sliding 10s window, extra ≤ Ratio × requests + MinPerSecond × 10. Nil:
	// Ratio 0.1, MinPerSecond 10. A non-nil Budget is taken as written: &config.Budget{}
	// allows no extra attempt at all (planned ones, Parallel's and Quorum's, still go).
	Budget *config.Budget

	// ConnectTimeout bounds dialling a replica, TLS included. Zero: 200ms.
	ConnectTimeout time.Duration
	// LatencyWindow × LatencyBuckets is the span of each replica's rolling latency
	// histogram, from which hedge delays and automatic timeouts come. Zero: 10s and 6.
	LatencyWindow  time.Duration
	LatencyBuckets int
	// MinSamples is how many samples a replica's histogram needs before it is trusted;
	// until then Hedge uses InitialDelay. Zero: 50.
	MinSamples int
	// MaxResponseBodyBytes bounds each answer the plan buffers (Quorum's, a failed
	// answer kept to pass on); a larger one fails its attempt. Hedge and Parallel
	// read the first 64 KiB of every answer before it can win, or this much when it
	// is less. Zero: 8 MiB.
	MaxResponseBodyBytes int64

	// Observer is told of attempts, hedge wins and budget denials. Nil: nothing is.
	Observer Observer
	// Tracer follows every attempt from launch to outcome. Nil: no tracing.
	Tracer Tracer
	// Picker chooses each attempt's replica among those the request has not tried.
	// Nil: power of two choices on in-flight attempts, latency and errors, seeded by
	// Seed (zero is a seed).
	Picker replicas.Picker
	Seed   uint64
	// Transport sends the attempts. Nil: a connection pool per replica host, built
	// with ConnectTimeout; Plan.Close closes it.
	Transport http.RoundTripper
}

// Retry says which failed attempts are retried. A retry goes to a replica the request
// has not tried, after capped exponential backoff with full jitter (the wait before
// retry n is uniform in [0, min(BackoffMax, BackoffBase × 2^(n−1))]), and spends the
// budget.
type Retry struct {
	// On lists the failures retried: "connect_failure", "reset", "timeout", "5xx", or
	// a status such as "404" (other 4xx answers are final). Nil: connect_failure,
	// reset, timeout and 5xx. Empty but not nil: nothing is retried.
	On []string
	// Zero: 2ms and 50ms.
	BackoffBase, BackoffMax time.Duration
}

// Strategy is how a plan spends its attempts: Hedge, Parallel or Quorum.
type Strategy interface {
	// configure writes the strategy and its non-zero settings into a route that
	// holds config's defaults.
	configure(r *config.Route)
}

// Hedge sends one attempt and, while nothing has answered, the next after the
// replica's latency percentile; a failed attempt is retried on another replica.
type Hedge struct {
	// Percentile of the replica's latency after which the next attempt goes, in
	// (0,100). Zero: 95.
	Percentile float64
	// InitialDelay is the delay while a replica has fewer than MinSamples samples.
	// Zero: 10ms.
	InitialDelay time.Duration
	// MinDelay and MaxDelay clamp the percentile's delay. Zero: 1ms and 200ms.
	MinDelay, MaxDelay time.Duration
	// MaxAttempts counts every attempt, the first included, in [1,10]; the number of
	// replicas caps it too. Zero: 3.
	MaxAttempts int
	// Auto, when set, has each replica's delay chosen once per LatencyWindow to meet
	// its goal (hedge.percentile: auto; docs/tuning.md); Percentile must be zero.
	Auto *Auto
}

// Auto is the goal of a self-tuning hedge: the least extra load whose predicted p99
// is at most TargetP99, never above MaxExtraLoad; or, with TargetP99 zero, the lowest
// predicted p99 within MaxExtraLoad. MaxExtraLoad is required, in (0, Budget.Ratio].
type Auto struct {
	TargetP99    time.Duration
	MaxExtraLoad float64
}

// Parallel sends Fanout attempts at once to different replicas; the first acceptable
// answer wins. They are planned work and do not spend the budget; a retry of a failed
// one does.
type Parallel struct {
	// Fanout is in [2, replicas]. Zero: 2.
	Fanout int
}

// Quorum asks every replica at once and answers when Read of them agree on the
// answer's version. It never retries (every replica is already asked).
type Quorum struct {
	// Read is how many must agree, in [1, replicas]. Zero: a majority.
	Read int
	// Version says where an answer's version is read: a header or a JSON pointer into
	// the body. Zero: a hash of the status and body.
	Version config.Version
	// Latest: when fewer than Read agree, serve the highest numeric version.
	// False: only agreement is served (502 otherwise).
	Latest bool
	// Monotonic: remember per key (route, path, query, body) the highest version
	// served and never serve an older one, for MonotonicMaxKeys keys (zero: 100000).
	Monotonic        bool
	MonotonicMaxKeys int
}

func (h Hedge) configure(r *config.Route) {
	r.Strategy = config.StrategyHedge
	setIf(&r.Hedge.Percentile, config.HedgePercentile{Fixed: h.Percentile})
	if h.Auto != nil {
		if h.Percentile == 0 {
			r.Hedge.Percentile = config.HedgePercentile{Auto: true}
		}
		r.Hedge.Auto = config.HedgeAuto{TargetP99: config.Duration(h.Auto.TargetP99), MaxExtraLoad: h.Auto.MaxExtraLoad}
	}
	setIf(&r.Hedge.InitialDelay, config.Duration(h.InitialDelay))
	setIf(&r.Hedge.MinDelay, config.Duration(h.MinDelay))
	setIf(&r.Hedge.MaxDelay, config.Duration(h.MaxDelay))
	setIf(&r.Hedge.MaxAttempts, h.MaxAttempts)
}

func (p Parallel) configure(r *config.Route) {
	r.Strategy = config.StrategyParallel
	setIf(&r.Parallel.Fanout, p.Fanout)
}

func (q Quorum) configure(r *config.Route) {
	r.Strategy = config.StrategyQuorum
	setIf(&r.Quorum.Read, q.Read)
	r.Quorum.Version = q.Version
	if q.Latest {
		r.Quorum.Conflict = config.ConflictLatest
	}
	r.Quorum.Monotonic.Enabled = q.Monotonic
	setIf(&r.Quorum.Monotonic.MaxKeys, q.MonotonicMaxKeys)
}

// setIf sets *field to v unless v is zero: zero means the default already there.
func setIf[T comparable](field *T, v T) {
	var zero T
	if v != zero {
		*field = v
	}
}

// planSet names the replica set of a plan built by New, in its config.
const planSet = "default"

// New builds a plan from c, checked as a config file would be. The plan owns its
// replicas' connections: Close it when done.
func New(c Config) (*Plan, error) {
	if len(c.Replicas) == 0 {
		return nil, errors.New("hedge: Config.Replicas is empty")
	}
	cfg := c.config()
	if err := cfg.Validate(); err != nil {
		return nil, configError(err)
	}
	route := cfg.Routes[0]
	set, err := replicas.NewSet(planSet, cfg.ReplicaSets[planSet], cfg.Latency, nil)
	if err != nil {
		return nil, fmt.Errorf("hedge: %w", err)
	}
	p, err := NewPlan(route, set, Options{
		Observer:             c.Observer,
		Tracer:               c.Tracer,
		Picker:               c.Picker,
		Seed:                 c.Seed,
		Transport:            c.Transport,
		MinSamples:           cfg.Latency.MinSamples,
		MaxResponseBodyBytes: cfg.Limits.MaxResponseBodyBytes,
		Latency:              cfg.Latency,
	})
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("hedge: %w", err)
	}
	p.ownsSet = true
	return p, nil
}

// config is c as a config file with one replica set and one route, defaults filled in.
func (c *Config) config() *config.Config {
	cfg := config.Default(planSet, len(c.Replicas))
	set, route := cfg.ReplicaSets[planSet], cfg.Routes[0]
	for i, u := range c.Replicas {
		set.Replicas[i] = config.Replica{Name: u, URL: u}
	}
	setIf(&set.ConnectTimeout, config.Duration(c.ConnectTimeout))
	setIf(&cfg.Latency.Window, config.Duration(c.LatencyWindow))
	setIf(&cfg.Latency.Buckets, c.LatencyBuckets)
	setIf(&cfg.Latency.MinSamples, c.MinSamples)
	setIf(&cfg.Limits.MaxResponseBodyBytes, c.MaxResponseBodyBytes)

	route.Name, route.Match = planSet, "/*"
	setIf(&route.Name, c.Name)
	strategy := c.Strategy
	if strategy == nil {
		strategy = Hedge{}
	}
	strategy.configure(route)
	route.Version = c.Version
	if _, versioned := route.ResponseVersion(); versioned {
		route.MinVersionHeader = config.DefaultMinVersionHeader
	}
	setIf(&route.MinVersionHeader, c.MinVersionHeader)
	setIf(&route.Timeout, config.Duration(c.Timeout))
	if c.AttemptTimeout != 0 {
		route.AttemptTimeout = config.AttemptTimeout{Fixed: c.AttemptTimeout}
	}
	if c.Retry.On != nil {
		route.Retry.On = c.Retry.On
	}
	setIf(&route.Retry.BackoffBase, config.Duration(c.Retry.BackoffBase))
	setIf(&route.Retry.BackoffMax, config.Duration(c.Retry.BackoffMax))
	if c.Budget != nil {
		route.Budget = *c.Budget
	}
	return cfg
}

// configError turns config's problems, which name file keys (routes[0].hedge.percentile),
// into one error naming the settings as a Config has them (hedge.percentile).
func configError(err error) error {
	var ps config.Problems
	if !errors.As(err, &ps) {
		return fmt.Errorf("hedge: %w", err)
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		path := strings.TrimPrefix(p.Path, "routes[0].")
		path = strings.TrimPrefix(path, "replica_sets."+planSet+".")
		msgs[i] = path + ": " + p.Message
	}
	return errors.New("hedge: " + strings.Join(msgs, "; "))
}
