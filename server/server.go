// Package server assembles hedgegate's HTTP side: the chi router built from the
// configured routes, the route handler, the admin endpoints and the Prometheus
// metrics that adapt the engine's observer. Core packages know none of this.
package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
	"github.com/hedgegate/hedgegate/replicas"
)

// Options are a Server's collaborators. Every field may be left zero.
type Options struct {
	// Logger receives reloads, refused configs and shutdown progress, and the access
	// log's lines when log.access.enabled is on. Nil: slog.Default().
	Logger *slog.Logger
	// LogLevel is the level Logger's handler reads (NewLogger returns both): New and
	// every reload set it from log.level. Nil: Logger's level is its own, and
	// log.level is not applied.
	LogLevel *slog.LevelVar
	// Seed seeds replica pickers, so a test can repeat the same choices.
	Seed uint64
	// Now is the clock of budgets and latency windows. Nil: time.Now.
	Now func() time.Time
	// SpanExporter receives the trace spans (tests use the SDK's in-memory one; an
	// embedder may bring its own). Nil: OTLP/HTTP to tracing.otlp_endpoint, and no
	// tracing when that is empty. Set, tracing is on whatever otlp_endpoint says, and
	// tracing.sample_ratio still applies.
	SpanExporter sdktrace.SpanExporter
	// Resolver answers the DNS lookups of replica sets with discovery. Nil:
	// net.DefaultResolver (the host's resolv.conf).
	Resolver replicas.Resolver
}

// Server is one running gateway: the current routing state, swapped whole on reload.
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	state    atomic.Pointer[state]
	inflight atomic.Int64
	reloadMu sync.Mutex // one reload at a time
	source   string     // the config file, for admin POST /reload

	// draining: a shutdown began; /readyz says 503 and answers close their connection.
	draining atomic.Bool
	stopNow  chan struct{} // closed by Close: stop at once
	stopOnce sync.Once

	warm      *warmer
	disc      *discoverer
	discKick  chan struct{} // a reload changed the discovery sets: look at them now
	adminTime httpTimeouts  // the admin listener's; a field so tests can shorten them
	// sample draws the access log's sample, uniform in [0,1); a field so tests can
	// script it.
	sample  func() float64
	tracing *tracing // nil: tracing off
}

// state is everything built from one config: replaced whole, never mutated (but for
// its count of requests in flight).
type state struct {
	// active counts client requests being served with this state, so a reload knows
	// when nothing uses the replicas it removed.
	active atomic.Int64

	cfg     *config.Config
	sets    map[string]*replicas.Set
	routes  []*route
	router  http.Handler
	trusted []netip.Prefix   // trusted_proxies, parsed
	cert    *tls.Certificate // the client listener's, when tls is set
	// replicaLabel names each replica in metrics: its name, or set/name when two sets
	// share a replica name.
	replicaLabel map[*replicas.Replica]string
}

// route is one configured route, compiled.
type route struct {
	cfg  *config.Route
	plan *hedge.Plan
}

// New builds a gateway for a validated config. It opens no connection and starts no
// goroutine: Serve does.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(), source: cfg.Source,
		stopNow: make(chan struct{}), adminTime: adminTimeouts, sample: rand.Float64}
	s.warm = newWarmer(s.log)
	tr, err := newTracing(cfg.Tracing, opts.SpanExporter, s.log)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	s.tracing = tr
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
		s.opts.Resolver = opts.Resolver
	}
	host, _ := os.Hostname()
	s.disc, s.discKick = newDiscoverer(opts.Resolver, host), make(chan struct{}, 1)
	// Discovery sets start with no member: Serve's first lookups find them.
	st, _, err := s.buildSafely(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	s.applyLogLevel(cfg)
	s.metrics.registry.MustRegister(&stateCollector{s: s}, &certCollector{s: s})
	return s, nil
}

