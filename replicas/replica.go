package replicas

import (
	"encoding/json"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/latency"
)

// Verdict is how the engine judged one attempt against a replica: what the replica's
// averages and histogram learn from it. (hedge.Outcome is a different thing: why a
// whole request got no answer.)
type Verdict int

const (
	// VerdictSuccess is any HTTP answer that is not a 5xx.
	VerdictSuccess Verdict = iota
	// VerdictFailure is a 5xx answer, a connect failure, a reset or a timeout.
	VerdictFailure
	// VerdictCancelled is a losing attempt cancelled by the engine; not an error.
	VerdictCancelled
	// VerdictOvertaken is a loser beaten by an attempt sent after it: the replica was
	// slower than a hedge delay plus another replica's answer. It is not counted as a
	// failure, but weighs in the error average like one, so the picker steers away
	// from a replica that hangs even though its attempts only ever end cancelled.
	VerdictOvertaken
)

// String names the verdict for logs.
func (o Verdict) String() string {
	switch o {
	case VerdictSuccess:
		return "success"
	case VerdictFailure:
		return "failure"
	case VerdictCancelled:
		return "cancelled"
	case VerdictOvertaken:
		return "overtaken"
	}
	return "unknown"
}

// Replica is one backend of a Set. Name, Set and URL are settings fixed at
// construction; everything else is runtime state, updated through Begin. A Replica
// must not be copied.
type Replica struct {
	Name string   // unique in its set; labels metrics
	Set  string   // the set's name
	URL  *url.URL // base URL; do not modify

	now       func() time.Time
	lat       *latency.Window
	transport *pool       // this replica's connection pool
	warmed    atomic.Bool // the last Warm made at least one connection

	inflight atomic.Int64
	requests atomic.Uint64 // ended attempts, of every verdict
	failures atomic.Uint64 // ended attempts with VerdictFailure

	mu      sync.Mutex // guards the averages and the open attempts
	latEWMA ewma       // nanoseconds
	errEWMA ewma       // 1 per failure, 0 per success
	open    int64      // attempts begun and not ended (as inflight, but under mu)
	openSum int64      // sum of their start times, in ns since base

	base int64 // Unix ns at construction; keeps openSum far from overflow
}

func newReplica(set, name string, u *url.URL, lat *latency.Window, now func() time.Time) *Replica {
	return &Replica{Name: name, Set: set, URL: u, lat: lat, now: now, base: now().UnixNano()}
}

// resume makes r, new in its set, carry on from old, the same member before it left:
// its histogram (shared: old may still be draining its last attempts), its counters
// and its averages. In-flight attempts stay old's.
func (r *Replica) resume(old *Replica) {
	r.lat = old.lat
	r.requests.Store(old.requests.Load())
	r.failures.Store(old.failures.Load())
	old.mu.Lock()
	r.latEWMA, r.errEWMA = old.latEWMA, old.errEWMA
	old.mu.Unlock()
}

// Close closes the replica's idle connections; requests in flight finish first and
// their connections close when they end. Used when a reload removes the replica.
func (r *Replica) Close() {
	if r.transport != nil {
		r.transport.Close()
	}
}

// Latency returns the replica's rolling latency histogram.
func (r *Replica) Latency() *latency.Window { return r.lat }

// Counts returns the attempts that ended, of every verdict, and those that failed:
// Stats without the latency window's copy, for a metrics scrape.
func (r *Replica) Counts() (requests, failures uint64) {
	return r.requests.Load(), r.failures.Load()
}

// Inflight returns the number of attempts begun and not yet ended.
func (r *Replica) Inflight() int64 { return r.inflight.Load() }

// Warmed reports whether the latest Set.Warm opened at least one connection to r.
func (r *Replica) Warmed() bool { return r.warmed.Load() }

// ErrorRate returns the recent, time-decayed share of failed attempts, in [0,1].
func (r *Replica) ErrorRate() float64 {
	t := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errEWMA.value(t)
}

// Begin marks an attempt started and returns the function that ends it. Only the first
// call of that function counts, so a deferred safety call cannot end it twice.
//
// elapsed is the attempt's duration. Successes record it as a latency sample. A
// failure or a cancelled loser only tells that the answer would have taken at least
// elapsed (a censored sample); it is recorded when it is no faster than the current
// estimate, or, for a loser, when the replica has no estimate yet. So a hung replica's
// histogram and average grow, while a replica that refuses connections in 100µs, or a
// loser cancelled 1ms after it started, does not look fast. (A Verdict does not tell
// a fast 5xx from a refused connection, so both are treated alike.)
func (r *Replica) Begin() (end func(elapsed time.Duration, verdict Verdict)) {
	start := r.now().UnixNano() - r.base
	r.inflight.Add(1)
	r.mu.Lock()
	r.open++
	r.openSum += start
	r.mu.Unlock()
	var done atomic.Bool
	return func(elapsed time.Duration, verdict Verdict) {
		if done.Swap(true) {
			return
		}
		r.inflight.Add(-1)
		r.observe(start, elapsed, verdict)
	}
}

