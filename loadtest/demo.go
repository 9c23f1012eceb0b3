package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/server"
)

// DemoOptions shape `gateway demo`. Zero fields take the defaults noted.
type DemoOptions struct {
	// Rate of each run, req/s. Default 200.
	Rate float64
	// Duration of each run; the demo makes five. Default 8s.
	Duration time.Duration
	// Seed makes replica behaviour and key draws repeatable. Default 1.
	Seed uint64
	// Log receives progress lines. Nil: discarded.
	Log io.Writer
}

// DemoRow is one run of the demo: a target and what the load saw there.
type DemoRow struct {
	Name string
	// BackendPerRequest is requests the replicas served per client request, counted
	// at the replicas themselves.
	BackendPerRequest float64
	Summary           Summary
}

// demoProfiles: three replicas answering in about 1ms, each with a rare slow answer,
// r3 with a heavy tail: the situation hedging is for.
var demoProfiles = []SimSpec{
	{Name: "r1", Profile: SimProfile{Latency: SimDist{Kind: SimDistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.02, TailExtra: 50 * time.Millisecond}},
	{Name: "r2", Profile: SimProfile{Latency: SimDist{Kind: SimDistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.02, TailExtra: 50 * time.Millisecond, StaleFraction: 0.1}},
	{Name: "r3", Profile: SimProfile{Latency: SimDist{Kind: SimDistLognormal, Median: time.Millisecond, Sigma: 0.3}, TailProb: 0.05, TailExtra: 150 * time.Millisecond}},
}

// demoConfig fronts the cluster with one route per strategy.
func demoConfig(urls []string) string {
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

// RunDemo starts simulated replicas and a gateway in this process, then runs the same
// open-loop load straight at one replica and through each strategy's route.
func RunDemo(ctx context.Context, opts DemoOptions) ([]DemoRow, error) {
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
	cluster, err := NewSimCluster(demoProfiles, opts.Seed)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()

	cfg, err := config.Parse([]byte(demoConfig(cluster.URLs())), "demo.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	gw, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Seed: opts.Seed})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	serveCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = gw.Serve(serveCtx, ln, adminLn) })
	defer func() {
		stop()
		wg.Wait()
	}()
	for i := 0; !gw.Ready() && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !gw.Ready() {
		return nil, errors.New("demo gateway did not become ready")
	}

	gateway := "http://" + ln.Addr().String()
	metrics := "http://" + adminLn.Addr().String() + "/metrics"
	runs := []struct{ name, url string }{
		{"direct r1", cluster.Replica("r1").URL() + "/kv/{key}"},
		{"direct r3", cluster.Replica("r3").URL() + "/kv/{key}"},
		{"hedge", gateway + "/hedge/kv/{key}"},
		{"parallel", gateway + "/parallel/kv/{key}"},
		{"quorum", gateway + "/quorum/kv/{key}"},
	}
	var rows []DemoRow
	for i, run := range runs {
		fmt.Fprintf(logw, "demo: %-9s %4.0f req/s for %v ...\n", run.name, opts.Rate, opts.Duration)
		before := cluster.Served()
		o := Options{
			Name: run.name, URL: run.url, Rate: opts.Rate, Duration: opts.Duration,
			Keys: 1000, Seed: int64(opts.Seed) + int64(i), Timeout: 5 * time.Second,
		}
		if strings.HasPrefix(run.url, gateway) {
			o.MetricsURL = metrics
		}
		res, err := Run(ctx, o)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", run.name, err)
		}
		s := res.Summary()
		row := DemoRow{Name: run.name, Summary: s}
		if s.Requests > 0 {
			row.BackendPerRequest = float64(cluster.Served()-before) / float64(s.Requests)
		}
		rows = append(rows, row)
	}
	stop()
	wg.Wait()
	if serveErr != nil {
		return rows, serveErr
	}
	return rows, nil
}

// WriteDemoTable prints the demo's comparison.
func WriteDemoTable(w io.Writer, rows []DemoRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tbackend/req\tsuccess\t")
	for _, r := range rows {
		s := r.Summary
		success := 0.0
		if s.Requests > 0 {
			success = 100 * float64(s.OK) / float64(s.Requests)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f%%\t\n", r.Name,
			s.Latency.P50, s.Latency.P99, s.Latency.P999, s.Latency.Max, r.BackendPerRequest, success)
	}
	return tw.Flush()
}

// DemoRuns names the rows for WriteHTML.
func DemoRuns(rows []DemoRow) []NamedSummary {
	out := make([]NamedSummary, len(rows))
	for i, r := range rows {
		out[i] = NamedSummary{Name: r.Name, Summary: r.Summary}
	}
	return out
}