// build compiles cfg. Replicas of prev (nil at start) that stay — same set, name and
// URL, same connection and latency settings — are kept with their connections,
// histograms and stats; the others are returned for the caller to drain and close.
// A discovery set gets the members in found, else those prev found the same way,
// else none yet; a build of prev's own config for new members (found) keeps prev's
// certificate, which only a reload reads again.
func (s *Server) build(cfg *config.Config, prev *state, found map[string][]config.Replica) (*state, []*replicas.Replica, error) {
	var cert *tls.Certificate
	if prev != nil && prev.cfg == cfg {
		cert = prev.cert
	} else {
		// Read again here, not only when the file was validated: a reload must not take
		// a pair that was replaced, or expired, since.
		var err error
		if cert, err = cfg.LoadCertificate(time.Now()); err != nil {
			return nil, nil, err
		}
	}
	st := &state{cfg: cfg, sets: map[string]*replicas.Set{}, replicaLabel: map[*replicas.Replica]string{},
		trusted: cfg.TrustedPrefixes(), cert: cert}
	removed, err := s.buildSets(st, prev, found)
	if err != nil {
		return nil, nil, err
	}

	for i, rc := range cfg.Routes {
		set := st.sets[rc.ReplicaSet]
		if set == nil {
			return nil, nil, fmt.Errorf("route %q: no replica set %q", rc.Name, rc.ReplicaSet)
		}
		labels := make([]string, len(set.Replicas))
		for j, rep := range set.Replicas {
			labels[j] = st.replicaLabel[rep]
		}
		var previous *hedge.Plan
		if prev != nil {
			for _, pr := range prev.routes {
				if pr.cfg.Name == rc.Name && pr.plan.Set().Name == set.Name {
					previous = pr.plan
				}
			}
		}
		opts := hedge.Options{
			Previous:             previous,
			Observer:             s.metrics.routeObserver(rc.Name, labels, versioned(rc)),
			Seed:                 s.opts.Seed + uint64(i),
			Now:                  s.opts.Now,
			MinSamples:           cfg.Latency.MinSamples,
			MaxResponseBodyBytes: cfg.Limits.MaxResponseBodyBytes,
			Latency:              cfg.Latency,
			FineTimers:           true,
		}
		s.tracing.instrument(&opts, set)
		plan, err := hedge.NewPlan(rc, set, opts)
		if err != nil {
			return nil, nil, err
		}
		st.routes = append(st.routes, &route{cfg: rc, plan: plan})
		s.metrics.truncated.WithLabelValues(rc.Name) // the series exists before the first cut
	}
	for _, name := range discoverySets(cfg) {
		for _, result := range replicas.LookupResults { // each series exists before it counts
			s.metrics.discovery.WithLabelValues(name, result)
		}
	}
	router, err := s.routerFor(st)
	if err != nil {
		return nil, nil, err
	}
	st.router = router
	return st, removed, nil
}

// buildSets builds st's replica sets from st.cfg on prev's (nil at start), a discovery
// set with the members discoveredMembers says, and names every replica for metrics.
// It returns prev's replicas that st does not keep.
func (s *Server) buildSets(st, prev *state, found map[string][]config.Replica) ([]*replicas.Replica, error) {
	cfg := st.cfg
	names := make([]string, 0, len(cfg.ReplicaSets))
	for name := range cfg.ReplicaSets {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]int{}
	var removed []*replicas.Replica
	for _, name := range names {
		var old *replicas.Set
		if prev != nil {
			old = prev.sets[name]
		}
		rc := cfg.ReplicaSets[name]
		if rc.Discovery != nil {
			withMembers := *rc
			withMembers.Replicas = discoveredMembers(name, cfg, prev, found)
			rc = &withMembers
		}
		set, gone, err := replicas.NewSetFrom(old, name, rc, cfg.Latency, s.opts.Now)
		if err != nil {
			return nil, fmt.Errorf("replica set %q: %w", name, err)
		}
		removed = append(removed, gone...)
		st.sets[name] = set
		for _, rep := range set.Replicas {
			seen[rep.Name]++
		}
	}
	for _, set := range st.sets {
		for _, rep := range set.Replicas {
			st.replicaLabel[rep] = rep.Name
			if seen[rep.Name] > 1 {
				st.replicaLabel[rep] = set.Name + "/" + rep.Name
			}
		}
	}
	if prev != nil {
		for name, set := range prev.sets {
			if st.sets[name] == nil {
				removed = append(removed, set.Replicas...)
			}
		}
	}
	return removed, nil
}

