package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// cannedAdvice is a heavy-tail route: hedging at p50 is capped by the budget, p90
// and p95 cut the tail, p99 comes too late.
func cannedAdvice() server.AdvisorReport {
	row := func(p float64, configured bool, delay, extra float64, capped bool, p50, p99, p999 float64) server.CandidateAdvice {
		return server.CandidateAdvice{
			Percentile: p, Configured: configured,
			HedgeDelayMS:  map[string]float64{"r1": delay, "r2": delay, "r3": delay * 1.01},
			MedianDelayMS: delay, ExtraLoad: extra, UncappedExtraLoad: extra, BudgetCapped: capped,
			LatencyMS:  server.LatencyMS{P50: p50, P99: p99, P999: p999},
			Optimistic: p > 95,
		}
	}
	return server.AdvisorReport{Routes: []server.RouteAdvice{{
		Route: "kv-get", ReplicaSet: "kv", ConfiguredPercentile: 95, MaxAttempts: 3,
		Budget: config.Budget{Ratio: 0.1, MinPerSecond: 10}, RequestRate: 300, BudgetCap: 0.1333,
		Replicas: []server.ReplicaSamples{{Name: "r1", Samples: 6000}, {Name: "r2", Samples: 6100}, {Name: "r3", Samples: 5900}},
		Unhedged: &server.LatencyMS{P50: 2.1, P99: 42.5, P999: 43.9},
		Candidates: []server.CandidateAdvice{
			row(50, false, 2.0, 0.1333, true, 2.0, 41.8, 43.5),
			row(90, false, 2.9, 0.098, false, 2.05, 5.9, 41.2),
			row(95, true, 3.3, 0.052, false, 2.08, 6.2, 42.0),
			row(99, false, 42.1, 0.008, false, 2.1, 42.4, 43.9),
		},
	}, {
		Route: "search", ReplicaSet: "kv", ConfiguredPercentile: 95, MaxAttempts: 3,
		Replicas: []server.ReplicaSamples{{Name: "r1", Samples: 3}},
		Error:    "not enough samples: replica r1 has 3 (min 50)",
	}}}
}

func advisorStub(t *testing.T) (*httptest.Server, *[]string) {
	t.Helper()
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/advisor" {
			http.NotFound(w, r)
			return
		}
		queries = append(queries, r.URL.RawQuery)
		rep := cannedAdvice()
		switch r.URL.Query().Get("route") {
		case "":
		case "kv-get":
			rep.Routes = rep.Routes[:1]
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "no route named " + r.URL.Query().Get("route")})
			return
		}
		json.NewEncoder(w).Encode(rep)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

// tableRow is the table line whose percentile cell is pct.
func tableRow(t *testing.T, out, pct string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && (f[0] == pct || f[0] == "*" && f[1] == pct) {
			return l
		}
	}
	t.Fatalf("no %s row in:\n%s", pct, out)
	return ""
}

