package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The gateway series the load tester reads (see DESIGN.md, Metrics).
const (
	metricRequests     = "hedgegate_requests_total"
	metricBackend      = "hedgegate_backend_requests_total"
	metricHedgeWins    = "hedgegate_hedge_wins_total"
	metricBudgetDenied = "hedgegate_budget_denied_total"
)

// GatewayStats is what the gateway did for a run: counter differences between
// the scrapes before and after it. Rates are per client request.
type GatewayStats struct {
	Requests          float64 `json:"requests"`            // Δ sum hedgegate_requests_total
	BackendRequests   float64 `json:"backend_requests"`    // Δ sum hedgegate_backend_requests_total
	BackendPerRequest float64 `json:"backend_per_request"` // BackendRequests / Requests
	HedgeRate         float64 `json:"hedge_rate"`          // Δ backend{kind="hedge"} / Requests
	RetryRate         float64 `json:"retry_rate"`          // Δ backend{kind="retry"} / Requests
	HedgeWins         float64 `json:"hedge_wins"`          // Δ hedgegate_hedge_wins_total
	BudgetDenied      float64 `json:"budget_denied"`       // Δ hedgegate_budget_denied_total
}

// MetricsSnapshot is one scrape: the sums of the series the report needs.
type MetricsSnapshot struct {
	sums   map[string]float64 // by metric name, over all label sets
	byKind map[string]float64 // backend requests by kind label
}

// Scrape fetches a Prometheus text-format endpoint and keeps the gateway sums.
func Scrape(ctx context.Context, url string) (*MetricsSnapshot, error) {
	return ScrapeRoute(ctx, url, "")
}

// ScrapeRoute is Scrape counting only the series whose route label is route ("":
// every series).
func ScrapeRoute(ctx context.Context, url, route string) (*MetricsSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// The classic text format: what every Prometheus client serves.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	// Two scrapes a run: no idle connection left behind in the shared client.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body, route)
}

// ParseMetrics reads the Prometheus text exposition format (with expfmt, the
// parser Prometheus itself uses) and keeps the sums of the gateway series.
func ParseMetrics(r io.Reader) (*MetricsSnapshot, error) { return parseMetrics(r, "") }

// parseMetrics is ParseMetrics counting only route's series ("": all).
func parseMetrics(r io.Reader, route string) (*MetricsSnapshot, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &MetricsSnapshot{sums: map[string]float64{}, byKind: map[string]float64{}}
	for _, name := range []string{metricRequests, metricBackend, metricHedgeWins, metricBudgetDenied} {
		mf := families[name]
		for _, m := range mf.GetMetric() {
			if route != "" && labelValue(m, "route") != route {
				continue
			}
			v := sampleValue(m)
			s.sums[name] += v
			if name == metricBackend {
				s.byKind[labelValue(m, "kind")] += v
			}
		}
	}
	return s, nil
}

// sampleValue is a counter's, gauge's or untyped sample's value: the gateway
// declares its series as counters, but an exposition without TYPE lines (or a
// proxy that drops them) makes them untyped.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// GatewayDelta is what happened between two scrapes.
func GatewayDelta(before, after *MetricsSnapshot) GatewayStats {
	d := func(name string) float64 { return after.sums[name] - before.sums[name] }
	g := GatewayStats{
		Requests:        d(metricRequests),
		BackendRequests: d(metricBackend),
		HedgeWins:       d(metricHedgeWins),
		BudgetDenied:    d(metricBudgetDenied),
	}
	if g.Requests > 0 {
		g.BackendPerRequest = round3(g.BackendRequests / g.Requests)
		g.HedgeRate = round3((after.byKind["hedge"] - before.byKind["hedge"]) / g.Requests)
		g.RetryRate = round3((after.byKind["retry"] - before.byKind["retry"]) / g.Requests)
	}
	return g
}
