package loadtest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeRun produces a Summary on the fake clock: rate req/s for dur against a
// server answering after serve.
func fakeRun(t *testing.T, name string, rate float64, dur, serve time.Duration) Summary {
	t.Helper()
	var s Summary
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(t.Context(), Options{
			URL: "http://sim.invalid/", Rate: rate, Duration: dur, Name: name,
			Transport: &stallTransport{serve: serve, stallFrom: dur / 2, stallTo: dur/2 + 300*time.Millisecond},
			timerOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		s = res.Summary()
	})
	return s
}

func TestJSONHasRequiredFields(t *testing.T) {
	s := fakeRun(t, "direct", 200, 2*time.Second, 5*time.Millisecond)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON value")
	}
	for _, k := range []string{"requests", "ok", "errors", "codes", "achieved_rate", "latency_ms",
		"rate", "duration_s", "error_kinds", "generator_lag_ms", "curve"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	lat, _ := m["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "p9999", "max", "mean"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_ms.%s missing", k)
		}
	}
	lag, _ := m["generator_lag_ms"].(map[string]any)
	for _, k := range []string{"p99", "max"} {
		if _, ok := lag[k].(float64); !ok {
			t.Errorf("generator_lag_ms.%s missing", k)
		}
	}
	if m["requests"].(float64) != 400 || m["codes"].(map[string]any)["200"].(float64) != 400 {
		t.Errorf("requests %v codes %v", m["requests"], m["codes"])
	}
	if s.Latency.P50 < 5 || s.Latency.P50 > 5.01 {
		t.Errorf("p50 %v, want 5ms", s.Latency.P50)
	}
	// Round trip: what compare reads back equals what was written.
	back, err := ReadSummary(strings.NewReader(mustJSON(t, s)))
	if err != nil || back.Latency != s.Latency || len(back.Curve) != len(s.Curve) || back.Name != "direct" {
		t.Errorf("round trip: %v %+v", err, back.Latency)
	}
}