func TestTuneTable(t *testing.T) {
	srv, queries := advisorStub(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"tune", "-admin", srv.URL, "-target-p99", "7ms"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	t.Log("\n" + out)
	if (*queries)[0] != "" {
		t.Errorf("query %q, want none without -route", (*queries)[0])
	}
	if l := tableRow(t, out, "p95"); !strings.HasPrefix(strings.TrimSpace(l), "*") || !strings.Contains(l, "5.2%") ||
		!strings.Contains(l, "3.30ms") || !strings.Contains(l, "6.20ms") || !strings.Contains(l, "<- cheapest meeting target") {
		t.Errorf("p95 row %q: want the configured mark, its load, delay, p99 and the cheapest mark (5.2%% < p90's 9.8%%)", l)
	}
	if l := tableRow(t, out, "p50"); !strings.Contains(l, "capped") || strings.Contains(l, "cheapest") || strings.Contains(l, "*") {
		t.Errorf("p50 row %q: want capped, not configured, not cheapest (p99 41.8ms misses 7ms)", l)
	}
	if l := tableRow(t, out, "~p99"); !strings.Contains(l, "42.1ms") {
		t.Errorf("p99 row %q: want the optimistic mark and its 42.1ms delay", l)
	}
	for _, want := range []string{
		"route kv-get (replica set kv): hedge.percentile 95, max_attempts 3, 300 req/s",
		"samples: r1 6000, r2 6100, r3 5900",
		"budget: at most 13.3% extra (ratio 0.1, min_per_second 10)",
		"unhedged: p50 2.10ms, p99 42.5ms, p99.9 43.9ms",
		"route search",
		"no prediction: not enough samples: replica r1 has 3 (min 50)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	stdout.Reset()
	if code := run([]string{"tune", "-admin", srv.URL, "-target-p99", "5ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out := stdout.String(); strings.Contains(out, "cheapest") || !strings.Contains(out, "no candidate meets p99 ≤ 5ms") {
		t.Errorf("unreachable target:\n%s", out)
	}
}

func TestTuneRouteAndJSON(t *testing.T) {
	srv, queries := advisorStub(t)
	var stdout, stderr bytes.Buffer
	// The admin address without a scheme, as admin_listen is written.
	admin := strings.TrimPrefix(srv.URL, "http://")
	if code := run([]string{"tune", "-admin", admin, "-route", "kv-get", "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	if (*queries)[0] != "route=kv-get" {
		t.Errorf("query %q, want route=kv-get", (*queries)[0])
	}
	var rep server.AdvisorReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Routes) != 1 || len(rep.Routes[0].Candidates) != 4 {
		t.Errorf("-json printed %s (err %v): want the advisor's answer for kv-get", stdout.String(), err)
	}
}

func TestTuneErrors(t *testing.T) {
	srv, _ := advisorStub(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no -admin", []string{"tune"}, 2, "usage: gateway tune"},
		{"unknown route", []string{"tune", "-admin", srv.URL, "-route", "nope"}, 1, "no route named nope"},
		{"nothing listening", []string{"tune", "-admin", "http://127.0.0.1:1"}, 1, "gateway tune:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestTuneShowsWhatAutoChose: an auto route's header names its goal, and one line
// per replica says what the tuner chose, then whether the target is met.
func TestTuneShowsWhatAutoChose(t *testing.T) {
	ra := cannedAdvice().Routes[0]
	ra.ConfiguredPercentile = 0
	for i := range ra.Candidates {
		ra.Candidates[i].Configured = false
	}
	ra.Auto = &server.AutoRoute{Route: "kv-get", TargetP99MS: 12, MaxExtraLoad: 0.2, Tuned: true, TargetMet: true,
		PredictedP99MS: 7.9, PredictedExtraLoad: 0.048,
		Replicas: []server.AutoReplica{
			{Name: "r1", HedgeDelayMS: 3.3, HedgePercentile: 95.2, Samples: 600},
			{Name: "r2", HedgeDelayMS: 3.1, HedgePercentile: 93.1, Samples: 610},
			{Name: "r3", HedgeDelayMS: 10, Initial: true, Samples: 12},
		}}
	var out bytes.Buffer
	if !writeRouteAdvice(&out, ra, 0) {
		t.Fatal("no advice written")
	}
	for _, want := range []string{
		"hedge.percentile auto {target_p99 12.0ms, max_extra_load 20.0%}",
		"auto chose p95 for r1: predicted p99 7.9 ms at 4.8% extra (delay 3.30ms)",
		"auto chose p93 for r2: predicted p99 7.9 ms at 4.8% extra (delay 3.10ms)",
		"auto keeps initial_delay 10.0ms for r3: 12 samples, too few",
		"auto: target met",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	ra.Auto.TargetMet, ra.Auto.CapBest, ra.Auto.OverheadMS = false, true, 1.5
	out.Reset()
	writeRouteAdvice(&out, ra, 0)
	if want := "auto: no delay meets target_p99: took the lowest p99 within max_extra_load; aiming 1.50ms under the target"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "measured extra load") {
		t.Errorf("no load bias, yet the output speaks of one:\n%s", out.String())
	}
	ra.Auto.ExtraLoadBias = -0.021
	out.Reset()
	writeRouteAdvice(&out, ra, 0)
	if want := "; measured extra load -2.1 points from the predicted, cap adjusted"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
