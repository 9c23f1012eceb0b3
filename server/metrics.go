package server

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hedgegate/hedgegate/hedge"
)

// metrics adapts the engine's Observer to Prometheus. Every metric lives on the
// server's own registry, never the global one, so tests and embedders stay isolated.
type metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	backend         *prometheus.CounterVec
	hedgeWins       *prometheus.CounterVec
	budgetDenied    *prometheus.CounterVec
	hedgesHeld      *prometheus.CounterVec
	quorumResults   *prometheus.CounterVec
	quorumDivergent *prometheus.CounterVec
	staleAnswers    *prometheus.CounterVec
	floorUnmet      *prometheus.CounterVec
	truncated       *prometheus.CounterVec
	inflight        prometheus.Gauge
	shed            prometheus.Counter
	reloads         *prometheus.CounterVec
	reloadError     prometheus.Gauge
	discovery       *prometheus.CounterVec

	// The series observe touches, resolved once each: WithLabelValues hashes and
	// checks its labels on every call, and the status code's text was an allocation
	// per request. Routes and codes are few, so these only grow to a handful.
	seriesMu  sync.RWMutex
	byCode    map[requestSeries]prometheus.Counter
	durations map[string]prometheus.Observer
}

type requestSeries struct {
	route string
	code  int
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_requests_total",
			Help: "Client requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hedgegate_request_duration_seconds",
			Help: "Time from a client request's arrival to the end of its answer, by route.",
			// 250µs to ~16s: loopback replicas answer in under a millisecond, and the
			// tail that hedging cuts sits between 1ms and 1s.
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 17),
		}, []string{"route"}),
		backend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_backend_requests_total",
			Help: "Attempts sent to replicas, by route, replica and kind (primary, hedge, retry).",
		}, []string{"route", "replica", "kind"}),
		hedgeWins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_hedge_wins_total",
			Help: "Requests answered by a hedge (an attempt sent after the hedge delay).",
		}, []string{"route"}),
		budgetDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_budget_denied_total",
			Help: "Extra attempts (hedges, retries) not sent because the route's budget was empty.",
		}, []string{"route"}),
		hedgesHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_hedges_held_total",
			Help: "Hedges held back one more delay because an attempt's answer was already waiting, unread, on its connection (the gateway behind, not the replica).",
		}, []string{"route"}),
		quorumResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_quorum_results_total",
			Help: "Quorum requests by result (agree, latest, no_quorum, stale, deadline).",
		}, []string{"route", "result"}),
		quorumDivergent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_quorum_divergence_total",
			Help: "Quorum answers whose version differed from the version served, by replica.",
		}, []string{"route", "replica"}),
		staleAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_stale_answers_total",
			Help: "Replica answers below the request's minimum version (X-Min-Version), not served; by replica: which one lags.",
		}, []string{"route", "replica"}),
		floorUnmet: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_floor_unmet_total",
			Help: "Requests answered 503 because no replica reached their minimum version (X-Min-Version) in time.",
		}, []string{"route"}),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_truncated_responses_total",
			Help: "Answers cut short after their head was sent (replica reset, route deadline, client too slow): the client's connection or stream was aborted.",
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hedgegate_inflight_requests",
			Help: "Client requests being served now.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hedgegate_shed_total",
			Help: "Client requests refused with 503 because limits.max_inflight was reached.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_config_reloads_total",
			Help: "Config reloads, by result (ok, error).",
		}, []string{"result"}),
		reloadError: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hedgegate_config_last_reload_error",
			Help: "1 when the last reload was refused, 0 when it succeeded or none happened.",
		}),
		discovery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgegate_discovery_refresh_total",
			Help: "DNS lookups of discovery replica sets, by set and result (ok, not_found, empty, timeout, error); a failed one keeps the set's members.",
		}, []string{"set", "result"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.backend, m.hedgeWins, m.budgetDenied, m.hedgesHeld,
		m.quorumResults, m.quorumDivergent, m.staleAnswers, m.floorUnmet, m.truncated, m.inflight, m.shed, m.reloads, m.reloadError,
		m.discovery)
	// The standard runtime and process series (go_*, process_*): what an SRE reads first
	// when a gateway's memory, goroutines or file descriptors grow. On the private
	// registry, so two servers in one process each export them.
	m.registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both series exist from the start, so an alert on reload errors has something
	// to match before the first reload.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}

