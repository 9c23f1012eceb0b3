package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hedgegate/hedgegate/demo"
	"github.com/hedgegate/hedgegate/loadtest"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway demo", demoUsage, stdout, stderr)
	rate := fs.Float64("rate", 200, "requests per second of each run")
	duration := fs.Duration("duration", 0, "length of each run (five runs; default 8s)")
	seed := fs.Uint64("seed", 1, "seed of the simulated replicas and key draws")
	html := fs.String("html", "hedgegate-demo.html", "HTML report to write (\"\" for none)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError("unexpected argument %q", fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(stdout, "hedgegate demo: three simulated replicas on loopback (~1ms; r1, r2: 2% of answers +50ms, r2 one version behind on 10% of keys;")
	fmt.Fprintln(stdout, "r3: 5% +150ms), the same open-loop load straight at a replica and through each strategy.")
	rows, err := demo.Run(ctx, demo.Options{Rate: *rate, Duration: *duration, Seed: *seed, Log: stderr})
	if err != nil {
		fmt.Fprintln(stderr, "gateway demo:", err)
		return 1
	}
	fmt.Fprintln(stdout)
	if err := demo.WriteTable(stdout, rows); err != nil {
		fmt.Fprintln(stderr, "gateway demo:", err)
		return 1
	}
	if *html != "" {
		if err := writeHTMLFile(*html, "hedgegate demo: latency by percentile", demo.Runs(rows), loadtest.HTMLOptions{}); err != nil {
			fmt.Fprintln(stderr, "gateway demo:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nreport: %s\n", *html)
	}
	return 0
}
