package server

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgegate/hedgegate/latency"
)

func getAdvisor(t *testing.T, g *gateway, query string) (int, AdvisorReport, string) {
	t.Helper()
	resp, err := g.admin.Client().Get(g.admin.URL + "/debug/advisor" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var rep AdvisorReport
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, rep, string(raw)
}

func TestAdvisorPredictsFromRecordedLatencies(t *testing.T) {
	urls := make([]string, 3)
	for i := range urls {
		urls[i] = newReplica(t, "r", nil).srv.URL
	}
	g := newGateway(t, gatewayYAML(urls, ""))

	// Before any sample the advisor has nothing to say, and says so.
	code, rep, raw := getAdvisor(t, g, "?route=kv-get")
	if code != http.StatusOK || len(rep.Routes) != 1 || !strings.Contains(rep.Routes[0].Error, "not enough samples") {
		t.Fatalf("empty histograms: %d %s", code, raw)
	}

	// 98% at 1ms, 2% at 50ms on every replica.
	for _, r := range g.srv.state.Load().sets["kv"].Replicas {
		for i := range 1000 {
			d := time.Millisecond
			if i%50 == 0 {
				d = 50 * time.Millisecond
			}
			r.Latency().Record(d)
		}
	}
	code, rep, raw = getAdvisor(t, g, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, raw)
	}
	if len(rep.Routes) != 2 || rep.Routes[0].Route != "kv-get" || rep.Routes[1].Route != "search" {
		t.Fatalf("routes %s: want both hedge routes, in config order", raw)
	}
	ra := rep.Routes[0]
	if ra.Error != "" || ra.ConfiguredPercentile != 95 || ra.MaxAttempts != 3 || ra.ReplicaSet != "kv" {
		t.Fatalf("kv-get: %+v", ra)
	}
	for _, r := range ra.Replicas {
		if r.Samples != 1000 {
			t.Errorf("replica %s: %d samples, want 1000", r.Name, r.Samples)
		}
	}
	// No request went through: the budget cap is the ratio alone, less the tenth
	// that hedges leave to retries.
	if ra.RequestRate != 0 || math.Abs(ra.BudgetCap-0.09) > 1e-12 {
		t.Errorf("rate %v, cap %v: want 0 and 90%% of the 0.1 ratio", ra.RequestRate, ra.BudgetCap)
	}
	// The histograms keep two digits: 1ms reads back as 1.003ms.
	one := reportedMS(time.Millisecond)
	if ra.Unhedged == nil || !sameMS(ra.Unhedged.P99, reportedMS(50*time.Millisecond)) {
		t.Errorf("unhedged %+v: want p99 ≈ 50ms", ra.Unhedged)
	}
	var percentiles []float64
	var p95 *CandidateAdvice
	for i, c := range ra.Candidates {
		percentiles = append(percentiles, c.Percentile)
		if c.Percentile == 95 {
			p95 = &ra.Candidates[i]
		} else if c.Configured {
			t.Errorf("p%v marked configured", c.Percentile)
		}
	}
	if want := []float64{50, 75, 90, 95, 99, 99.9}; !slices.Equal(percentiles, want) {
		t.Fatalf("candidates %v, want %v", percentiles, want)
	}
	if !p95.Configured || !sameMS(p95.MedianDelayMS, one) || !sameMS(p95.HedgeDelayMS["r2"], one) {
		t.Errorf("p95 row %+v: want configured, a 1ms delay on every replica", p95)
	}
	if math.Abs(p95.ExtraLoad-0.0204) > 1e-9 || p95.BudgetCapped {
		t.Errorf("p95 extra load %v (capped %v), want 2%% hedges + 0.04%% third attempts, uncapped", p95.ExtraLoad, p95.BudgetCapped)
	}
	if !sameMS(p95.P50, one) || !sameMS(p95.P99, 2*one) || !sameMS(p95.P999, 2*one) {
		t.Errorf("p95 latency %+v, want p50 1ms, p99 = p99.9 = 1ms delay + 1ms", p95.LatencyMS)
	}
	// At p50 the delay is the 1ms minimum too; the p99 row never hedges.
	if c := ra.Candidates[len(ra.Candidates)-2]; c.ExtraLoad != 0 || c.P99 != ra.Unhedged.P99 {
		t.Errorf("p99 row %+v: want no hedges and the unhedged p99", c)
	}

	code, rep, raw = getAdvisor(t, g, "?route=search")
	if code != http.StatusOK || len(rep.Routes) != 1 || rep.Routes[0].Route != "search" {
		t.Errorf("?route=search: %d %s", code, raw)
	}
	if code, _, raw := getAdvisor(t, g, "?route=nope"); code != http.StatusNotFound || !strings.Contains(raw, "no route named nope") {
		t.Errorf("?route=nope: %d %s", code, raw)
	}
}

func TestAdvisorRefusesNonHedgeRoutes(t *testing.T) {
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	yaml := strings.Replace(gatewayYAML([]string{r1.srv.URL, r2.srv.URL}, ""),
		"    timeout: 300ms\n", "    timeout: 300ms\n    strategy: parallel\n", 1)
	g := newGateway(t, yaml)
	code, rep, raw := getAdvisor(t, g, "")
	if code != http.StatusOK || len(rep.Routes) != 1 || rep.Routes[0].Route != "kv-get" {
		t.Errorf("listing: %d %s: want the hedge route only", code, raw)
	}
	if code, _, raw := getAdvisor(t, g, "?route=search"); code != http.StatusBadRequest || !strings.Contains(raw, "strategy parallel") {
		t.Errorf("?route=search: %d %s", code, raw)
	}
}

// reportedMS is d as the replicas' histograms report it, in milliseconds.
func reportedMS(d time.Duration) float64 {
	return float64(latency.Reported(d).Microseconds()) / 1000
}

func sameMS(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