// observe records one answered client request.
func (m *metrics) observe(route string, code int, elapsed time.Duration) {
	key := requestSeries{route, code}
	m.seriesMu.RLock()
	requests, duration := m.byCode[key], m.durations[route]
	m.seriesMu.RUnlock()
	if requests == nil || duration == nil {
		requests = m.requests.WithLabelValues(route, strconv.Itoa(code))
		duration = m.duration.WithLabelValues(route)
		m.seriesMu.Lock()
		if m.byCode == nil {
			m.byCode, m.durations = map[requestSeries]prometheus.Counter{}, map[string]prometheus.Observer{}
		}
		m.byCode[key], m.durations[route] = requests, duration
		m.seriesMu.Unlock()
	}
	requests.Inc()
	duration.Observe(elapsed.Seconds())
}

// routeObserver is one route's hedge.Observer. Its backend counters are resolved once
// when the route is built, so an attempt costs one map read and an atomic add.
type routeObserver struct {
	m       *metrics
	backend map[backendKey]prometheus.Counter
	wins    prometheus.Counter
	denied  prometheus.Counter
	held    prometheus.Counter
	stale   map[string]prometheus.Counter // by replica label
	unmet   prometheus.Counter
}

type backendKey struct {
	replica string
	kind    hedge.Kind
}

var _ hedge.Observer = (*routeObserver)(nil)

// routeObserver builds route's observer; a versioned route's floor series exist from
// the start, at 0, so alerts and dashboards have something to match.
func (m *metrics) routeObserver(route string, replicaNames []string, versioned bool) *routeObserver {
	o := &routeObserver{
		m:       m,
		backend: make(map[backendKey]prometheus.Counter, 3*len(replicaNames)),
		wins:    m.hedgeWins.WithLabelValues(route),
		denied:  m.budgetDenied.WithLabelValues(route),
		held:    m.hedgesHeld.WithLabelValues(route),
		stale:   make(map[string]prometheus.Counter, len(replicaNames)),
	}
	if versioned {
		o.unmet = m.floorUnmet.WithLabelValues(route)
	}
	for _, name := range replicaNames {
		if versioned {
			o.stale[name] = m.staleAnswers.WithLabelValues(route, name)
		}
		for _, k := range []hedge.Kind{hedge.KindPrimary, hedge.KindHedge, hedge.KindRetry} {
			o.backend[backendKey{name, k}] = m.backend.WithLabelValues(route, name, k.String())
		}
	}
	return o
}

func (o *routeObserver) AttemptStarted(route, replica string, kind hedge.Kind) {
	if c, ok := o.backend[backendKey{replica, kind}]; ok {
		c.Inc()
		return
	}
	o.m.backend.WithLabelValues(route, replica, kind.String()).Inc()
}

func (o *routeObserver) HedgeWon(string)     { o.wins.Inc() }
func (o *routeObserver) BudgetDenied(string) { o.denied.Inc() }
func (o *routeObserver) HedgeHeld(string)    { o.held.Inc() }

func (o *routeObserver) QuorumResult(route, result string) {
	o.m.quorumResults.WithLabelValues(route, result).Inc()
}

func (o *routeObserver) QuorumDivergence(route, replica string) {
	o.m.quorumDivergent.WithLabelValues(route, replica).Inc()
}

func (o *routeObserver) StaleAnswer(route, replica string) {
	if c, ok := o.stale[replica]; ok {
		c.Inc()
		return
	}
	o.m.staleAnswers.WithLabelValues(route, replica).Inc()
}

func (o *routeObserver) FloorUnmet(route string) {
	if o.unmet != nil {
		o.unmet.Inc()
		return
	}
	o.m.floorUnmet.WithLabelValues(route).Inc()
}
