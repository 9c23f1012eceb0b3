package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/internal/finesleep"
)

// Options configures one run. The zero value of each optional field is a
// documented default; URL, Rate and Duration are required.
type Options struct {
	// URL is the target. Each "{key}" in it is replaced by a key index in
	// [0, Keys), drawn per request from KeyDist. Required.
	URL string
	// Method defaults to GET.
	Method string
	// Body is sent with every request (nil: none).
	Body []byte
	// Header is added to every request. A "Host" entry sets the Host header.
	Header http.Header
	// Rate is the asked rate in requests per second. Required, > 0.
	Rate float64
	// Duration is the length of the schedule: requests are due in [0, Duration).
	// The run lasts longer by the time the last requests take to answer. Required.
	Duration time.Duration
	// Connections bounds concurrent requests (workers and idle keep-alive
	// connections). Default 64. When all are busy, due requests wait and their
	// latency includes the wait.
	Connections int
	// Timeout bounds each request, connect to end of body. Default 10s.
	Timeout time.Duration
	// Keys is how many distinct keys {key} takes. Required when URL has {key}.
	Keys int
	// KeyDist is KeyUniform (default) or KeyZipf (s=1.1, key 0 the hottest).
	KeyDist string
	// Poisson makes inter-arrival gaps exponential (mean 1/Rate) instead of fixed.
	Poisson bool
	// Seed seeds the Poisson arrivals and the key draws; the same seed gives the
	// same schedule and key sequence.
	Seed int64
	// Transport sends the requests. Nil: a fresh transport with keep-alive,
	// MaxIdleConnsPerHost = Connections and compression off, closed after the run.
	Transport http.RoundTripper
	// Raw, when set, receives one CSV line per request in completion order:
	// intended_unix_ns,latency_us,status,error_kind (status 0: no HTTP answer).
	Raw io.Writer
	// Progress, when set, receives a one-line status every second (with \r, for
	// a terminal). Nil: silent.
	Progress io.Writer
	// MetricsURL, when set, is a Prometheus text endpoint (the gateway's admin
	// /metrics) scraped before and after the run; the difference is reported in
	// Summary.Gateway. With SeriesInterval it is also scraped at every interval's end.
	MetricsURL string
	// MetricsRoute, when set, counts only the gateway series of this route (its
	// route label), so that runs against different routes of one gateway each see
	// their own. Needs MetricsURL.
	MetricsRoute string
	// SeriesInterval, when set, splits the run into intervals of this length by
	// intended send time and reports each one's requests, p50 and p99 (and, with
	// MetricsURL, the gateway's extra load) in Summary.Series, for plots over time.
	SeriesInterval time.Duration
	// Name labels the run in reports.
	Name string

	// timerOnly waits with runtime timers alone: tests on synctest's fake clock
	// cannot use a real-time system call.
	timerOnly bool
}

// Defaults for the optional Options fields.
const (
	DefaultConnections = 64
	DefaultTimeout     = 10 * time.Second
)

func (o *Options) normalize() error {
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.KeyDist == "" {
		o.KeyDist = KeyUniform
	}
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("url is required"))
	} else if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		errs = append(errs, fmt.Errorf("url %q: must start with http:// or https://", o.URL))
	}
	if !(o.Rate > 0) {
		errs = append(errs, fmt.Errorf("rate must be > 0, got %v", o.Rate))
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be > 0, got %v", o.Duration))
	}
	if o.Connections < 0 {
		errs = append(errs, fmt.Errorf("connections must be > 0, got %d", o.Connections))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must be > 0, got %v", o.Timeout))
	}
	if o.KeyDist != KeyUniform && o.KeyDist != KeyZipf {
		errs = append(errs, fmt.Errorf("key distribution %q: want %s or %s", o.KeyDist, KeyUniform, KeyZipf))
	}
	if o.SeriesInterval < 0 {
		errs = append(errs, fmt.Errorf("series interval must be ≥ 0, got %v", o.SeriesInterval))
	}
	if o.MetricsRoute != "" && o.MetricsURL == "" {
		errs = append(errs, errors.New("a metrics route needs a metrics URL"))
	}
	if o.Keys < 0 {
		errs = append(errs, fmt.Errorf("keys must be >= 0, got %d", o.Keys))
	}
	if strings.Contains(o.URL, keyPlaceholder) && o.Keys == 0 {
		errs = append(errs, errors.New("url contains {key}: set keys > 0"))
	}
	return errors.Join(errs...)
}

