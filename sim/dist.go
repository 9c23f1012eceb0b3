package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Distribution kinds accepted by Dist.Kind.
const (
	DistFixed     = "fixed"
	DistUniform   = "uniform"
	DistLognormal = "lognormal"
)

// maxSigma bounds the lognormal shape: beyond it the distribution is all
// tail and samples saturate, which is never what a profile means.
const maxSigma = 10

// Dist is a latency distribution. The zero value means no latency.
type Dist struct {
	// Kind is "fixed", "uniform" or "lognormal"; "" means zero latency.
	Kind string
	// Value is the latency of a fixed distribution.
	Value time.Duration
	// Min and Max bound a uniform distribution (inclusive, Min ≤ Max).
	Min, Max time.Duration
	// Median and Sigma shape a lognormal distribution: a sample is
	// Median·exp(Sigma·Z) with Z standard normal, so half the samples are
	// below Median and Sigma (0..10) widens the tail.
	Median time.Duration
	Sigma  float64
}

// ParseDist parses a distribution as written on the command line:
//
//	fixed:2ms   (or just 2ms)
//	uniform:1ms-3ms
//	lognormal:median=2ms,sigma=0.5   (keys in any order, both required)
//
// Durations use time.ParseDuration syntax and must not be negative. Every
// distribution it accepts gives the same Dist back when its String() is parsed.
func ParseDist(s string) (Dist, error) {
	s = strings.TrimSpace(s)
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		// A bare duration is the common case on the command line.
		v, err := parseDuration(s)
		if err != nil {
			return Dist{}, fmt.Errorf("distribution %q: want fixed:D, uniform:A-B or lognormal:median=D,sigma=F", s)
		}
		return Dist{Kind: DistFixed, Value: v}, nil
	}
	switch kind {
	case DistFixed:
		v, err := parseDuration(arg)
		if err != nil {
			return Dist{}, fmt.Errorf("distribution %q: %w", s, err)
		}
		return Dist{Kind: DistFixed, Value: v}, nil
	case DistUniform:
		return parseUniform(s, arg)
	case DistLognormal:
		return parseLognormal(s, arg)
	default:
		return Dist{}, fmt.Errorf("distribution %q: unknown kind %q (want fixed, uniform or lognormal)", s, kind)
	}
}

// parseUniform reads the MIN-MAX of "uniform:MIN-MAX"; s is the whole string, for errors.
func parseUniform(s, arg string) (Dist, error) {
	a, b, ok := strings.Cut(arg, "-")
	if !ok {
		return Dist{}, fmt.Errorf("distribution %q: want uniform:MIN-MAX", s)
	}
	lo, err := parseDuration(a)
	if err != nil {
		return Dist{}, fmt.Errorf("distribution %q: min: %w", s, err)
	}
	hi, err := parseDuration(b)
	if err != nil {
		return Dist{}, fmt.Errorf("distribution %q: max: %w", s, err)
	}
	d := Dist{Kind: DistUniform, Min: lo, Max: hi}
	if err := d.Validate(); err != nil {
		return Dist{}, fmt.Errorf("distribution %q: %w", s, err)
	}
	return d, nil
}

// parseLognormal reads the median=D,sigma=F of a lognormal, keys in any order.
func parseLognormal(s, arg string) (Dist, error) {
	d := Dist{Kind: DistLognormal}
	var haveMedian, haveSigma bool
	for part := range strings.SplitSeq(arg, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Dist{}, fmt.Errorf("distribution %q: %q is not key=value", s, part)
		}
		switch {
		case k == "median" && !haveMedian:
			m, err := parseDuration(v)
			if err != nil {
				return Dist{}, fmt.Errorf("distribution %q: median: %w", s, err)
			}
			d.Median, haveMedian = m, true
		case k == "sigma" && !haveSigma:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return Dist{}, fmt.Errorf("distribution %q: sigma %q is not a number", s, v)
			}
			d.Sigma, haveSigma = f, true
		default:
			return Dist{}, fmt.Errorf("distribution %q: unknown or repeated key %q (want median and sigma)", s, k)
		}
	}
	if !haveMedian || !haveSigma {
		return Dist{}, fmt.Errorf("distribution %q: lognormal needs both median= and sigma=", s)
	}
	if err := d.Validate(); err != nil {
		return Dist{}, fmt.Errorf("distribution %q: %w", s, err)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// String formats d in the syntax ParseDist reads. The zero Dist is "fixed:0s".
func (d Dist) String() string {
	switch d.Kind {
	case DistUniform:
		return "uniform:" + d.Min.String() + "-" + d.Max.String()
	case DistLognormal:
		return "lognormal:median=" + d.Median.String() + ",sigma=" + strconv.FormatFloat(d.Sigma, 'g', -1, 64)
	case DistFixed:
		return "fixed:" + d.Value.String()
	case "":
		return "fixed:0s"
	default:
		return "invalid:" + d.Kind
	}
}

// Validate reports whether d can be sampled.
func (d Dist) Validate() error {
	switch d.Kind {
	case "":
		return nil
	case DistFixed:
		if d.Value < 0 {
			return errors.New("fixed latency is negative")
		}
	case DistUniform:
		if d.Min < 0 || d.Max < d.Min {
			return fmt.Errorf("uniform bounds %v-%v: want 0 ≤ min ≤ max", d.Min, d.Max)
		}
	case DistLognormal:
		if d.Median < 0 {
			return errors.New("lognormal median is negative")
		}
		if math.IsNaN(d.Sigma) || d.Sigma < 0 || d.Sigma > maxSigma {
			return fmt.Errorf("lognormal sigma %v: want 0..%d", d.Sigma, maxSigma)
		}
	default:
		return fmt.Errorf("unknown distribution kind %q", d.Kind)
	}
	return nil
}

// Sample draws one latency from d. rng is not locked: callers share it under
// their own lock. Invalid distributions sample as zero rather than panic,
// because SetProfile cannot return an error.
func (d Dist) Sample(rng *rand.Rand) time.Duration {
	switch d.Kind {
	case DistFixed:
		return max(d.Value, 0)
	case DistUniform:
		if d.Min < 0 || d.Max < d.Min {
			return 0
		}
		span := uint64(d.Max - d.Min)
		if span == math.MaxUint64 {
			return d.Min + time.Duration(rng.Uint64()>>1)
		}
		return d.Min + time.Duration(rng.Uint64N(span+1))
	case DistLognormal:
		if d.Median <= 0 || d.Validate() != nil {
			return 0
		}
		f := float64(d.Median) * math.Exp(d.Sigma*rng.NormFloat64())
		// Saturate instead of overflowing the int64 conversion.
		if f >= math.MaxInt64 {
			return math.MaxInt64
		}
		return time.Duration(f)
	default:
		return 0
	}
}

// MarshalJSON writes d in its String form, so the control endpoint speaks the
// same syntax as the command line.
func (d Dist) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads the String form written by MarshalJSON.
func (d *Dist) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("latency: want a string like \"fixed:2ms\"")
	}
	v, err := ParseDist(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
