package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
// It is a deliberately small parser: sample lines only, no histograms needed.
func Scrape(ctx context.Context, url string) (*MetricsSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Plain text format: the parser below does not read protobuf or OpenMetrics extras.
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
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads Prometheus text exposition format.
func ParseMetrics(r io.Reader) (*MetricsSnapshot, error) {
	s := &MetricsSnapshot{sums: map[string]float64{}, byKind: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		switch name {
		case metricRequests, metricBackend, metricHedgeWins, metricBudgetDenied:
		default:
			continue
		}
		s.sums[name] += value
		if name == metricBackend {
			s.byKind[labels["kind"]] += value
		}
	}
	return s, sc.Err()
}

// parseSample splits `name{a="b",c="d"} 1.5 [timestamp]`.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", nil, 0, fmt.Errorf("no value in %q", line)
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		labels, rest, err = parseLabels(rest[1:])
		if err != nil {
			return "", nil, 0, err
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, fmt.Errorf("no value in %q", line)
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("value of %s: %w", name, err)
	}
	return name, labels, value, nil
}

// parseLabels reads `a="b",c="d"}` and returns what follows the brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return nil, "", fmt.Errorf("unterminated label set")
		}
		if s[0] == '}' {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("bad label in %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i]) // \\ and \"
				}
				continue
			}
			if c == '"' {
				s = s[i+1:]
				closed = true
				break
			}
			b.WriteByte(c)
		}
		if !closed {
			return nil, "", fmt.Errorf("unterminated label value for %s", key)
		}
		labels[key] = b.String()
	}
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