// versioned says whether rc's answers carry a version.
func versioned(rc *config.Route) bool {
	_, ok := rc.ResponseVersion()
	return ok
}

// Config is the config in force.
func (s *Server) Config() *config.Config { return s.state.Load().cfg }

// Ready reports whether every replica set has opened its warm connections.
func (s *Server) Ready() bool {
	for _, set := range s.state.Load().sets {
		if !set.Ready() {
			return false
		}
	}
	return true
}

// applyLogLevel sets the logger's level from cfg's log.level, if New was given one.
func (s *Server) applyLogLevel(cfg *config.Config) {
	if s.opts.LogLevel != nil {
		s.opts.LogLevel.Set(logLevel(cfg.Log.Level))
	}
}

// Handler serves clients: the access log, shedding, the header limit, the path rule,
// then the router of the config in force.
func (s *Server) Handler() http.Handler {
	return s.tracing.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.acquire()
		defer st.active.Add(-1)
		if st.cfg.Log.Access.Enabled {
			rec := startAccess(w)
			defer s.endAccess(rec, r, st)
			w = rec
		}
		s.serveClient(w, r, st)
	}))
}

func (s *Server) serveClient(w http.ResponseWriter, r *http.Request, st *state) {
	start := time.Now()
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if s.draining.Load() || chunkedRequest(r) {
		// Draining: clients move to another instance at their next request (over
		// HTTP/2, net/http turns this header into a GOAWAY: the streams in flight
		// finish, and the client opens its next one on a new connection).
		// Chunked: net/http drops a Content-Length sent beside Transfer-Encoding and
		// frames by the chunks, and the handler cannot tell; a front proxy that
		// framed by the Content-Length would read the bytes after the last chunk as
		// the body, and the gateway as a second request. RFC 9112 §6.1: a server
		// MUST close the connection after such a request.
		w.Header().Set("Connection", "close")
	}
	if n > int64(st.cfg.Limits.MaxInflight) {
		s.metrics.shed.Inc()
		if rec := recordOf(w); rec != nil {
			rec.shed = true
		}
		s.observeUnrouted(writeFailure(w, "", refuse(refuseShed, "overloaded: limits.max_inflight reached")), start)
		return
	}
	if limit := st.cfg.Limits.MaxHeaderBytes; headerBytes(r) > limit {
		// net/http enforces max_header_bytes with 4 KiB of slack and a plain-text
		// answer; this is the exact limit, answered like every other error.
		s.observeUnrouted(writeFailure(w, "", refuse(refuseHeadersTooLarge,
			fmt.Sprintf("request headers larger than limits.max_header_bytes (%d)", limit))), start)
		return
	}
	// Before routing, so the route chosen is the one for the path forwarded.
	if err := normalizePath(r.URL); err != nil {
		s.observeUnrouted(writeFailure(w, "", err), start)
		return
	}
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	st.router.ServeHTTP(w, r)
}

// chunkedRequest: the request's body came with Transfer-Encoding over HTTP/1.1 (the
// only coding net/http accepts there is chunked).
func chunkedRequest(r *http.Request) bool {
	return r.ProtoMajor == 1 && len(r.TransferEncoding) > 0
}

// observeUnrouted counts an answer given before any route was chosen (shed, headers
// too large, a refused path, no route matched) under route="": config validation
// refuses an empty route name, so the value can never collide with a route, and
// every answer a client got is in hedgegate_requests_total.
func (s *Server) observeUnrouted(code int, start time.Time) {
	s.metrics.observe("", code, time.Since(start))
}

// headerBytes is the size of the request line and headers as sent, near enough:
// names, values, separators and line ends.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// acquire returns the state in force, counted as in use until the caller decrements
// its active count. The second look closes the race with a reload that swapped the
// state between the load and the increment, and may already be draining it.
func (s *Server) acquire() *state {
	for {
		st := s.state.Load()
		st.active.Add(1)
		if s.state.Load() == st {
			return st
		}
		st.active.Add(-1)
	}
}

// maxTimeout is the longest route timeout: no request of this state outlives it.
func (st *state) maxTimeout() time.Duration {
	var d time.Duration
	for _, rc := range st.cfg.Routes {
		d = max(d, rc.Timeout.D())
	}
	return d
}
