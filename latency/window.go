// Package latency keeps rolling HDR latency histograms.
//
// A Window is a ring of HDR histograms, each covering one fixed span of time. Recording
// is allocation-free; quantiles on the request path are served from a merged snapshot
// that is rebuilt at most once per refresh interval, so asking for a hedge delay per
// request costs a short scan, not a merge of every bucket.
package latency

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: values are microseconds, from 1µs to 1h, with two significant
// digits: under 0.8% relative error, finer than any hedge delay needs (Envoy's
// histograms keep two digits too). Three digits cost 188 KB a histogram, eight of
// them a replica (the buckets, the merged snapshot and its spare): 1.5 MB of heap per
// replica, doubled by the GC's goal; two digits cost 26 KB a histogram.
const (
	lowestValue  = 1
	highestValue = int64(time.Hour / time.Microsecond)
	sigFigs      = 2
)

// Bounds of the cached snapshot's refresh interval (window/10 clamped to these): short
// enough that a new bucket shows quickly, long enough that the merge stays off the
// request path.
const (
	minRefresh = 10 * time.Millisecond
	maxRefresh = time.Second
)

// Window is a rolling latency histogram: buckets histograms, each covering one window
// of time aligned to the clock, so it holds between (buckets-1)×window and
// buckets×window of samples. A Window is safe for concurrent use and must not be
// copied after first use.
type Window struct {
	window  int64 // nanoseconds per bucket
	refresh int64 // nanoseconds between cache rebuilds
	now     func() time.Time

	mu      sync.Mutex // guards buckets, cur, epoch
	buckets []*hdrhistogram.Histogram
	cur     int   // index of the bucket being recorded into
	epoch   int64 // which window (counted from the Unix epoch) buckets[cur] covers

	// Read without mu so the hot path can tell whether it must rotate or rebuild.
	end      atomic.Int64  // Unix ns at which buckets[cur] ends
	gen      atomic.Uint64 // bumped on every rotation
	recorded atomic.Uint64 // bumped on every Record

	// The cached merged snapshot. cmu is held for reading while a quantile is computed
	// from cache.h and for writing only to swap cache and spare, so the builder may
	// reset spare without locks: once swapped out, no reader can still hold it.
	building atomic.Bool // one goroutine rebuilds; the others use the old snapshot
	cmu      sync.RWMutex
	cache    *merged
	spare    *merged // owned by whoever holds building
}

// merged is one merged copy of every bucket and what it was built from.
type merged struct {
	h        *hdrhistogram.Histogram
	builtAt  int64  // Unix ns
	gen      uint64 // Window.gen when built
	recorded uint64 // Window.recorded when built

	// memo remembers the last few percentiles asked of h. Callers ask the same few
	// (a route's hedge percentile, 99.9 for auto timeouts) per request, and a lookup
	// here is much cheaper than scanning h's counts each time.
	memoMu sync.Mutex
	memo   [memoSize]memoEntry
	next   int // memo slot to overwrite next
}

type memoEntry struct {
	ok bool
	p  float64
	v  int64
}

const memoSize = 4

// quantile returns h's p-th percentile in microseconds, memoized.
func (m *merged) quantile(p float64) int64 {
	m.memoMu.Lock()
	defer m.memoMu.Unlock()
	for _, e := range m.memo {
		if e.ok && e.p == p {
			return e.v
		}
	}
	v := m.h.ValueAtPercentile(p)
	m.memo[m.next] = memoEntry{ok: true, p: p, v: v}
	m.next = (m.next + 1) % memoSize
	return v
}

// reset empties m for reuse; only the owner of an unpublished merged calls it.
func (m *merged) reset() {
	m.h.Reset()
	m.memo = [memoSize]memoEntry{}
	m.next = 0
}

// NewWindow returns a Window of buckets histograms, each covering window. A nil now
// means time.Now. A window ≤ 0 is taken as 1s and buckets < 1 as 1.
func NewWindow(window time.Duration, buckets int, now func() time.Time) *Window {
	if window <= 0 {
		window = time.Second
	}
	if buckets < 1 {
		buckets = 1
	}
	if now == nil {
		now = time.Now
	}
	w := &Window{
		window:  int64(window),
		refresh: int64(min(max(window/10, minRefresh), maxRefresh)),
		now:     now,
		buckets: make([]*hdrhistogram.Histogram, buckets),
	}
	for i := range w.buckets {
		w.buckets[i] = newHistogram()
	}
	t := now().UnixNano()
	w.epoch = floorDiv(t, w.window)
	w.end.Store((w.epoch + 1) * w.window)
	w.cache = &merged{h: newHistogram(), builtAt: t}
	w.spare = &merged{h: newHistogram()}
	return w
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestValue, highestValue, sigFigs)
}

// Reported returns what a Window reports for samples of d: HDR answers a quantile
// with the highest value its bucket holds, so 2ms comes back as 2.007ms. Tests
// compare with it; it allocates a histogram, so keep it off the request path.
func Reported(d time.Duration) time.Duration {
	h := newHistogram()
	_ = h.RecordValue(min(max(d.Microseconds(), lowestValue), highestValue))
	return time.Duration(h.Max()) * time.Microsecond
}

