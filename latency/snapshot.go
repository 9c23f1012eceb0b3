package latency

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Snapshot is a merged copy of a Window at one moment. The zero Snapshot is empty.
// It is immutable and safe for concurrent use.
type Snapshot struct {
	h *hdrhistogram.Histogram // nil: empty
}

// Bar is one distinct recorded value and how many samples had it. Value is the upper
// end of the histogram's equivalence range, as Quantile reports it.
type Bar struct {
	Value time.Duration
	Count int64
}

func micros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// Count returns the number of samples.
func (s Snapshot) Count() int64 {
	if s.h == nil {
		return 0
	}
	return s.h.TotalCount()
}

// Quantile returns the p-th percentile (p in (0,100]), or 0 when empty.
func (s Snapshot) Quantile(p float64) time.Duration {
	if s.h == nil {
		return 0
	}
	return micros(s.h.ValueAtPercentile(p))
}

// Max returns the largest sample (to the histogram's precision), or 0 when empty.
func (s Snapshot) Max() time.Duration {
	if s.Count() == 0 {
		return 0
	}
	return micros(s.h.Max())
}

// Mean returns the mean sample, or 0 when empty.
func (s Snapshot) Mean() time.Duration {
	if s.Count() == 0 {
		return 0
	}
	return time.Duration(s.h.Mean() * float64(time.Microsecond))
}

// Bars returns the distinct recorded values with their counts, ascending; nil when
// empty.
func (s Snapshot) Bars() []Bar {
	if s.Count() == 0 {
		return nil
	}
	var bars []Bar
	for _, b := range s.h.Distribution() {
		if b.Count > 0 {
			bars = append(bars, Bar{Value: micros(b.To), Count: b.Count})
		}
	}
	return bars
}
