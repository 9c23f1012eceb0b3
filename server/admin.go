package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
	"github.com/hedgegate/hedgegate/replicas"
)

// AdminEndpoints are the admin listener's endpoints, as "[METHOD ]PATH" (a GET unless a
// method is named): what AdminHandler mounts, and what "gateway serve -h" must list.
// The /debug/pprof/ tree answers only while debug.pprof is on.
var AdminEndpoints = []string{"/metrics", "/healthz", "/readyz", "/debug/replicas",
	"/debug/config", "/debug/advisor", "POST /reload", "/debug/pprof/"}

// AdminHandler serves AdminEndpoints.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /debug/replicas", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.replicaReport())
	})
	mux.HandleFunc("GET /debug/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Config())
	})
	mux.HandleFunc("GET /debug/advisor", s.serveAdvisor)
	mux.HandleFunc("POST /reload", s.serveReload)
	mux.Handle("/debug/pprof/", s.whenPprof(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/cmdline", s.whenPprof(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("/debug/pprof/profile", s.whenPprof(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/symbol", s.whenPprof(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/debug/pprof/trace", s.whenPprof(http.HandlerFunc(pprof.Trace)))
	return mux
}

// whenPprof serves h only while the config in force has debug.pprof on, and answers
// 404 otherwise, as for any unknown path; so a reload switches profiling on or off.
// (Importing net/http/pprof also registers it on http.DefaultServeMux, which the
// gateway never serves.)
func (s *Server) whenPprof(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Config().Debug.Pprof {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveReady is /readyz: 200 once every replica set has opened its warm connections,
// 503 while any is warming, while a discovery set has no member yet (with the reason)
// and from the moment a shutdown begins.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "draining": true})
		return
	}
	var waiting []string
	discovering := map[string]string{}
	for name, set := range s.state.Load().sets {
		switch {
		case set.Ready():
		case set.Discovered() && len(set.Replicas) == 0:
			discovering[name] = s.disc.readiness(name)
		default:
			waiting = append(waiting, name)
		}
	}
	if len(waiting)+len(discovering) > 0 {
		sort.Strings(waiting)
		body := map[string]any{"ready": false}
		if len(waiting) > 0 {
			body["warming"] = waiting
		}
		if len(discovering) > 0 {
			body["discovering"] = discovering
		}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// writeJSON answers v as indented JSON; the Content-Type goes before the status, or
// net/http would have sent text/plain already.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ReplicaReport is /debug/replicas: what every replica is doing now and, per route
// using it, the hedge delay and attempt timeout the engine would use right now.
type ReplicaReport struct {
	// WindowSeconds is the span of the rolling latency window (latency.buckets ×
	// latency.window) that samples and the p*_ms percentiles come from.
	WindowSeconds float64 `json:"window_seconds"`
	// Legend says what each replica field measures.
	Legend      map[string]string `json:"legend"`
	ReplicaSets []SetReport       `json:"replica_sets"`
	// AutoRoutes are the hedge routes with percentile auto: what their tuner chose
	// for the current window, and whether it meets the goal.
	AutoRoutes []*AutoRoute `json:"auto_routes,omitempty"`
}

// replicaLegend is ReplicaReport.Legend; docs/config.md's "/debug/replicas" says the same.
var replicaLegend = map[string]string{
	"requests, failures": "attempts ended since start, and those that failed (5xx, connect failure, reset, timeout)",
	"error_rate":         "time-decayed share of failed attempts (10s time constant); old failures fade",
	"samples":            "latencies recorded in the rolling window",
	"p50_ms, p90_ms, p99_ms, p999_ms, max_ms": "percentiles of the recorded latencies over the rolling window (window_seconds); 0 when samples is 0",
	"ewma_latency_ms":                         "NOT a percentile: the time-decayed average latency the picker weighs; it decays toward 0 while the replica gets no traffic, so an idle replica looks cheap and gets tried again",
	"dials":                                   "connections dialled to the replica's host since start, spares included; a steady load dials only to replace the HTTP/1.1 connections its cancelled attempts (hedge losers, timeouts) closed",
	"hedge_delay_ms, hedge_percentile":        "per hedge route: the hedge delay in force now and the percentile it comes from (initial_delay while samples < latency.min_samples); with percentile auto, the tuner's choice and its rank in the replica's recent histogram (absent while on initial_delay); see auto_routes",
	"attempt_timeout_ms":                      "per route: the attempt timeout in force now",
	"highest_version":                         "per route with a version: the highest version this replica answered it with since start (for opaque versions, the latest); meaningful for a store-wide version such as etcd's header.revision",
	"versions_behind":                         "per route whose versions are integers 0 to 2^64-1: the set's highest version minus this replica's: how far it lags",
}

// SetReport is one replica set in /debug/replicas.
type SetReport struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// Discovery is a discovery set's lookups: its members are Replicas, named by address.
	Discovery *DiscoveryReport `json:"discovery,omitempty"`
	Replicas  []ReplicaState   `json:"replicas"`
}

// ReplicaState is one replica: its stats plus, per route using it, the timings the
// engine would use now.
type ReplicaState struct {
	Stats            replicas.Stats
	HedgeDelayMS     map[string]float64 // per hedge route: the delay in force now
	HedgePercentile  map[string]float64 // per hedge route: the percentile that delay is
	AttemptTimeoutMS map[string]float64 // per route
	HighestVersion   map[string]string  // per versioned route: the replica's highest version seen
	VersionsBehind   map[string]uint64  // per route with numeric versions: the set's highest minus this one
}

// replicaJSON is ReplicaState as written, in reading order: who, traffic, the window's
// percentiles from p50 up, the picker's average, then the route timings.
type replicaJSON struct {
	Name             string             `json:"name"`
	Set              string             `json:"set"`
	URL              string             `json:"url"`
	Inflight         int64              `json:"inflight"`
	Requests         uint64             `json:"requests"`
	Failures         uint64             `json:"failures"`
	ErrorRate        float64            `json:"error_rate"`
	Samples          int64              `json:"samples"`
	P50              float64            `json:"p50_ms"`
	P90              float64            `json:"p90_ms"`
	P99              float64            `json:"p99_ms"`
	P999             float64            `json:"p999_ms"`
	Max              float64            `json:"max_ms"`
	EWMALatency      float64            `json:"ewma_latency_ms"`
	Dials            uint64             `json:"dials"`
	HedgeDelayMS     map[string]float64 `json:"hedge_delay_ms,omitempty"`
	HedgePercentile  map[string]float64 `json:"hedge_percentile,omitempty"`
	AttemptTimeoutMS map[string]float64 `json:"attempt_timeout_ms"`
	HighestVersion   map[string]string  `json:"highest_version,omitempty"`
	VersionsBehind   map[string]uint64  `json:"versions_behind,omitempty"`
}

// MarshalJSON flattens the stats and the route timings into one object.
func (r ReplicaState) MarshalJSON() ([]byte, error) {
	st := r.Stats
	return json.Marshal(replicaJSON{
		Name: st.Name, Set: st.Set, URL: st.URL,
		Inflight: st.Inflight, Requests: st.Requests, Failures: st.Failures, ErrorRate: st.ErrorRate,
		Samples: st.Samples,
		P50:     ms(st.P50), P90: ms(st.P90), P99: ms(st.P99), P999: ms(st.P999), Max: ms(st.Max),
		EWMALatency:      ms(st.EWMALatency),
		Dials:            st.Dials,
		HedgeDelayMS:     r.HedgeDelayMS,
		HedgePercentile:  r.HedgePercentile,
		AttemptTimeoutMS: r.AttemptTimeoutMS,
		HighestVersion:   r.HighestVersion,
		VersionsBehind:   r.VersionsBehind,
	})
}

func (s *Server) replicaReport() ReplicaReport {
	st := s.state.Load()
	names := make([]string, 0, len(st.sets))
	for name := range st.sets {
		names = append(names, name)
	}
	sort.Strings(names)
	lat := st.cfg.Latency
	out := ReplicaReport{
		WindowSeconds: (time.Duration(lat.Buckets) * lat.Window.D()).Seconds(),
		Legend:        replicaLegend,
	}
	autos := map[*route]*hedge.AutoState{}
	for _, rt := range st.routes {
		if a, ok := rt.plan.Auto(); ok {
			autos[rt] = &a
			out.AutoRoutes = append(out.AutoRoutes, autoRoute(rt))
		}
	}
	for _, name := range names {
		set := st.sets[name]
		sr := SetReport{Name: name, Ready: set.Ready(), Replicas: []ReplicaState{}}
		if d := st.cfg.ReplicaSets[name].Discovery; d != nil {
			sr.Discovery = s.disc.report(name, d)
		}
		for _, rep := range set.Replicas {
			rs := ReplicaState{Stats: rep.Stats(), AttemptTimeoutMS: map[string]float64{}}
			for _, rt := range st.routes {
				if rt.plan.Set() != set {
					continue
				}
				rs.AttemptTimeoutMS[rt.cfg.Name] = ms(rt.plan.AttemptTimeout(rep))
				if rt.cfg.Strategy == config.StrategyHedge {
					if rs.HedgeDelayMS == nil {
						rs.HedgeDelayMS, rs.HedgePercentile = map[string]float64{}, map[string]float64{}
					}
					rs.HedgeDelayMS[rt.cfg.Name] = ms(rt.plan.HedgeDelay(rep))
					if pc, ok := hedgePercentile(rt, autos[rt], rep.Name); ok {
						rs.HedgePercentile[rt.cfg.Name] = pc
					}
				}
			}
			sr.Replicas = append(sr.Replicas, rs)
		}
		addVersions(sr.Replicas, set, st.routes)
		out.ReplicaSets = append(out.ReplicaSets, sr)
	}
	return out
}

// addVersions fills, for each versioned route on set, every replica's highest version
// seen and, where the versions are integers, how far each is behind the set's highest.
func addVersions(states []ReplicaState, set *replicas.Set, routes []*route) {
	for _, rt := range routes {
		if rt.plan.Set() != set || !rt.plan.Versioned() {
			continue
		}
		name := rt.cfg.Name
		top, nums := uint64(0), make([]*uint64, len(states))
		for i, rep := range set.Replicas {
			v := rt.plan.HighestVersion(rep)
			if v == "" {
				continue
			}
			if states[i].HighestVersion == nil {
				states[i].HighestVersion = map[string]string{}
			}
			states[i].HighestVersion[name] = v
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				nums[i], top = &n, max(top, n)
			}
		}
		for i, n := range nums {
			if n == nil {
				continue
			}
			if states[i].VersionsBehind == nil {
				states[i].VersionsBehind = map[string]uint64{}
			}
			states[i].VersionsBehind[name] = top - *n
		}
	}
}

// ms is d in float milliseconds, as every *_ms field is written.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stateCollector exports, at scrape time, what is read from live state rather than
// counted: replica latency quantiles from the HDR windows, current hedge delays and
// budget headroom.
type stateCollector struct{ s *Server }

var (
	replicaLatencyDesc = prometheus.NewDesc("hedgegate_replica_latency_seconds",
		"Replica latency quantiles over the rolling HDR window (latency.buckets × latency.window).",
		[]string{"replica", "quantile"}, nil)
	hedgeDelayDesc = prometheus.NewDesc("hedgegate_hedge_delay_seconds",
		"Delay after which a hedge route sends its next attempt, per replica, now.",
		[]string{"route", "replica"}, nil)
	budgetAvailableDesc = prometheus.NewDesc("hedgegate_budget_available",
		"Extra attempts the route's budget could grant now.",
		[]string{"route"}, nil)
	// Per replica, whatever route sent the attempt: what an alert compares across peers.
	// A replica rebuilt by a reload (new URL or settings) starts again from 0, which
	// rate() reads as a counter reset.
	replicaAttemptsDesc = prometheus.NewDesc("hedgegate_replica_attempts_total",
		"Attempts against the replica that ended, whatever their outcome.",
		[]string{"replica"}, nil)
	replicaFailuresDesc = prometheus.NewDesc("hedgegate_replica_failures_total",
		"Attempts against the replica that failed: a 5xx answer, a connect failure, a reset or a timeout.",
		[]string{"replica"}, nil)
	hedgePercentileDesc = prometheus.NewDesc("hedgegate_hedge_percentile",
		"Percentile of the replica's latency its hedge delay is at, now: the configured one, or with percentile auto the tuner's choice (absent while the replica is on initial_delay).",
		[]string{"route", "replica"}, nil)
	targetUnmetDesc = prometheus.NewDesc("hedgegate_hedge_target_unmet",
		"1 when a percentile-auto route's tuner found no delays meeting target_p99 (it took the lowest p99 within max_extra_load) or none within max_extra_load at all; 0 otherwise.",
		[]string{"route"}, nil)
	predictedP99Desc = prometheus.NewDesc("hedgegate_hedge_predicted_p99_seconds",
		"A percentile-auto route's predicted p99 for the delays in force (the advisor's model, gateway overhead not included).",
		[]string{"route"}, nil)
	predictedExtraDesc = prometheus.NewDesc("hedgegate_hedge_predicted_extra_load",
		"A percentile-auto route's predicted extra attempts per request for the delays in force.",
		[]string{"route"}, nil)
)

var quantiles = []struct {
	label   string
	percent float64
}{{"0.5", 50}, {"0.9", 90}, {"0.99", 99}, {"0.999", 99.9}}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaLatencyDesc
	ch <- hedgeDelayDesc
	ch <- budgetAvailableDesc
	ch <- replicaAttemptsDesc
	ch <- replicaFailuresDesc
	ch <- hedgePercentileDesc
	ch <- targetUnmetDesc
	ch <- predictedP99Desc
	ch <- predictedExtraDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.state.Load()
	for _, set := range st.sets {
		for _, rep := range set.Replicas {
			label := st.replicaLabel[rep]
			requests, failures := rep.Counts()
			ch <- prometheus.MustNewConstMetric(replicaAttemptsDesc, prometheus.CounterValue,
				float64(requests), label)
			ch <- prometheus.MustNewConstMetric(replicaFailuresDesc, prometheus.CounterValue,
				float64(failures), label)
			// The window's cached merge (what hedge delays read), not a fresh copy: a
			// copy is a whole HDR histogram per replica, merged under the lock every
			// attempt records into, and frequent scrapes of many replicas made those
			// copies a CPU and GC burst that stalled requests.
			for _, q := range quantiles {
				ch <- prometheus.MustNewConstMetric(replicaLatencyDesc, prometheus.GaugeValue,
					rep.Latency().Quantile(q.percent).Seconds(), label, q.label)
			}
		}
	}
	for _, rt := range st.routes {
		ch <- prometheus.MustNewConstMetric(budgetAvailableDesc, prometheus.GaugeValue,
			rt.plan.Budget().Available(), rt.cfg.Name)
		if rt.cfg.Strategy != config.StrategyHedge {
			continue
		}
		var auto *hedge.AutoState
		if a, ok := rt.plan.Auto(); ok {
			auto = &a
			ch <- prometheus.MustNewConstMetric(targetUnmetDesc, prometheus.GaugeValue, targetUnmet(a), rt.cfg.Name)
			if a.Tuned {
				ch <- prometheus.MustNewConstMetric(predictedP99Desc, prometheus.GaugeValue, a.Predicted.P99.Seconds(), rt.cfg.Name)
				ch <- prometheus.MustNewConstMetric(predictedExtraDesc, prometheus.GaugeValue, a.ExtraLoad, rt.cfg.Name)
			}
		}
		for _, rep := range rt.plan.Set().Replicas {
			label := st.replicaLabel[rep]
			ch <- prometheus.MustNewConstMetric(hedgeDelayDesc, prometheus.GaugeValue,
				rt.plan.HedgeDelay(rep).Seconds(), rt.cfg.Name, label)
			if pc, ok := hedgePercentile(rt, auto, rep.Name); ok {
				ch <- prometheus.MustNewConstMetric(hedgePercentileDesc, prometheus.GaugeValue, pc, rt.cfg.Name, label)
			}
		}
	}
}
