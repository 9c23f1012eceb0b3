// Package demo is `gateway demo`: simulated replicas (package sim), a gateway in
// front of them (package server, started by servertest) and the open-loop load
// generator (package loadtest), run in one process over loopback. It is the only
// package that imports all three.
package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/loadtest"
	"github.com/hedgegate/hedgegate/server"
	"github.com/hedgegate/hedgegate/server/servertest"
	"github.com/hedgegate/hedgegate/sim"
)

// Options shape `gateway demo`. Zero fields take the defaults noted.
type Options struct {
	// Rate of each run, req/s. Default 200.
	Rate float64
	// Duration of each run; the demo makes five. Default 8s.
	Duration time.Duration
	// Seed makes replica behaviour and key draws repeatable. Default 1.
	Seed uint64
	// Log receives progress lines. Nil: discarded.
	Log io.Writer
}

// Row is one run of the demo: a target and what the load saw there. Its
// Summary.Gateway holds the gateway's own counters for runs through it, nil for
// runs straight at a replica.
type Row struct {
	Name    string
	Summary loadtest.Summary
}

// profiles: three replicas answering in about 1ms, each with a rare slow answer,
// r3 with a heavy tail: the situation hedging is for.
var profiles = []sim.Spec{
	{Name: "r1", Profile: sim.Profile{Latency: sim.Dist{Kind: sim.DistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.02, TailExtra: 50 * time.Millisecond}},
	{Name: "r2", Profile: sim.Profile{Latency: sim.Dist{Kind: sim.DistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.02, TailExtra: 50 * time.Millisecond, StaleFraction: 0.1}},
	{Name: "r3", Profile: sim.Profile{Latency: sim.Dist{Kind: sim.DistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.05, TailExtra: 150 * time.Millisecond}},
}

// gatewayConfig fronts the cluster with one route per strategy.
func gatewayConfig(urls []string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
replica_sets:
  kv:
    replicas:
      - {name: r1, url: %q}
      - {name: r2, url: %q}
      - {name: r3, url: %q}
routes:
  - name: hedge
    match: /hedge/kv/{key}
    strip_prefix: /hedge
    replica_set: kv
    strategy: hedge
    hedge: {percentile: 95, max_attempts: 3}
  - name: parallel
    match: /parallel/kv/{key}
    strip_prefix: /parallel
    replica_set: kv
    strategy: parallel
    parallel: {fanout: 2}
  - name: quorum
    match: /quorum/kv/{key}
    strip_prefix: /quorum
    replica_set: kv
    strategy: quorum
    quorum: {read: 2, version: {header: X-Version}}
`, urls[0], urls[1], urls[2])
}

// Run starts simulated replicas and a gateway in this process, then runs the same
// open-loop load straight at two replicas and through each strategy's route.
func Run(ctx context.Context, opts Options) ([]Row, error) {
	if opts.Rate <= 0 {
		opts.Rate = 200
	}
	if opts.Duration <= 0 {
		opts.Duration = 8 * time.Second
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	cluster, err := sim.NewCluster(profiles, opts.Seed)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()

	cfg, err := config.Parse([]byte(gatewayConfig(cluster.URLs())), "demo.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	gw, err := servertest.Start(cfg, server.Options{Seed: opts.Seed})
	if err != nil {
		return nil, err
	}
	defer gw.Close()

	runs := []struct{ name, url string }{
		{"direct r1", cluster.Replica("r1").URL() + "/kv/{key}"},
		{"direct r3", cluster.Replica("r3").URL() + "/kv/{key}"},
		{"hedge", gw.URL + "/hedge/kv/{key}"},
		{"parallel", gw.URL + "/parallel/kv/{key}"},
		{"quorum", gw.URL + "/quorum/kv/{key}"},
	}
	var rows []Row
	for i, run := range runs {
		fmt.Fprintf(logw, "demo: %-9s %4.0f req/s for %v ...\n", run.name, opts.Rate, opts.Duration)
		o := loadtest.Options{
			Name: run.name, URL: run.url, Rate: opts.Rate, Duration: opts.Duration,
			Keys: 1000, Seed: int64(opts.Seed) + int64(i), Timeout: 5 * time.Second,
		}
		if strings.HasPrefix(run.url, gw.URL) {
			o.MetricsURL = gw.AdminURL + "/metrics"
		}
		res, err := loadtest.Run(ctx, o)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", run.name, err)
		}
		rows = append(rows, Row{Name: run.name, Summary: res.Summary()})
	}
	return rows, gw.Close()
}

// WriteTable prints the demo's comparison, then every generator warning once,
// named by its run. backend/req is the gateway's own count, as in every
// loadtest report: attempts it sent (hedgegate_backend_requests_total) per
// client request it answered, over the run; "-" where no gateway was in the path.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tbackend/req\tsuccess\t")
	for _, r := range rows {
		s := r.Summary
		success := 0.0
		if s.Requests > 0 {
			success = 100 * float64(s.OK) / float64(s.Requests)
		}
		backend := "-"
		if s.Gateway != nil {
			backend = fmt.Sprintf("%.2f", s.Gateway.BackendPerRequest)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%.2f%%\t\n", r.Name,
			s.Latency.P50, s.Latency.P99, s.Latency.P999, s.Latency.Max, backend, success)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "backend/req: requests the gateway sent to replicas per client request (its own count, from /metrics); -: no gateway")
	for _, r := range rows {
		for _, m := range r.Summary.Warnings {
			if _, err := fmt.Fprintf(w, "warning: %s: %s\n", r.Name, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// Runs names the rows for loadtest.WriteHTML.
func Runs(rows []Row) []loadtest.NamedSummary {
	out := make([]loadtest.NamedSummary, len(rows))
	for i, r := range rows {
		out[i] = loadtest.NamedSummary{Name: r.Name, Summary: r.Summary}
	}
	return out
}
