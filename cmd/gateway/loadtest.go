package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hedgegate/hedgegate/loadtest"
)

// headerFlags collects repeatable -header "K: V" values.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want \"Name: value\", got %q", v)
	}
	http.Header(h).Add(k, strings.TrimSpace(val))
	return nil
}

func runLoadtest(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return runLoadtestCompare(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        loadtest.Options
		header   = headerFlags{}
		body     = fs.String("body", "", "request body")
		bodyFile = fs.String("body-file", "", "read the request body from `FILE`")
		asJSON   = fs.Bool("json", false, "print one JSON object instead of the text report")
		outFile  = fs.String("out", "", "write raw per-request results to `FILE` as CSV: intended_unix_ns,latency_us,status,error_kind")
		htmlFile = fs.String("html", "", "write a self-contained HTML report to `FILE`")
		quiet    = fs.Bool("q", false, "no live progress line")
	)
	fs.StringVar(&o.URL, "url", "", "target `URL`; each {key} is replaced by a key index (see -keys)")
	fs.StringVar(&o.Method, "method", "GET", "HTTP method")
	fs.Var(header, "header", "add a request header \"Name: value\" (repeatable)")
	fs.Float64Var(&o.Rate, "rate", 0, "asked rate, requests per second")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of the schedule")
	fs.IntVar(&o.Connections, "connections", loadtest.DefaultConnections, "most requests in flight (and keep-alive connections)")
	fs.DurationVar(&o.Timeout, "timeout", loadtest.DefaultTimeout, "per-request timeout, connect to end of body")
	fs.IntVar(&o.Keys, "keys", 0, "number of distinct keys for {key}")
	fs.StringVar(&o.KeyDist, "key-dist", loadtest.KeyUniform, "key distribution: uniform or zipf (s=1.1, key 0 hottest)")
	fs.BoolVar(&o.Poisson, "poisson", false, "Poisson arrivals (exponential gaps, mean 1/rate) instead of a constant rate")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for Poisson arrivals and key draws")
	fs.StringVar(&o.MetricsURL, "metrics", "", "gateway Prometheus `URL` (admin /metrics) to scrape before and after the run")
	fs.StringVar(&o.Name, "name", "", "label for this run in JSON, compare and HTML reports")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway loadtest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o.Header = http.Header(header)
	switch {
	case *body != "" && *bodyFile != "":
		fmt.Fprintln(stderr, "gateway loadtest: -body and -body-file are exclusive")
		return 2
	case *body != "":
		o.Body = []byte(*body)
	case *bodyFile != "":
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
			return 1
		}
		o.Body = b
	}
	if !*quiet && isTerminal(stderr) {
		o.Progress = stderr
	}
	if *outFile != "" {
		f, err := os.Create(*outFile)
		if err != nil {
			fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
			return 1
		}
		defer f.Close()
		o.Raw = f
	}

	// Ctrl-C ends the run early and still reports what was sent.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
		return 2
	}
	s := res.Summary()
	for _, w := range s.Warnings {
		fmt.Fprintf(stderr, "gateway loadtest: warning: %s\n", w)
	}
	if *asJSON {
		err = loadtest.WriteJSON(stdout, s)
	} else {
		err = loadtest.WriteText(stdout, s)
	}
	if err == nil && *htmlFile != "" {
		name := s.Name
		if name == "" {
			name = "run"
		}
		err = writeHTMLFile(*htmlFile, "hedgegate load test", []loadtest.NamedSummary{{Name: name, Summary: s}})
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
		return 1
	}
	return 0
}

func runLoadtestCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway loadtest compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	htmlFile := fs.String("html", "", "also write an HTML overlay of the runs to `FILE`")
	title := fs.String("title", "hedgegate load test comparison", "HTML report title")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway loadtest compare [-html FILE] A.json B.json ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	runs, err := loadtest.LoadSummaries(fs.Args())
	if err == nil {
		err = loadtest.WriteCompare(stdout, runs)
	}
	if err == nil && *htmlFile != "" {
		err = writeHTMLFile(*htmlFile, *title, runs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway loadtest compare: %v\n", err)
		return 1
	}
	return 0
}

func writeHTMLFile(path, title string, runs []loadtest.NamedSummary) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := loadtest.WriteHTML(f, title, runs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a character device (a terminal): the live
// progress line is only for people watching, never for logs or pipes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
