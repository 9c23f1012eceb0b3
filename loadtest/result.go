package loadtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Error kinds a request without an HTTP answer is counted under.
const (
	ErrTimeout        = "timeout"         // -timeout or a dial/read deadline passed
	ErrConnectRefused = "connect_refused" // nothing listening
	ErrReset          = "reset"           // connection reset or closed mid-exchange
	ErrCanceled       = "canceled"        // the run was interrupted while in flight
	ErrOther          = "other"
)

// Histogram range: 1µs to 1h at 3 significant figures, in microseconds. Values
// below 1µs are recorded as 0 (HDR keeps them exactly); above 1h, as 1h.
const (
	histMinUS = 1
	histMaxUS = int64(time.Hour / time.Microsecond)
	histSig   = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUS, histMaxUS, histSig) }

func clampUS(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return max(0, min(us, histMaxUS))
}

// classify maps a transport error to its kind. ctx is the run's context: an error
// after it ended is an interruption, not the server's fault.
func classify(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return ErrCanceled
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrConnectRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrReset
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrOther
}

// outcome is one finished request, as the recorder sees it.
type outcome struct {
	intended time.Time
	sent     time.Time
	done     time.Time
	status   int    // 0: no HTTP answer
	kind     string // "" when status != 0
	queued   bool   // no worker was free at the intended time
}

// recorder accumulates outcomes from all workers. One mutex around a few counter
// bumps and two histogram records costs far less than the HTTP exchange it
// follows, and keeps a single histogram instead of one per worker.
type recorder struct {
	mu       sync.Mutex
	lat      *hdrhistogram.Histogram // from intended time to end of body, µs
	lag      *hdrhistogram.Histogram // generator lag, µs
	codes    map[int]int64
	kinds    map[string]int64
	requests int64
	ok       int64
	errs     int64
	queued   int64
	lastSend time.Time
	raw      *bufio.Writer
	rawErr   error
	rawBuf   []byte
	series   *series // nil: no time series
}

func newRecorder(raw io.Writer) *recorder {
	r := &recorder{lat: newHist(), lag: newHist(), codes: map[int]int64{}, kinds: map[string]int64{}}
	if raw != nil {
		r.raw = bufio.NewWriterSize(raw, 64<<10)
		_, r.rawErr = r.raw.WriteString("intended_unix_ns,latency_us,status,error_kind\n")
	}
	return r
}

func (r *recorder) record(o outcome) {
	lat := o.done.Sub(o.intended)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	_ = r.lat.RecordValue(clampUS(lat))
	if o.queued {
		r.queued++
	} else {
		_ = r.lag.RecordValue(clampUS(o.sent.Sub(o.intended)))
	}
	if o.sent.After(r.lastSend) {
		r.lastSend = o.sent
	}
	switch {
	case o.status == 0:
		r.kinds[o.kind]++
		r.errs++
	default:
		r.codes[o.status]++
		if o.status < 400 {
			r.ok++
		} else if o.status >= 500 {
			r.errs++
		}
	}
	r.series.record(o, lat, o.status == 0 || o.status >= 500)
	if r.raw != nil && r.rawErr == nil {
		b := r.rawBuf[:0]
		b = strconv.AppendInt(b, o.intended.UnixNano(), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(lat/time.Microsecond), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(o.status), 10)
		b = append(b, ',')
		b = append(b, o.kind...)
		b = append(b, '\n')
		_, r.rawErr = r.raw.Write(b)
		r.rawBuf = b
	}
}

// progress is a cheap snapshot for the live display.
type progress struct {
	requests, ok int64
	p99          time.Duration
}

func (r *recorder) progress() progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return progress{requests: r.requests, ok: r.ok, p99: time.Duration(r.lat.ValueAtQuantile(99)) * time.Microsecond}
}

func (r *recorder) flush() error {
	if r.raw == nil {
		return nil
	}
	if r.rawErr != nil {
		return r.rawErr
	}
	return r.raw.Flush()
}

// Result is a finished run: the full latency histograms and counters. Summary
// derives the reportable figures from it.
type Result struct {
	opts      Options
	start     time.Time
	end       time.Time // last response (or interruption)
	lastSend  time.Time
	lat, lag  *hdrhistogram.Histogram
	codes     map[int]int64
	kinds     map[string]int64
	requests  int64
	ok, errs  int64
	queued    int64
	gateway   *GatewayStats
	series    []SeriesPoint
	warnings  []string
	interrupt bool
}

// Latency returns a copy of the latency histogram (microseconds, measured from
// each request's intended send time).
func (r *Result) Latency() *hdrhistogram.Histogram { return r.lat.Clone() }

// achievedRate is requests / max(duration, last send − start): equal to the asked
// rate when the generator kept its schedule, lower when sends slipped past the
// end of the window. A server stall does not lower it as long as the queued
// requests are all sent before the window ends.
func (r *Result) achievedRate() float64 {
	if r.requests == 0 {
		return 0
	}
	span := r.opts.Duration
	if s := r.lastSend.Sub(r.start); s > span {
		span = s
	}
	if r.interrupt {
		span = r.lastSend.Sub(r.start)
	}
	if span <= 0 {
		return 0
	}
	return float64(r.requests) / span.Seconds()
}

func ms(us int64) float64 { return round3(float64(us) / 1000) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