func mustJSON(t *testing.T, s Summary) string {
	var b strings.Builder
	if err := WriteJSON(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCurve(t *testing.T) {
	s := fakeRun(t, "x", 500, 2*time.Second, 2*time.Millisecond) // 1000 requests
	c := s.Curve
	if c[0].Percentile != 0 || c[len(c)-1].Percentile != 100 || c[len(c)-1].MS != s.Latency.Max {
		t.Errorf("curve ends: %+v .. %+v", c[0], c[len(c)-1])
	}
	// 1000 samples resolve three nines; the last sampled point is 99.9%.
	if p := c[len(c)-2].Percentile; p < 99.89 || p > 99.91 {
		t.Errorf("last sampled percentile %v, want 99.9", p)
	}
	for i := 1; i < len(c); i++ {
		if c[i].Percentile <= c[i-1].Percentile || c[i].MS < c[i-1].MS {
			t.Fatalf("curve not increasing at %d: %+v %+v", i, c[i-1], c[i])
		}
	}
}

func TestWriteText(t *testing.T) {
	s := fakeRun(t, "x", 100, time.Second, 5*time.Millisecond)
	s.Gateway = &GatewayStats{BackendPerRequest: 1.1, HedgeRate: 0.1}
	var b strings.Builder
	if err := WriteText(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"requests", "achieved 100.0 req/s", "codes", "200=100", "p99.99", "generator lag", "1.100 backend req per request"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteCompare(t *testing.T) {
	a := fakeRun(t, "direct", 100, time.Second, 5*time.Millisecond)
	b := fakeRun(t, "hedge", 100, time.Second, 2*time.Millisecond)
	b.Gateway = &GatewayStats{BackendPerRequest: 1.05}
	var out strings.Builder
	if err := WriteCompare(&out, []NamedSummary{{"direct", a}, {"hedge", b}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if f := strings.Fields(lines[0]); len(f) != 3 || f[1] != "direct" || f[2] != "hedge" {
		t.Errorf("header %q", lines[0])
	}
	want := map[string][]string{
		"p50 ms":      {"5.003", "2.000"}, // HDR reports the top of the 3-digit bucket
		"backend/req": {"-", "1.050"},
		"requests":    {"100", "100"},
	}
	for _, l := range lines {
		for label, cells := range want {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), label+" "); ok {
				if f := strings.Fields(rest); len(f) != 2 || f[0] != cells[0] || f[1] != cells[1] {
					t.Errorf("%s row %q, want %v", label, l, cells)
				}
				delete(want, label)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v\n%s", want, out.String())
	}
}

func TestWriteHTMLSelfContained(t *testing.T) {
	runs := []NamedSummary{
		{"direct", fakeRun(t, "", 200, 2*time.Second, 5*time.Millisecond)},
		{`hedge <&"q">`, fakeRun(t, "", 200, 2*time.Second, 2*time.Millisecond)},
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, "test report", runs); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	if !strings.Contains(doc, "<svg") || strings.Count(doc, "<polyline") != 2 {
		t.Error("want an inline svg with one curve per run")
	}
	// Nothing loaded from elsewhere: no scripts, no remote src/href/url().
	if regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(|<script|@import|<link`).MatchString(doc) {
		t.Error("report references external resources")
	}
	if strings.Contains(doc, `hedge <&"q">`) || !strings.Contains(doc, "hedge &lt;&amp;") {
		t.Error("run name not escaped")
	}
	for _, tick := range []string{">0%<", ">90%<", ">99%<", ">99.9%<"} {
		if !strings.Contains(doc, tick) {
			t.Errorf("x axis lacks tick %s", tick)
		}
	}
	// The SVG is well-formed XML.
	i, j := strings.Index(doc, "<svg"), strings.Index(doc, "</svg>")
	dec := xml.NewDecoder(strings.NewReader(doc[i : j+len("</svg>")]))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg not well-formed: %v", err)
		}
	}
}

// A run name that tries to end the SVG and open a script stays text in every
// place it appears: the curve's title, the legend and the table.
func TestWriteHTMLEscapesNamesInChart(t *testing.T) {
	const name = `</text></title></svg><script>alert(1)</script>`
	var b bytes.Buffer
	if err := WriteHTML(&b, "t", []NamedSummary{{name, fakeRun(t, "", 100, time.Second, time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	if strings.Contains(doc, "<script") || strings.Count(doc, "</svg>") != 1 {
		t.Fatalf("run name reached the page as markup:\n%s", doc)
	}
	if n := strings.Count(doc, "&lt;script&gt;alert(1)&lt;/script&gt;"); n != 3 {
		t.Errorf("escaped name appears %d times, want 3 (curve title, legend, table)", n)
	}
}

func TestSig4(t *testing.T) {
	for _, tc := range []struct {
		ms   float64
		want string
	}{{0, "0.000"}, {0.0421, "0.042"}, {1.504, "1.504"}, {52.543, "52.54"}, {261.887, "261.9"}, {1234.56, "1235"}, {98765.4, "98765"}} {
		if got := sig4(tc.ms); got != tc.want {
			t.Errorf("sig4(%v) = %q, want %q", tc.ms, got, tc.want)
		}
	}
}

func TestGatewayMetrics(t *testing.T) {
	const before = `# HELP hedgegate_requests_total Client requests.
# TYPE hedgegate_requests_total counter
hedgegate_requests_total{route="kv-get",code="200"} 100
hedgegate_requests_total{route="kv-get",code="504"} 2
hedgegate_backend_requests_total{route="kv-get",replica="r1",kind="primary"} 102
hedgegate_backend_requests_total{route="kv-get",replica="r2",kind="hedge"} 10
hedgegate_backend_requests_total{route="kv-get",replica="r3",kind="retry"} 3
hedgegate_hedge_wins_total{route="kv-get"} 4
hedgegate_budget_denied_total{route="kv-get"} 1
hedgegate_request_duration_seconds_bucket{route="kv-get",le="+Inf"} 102
`
	// 200 more requests: 200 primaries, 30 hedges, 10 retries.
	const after = `hedgegate_requests_total{route="kv-get",code="200"} 298
hedgegate_requests_total{route="kv-get",code="504"} 4
hedgegate_requests_total{route="odd \"name\", with {braces}",code="200"} 0 1700000000000
hedgegate_backend_requests_total{route="kv-get",replica="r1",kind="primary"} 302
hedgegate_backend_requests_total{route="kv-get",replica="r2",kind="hedge"} 40
hedgegate_backend_requests_total{route="kv-get",replica="r3",kind="retry"} 13
hedgegate_hedge_wins_total{route="kv-get"} 16
hedgegate_budget_denied_total{route="kv-get"} 6
hedgegate_inflight_requests 3
`
	var scrapes atomic.Int32
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scrapes.Add(1) == 1 {
			io.WriteString(w, before)
		} else {
			io.WriteString(w, after)
		}
	}))
	defer metrics.Close()
	target, _ := recordingServer(t, 200)

	res, err := Run(t.Context(), Options{URL: target.URL, Rate: 100, Duration: 50 * time.Millisecond, MetricsURL: metrics.URL})
	if err != nil {
		t.Fatal(err)
	}
	g := res.Summary().Gateway
	want := GatewayStats{Requests: 200, BackendRequests: 240, BackendPerRequest: 1.2, HedgeRate: 0.15, RetryRate: 0.05, HedgeWins: 12, BudgetDenied: 5}
	if g == nil || *g != want {
		t.Errorf("gateway %+v, want %+v", g, want)
	}
	if scrapes.Load() != 2 {
		t.Errorf("%d scrapes, want 2", scrapes.Load())
	}
}

// The gateway counts a request just after its answer: the closing scrape waits (a
// bounded number of scrapes) until the gateway has counted every request of the run.
func TestClosingScrapeWaitsForTheGatewayToCountTheRun(t *testing.T) {
	var scrapes atomic.Int32
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Before the run: 0; the first closing scrape: the last answer not yet counted.
		counted := map[int32]int{1: 0, 2: 4}[scrapes.Add(1)]
		if scrapes.Load() > 2 {
			counted = 5
		}
		fmt.Fprintf(w, "hedgegate_requests_total{route=\"kv-get\",code=\"200\"} %d\n", counted)
		fmt.Fprintf(w, "hedgegate_backend_requests_total{route=\"kv-get\",replica=\"r1\",kind=\"primary\"} %d\n", 2*counted)
	}))
	defer metrics.Close()
	target, _ := recordingServer(t, 200)

	res, err := Run(t.Context(), Options{URL: target.URL, Rate: 100, Duration: 50 * time.Millisecond, MetricsURL: metrics.URL})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary(); s.Requests != 5 || s.Gateway == nil || s.Gateway.Requests != 5 || s.Gateway.BackendPerRequest != 2 {
		t.Errorf("%d requests, gateway %+v: want the gateway's count of all 5", s.Requests, s.Gateway)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, bad := range []string{
		`hedgegate_requests_total{route="x} 1`,
		`hedgegate_requests_total{route=x} 1`,
		`hedgegate_requests_total one`,
		`hedgegate_requests_total`,
	} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
