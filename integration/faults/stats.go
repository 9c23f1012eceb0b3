package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// summary is what a set of client records came to.
type summary struct {
	requests int
	counts   [len(verdictNames)]int
	p50, p99 time.Duration
	max      time.Duration
	// examples holds the first reason seen per verdict other than ok, for the report.
	examples map[verdict]string
}

func summarize(recs []record) summary {
	s := summary{requests: len(recs), examples: map[verdict]string{}}
	lat := make([]time.Duration, len(recs))
	for i, r := range recs {
		s.counts[r.verdict]++
		lat[i] = r.latency
		if r.verdict != verdictOK && s.examples[r.verdict] == "" {
			reason := fmt.Sprintf("after %s: %s", msString(r.latency), r.reason)
			if r.status != 0 {
				reason = fmt.Sprintf("after %s: %d %s", msString(r.latency), r.status, r.reason)
			}
			s.examples[r.verdict] = reason
		}
	}
	slices.Sort(lat)
	s.p50, s.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1]
	}
	return s
}

func (s summary) ok() int { return s.counts[verdictOK] }

// successRate is the share of requests answered 200 with exactly the right body.
func (s summary) successRate() float64 {
	if s.requests == 0 {
		return 0
	}
	return float64(s.ok()) / float64(s.requests)
}

// quantile is the nearest-rank q-quantile of sorted values (0 for none): the smallest
// value with at least q of all values at or below it.
func quantile[T int64 | float64 | time.Duration](sorted []T, q float64) T {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median[T int64 | float64 | time.Duration](values []T) T {
	s := slices.Clone(values)
	slices.Sort(s)
	return quantile(s, 0.5)
}

// flatRule says when a resource sampled over a soak "ended flat". The samples are cut
// into periods (a minute each, the fault on in every other one); the rule compares the
// second period, the first with the fault on, with the last, also with the fault on,
// and looks for a steady climb between:
//
//   - the last like period's median is at most the second's × (1 + Tolerance) + Slack, and
//   - the medians of the periods in the same phase as the second (every Stride-th from
//     it) do not rise at every step: a leak smaller than the tolerance still rises
//     from one like period to the next, while noise goes up and down.
//
// Slack covers small absolute counts (a few goroutines of a new connection) that a
// percentage of a small number would not.
type flatRule struct {
	Tolerance float64
	Slack     float64
	Stride    int // 2 when the fault is on in every other period; 1 otherwise
}

// flatVerdict is the rule applied to one resource.
type flatVerdict struct {
	second, last float64   // medians of the second period and of the last in its phase
	medians      []float64 // every period's median
	bound        float64   // the most the last median may be
	rising       bool      // like periods' medians rose at every step from the second on
	flat         bool
}

// judgeFlat applies r to periods of samples: at least three like periods from the
// second on, each period non-empty.
func (r flatRule) judgeFlat(periods [][]float64) (flatVerdict, error) {
	stride := max(r.Stride, 1)
	if len(periods) < 1+2*stride+1 {
		return flatVerdict{}, fmt.Errorf("flatness needs at least %d periods of samples, have %d", 2+2*stride, len(periods))
	}
	v := flatVerdict{medians: make([]float64, len(periods))}
	for i, p := range periods {
		if len(p) == 0 {
			return flatVerdict{}, fmt.Errorf("period %d has no samples", i+1)
		}
		v.medians[i] = median(p)
	}
	// The last period in the second's phase.
	lastLike := 1 + (len(periods)-2)/stride*stride
	v.second, v.last = v.medians[1], v.medians[lastLike]
	v.bound = v.second*(1+r.Tolerance) + r.Slack
	v.rising = true
	for i := 1 + stride; i <= lastLike; i += stride {
		if v.medians[i] <= v.medians[i-stride] {
			v.rising = false
			break
		}
	}
	v.flat = v.last <= v.bound && !v.rising
	return v, nil
}
