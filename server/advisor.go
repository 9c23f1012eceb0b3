package server

import (
	"net/http"
	"slices"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
)

// advisorModel is the one-paragraph reminder of what the numbers mean; docs/tuning.md
// has the rest.
const advisorModel = "Predicted from the replicas' latency histograms: uniform primary, " +
	"hedge after the replica's percentile delay (clamped), independent draws, max_attempts " +
	"and the budget applied; gateway overhead not included. Rows marked optimistic have " +
	"delays past the configured one (on an auto route, the tuner's), where the histograms hold " +
	"cancelled losers, not full latencies."

// AdvisorReport is /debug/advisor: per hedge route, what each candidate hedge
// percentile would cost in extra backend load and buy in client latency.
type AdvisorReport struct {
	Model  string        `json:"model"`
	Routes []RouteAdvice `json:"routes"`
}

// RouteAdvice is one hedge route in /debug/advisor. Error is set, and Unhedged and
// Candidates are empty, when the histograms cannot support a prediction yet.
type RouteAdvice struct {
	Route      string `json:"route"`
	ReplicaSet string `json:"replica_set"`
	// ConfiguredPercentile is hedge.percentile; absent when it is auto, and Auto
	// says what the tuner chose instead.
	ConfiguredPercentile float64       `json:"configured_percentile,omitempty"`
	Auto                 *AutoRoute    `json:"auto,omitempty"`
	MaxAttempts          int           `json:"max_attempts"`
	Budget               config.Budget `json:"budget"`
	// RequestRate is requests per second over the budget's 10s window.
	RequestRate float64 `json:"request_rate"`
	// BudgetCap is the extra attempts per request the budget grants hedges at that
	// rate (90% of it: a tenth is kept for retries of requests that failed outright).
	BudgetCap  float64           `json:"budget_cap"`
	Replicas   []ReplicaSamples  `json:"replicas"`
	Unhedged   *LatencyMS        `json:"unhedged,omitempty"`
	Candidates []CandidateAdvice `json:"candidates,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// ReplicaSamples is how many samples a replica's rolling histogram holds.
type ReplicaSamples struct {
	Name    string `json:"name"`
	Samples int64  `json:"samples"`
}

// LatencyMS is predicted client latency in milliseconds.
type LatencyMS struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
}

// CandidateAdvice is one candidate percentile. Loads are extra attempts per client
// request (0.05 = 5% more backend requests).
type CandidateAdvice struct {
	Percentile        float64            `json:"percentile"`
	Configured        bool               `json:"configured"`
	HedgeDelayMS      map[string]float64 `json:"hedge_delay_ms"`
	MedianDelayMS     float64            `json:"median_delay_ms"`
	ExtraLoad         float64            `json:"extra_load"`
	UncappedExtraLoad float64            `json:"uncapped_extra_load"`
	BudgetCapped      bool               `json:"budget_capped"`
	LatencyMS
	Optimistic bool `json:"optimistic"`
}

// serveAdvisor is /debug/advisor[?route=NAME].
func (s *Server) serveAdvisor(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	name := r.URL.Query().Get("route")
	report := AdvisorReport{Model: advisorModel, Routes: []RouteAdvice{}}
	found := false
	for _, rt := range st.routes {
		if name != "" && rt.cfg.Name != name {
			continue
		}
		found = true
		if rt.cfg.Strategy != config.StrategyHedge {
			if name != "" {
				writeFailure(w, name, refuse(refuseBadRequest, "the advisor models hedge routes; this one uses strategy "+rt.cfg.Strategy))
				return
			}
			continue
		}
		report.Routes = append(report.Routes, adviseRoute(rt))
	}
	if name != "" && !found {
		writeFailure(w, "", refuse(refuseNotFound, "no route named "+name))
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func adviseRoute(rt *route) RouteAdvice {
	plan := rt.plan
	ra := RouteAdvice{
		Route:                rt.cfg.Name,
		ReplicaSet:           rt.cfg.ReplicaSet,
		ConfiguredPercentile: rt.cfg.Hedge.Percentile.Fixed,
		Auto:                 autoRoute(rt),
		MaxAttempts:          rt.cfg.Hedge.MaxAttempts,
		Budget:               rt.cfg.Budget,
		RequestRate:          plan.Budget().RequestRate(),
	}
	reps := plan.Set().Replicas
	adv, err := plan.Advise(nil)
	for i, rep := range reps {
		rs := ReplicaSamples{Name: rep.Name}
		if err == nil {
			rs.Samples = adv.Samples[i]
		} else {
			rs.Samples = rep.Latency().Count()
		}
		ra.Replicas = append(ra.Replicas, rs)
	}
	if err != nil {
		// Thin histograms (hedge.ErrNotEnoughSamples) are the usual case: a fresh
		// gateway, a quiet route.
		ra.Error = err.Error()
		return ra
	}
	ra.BudgetCap = adv.BudgetCap
	ra.Unhedged = latencyMS(adv.Unhedged)
	for _, c := range adv.Candidates {
		ca := CandidateAdvice{
			Percentile:        c.Percentile,
			Configured:        c.Configured,
			HedgeDelayMS:      map[string]float64{},
			MedianDelayMS:     ms(median(c.Delays)),
			ExtraLoad:         c.ExtraLoad,
			UncappedExtraLoad: c.UncappedExtraLoad,
			BudgetCapped:      c.BudgetCapped,
			LatencyMS:         *latencyMS(c.Latency),
			Optimistic:        c.Optimistic,
		}
		for i, d := range c.Delays {
			ca.HedgeDelayMS[reps[i].Name] = ms(d)
		}
		ra.Candidates = append(ra.Candidates, ca)
	}
	return ra
}

func latencyMS(l hedge.Latencies) *LatencyMS {
	return &LatencyMS{P50: ms(l.P50), P99: ms(l.P99), P999: ms(l.P999)}
}

// median of ds; the mean of the middle two for an even count.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