// Record adds one latency sample, clamped to [1µs, 1h]. It does not allocate.
func (w *Window) Record(d time.Duration) {
	v := min(max(d.Microseconds(), lowestValue), highestValue)
	t := w.now().UnixNano()
	w.mu.Lock()
	w.advanceLocked(t)
	// Cannot fail: v is clamped into the histogram's range.
	_ = w.buckets[w.cur].RecordValue(v)
	w.recorded.Add(1)
	w.mu.Unlock()
}

// Quantile returns the p-th percentile (p in (0,100], e.g. 99.9) of the rolling
// window, or 0 when it is empty. It reads a cached snapshot that may lag recording by
// up to the refresh interval (window/10, clamped to [10ms, 1s]); a rotation, or the
// first samples after the cache was empty, refresh it at once.
func (w *Window) Quantile(p float64) time.Duration {
	w.fresh()
	w.cmu.RLock()
	v := w.cache.quantile(p)
	w.cmu.RUnlock()
	return time.Duration(v) * time.Microsecond
}

// QuantileOf returns the p-th percentile as Quantile does, and ok false (and 0) when
// the window holds fewer than minCount samples: Count and Quantile from one look at
// the snapshot, as the hedge delay and the attempt timeout ask on every attempt.
func (w *Window) QuantileOf(p float64, minCount int64) (d time.Duration, ok bool) {
	w.fresh()
	w.cmu.RLock()
	defer w.cmu.RUnlock()
	if w.cache.h.TotalCount() < minCount {
		return 0, false
	}
	return time.Duration(w.cache.quantile(p)) * time.Microsecond, true
}

// Count returns the number of samples in the rolling window, from the same cached
// snapshot as Quantile.
func (w *Window) Count() int64 {
	w.fresh()
	w.cmu.RLock()
	n := w.cache.h.TotalCount()
	w.cmu.RUnlock()
	return n
}

// Snapshot returns a fresh merged copy of the rolling window. It allocates; use it for
// metrics and debugging, not per request.
func (w *Window) Snapshot() Snapshot {
	h := newHistogram()
	t := w.now().UnixNano()
	w.mu.Lock()
	w.advanceLocked(t)
	for _, b := range w.buckets {
		h.Merge(b)
	}
	w.mu.Unlock()
	return Snapshot{h: h}
}

// fresh rotates the buckets if the clock moved past the current one and rebuilds the
// cached snapshot if it is stale. Only one caller rebuilds at a time; the others go on
// with the previous snapshot rather than wait.
func (w *Window) fresh() {
	t := w.now().UnixNano()
	if t >= w.end.Load() {
		w.mu.Lock()
		w.advanceLocked(t)
		w.mu.Unlock()
	}
	if !w.stale(t) || !w.building.CompareAndSwap(false, true) {
		return
	}
	defer w.building.Store(false)
	if w.stale(t) { // another caller may have rebuilt between the check and the CAS
		w.rebuild(t)
	}
}

// stale reports whether the cache misses a rotation, or misses samples and is either
// empty or older than the refresh interval.
func (w *Window) stale(t int64) bool {
	w.cmu.RLock()
	c := w.cache
	gen, rec, builtAt, empty := c.gen, c.recorded, c.builtAt, c.h.TotalCount() == 0
	w.cmu.RUnlock()
	if gen != w.gen.Load() {
		return true
	}
	if rec == w.recorded.Load() {
		return false
	}
	return empty || t-builtAt >= w.refresh || t < builtAt
}

// rebuild merges every bucket into the spare histogram and swaps it in. The caller
// holds w.building, which owns w.spare.
func (w *Window) rebuild(t int64) {
	s := w.spare
	s.reset()
	w.mu.Lock()
	for _, b := range w.buckets {
		s.h.Merge(b)
	}
	s.gen, s.recorded = w.gen.Load(), w.recorded.Load()
	w.mu.Unlock()
	s.builtAt = t
	w.cmu.Lock()
	w.cache, w.spare = s, w.cache
	w.cmu.Unlock()
}

// advanceLocked moves the ring forward to the window containing t, resetting each
// bucket it passes (all of them when more than a full ring of windows went by). Resets
// are in place, so rotation does not allocate. A clock that went backwards records into
// the current bucket. The caller holds w.mu.
func (w *Window) advanceLocked(t int64) {
	e := floorDiv(t, w.window)
	if e <= w.epoch {
		return
	}
	n := len(w.buckets)
	if steps := e - w.epoch; steps >= int64(n) {
		for _, b := range w.buckets {
			b.Reset()
		}
		w.cur = 0
	} else {
		for range steps {
			w.cur = (w.cur + 1) % n
			w.buckets[w.cur].Reset()
		}
	}
	w.epoch = e
	w.end.Store((e + 1) * w.window)
	w.gen.Add(1)
}

// floorDiv is a/b rounded towards minus infinity, so clocks before 1970 still align.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
