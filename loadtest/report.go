package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is a run's reportable figures; it is what -json prints and what
// compare and the HTML report read back.
//
// Counting: every request falls in exactly one of ok (a 2xx or 3xx answer),
// errors (no HTTP answer at all, or a 5xx answer) or neither (a 4xx answer,
// visible in codes). Latency covers every request, failed ones included, from
// its intended send time to the end of its response body or its failure.
type Summary struct {
	Name        string  `json:"name,omitempty"`
	URL         string  `json:"url"`
	Method      string  `json:"method"`
	Rate        float64 `json:"rate"`        // asked, req/s
	Poisson     bool    `json:"poisson"`     // exponential inter-arrival gaps
	DurationS   float64 `json:"duration_s"`  // schedule length
	ElapsedS    float64 `json:"elapsed_s"`   // start to last answer
	Connections int     `json:"connections"` // concurrency bound
	Requests    int64   `json:"requests"`    // sent
	OK          int64   `json:"ok"`
	Errors      int64   `json:"errors"`
	// Codes counts answers by HTTP status ("200": n).
	Codes map[string]int64 `json:"codes"`
	// ErrorKinds counts requests without an HTTP answer by kind: timeout,
	// connect_refused, reset, canceled, other.
	ErrorKinds map[string]int64 `json:"error_kinds"`
	// AchievedRate is requests / max(duration, last send − start), req/s.
	AchievedRate float64   `json:"achieved_rate"`
	Latency      LatencyMS `json:"latency_ms"`
	// GeneratorLag is how late the generator itself sent requests that had a free
	// worker waiting for them (timer and scheduling delay, not server queueing).
	GeneratorLag LagMS `json:"generator_lag_ms"`
	// Queued counts requests that fell due while all connections were busy; their
	// wait is in their latency.
	Queued int64 `json:"queued"`
	// Curve is latency by percentile, for plots: dense on a log 1/(1-p) scale.
	Curve   []CurvePoint  `json:"curve"`
	Gateway *GatewayStats `json:"gateway,omitempty"`
	// Series is the run interval by interval (Options.SeriesInterval).
	Series []SeriesPoint `json:"series,omitempty"`
	// Warnings says when figures should not be trusted as they are (the
	// generator fell behind, connections ran out, a scrape failed).
	Warnings []string `json:"warnings,omitempty"`
}

// LatencyMS holds latency percentiles in milliseconds.
type LatencyMS struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// LagMS is generator lag in milliseconds.
type LagMS struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// CurvePoint is one point of the latency-by-percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"p"`  // 0..100
	MS         float64 `json:"ms"` // latency at that percentile
}

// NamedSummary is a run with its label, for reports that show several runs.
type NamedSummary struct {
	Name    string
	Summary Summary
}

// Thresholds for the generator warnings.
const (
	lagWarnP99    = time.Millisecond
	rateWarnRatio = 0.95
	// queuedMajority: when at least this fraction of requests found every worker
	// busy, a low achieved rate is the server's doing (too slow for Connections).
	queuedMajority = 0.5
)

// curveStepsPerDecade is the curve's density on the log10 1/(1-p) axis.
const curveStepsPerDecade = 20

// Summary computes the reportable figures.
func (r *Result) Summary() Summary {
	s := Summary{
		Name:         r.opts.Name,
		URL:          r.opts.URL,
		Method:       r.opts.Method,
		Rate:         r.opts.Rate,
		Poisson:      r.opts.Poisson,
		DurationS:    r.opts.Duration.Seconds(),
		ElapsedS:     round3(r.end.Sub(r.start).Seconds()),
		Connections:  r.opts.Connections,
		Requests:     r.requests,
		OK:           r.ok,
		Errors:       r.errs,
		Codes:        map[string]int64{},
		ErrorKinds:   map[string]int64{},
		AchievedRate: round3(r.achievedRate()),
		Queued:       r.queued,
		Gateway:      r.gateway,
		Series:       slices.Clone(r.series),
		Warnings:     slices.Clone(r.warnings),
	}
	for c, n := range r.codes {
		s.Codes[strconv.Itoa(c)] = n
	}
	for k, n := range r.kinds {
		s.ErrorKinds[k] = n
	}
	h := r.lat
	if h.TotalCount() > 0 {
		s.Latency = LatencyMS{
			P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
			P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)),
			P9999: ms(h.ValueAtQuantile(99.99)), Max: ms(h.Max()),
			Mean: round3(h.Mean() / 1000),
		}
		s.Curve = curve(h.TotalCount(), func(p float64) float64 { return ms(h.ValueAtQuantile(p)) })
		s.Curve = append(s.Curve, CurvePoint{Percentile: 100, MS: s.Latency.Max})
	}
	if r.lag.TotalCount() > 0 {
		s.GeneratorLag = LagMS{P50: ms(r.lag.ValueAtQuantile(50)), P99: ms(r.lag.ValueAtQuantile(99)), Max: ms(r.lag.Max())}
	}
	return s
}

