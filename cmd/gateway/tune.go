package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hedgegate/hedgegate/server"
)

// runTune reads a running gateway's /debug/advisor and prints, per hedge route, what
// each candidate hedge percentile would cost and buy.
func runTune(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway tune", tuneUsage, stdout, stderr)
	var (
		admin   = fs.String("admin", "", "gateway admin `URL` (admin_listen), e.g. http://127.0.0.1:9901")
		route   = fs.String("route", "", "only this route")
		target  = fs.Duration("target-p99", 0, "mark the cheapest percentile whose predicted p99 is at most this")
		asJSON  = fs.Bool("json", false, "print the advisor's JSON instead of the table")
		timeout = fs.Duration("timeout", 10*time.Second, "bound on the admin request")
	)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *admin == "" || fs.NArg() > 0 {
		return fs.usageError("")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	raw, err := fetchAdvisor(ctx, *admin, *route)
	if err != nil {
		fmt.Fprintln(stderr, "gateway tune:", err)
		return 1
	}
	if *asJSON {
		stdout.Write(raw)
		return 0
	}
	var rep server.AdvisorReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		fmt.Fprintln(stderr, "gateway tune: advisor answer:", err)
		return 1
	}
	if len(rep.Routes) == 0 {
		fmt.Fprintln(stderr, "gateway tune: the gateway has no hedge route")
		return 1
	}
	advised := 0
	for i, ra := range rep.Routes {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if writeRouteAdvice(stdout, ra, *target) {
			advised++
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "* configured   capped: the budget would deny some hedges   ~: optimistic (delay past the configured one; see docs/tuning.md)")
	fmt.Fprintln(stdout, "Predictions exclude the gateway's own overhead; extra load is extra backend requests per client request.")
	if advised == 0 {
		return 1
	}
	return 0
}

// fetchAdvisor GETs /debug/advisor; a non-200 answer's error message becomes the error.
func fetchAdvisor(ctx context.Context, admin, route string) ([]byte, error) {
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	u, err := url.Parse(strings.TrimRight(admin, "/") + "/debug/advisor")
	if err != nil {
		return nil, fmt.Errorf("-admin: %w", err)
	}
	if route != "" {
		u.RawQuery = url.Values{"route": {route}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return body, nil
}

// writeRouteAdvice prints one route's table; false when the advisor had no
// prediction for it.
func writeRouteAdvice(w io.Writer, ra server.RouteAdvice, target time.Duration) bool {
	pct := fmt.Sprintf("%g", ra.ConfiguredPercentile)
	if a := ra.Auto; a != nil {
		pct = "auto {max_extra_load " + fmtLoad(a.MaxExtraLoad) + "}"
		if a.TargetP99MS > 0 {
			pct = "auto {target_p99 " + fmtMS(a.TargetP99MS) + ", max_extra_load " + fmtLoad(a.MaxExtraLoad) + "}"
		}
	}
	fmt.Fprintf(w, "route %s (replica set %s): hedge.percentile %s, max_attempts %d", ra.Route, ra.ReplicaSet,
		pct, ra.MaxAttempts)
	if ra.RequestRate > 0 {
		fmt.Fprintf(w, ", %.0f req/s", ra.RequestRate)
	}
	fmt.Fprintln(w)
	samples := make([]string, len(ra.Replicas))
	for i, r := range ra.Replicas {
		samples[i] = fmt.Sprintf("%s %d", r.Name, r.Samples)
	}
	fmt.Fprintf(w, "samples: %s\n", strings.Join(samples, ", "))
	if ra.Auto != nil {
		writeAuto(w, ra.Auto)
	}
	if ra.Error != "" {
		fmt.Fprintf(w, "no prediction: %s\n", ra.Error)
		return false
	}
	fmt.Fprintf(w, "budget: at most %s extra (ratio %g, min_per_second %g)\n",
		fmtLoad(ra.BudgetCap), ra.Budget.Ratio, ra.Budget.MinPerSecond)
	if u := ra.Unhedged; u != nil {
		fmt.Fprintf(w, "unhedged: p50 %s, p99 %s, p99.9 %s\n", fmtMS(u.P50), fmtMS(u.P99), fmtMS(u.P999))
	}

	cheapest := cheapestMeeting(ra.Candidates, target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tpercentile\thedge delay\textra load\t\tp50\tp99\tp99.9\t")
	for i, c := range ra.Candidates {
		mark := ""
		if c.Configured {
			mark = "*"
		}
		capped := ""
		if c.BudgetCapped {
			capped = "capped"
		}
		pct := fmtPct(c.Percentile)
		if c.Optimistic {
			pct = "~" + pct
		}
		note := ""
		if i == cheapest {
			note = "  <- cheapest meeting target"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, pct, fmtDelays(c), fmtLoad(c.ExtraLoad), capped,
			fmtMS(c.P50), fmtMS(c.P99), fmtMS(c.P999), note)
	}
	tw.Flush()
	if target > 0 && cheapest < 0 {
		fmt.Fprintf(w, "no candidate meets p99 ≤ %s\n", target)
	}
	return true
}

// writeAuto says what the tuner of an auto route chose, one line per replica:
// "auto chose p93 for r2: predicted p99 7.9 ms at 4.8% extra".
func writeAuto(w io.Writer, a *server.AutoRoute) {
	if !a.Tuned {
		fmt.Fprintln(w, "auto: not tuned yet (too few samples): every replica on initial_delay")
		return
	}
	for _, r := range a.Replicas {
		if r.Initial {
			fmt.Fprintf(w, "auto keeps initial_delay %s for %s: %d samples, too few\n", fmtMS(r.HedgeDelayMS), r.Name, r.Samples)
			continue
		}
		fmt.Fprintf(w, "auto chose %s for %s: predicted p99 %s at %s extra (delay %s)\n", fmtPct(roundPct(r.HedgePercentile)),
			r.Name, fmtMSShort(a.PredictedP99MS), fmtLoad(a.PredictedExtraLoad), fmtMS(r.HedgeDelayMS))
	}
	var state string
	switch {
	case a.OverCap:
		state = "even the cheapest delays the histograms vouch for exceed max_extra_load; the budget caps what is sent"
	case a.CapBest:
		state = "no delay meets target_p99: took the lowest p99 within max_extra_load"
	case a.TargetMet:
		state = "target met"
	default:
		state = "within max_extra_load"
	}
	if a.Kept {
		state += "; kept from the window before"
	}
	if a.OverheadMS > 0 {
		state += fmt.Sprintf("; aiming %s under the target for the overhead measured", fmtMS(a.OverheadMS))
	}
	if math.Abs(a.ExtraLoadBias) >= 0.001 {
		state += fmt.Sprintf("; measured extra load %+.1f points from the predicted, cap adjusted", 100*a.ExtraLoadBias)
	}
	fmt.Fprintf(w, "auto: %s\n", state)
}

// fmtMSShort writes milliseconds as the sentence in DESIGN.md does: three significant
// digits at most, no trailing zeros, a space before the unit ("7.9 ms", "12.3 ms").
func fmtMSShort(ms float64) string {
	if ms >= 100 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return strconv.FormatFloat(ms, 'g', 3, 64) + " ms"
}

// roundPct rounds a percentile rank to what reads well: p93, p97.5, p99.9.
func roundPct(p float64) float64 {
	if p >= 99 {
		return math.Floor(p*10) / 10
	}
	return math.Round(p*2) / 2
}

// cheapestMeeting is the index of the candidate with the least extra load (then
// the lowest p99) whose p99 is at most target; -1 when none is, or target is 0.
func cheapestMeeting(cands []server.CandidateAdvice, target time.Duration) int {
	cheapest := -1
	if target <= 0 {
		return cheapest
	}
	limit := float64(target) / float64(time.Millisecond)
	for i, c := range cands {
		if c.P99 > limit {
			continue
		}
		if cheapest < 0 || c.ExtraLoad < cands[cheapest].ExtraLoad ||
			(c.ExtraLoad == cands[cheapest].ExtraLoad && c.P99 < cands[cheapest].P99) {
			cheapest = i
		}
	}
	return cheapest
}

// fmtDelays is the median delay, with the replicas' range when they differ.
func fmtDelays(c server.CandidateAdvice) string {
	ds := make([]float64, 0, len(c.HedgeDelayMS))
	for _, d := range c.HedgeDelayMS {
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return "-"
	}
	lo, hi := slices.Min(ds), slices.Max(ds)
	if hi-lo <= 0.05*hi {
		return fmtMS(c.MedianDelayMS)
	}
	return fmt.Sprintf("%s (%s-%s)", fmtMS(c.MedianDelayMS), fmtMS(lo), fmtMS(hi))
}

func fmtMS(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

func fmtLoad(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func fmtPct(p float64) string { return "p" + strings.TrimSuffix(fmt.Sprintf("%g", p), ".0") }
