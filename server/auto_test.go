package server

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hedgegate/hedgegate/config"
)

// fakeClock is a settable clock for budgets and latency windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestAutoRouteShowsWhatItChose: a known distribution in the histograms (98% at 2ms,
// 2% at 52ms) and, one window later, /debug/replicas, the metrics and the advisor say
// what the tuner chose: 2ms at p98, predicted p99 4ms at 2.04% extra; one route
// meets its 12ms target, the other cannot meet 3ms and takes the cap's best.
func TestAutoRouteShowsWhatItChose(t *testing.T) {
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	yaml := `listen: 127.0.0.1:0
admin_listen: 127.0.0.1:1
latency: {window: 1s, buckets: 3, min_samples: 50}
replica_sets:
  kv:
    warm_connections: 0
    replicas:
      - {name: r1, url: "` + r1.srv.URL + `"}
      - {name: r2, url: "` + r2.srv.URL + `"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    hedge: {percentile: auto, auto: {target_p99: 12ms, max_extra_load: 0.1}}
  - name: strict
    match: /strict/{key}
    replica_set: kv
    hedge: {percentile: auto, auto: {target_p99: 3ms, max_extra_load: 0.1}}
  - name: fixed
    match: /fixed/{key}
    replica_set: kv
    hedge: {percentile: 97.5}
`
	cfg, err := config.Parse([]byte(yaml), "auto.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	st := s.state.Load()
	defer func() {
		for _, rt := range st.routes {
			rt.plan.Close()
		}
		for _, set := range st.sets {
			set.Close()
		}
	}()
	for _, rep := range st.sets["kv"].Replicas {
		for i := range 1000 {
			if i%50 == 0 {
				rep.Latency().Record(52 * time.Millisecond)
			} else {
				rep.Latency().Record(2 * time.Millisecond)
			}
		}
	}
	var before ReplicaReport
	getJSON(t, admin.URL+"/debug/replicas", &before)
	if len(before.AutoRoutes) != 2 || before.AutoRoutes[0].Tuned || before.AutoRoutes[0].Replicas[0].HedgeDelayMS != 10 {
		t.Fatalf("before any window: %+v, want two auto routes on initial_delay 10ms", before.AutoRoutes)
	}

	clock.add(time.Second)
	var rep ReplicaReport
	for range 200 { // the first look starts the retune; it runs beside the request
		getJSON(t, admin.URL+"/debug/replicas", &rep)
		if rep.AutoRoutes[0].Tuned && rep.AutoRoutes[1].Tuned {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ok, strict := rep.AutoRoutes[0], rep.AutoRoutes[1]
	two := reportedMS(2 * time.Millisecond) // 2.007: the histograms keep two digits
	// Two replicas: a hedge when the primary is slow, no third attempt.
	if !ok.Tuned || !ok.TargetMet || ok.CapBest || !sameMS(ok.PredictedP99MS, 2*two) || ok.PredictedExtraLoad != 0.02 {
		t.Errorf("kv-get: %+v; want tuned, target met, predicted p99 4ms at 2%%", ok)
	}
	for _, r := range ok.Replicas {
		if !sameMS(r.HedgeDelayMS, two) || r.HedgePercentile != 98 || r.Initial || r.Samples != 1000 {
			t.Errorf("kv-get %+v: want 2ms at p98 from 1000 samples", r)
		}
	}
	if !strict.Tuned || strict.TargetMet || !strict.CapBest || strict.TargetP99MS != 3 {
		t.Errorf("strict: %+v; want the cap's best, target unmet", strict)
	}
	var raw struct {
		AutoRoutes []map[string]any `json:"auto_routes"`
	}
	getJSON(t, admin.URL+"/debug/replicas", &raw)
	for _, key := range []string{"overhead_ms", "extra_load_bias", "predicted_extra_load"} {
		if _, found := raw.AutoRoutes[0][key]; !found {
			t.Errorf("auto_routes[0] lacks %q: %v", key, raw.AutoRoutes[0])
		}
	}
	var flat struct {
		ReplicaSets []struct {
			Replicas []replicaJSON `json:"replicas"`
		} `json:"replica_sets"`
	}
	getJSON(t, admin.URL+"/debug/replicas", &flat)
	r := flat.ReplicaSets[0].Replicas[0]
	if !sameMS(r.HedgeDelayMS["kv-get"], two) || r.HedgePercentile["kv-get"] != 98 || r.HedgePercentile["fixed"] != 97.5 {
		t.Errorf("replica r1: delays %v percentiles %v; want kv-get at 2ms p98 and fixed at p97.5", r.HedgeDelayMS, r.HedgePercentile)
	}

	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hedgegate_hedge_percentile", []string{"route", "kv-get", "replica", "r1"}, 98},
		{"hedgegate_hedge_percentile", []string{"route", "fixed", "replica", "r2"}, 97.5},
		{"hedgegate_hedge_delay_seconds", []string{"route", "kv-get", "replica", "r2"}, two / 1000},
		{"hedgegate_hedge_target_unmet", []string{"route", "kv-get"}, 0},
		{"hedgegate_hedge_target_unmet", []string{"route", "strict"}, 1},
		{"hedgegate_hedge_predicted_p99_seconds", []string{"route", "kv-get"}, 2 * two / 1000},
	} {
		if got, ok := gauge(families[c.name], c.labels...); !ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

	var adv AdvisorReport
	getJSON(t, admin.URL+"/debug/advisor?route=kv-get", &adv)
	if a := adv.Routes[0].Auto; a == nil || a.Replicas[0].HedgePercentile != 98 || adv.Routes[0].ConfiguredPercentile != 0 {
		t.Errorf("advisor: %+v; want the tuner's choice and no configured percentile", adv.Routes[0])
	}
}

// gauge is the value of the family's series with every label pair of want.
func gauge(mf *dto.MetricFamily, want ...string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			match = match && found
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