func (r *Replica) observe(start int64, elapsed time.Duration, verdict Verdict) {
	r.requests.Add(1)
	if verdict == VerdictFailure {
		r.failures.Add(1)
	}
	t := r.now().UnixNano()
	x := float64(elapsed)
	r.mu.Lock()
	r.open--
	r.openSum -= start
	var record bool
	switch verdict {
	case VerdictSuccess:
		r.errEWMA.observe(0, t)
		record = true
	case VerdictFailure:
		r.errEWMA.observe(1, t)
		record = r.latEWMA.ok && x >= r.latEWMA.value(t)
	case VerdictCancelled:
		record = !r.latEWMA.ok || x >= r.latEWMA.value(t)
	case VerdictOvertaken:
		r.errEWMA.observe(1, t)
		record = !r.latEWMA.ok || x >= r.latEWMA.value(t)
	}
	if record {
		r.latEWMA.observe(x, t)
	}
	r.mu.Unlock()
	if record {
		r.lat.Record(elapsed)
	}
}

// estimate is what the picker weighs: open attempts; the decayed latency average
// (ok false when nothing was ever recorded); the mean age of the open attempts, a
// lower bound on their latencies that is known before they end; and the decayed
// error rate.
func (r *Replica) estimate() (open int64, lat float64, ok bool, age, errRate float64) {
	t := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open > 0 {
		age = max(float64(t-r.base)-float64(r.openSum)/float64(r.open), 0)
	}
	return r.open, r.latEWMA.value(t), r.latEWMA.ok, age, r.errEWMA.value(t)
}

// Stats is a point-in-time view of one replica, for /debug/replicas and metrics. In
// JSON, durations are float milliseconds.
type Stats struct {
	Name        string        `json:"name"`
	Set         string        `json:"set"`
	URL         string        `json:"url"` // credentials redacted
	Inflight    int64         `json:"inflight"`
	ErrorRate   float64       `json:"error_rate"`
	Requests    uint64        `json:"requests"`
	Failures    uint64        `json:"failures"`
	Samples     int64         `json:"samples"` // in the rolling latency window
	P50         time.Duration `json:"p50_ms"`
	P90         time.Duration `json:"p90_ms"`
	P99         time.Duration `json:"p99_ms"`
	P999        time.Duration `json:"p999_ms"`
	Max         time.Duration `json:"max_ms"`
	EWMALatency time.Duration `json:"ewma_latency_ms"`
	// Dials counts the connections the replica's pool has dialled (a pool is shared
	// by replicas on one host): a steady load dials only to replace the HTTP/1.1
	// connections its cancelled attempts closed.
	Dials uint64 `json:"dials"`
}

// Stats returns r's current counters and a fresh view of its latency window.
func (r *Replica) Stats() Stats {
	s := r.lat.Snapshot()
	t := r.now().UnixNano()
	r.mu.Lock()
	errRate, lat := r.errEWMA.value(t), r.latEWMA.value(t)
	r.mu.Unlock()
	var dials uint64
	if r.transport != nil {
		dials = r.transport.Dials()
	}
	return Stats{
		Name:        r.Name,
		Set:         r.Set,
		URL:         r.URL.Redacted(),
		Inflight:    r.inflight.Load(),
		ErrorRate:   errRate,
		Requests:    r.requests.Load(),
		Failures:    r.failures.Load(),
		Samples:     s.Count(),
		P50:         s.Quantile(50),
		P90:         s.Quantile(90),
		P99:         s.Quantile(99),
		P999:        s.Quantile(99.9),
		Max:         s.Max(),
		EWMALatency: time.Duration(lat),
		Dials:       dials,
	}
}

// statsJSON is Stats as it is written: durations as float milliseconds.
type statsJSON struct {
	Name        string  `json:"name"`
	Set         string  `json:"set"`
	URL         string  `json:"url"`
	Inflight    int64   `json:"inflight"`
	ErrorRate   float64 `json:"error_rate"`
	Requests    uint64  `json:"requests"`
	Failures    uint64  `json:"failures"`
	Samples     int64   `json:"samples"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	P999        float64 `json:"p999_ms"`
	Max         float64 `json:"max_ms"`
	EWMALatency float64 `json:"ewma_latency_ms"`
	Dials       uint64  `json:"dials"`
}

// ms and fromMS convert between durations and the float milliseconds of the JSON form.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMS(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// MarshalJSON writes durations as float milliseconds (p50_ms and so on).
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(statsJSON{
		Name: s.Name, Set: s.Set, URL: s.URL,
		Inflight: s.Inflight, ErrorRate: s.ErrorRate,
		Requests: s.Requests, Failures: s.Failures, Samples: s.Samples,
		P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), P999: ms(s.P999),
		Max: ms(s.Max), EWMALatency: ms(s.EWMALatency), Dials: s.Dials,
	})
}

// UnmarshalJSON reads what MarshalJSON writes, for clients of /debug/replicas.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var j statsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stats{
		Name: j.Name, Set: j.Set, URL: j.URL,
		Inflight: j.Inflight, ErrorRate: j.ErrorRate,
		Requests: j.Requests, Failures: j.Failures, Samples: j.Samples,
		P50: fromMS(j.P50), P90: fromMS(j.P90), P99: fromMS(j.P99), P999: fromMS(j.P999),
		Max: fromMS(j.Max), EWMALatency: fromMS(j.EWMALatency), Dials: j.Dials,
	}
	return nil
}
