package server

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// AdminHandler serves /metrics, /healthz, /readyz, /debug/replicas and /debug/config.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		var waiting []string
		for name, set := range s.state.Load().sets {
			if !set.Ready() {
				waiting = append(waiting, name)
			}
		}
		if len(waiting) > 0 {
			sort.Strings(waiting)
			w.WriteHeader(http.StatusServiceUnavailable)
			writeJSON(w, map[string]any{"ready": false, "warming": waiting})
			return
		}
		writeJSON(w, map[string]any{"ready": true})
	})
	mux.HandleFunc("GET /debug/replicas", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.replicaReport())
	})
	mux.HandleFunc("GET /debug/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Config())
	})
	mux.HandleFunc("GET /debug/advisor", s.serveAdvisor)
	mux.HandleFunc("POST /reload", s.serveReload)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ReplicaReport is /debug/replicas: what every replica is doing now and, per route
// using it, the hedge delay and attempt timeout the engine would use right now.
type ReplicaReport struct {
	ReplicaSets []SetReport `json:"replica_sets"`
}

// SetReport is one replica set in /debug/replicas.
type SetReport struct {
	Name     string         `json:"name"`
	Ready    bool           `json:"ready"`
	Replicas []ReplicaState `json:"replicas"`
}

// ReplicaState is one replica: its stats plus, per route using it, the timings the
// engine would use now.
type ReplicaState struct {
	Stats            replicas.Stats
	HedgeDelayMS     map[string]float64 // per hedge route: the delay in force now
	HedgePercentile  map[string]float64 // per hedge route: the percentile that delay is
	AttemptTimeoutMS map[string]float64 // per route
}

// MarshalJSON flattens the stats and the route timings into one object.
func (r ReplicaState) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Stats)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{}
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if r.HedgeDelayMS != nil {
		fields["hedge_delay_ms"] = r.HedgeDelayMS
		fields["hedge_percentile"] = r.HedgePercentile
	}
	fields["attempt_timeout_ms"] = r.AttemptTimeoutMS
	return json.Marshal(fields)
}

func (s *Server) replicaReport() ReplicaReport {
	st := s.state.Load()
	names := make([]string, 0, len(st.sets))
	for name := range st.sets {
		names = append(names, name)
	}
	sort.Strings(names)
	var out ReplicaReport
	for _, name := range names {
		set := st.sets[name]
		sr := SetReport{Name: name, Ready: set.Ready()}
		for _, rep := range set.Replicas {
			rs := ReplicaState{Stats: rep.Stats(), AttemptTimeoutMS: map[string]float64{}}
			for _, rt := range st.routes {
				if rt.plan.Set() != set {
					continue
				}
				rs.AttemptTimeoutMS[rt.cfg.Name] = ms(rt.plan.AttemptTimeout(rep).Seconds())
				if rt.cfg.Strategy == config.StrategyHedge {
					if rs.HedgeDelayMS == nil {
						rs.HedgeDelayMS, rs.HedgePercentile = map[string]float64{}, map[string]float64{}
					}
					rs.HedgeDelayMS[rt.cfg.Name] = ms(rt.plan.HedgeDelay(rep).Seconds())
					rs.HedgePercentile[rt.cfg.Name] = rt.cfg.Hedge.Percentile
				}
			}
			sr.Replicas = append(sr.Replicas, rs)
		}
		out.ReplicaSets = append(out.ReplicaSets, sr)
	}
	return out
}

func ms(seconds float64) float64 { return seconds * 1000 }

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
)

var quantiles = []struct {
	label   string
	percent float64
}{{"0.5", 50}, {"0.9", 90}, {"0.99", 99}, {"0.999", 99.9}}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaLatencyDesc
	ch <- hedgeDelayDesc
	ch <- budgetAvailableDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.state.Load()
	for _, set := range st.sets {
		for _, rep := range set.Replicas {
			snap := rep.Latency().Snapshot()
			label := st.replicaLabel[rep]
			for _, q := range quantiles {
				ch <- prometheus.MustNewConstMetric(replicaLatencyDesc, prometheus.GaugeValue,
					snap.Quantile(q.percent).Seconds(), label, q.label)
			}
		}
	}
	for _, rt := range st.routes {
		ch <- prometheus.MustNewConstMetric(budgetAvailableDesc, prometheus.GaugeValue,
			rt.plan.Budget().Available(), rt.cfg.Name)
		if rt.cfg.Strategy != config.StrategyHedge {
			continue
		}
		for _, rep := range rt.plan.Set().Replicas {
			ch <- prometheus.MustNewConstMetric(hedgeDelayDesc, prometheus.GaugeValue,
				rt.plan.HedgeDelay(rep).Seconds(), rt.cfg.Name, st.replicaLabel[rep])
		}
	}
}
