package loadtest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// LoadSummaries reads -json outputs from files. A run is named by its Summary's
// name, or else by its file name without the extension.
func LoadSummaries(paths []string) ([]NamedSummary, error) {
	runs := make([]NamedSummary, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		s, err := ReadSummary(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		name := s.Name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		}
		runs = append(runs, NamedSummary{Name: name, Summary: s})
	}
	return runs, nil
}

// WriteCompare writes runs side by side, one column per run.
func WriteCompare(w io.Writer, runs []NamedSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(s Summary) string) {
		cells := []string{label}
		for _, r := range runs {
			cells = append(cells, f(r.Summary))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	hdr := []string{"run"}
	for _, r := range runs {
		hdr = append(hdr, r.Name)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
	row("rate asked", func(s Summary) string { return fmt.Sprintf("%g", s.Rate) })
	row("achieved", func(s Summary) string { return fmt.Sprintf("%.1f", s.AchievedRate) })
	row("requests", func(s Summary) string { return strconv.FormatInt(s.Requests, 10) })
	row("ok %", func(s Summary) string { return pct(s.OK, s.Requests) })
	row("errors", func(s Summary) string { return strconv.FormatInt(s.Errors, 10) })
	row("p50 ms", func(s Summary) string { return f3(s.Latency.P50) })
	row("p90 ms", func(s Summary) string { return f3(s.Latency.P90) })
	row("p99 ms", func(s Summary) string { return f3(s.Latency.P99) })
	row("p99.9 ms", func(s Summary) string { return f3(s.Latency.P999) })
	row("p99.99 ms", func(s Summary) string { return f3(s.Latency.P9999) })
	row("max ms", func(s Summary) string { return f3(s.Latency.Max) })
	row("mean ms", func(s Summary) string { return f3(s.Latency.Mean) })
	if slices.ContainsFunc(runs, func(r NamedSummary) bool { return r.Summary.Gateway != nil }) {
		gw := func(f func(g *GatewayStats) string) func(Summary) string {
			return func(s Summary) string {
				if s.Gateway == nil {
					return "-"
				}
				return f(s.Gateway)
			}
		}
		row("backend/req", gw(func(g *GatewayStats) string { return fmt.Sprintf("%.3f", g.BackendPerRequest) }))
		row("hedge rate", gw(func(g *GatewayStats) string { return fmt.Sprintf("%.3f", g.HedgeRate) }))
		row("retry rate", gw(func(g *GatewayStats) string { return fmt.Sprintf("%.3f", g.RetryRate) }))
		row("hedge wins", gw(func(g *GatewayStats) string { return fmt.Sprintf("%g", g.HedgeWins) }))
		row("budget denied", gw(func(g *GatewayStats) string { return fmt.Sprintf("%g", g.BudgetDenied) }))
	}
	return tw.Flush()
}