// curve samples at evenly spaced points of log10(1/(1-p)), stopping where the
// sample runs out of resolution (beyond 1-1/count every percentile is the max).
func curve(count int64, at func(p float64) float64) []CurvePoint {
	limit := math.Log10(float64(count))
	var pts []CurvePoint
	for i := 0; ; i++ {
		x := float64(i) / curveStepsPerDecade
		if x > limit {
			break
		}
		p := 100 * (1 - math.Pow(10, -x))
		pts = append(pts, CurvePoint{Percentile: p, MS: at(p)})
	}
	return pts
}

// lagWarnings says when the generator, rather than the server, missed the schedule.
func (r *Result) lagWarnings() []string {
	var w []string
	if r.lag.TotalCount() > 0 {
		if p99 := time.Duration(r.lag.ValueAtQuantile(99)) * time.Microsecond; p99 > lagWarnP99 {
			w = append(w, fmt.Sprintf("generator fell behind its schedule: p99 send lag %s (> %s); latency figures include it — lower -rate or give the tool more CPU", fmtDur(p99), lagWarnP99))
		}
	}
	if r.interrupt || r.requests == 0 {
		return w
	}
	// Against the schedule's own rate (requests / duration), not the asked one:
	// a Poisson schedule may hold a few percent fewer arrivals than rate × duration.
	sched := float64(r.requests) / r.opts.Duration.Seconds()
	if ach := r.achievedRate(); ach < rateWarnRatio*sched {
		if float64(r.queued) >= queuedMajority*float64(r.requests) {
			w = append(w, fmt.Sprintf("achieved %.1f req/s of %.1f scheduled: all %d connections were busy for most requests — the server is slower than rate × latency allows; the figures are right, raise -connections to push harder", ach, sched, r.opts.Connections))
		} else {
			w = append(w, fmt.Sprintf("achieved %.1f req/s of %.1f scheduled with connections to spare: the generator could not keep up", ach, sched))
		}
	}
	return w
}

// ReadSummary decodes a Summary written by -json.
func ReadSummary(r io.Reader) (Summary, error) {
	var s Summary
	dec := json.NewDecoder(r)
	if err := dec.Decode(&s); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// WriteJSON writes s as one indented JSON object.
func WriteJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes the human-readable report.
func WriteText(w io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	arr := "constant"
	if s.Poisson {
		arr = "poisson"
	}
	fmt.Fprintf(tw, "target\t%s %s\n", s.Method, s.URL)
	fmt.Fprintf(tw, "schedule\t%g req/s %s for %gs, %d connections\n", s.Rate, arr, s.DurationS, s.Connections)
	fmt.Fprintf(tw, "requests\t%d in %.2fs, achieved %.1f req/s\n", s.Requests, s.ElapsedS, s.AchievedRate)
	fmt.Fprintf(tw, "ok\t%d (%s)\n", s.OK, pct(s.OK, s.Requests))
	fmt.Fprintf(tw, "errors\t%d (%s)\n", s.Errors, pct(s.Errors, s.Requests))
	fmt.Fprintf(tw, "codes\t%s\n", countList(s.Codes))
	if len(s.ErrorKinds) > 0 {
		fmt.Fprintf(tw, "error kinds\t%s\n", countList(s.ErrorKinds))
	}
	l := s.Latency
	fmt.Fprintf(tw, "latency ms\tp50 %s  p90 %s  p99 %s  p99.9 %s  p99.99 %s  max %s  mean %s\n",
		f3(l.P50), f3(l.P90), f3(l.P99), f3(l.P999), f3(l.P9999), f3(l.Max), f3(l.Mean))
	fmt.Fprintf(tw, "generator lag ms\tp50 %s  p99 %s  max %s;  %d requests queued for a connection\n",
		f3(s.GeneratorLag.P50), f3(s.GeneratorLag.P99), f3(s.GeneratorLag.Max), s.Queued)
	if g := s.Gateway; g != nil {
		fmt.Fprintf(tw, "gateway\t%.3f backend req per request, hedge rate %.3f, retry rate %.3f, hedge wins %g, budget denied %g\n",
			g.BackendPerRequest, g.HedgeRate, g.RetryRate, g.HedgeWins, g.BudgetDenied)
	}
	for _, m := range s.Warnings {
		fmt.Fprintf(tw, "warning\t%s\n", m)
	}
	return tw.Flush()
}

func pct(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// countList renders a count map in key order: "200=10 503=2".
func countList(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