// NewTransport returns the transport Run uses when Options.Transport is nil:
// keep-alive on, one idle connection kept per worker so connections are reused
// rather than re-dialled, no transparent gzip (it would add client CPU and change
// what is measured), no proxy from the environment.
func NewTransport(connections int, timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// Run executes one open-loop run and returns its result. It returns an error only
// for invalid options or a failed first metrics scrape; request failures are
// counted in the result. Cancelling ctx stops the run early: requests in flight
// are counted as ErrCanceled and the result covers what was sent.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	tmpl := parseURLTemplate(opts.URL)
	rt := opts.Transport
	if rt == nil {
		t := NewTransport(opts.Connections, opts.Timeout)
		defer t.CloseIdleConnections()
		rt = t
	}
	client := &http.Client{
		Transport: rt,
		// 3xx answers are results to count, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	var before *MetricsSnapshot
	if opts.MetricsURL != "" {
		s, err := ScrapeRoute(ctx, opts.MetricsURL, opts.MetricsRoute)
		if err != nil {
			return nil, fmt.Errorf("metrics before the run: %w", err)
		}
		before = s
	}

	rec := newRecorder(opts.Raw)
	d := &dispenser{sched: NewSchedule(opts.Rate, opts.Poisson, opts.Seed), limit: opts.Duration}
	if tmpl.hasKey() {
		d.keys = newKeyPicker(opts.Keys, opts.KeyDist, opts.Seed)
	}
	w := &worker{opts: &opts, tmpl: tmpl, client: client, rec: rec}

	start := time.Now()
	w.start = start
	if opts.SeriesInterval > 0 {
		rec.series = &series{start: start, interval: opts.SeriesInterval}
	}
	stopScrapes := startSeriesScrapes(ctx, &opts, rec, before)
	var wg sync.WaitGroup
	for range opts.Connections {
		wg.Go(func() { w.loop(ctx, d) })
	}
	stopProgress := startProgress(opts.Progress, rec, start, &w.inflight)
	wg.Wait()
	end := time.Now()
	stopProgress()
	scrapeWarning := stopScrapes()

	res := &Result{
		opts: opts, start: start, end: end,
		lat: rec.lat, lag: rec.lag, codes: rec.codes, kinds: rec.kinds,
		requests: rec.requests, ok: rec.ok, errs: rec.errs, queued: rec.queued,
		lastSend: rec.lastSend, interrupt: ctx.Err() != nil,
		series: rec.series.points(),
	}
	if scrapeWarning != "" {
		res.warnings = append(res.warnings, scrapeWarning)
	}
	if err := rec.flush(); err != nil {
		res.warnings = append(res.warnings, fmt.Sprintf("raw results: %v", err))
	}
	if before != nil {
		res.scrapeAfter(ctx, before)
	}
	res.warnings = append(res.warnings, res.lagWarnings()...)
	return res, nil
}

// scrapeAfter takes the closing scrape and records the gateway's counts over the
// run, or a warning when the scrape failed.
func (res *Result) scrapeAfter(ctx context.Context, before *MetricsSnapshot) {
	// The run's ctx may be cancelled; the closing scrape is still wanted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// The gateway counts a request when its handler returns, which can be just after
	// the client has read the answer: scrape again, a bounded number of times, until
	// the gateway has counted at least the requests this run sent. (Fewer is possible
	// for good: a request that never reached it.)
	var g GatewayStats
	for i := 0; ; i++ {
		after, err := ScrapeRoute(sctx, res.opts.MetricsURL, res.opts.MetricsRoute)
		if err != nil {
			res.warnings = append(res.warnings, fmt.Sprintf("metrics after the run: %v", err))
			return
		}
		g = GatewayDelta(before, after)
		if g.Requests >= float64(res.requests) || i == closingScrapes-1 {
			break
		}
		select {
		case <-sctx.Done():
		case <-time.After(closingScrapeGap):
		}
	}
	res.gateway = &g
}

// closingScrapes × closingScrapeGap bounds how long the closing scrape waits for the
// gateway to count the run's last answers: well past a handler's return, even on a
// loaded machine.
const (
	closingScrapes   = 50
	closingScrapeGap = 20 * time.Millisecond
)

// worker holds what every worker goroutine shares; loop runs in each of them.
type worker struct {
	opts     *Options
	tmpl     urlTemplate
	client   *http.Client
	rec      *recorder
	start    time.Time
	inflight atomic.Int64
}

// loop takes the next due slot, waits until its intended time and sends it,
// until the schedule is exhausted or ctx ends. Slots are taken in schedule order,
// so if this worker's previous answer arrived after the slot fell due, every
// worker was busy then: the wait is the server's (queueing behind slow answers)
// and is charged to latency, not to generator lag. Any other lateness is the
// generator's own (timers, CPU, bookkeeping).
func (w *worker) loop(ctx context.Context, d *dispenser) {
	// A runtime timer fires up to 1ms late in an idle process, and every request
	// would be sent late by that much; finesleep's fires on time.
	timer := finesleep.NewTimer()
	if w.opts.timerOnly {
		timer = finesleep.NewRuntimeTimer()
	}
	defer timer.Stop()
	var freeSince time.Time // when this worker's previous answer arrived
	for {
		s, ok := d.next()
		if !ok {
			return
		}
		intended := w.start.Add(s.at)
		queued := freeSince.After(intended)
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		freeSince = w.send(ctx, s, intended, queued)
	}
}

// send makes one request and records it; it returns when the answer ended.
func (w *worker) send(ctx context.Context, s slot, intended time.Time, queued bool) time.Time {
	o := outcome{intended: intended, queued: queued}
	rctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	var body io.Reader
	if w.opts.Body != nil {
		body = bytes.NewReader(w.opts.Body)
	}
	req, err := http.NewRequestWithContext(rctx, w.opts.Method, w.tmpl.expand(s.key), body)
	if err != nil {
		// Only a key expansion could make a URL invalid after normalize; count it.
		o.sent, o.done, o.kind = time.Now(), time.Now(), ErrOther
		w.rec.record(o)
		return o.done
	}
	for k, vs := range w.opts.Header {
		if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	w.inflight.Add(1)
	o.sent = time.Now()
	resp, err := w.client.Do(req)
	if err == nil {
		// The answer counts once the whole body is in: that is when a client can use it.
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		o.status = resp.StatusCode
		if err != nil {
			o.status = 0
		}
	}
	o.done = time.Now()
	w.inflight.Add(-1)
	if err != nil {
		o.kind = classify(ctx, err)
	}
	w.rec.record(o)
	return o.done
}

// startProgress prints one status line per second to out until the returned stop
// function is called. out == nil: nothing.
func startProgress(out io.Writer, rec *recorder, start time.Time, inflight *atomic.Int64) (stop func()) {
	if out == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev int64
		for {
			select {
			case <-done:
				fmt.Fprint(out, "\r\033[K")
				return
			case now := <-t.C:
				p := rec.progress()
				okPct := 100.0
				if p.requests > 0 {
					okPct = 100 * float64(p.ok) / float64(p.requests)
				}
				fmt.Fprintf(out, "\r\033[K%4.0fs  %6d req  %7.1f req/s  ok %5.1f%%  p99 %s  in flight %d",
					now.Sub(start).Seconds(), p.requests, float64(p.requests-prev), okPct,
					fmtDur(p.p99), inflight.Load())
				prev = p.requests
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	}
}
