package server

import (
	"time"

	"github.com/hedgegate/hedgegate/hedge"
)

// AutoRoute is what a hedge route with percentile auto chose for the current window,
// in /debug/replicas and /debug/advisor. Loads are extra attempts per client request.
type AutoRoute struct {
	Route string `json:"route"`
	// TargetP99MS is the goal's target (absent on the max_extra_load form).
	TargetP99MS  float64 `json:"target_p99_ms,omitempty"`
	MaxExtraLoad float64 `json:"max_extra_load"`
	// Tuned is false until a window gave some replica latency.min_samples samples;
	// until then every replica uses initial_delay. TunedAt is when the delays in
	// force were chosen.
	Tuned   bool       `json:"tuned"`
	TunedAt *time.Time `json:"tuned_at,omitempty"`
	// TargetMet: the predicted p99, overhead added, is within the target for the
	// requests of every primary replica. CapBest: no delays met it; the lowest p99
	// within max_extra_load was taken. OverCap: even the cheapest delays the
	// histograms vouch for exceed max_extra_load (the budget still caps what is
	// sent). Kept: the previous window's delays still met the goal and were kept.
	TargetMet bool `json:"target_met"`
	CapBest   bool `json:"cap_best"`
	OverCap   bool `json:"over_cap"`
	Kept      bool `json:"kept"`
	// TailChanged: the last window's histograms disagreed with the one before's
	// past sampling noise (the tail changed), and the delays were tuned from it alone.
	TailChanged bool `json:"tail_changed"`
	// The model's prediction for the delays in force, gateway overhead not included.
	PredictedP50MS     float64 `json:"predicted_p50_ms"`
	PredictedP99MS     float64 `json:"predicted_p99_ms"`
	PredictedP999MS    float64 `json:"predicted_p999_ms"`
	PredictedExtraLoad float64 `json:"predicted_extra_load"`
	// OverheadMS is the route's measured p99 minus the predicted, taken off the target.
	OverheadMS float64 `json:"overhead_ms"`
	// ExtraLoadBias is the route's measured extra load minus the predicted, taken
	// off max_extra_load (negative: the route sends less than predicted).
	ExtraLoadBias float64       `json:"extra_load_bias"`
	Replicas      []AutoReplica `json:"replicas"`
	Error         string        `json:"error,omitempty"`
}

// AutoReplica is one replica's delay in an AutoRoute.
type AutoReplica struct {
	Name         string  `json:"name"`
	HedgeDelayMS float64 `json:"hedge_delay_ms"`
	// HedgePercentile is the delay's rank in the replica's recent histogram; 0 while
	// Initial (too few samples: initial_delay).
	HedgePercentile float64 `json:"hedge_percentile"`
	Initial         bool    `json:"initial"`
	// Samples in the windows the tuner read.
	Samples int64 `json:"samples"`
}

// autoRoute is rt's AutoRoute, or nil when its percentile is not auto.
func autoRoute(rt *route) *AutoRoute {
	st, ok := rt.plan.Auto()
	if !ok {
		return nil
	}
	a := &AutoRoute{
		Route: rt.cfg.Name, TargetP99MS: ms(st.TargetP99), MaxExtraLoad: st.MaxExtraLoad,
		Tuned: st.Tuned, TargetMet: st.TargetMet, CapBest: st.CapBest, OverCap: st.OverCap, Kept: st.Kept,
		TailChanged:    st.TailChanged,
		PredictedP50MS: ms(st.Predicted.P50), PredictedP99MS: ms(st.Predicted.P99), PredictedP999MS: ms(st.Predicted.P999),
		PredictedExtraLoad: st.ExtraLoad, OverheadMS: ms(st.Overhead), ExtraLoadBias: st.LoadBias, Error: st.Error,
	}
	if st.Tuned {
		at := st.At
		a.TunedAt = &at
	}
	for _, r := range st.Replicas {
		a.Replicas = append(a.Replicas, AutoReplica{Name: r.Name, HedgeDelayMS: ms(r.Delay),
			HedgePercentile: r.Percentile, Initial: r.Initial, Samples: r.Samples})
	}
	return a
}

// hedgePercentile is the percentile behind rt's delay for rep: the configured one,
// or the tuner's choice (false while rep uses initial_delay).
func hedgePercentile(rt *route, st *hedge.AutoState, replica string) (float64, bool) {
	if st == nil {
		return rt.cfg.Hedge.Percentile.Fixed, true
	}
	for _, r := range st.Replicas {
		if r.Name == replica {
			return r.Percentile, !r.Initial
		}
	}
	return 0, false
}

// targetUnmet is hedgegate_hedge_target_unmet: 1 when the tuner found no delays
// meeting the target (it took the cap's best) or none within the cap at all.
func targetUnmet(st hedge.AutoState) float64 {
	if st.Tuned && (st.CapBest || st.OverCap) {
		return 1
	}
	return 0
}
