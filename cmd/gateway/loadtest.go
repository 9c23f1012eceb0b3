package main

import (
	"context"
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
	fs := newFlagSet("gateway loadtest", loadtestUsage, stdout, stderr)
	f := defineLoadtestFlags(fs)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError("unexpected arguments %q", fs.Args())
	}
	o, closeRaw, code := f.options(stderr)
	if code != 0 {
		return code
	}
	defer closeRaw()

	// Ctrl-C ends the run early and still reports what was sent.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
		return 2
	}
	if err := f.report(res.Summary(), stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
		return 1
	}
	return 0
}

// loadtestFlags are gateway loadtest's flags: most fill Options directly, the
// rest say where the body comes from and where the report goes.
type loadtestFlags struct {
	o                 loadtest.Options
	header            headerFlags
	body, bodyFile    *string
	asJSON, quiet     *bool
	outFile, htmlFile *string
}

func defineLoadtestFlags(fs *flagSet) *loadtestFlags {
	f := &loadtestFlags{
		header:   headerFlags{},
		body:     fs.String("body", "", "request body"),
		bodyFile: fs.String("body-file", "", "read the request body from `FILE`"),
		asJSON:   fs.Bool("json", false, "print one JSON object instead of the text report"),
		outFile:  fs.String("out", "", "write raw per-request results to `FILE` as CSV: intended_unix_ns,latency_us,status,error_kind"),
		htmlFile: fs.String("html", "", "write a self-contained HTML report to `FILE`"),
		quiet:    fs.Bool("q", false, "no live progress line"),
	}
	o := &f.o
	fs.StringVar(&o.URL, "url", "", "target `URL`; each {key} is replaced by a key index (see -keys)")
	fs.StringVar(&o.Method, "method", "GET", "HTTP method")
	fs.Var(f.header, "header", "add a request header \"Name: value\" (repeatable)")
	fs.Float64Var(&o.Rate, "rate", 0, "asked rate, requests per second")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of the schedule")
	fs.IntVar(&o.Connections, "connections", loadtest.DefaultConnections, "most requests in flight (and keep-alive connections)")
	fs.DurationVar(&o.Timeout, "timeout", loadtest.DefaultTimeout, "per-request timeout, connect to end of body")
	fs.IntVar(&o.Keys, "keys", 0, "number of distinct keys for {key}")
	fs.StringVar(&o.KeyDist, "key-dist", loadtest.KeyUniform, "key distribution: uniform or zipf (s=1.1, key 0 hottest)")
	fs.BoolVar(&o.Poisson, "poisson", false, "Poisson arrivals (exponential gaps, mean 1/rate) instead of a constant rate")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for Poisson arrivals and key draws")
	fs.StringVar(&o.MetricsURL, "metrics", "", "gateway Prometheus `URL` (admin /metrics) to scrape before and after the run")
	fs.StringVar(&o.MetricsRoute, "metrics-route", "", "count only this `ROUTE`'s gateway series (needs -metrics)")
	fs.DurationVar(&o.SeriesInterval, "series", 0, "report p50, p99 and (with -metrics) extra load per `INTERVAL` of the run, in -json and as charts in -html")
	fs.StringVar(&o.Name, "name", "", "label for this run in JSON, compare and HTML reports")
	return f
}

// options completes the run's Options: the body, the progress line, the raw
// file (closed by closeRaw). A non-zero code is the exit status of a failure
// already reported on stderr.
func (f *loadtestFlags) options(stderr io.Writer) (o loadtest.Options, closeRaw func(), code int) {
	o, closeRaw = f.o, func() {}
	o.Header = http.Header(f.header)
	switch {
	case *f.body != "" && *f.bodyFile != "":
		fmt.Fprintln(stderr, "gateway loadtest: -body and -body-file are exclusive")
		return o, closeRaw, 2
	case *f.body != "":
		o.Body = []byte(*f.body)
	case *f.bodyFile != "":
		b, err := os.ReadFile(*f.bodyFile)
		if err != nil {
			fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
			return o, closeRaw, 1
		}
		o.Body = b
	}
	if !*f.quiet && isTerminal(stderr) {
		o.Progress = stderr
	}
	if *f.outFile != "" {
		file, err := os.Create(*f.outFile)
		if err != nil {
			fmt.Fprintf(stderr, "gateway loadtest: %v\n", err)
			return o, closeRaw, 1
		}
		o.Raw = file
		closeRaw = func() { file.Close() }
	}
	return o, closeRaw, 0
}

// report prints the summary as text or JSON and writes the HTML report.
// Warnings are printed once: in the text report, or, beside JSON (which holds
// them as data), on stderr where a person watching sees them.
func (f *loadtestFlags) report(s loadtest.Summary, stdout, stderr io.Writer) error {
	var err error
	if *f.asJSON {
		for _, w := range s.Warnings {
			fmt.Fprintf(stderr, "gateway loadtest: warning: %s\n", w)
		}
		err = loadtest.WriteJSON(stdout, s)
	} else {
		err = loadtest.WriteText(stdout, s)
	}
	if err != nil || *f.htmlFile == "" {
		return err
	}
	name := s.Name
	if name == "" {
		name = "run"
	}
	return writeHTMLFile(*f.htmlFile, "hedgegate load test", []loadtest.NamedSummary{{Name: name, Summary: s}}, loadtest.HTMLOptions{})
}

func runLoadtestCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway loadtest compare", compareUsage, stdout, stderr)
	htmlFile := fs.String("html", "", "also write an HTML overlay of the runs to `FILE`")
	title := fs.String("title", "hedgegate load test comparison", "HTML report title")
	target := fs.Duration("target-p99", 0, "draw a dashed line at this p99 on the HTML report's p99-over-time chart")
	var events eventFlags
	fs.Var(&events, "event", "mark `AT=LABEL` (e.g. 90s=profile B) on the HTML report's charts over time (repeatable)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return fs.usageError("")
	}
	runs, err := loadtest.LoadSummaries(fs.Args())
	if err == nil {
		err = loadtest.WriteCompare(stdout, runs)
	}
	if err == nil && *htmlFile != "" {
		err = writeHTMLFile(*htmlFile, *title, runs, loadtest.HTMLOptions{TargetP99: *target, Events: events})
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway loadtest compare: %v\n", err)
		return 1
	}
	return 0
}

// eventFlags collects repeatable -event AT=LABEL values.
type eventFlags []loadtest.HTMLEvent

func (e *eventFlags) String() string { return "" }

func (e *eventFlags) Set(v string) error {
	at, label, ok := strings.Cut(v, "=")
	d, err := time.ParseDuration(strings.TrimSpace(at))
	if !ok || err != nil || d < 0 {
		return fmt.Errorf("want AT=LABEL with a duration AT, such as 90s=profile B; got %q", v)
	}
	*e = append(*e, loadtest.HTMLEvent{At: d, Label: strings.TrimSpace(label)})
	return nil
}

func writeHTMLFile(path, title string, runs []loadtest.NamedSummary, opts loadtest.HTMLOptions) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := loadtest.WriteHTMLWith(f, title, runs, opts); err != nil {
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
