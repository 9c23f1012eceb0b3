package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// SeriesPoint is one interval of a run (Options.SeriesInterval): the requests due in
// it, by intended send time, and what the gateway did meanwhile.
type SeriesPoint struct {
	// T is the interval's start, in seconds after the run's start.
	T        float64 `json:"t_s"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	// With Options.MetricsURL: the gateway's client requests answered and backend
	// requests sent between the scrapes at the interval's ends, and ExtraLoad =
	// backend / requests − 1. Counters move when requests end, so an interval's
	// figures lag its latencies by the length of a request.
	GatewayRequests float64  `json:"gateway_requests,omitempty"`
	BackendRequests float64  `json:"backend_requests,omitempty"`
	ExtraLoad       *float64 `json:"extra_load,omitempty"`
}

// series accumulates one histogram per interval of intended send time. It lives in
// the recorder and shares its lock.
type series struct {
	start    time.Time
	interval time.Duration
	slots    []*seriesSlot
}

type seriesSlot struct {
	lat         *hdrhistogram.Histogram
	requests    int64
	errs        int64
	gwReq, gwBk float64
	haveGateway bool
}

func (s *series) record(o outcome, lat time.Duration, failed bool) {
	if s == nil || s.interval <= 0 {
		return
	}
	i := int(o.intended.Sub(s.start) / s.interval)
	if i < 0 {
		return
	}
	sl := s.slot(i)
	sl.requests++
	if failed {
		sl.errs++
	}
	_ = sl.lat.RecordValue(clampUS(lat))
}

func (s *series) slot(i int) *seriesSlot {
	for len(s.slots) <= i {
		s.slots = append(s.slots, &seriesSlot{lat: newHist()})
	}
	return s.slots[i]
}

// points renders the series; slots past the schedule with nothing in them are left
// out.
func (s *series) points() []SeriesPoint {
	if s == nil {
		return nil
	}
	var out []SeriesPoint
	for i, sl := range s.slots {
		if sl.requests == 0 && !sl.haveGateway {
			continue
		}
		p := SeriesPoint{T: round3((time.Duration(i) * s.interval).Seconds()), Requests: sl.requests, Errors: sl.errs}
		if sl.requests > 0 {
			p.P50, p.P99 = ms(sl.lat.ValueAtQuantile(50)), ms(sl.lat.ValueAtQuantile(99))
		}
		if sl.haveGateway {
			p.GatewayRequests, p.BackendRequests = sl.gwReq, sl.gwBk
			if sl.gwReq > 0 {
				e := round3(sl.gwBk/sl.gwReq - 1)
				p.ExtraLoad = &e
			}
		}
		out = append(out, p)
	}
	return out
}

// scrapeSeries scrapes the gateway at every interval's end until stop is closed,
// and files each difference under the interval it closes. It returns a warning for
// the first failed scrape, if any; an interval whose either end failed has no
// gateway figures.
func scrapeSeries(ctx context.Context, opts *Options, rec *recorder, first *MetricsSnapshot, stop <-chan struct{}) (warning string) {
	prev, prevOK := first, true
	timer := time.NewTimer(time.Until(rec.series.start.Add(opts.SeriesInterval)))
	defer timer.Stop()
	for k := 0; ; k++ {
		select {
		case <-timer.C:
		case <-stop:
			return warning
		case <-ctx.Done():
			return warning
		}
		timer.Reset(time.Until(rec.series.start.Add(time.Duration(k+2) * opts.SeriesInterval)))
		sctx, cancel := context.WithTimeout(ctx, opts.SeriesInterval)
		cur, err := ScrapeRoute(sctx, opts.MetricsURL, opts.MetricsRoute)
		cancel()
		if err != nil {
			if warning == "" {
				warning = fmt.Sprintf("metrics during the run: %v; some intervals have no gateway figures", err)
			}
			prevOK = false
			continue
		}
		if prevOK {
			d := GatewayDelta(prev, cur)
			rec.mu.Lock()
			sl := rec.series.slot(k)
			sl.gwReq, sl.gwBk, sl.haveGateway = d.Requests, d.BackendRequests, true
			rec.mu.Unlock()
		}
		prev, prevOK = cur, true
	}
}

// startSeriesScrapes runs scrapeSeries in a goroutine; the returned function stops
// it and returns its warning.
func startSeriesScrapes(ctx context.Context, opts *Options, rec *recorder, first *MetricsSnapshot) func() string {
	if opts.SeriesInterval <= 0 || opts.MetricsURL == "" || first == nil {
		return func() string { return "" }
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var warning string
	wg.Go(func() { warning = scrapeSeries(ctx, opts, rec, first, stop) })
	return func() string {
		close(stop)
		wg.Wait()
		return warning
	}
}
