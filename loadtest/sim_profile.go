package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Distribution kinds accepted by SimDist.Kind.
const (
	SimDistFixed     = "fixed"
	SimDistUniform   = "uniform"
	SimDistLognormal = "lognormal"
)

// Replica modes accepted by SimProfile.Mode.
const (
	// SimModeNormal answers every request according to the profile. "normal" is
	// accepted as an alias wherever a mode is parsed.
	SimModeNormal = ""
	// SimModeHang reads the request and never answers, until the client goes
	// away or the replica is closed; GET / and /_sim/ still answer.
	SimModeHang = "hang"
	// SimModeRefuse resets every data and warm-up connection as soon as its
	// request has been read; /_sim/ still answers.
	SimModeRefuse = "refuse"
)

// simMaxSigma bounds the lognormal shape: beyond it the distribution is all
// tail and samples saturate, which is never what a profile means.
const simMaxSigma = 10

// SimDist is a latency distribution. The zero value means no latency.
type SimDist struct {
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

// ParseSimDist parses a distribution as written on the command line:
//
//	fixed:2ms   (or just 2ms)
//	uniform:1ms-3ms
//	lognormal:median=2ms,sigma=0.5   (keys in any order, both required)
//
// Durations use time.ParseDuration syntax and must not be negative. Every
// distribution it accepts gives the same SimDist back when its String() is parsed.
func ParseSimDist(s string) (SimDist, error) {
	s = strings.TrimSpace(s)
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		// A bare duration is the common case on the command line.
		v, err := simParseDuration(s)
		if err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: want fixed:D, uniform:A-B or lognormal:median=D,sigma=F", s)
		}
		return SimDist{Kind: SimDistFixed, Value: v}, nil
	}
	switch kind {
	case SimDistFixed:
		v, err := simParseDuration(arg)
		if err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: %w", s, err)
		}
		return SimDist{Kind: SimDistFixed, Value: v}, nil
	case SimDistUniform:
		a, b, ok := strings.Cut(arg, "-")
		if !ok {
			return SimDist{}, fmt.Errorf("distribution %q: want uniform:MIN-MAX", s)
		}
		lo, err := simParseDuration(a)
		if err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: min: %w", s, err)
		}
		hi, err := simParseDuration(b)
		if err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: max: %w", s, err)
		}
		d := SimDist{Kind: SimDistUniform, Min: lo, Max: hi}
		if err := d.Validate(); err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: %w", s, err)
		}
		return d, nil
	case SimDistLognormal:
		d := SimDist{Kind: SimDistLognormal}
		var haveMedian, haveSigma bool
		for part := range strings.SplitSeq(arg, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return SimDist{}, fmt.Errorf("distribution %q: %q is not key=value", s, part)
			}
			switch {
			case k == "median" && !haveMedian:
				m, err := simParseDuration(v)
				if err != nil {
					return SimDist{}, fmt.Errorf("distribution %q: median: %w", s, err)
				}
				d.Median, haveMedian = m, true
			case k == "sigma" && !haveSigma:
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return SimDist{}, fmt.Errorf("distribution %q: sigma %q is not a number", s, v)
				}
				d.Sigma, haveSigma = f, true
			default:
				return SimDist{}, fmt.Errorf("distribution %q: unknown or repeated key %q (want median and sigma)", s, k)
			}
		}
		if !haveMedian || !haveSigma {
			return SimDist{}, fmt.Errorf("distribution %q: lognormal needs both median= and sigma=", s)
		}
		if err := d.Validate(); err != nil {
			return SimDist{}, fmt.Errorf("distribution %q: %w", s, err)
		}
		return d, nil
	default:
		return SimDist{}, fmt.Errorf("distribution %q: unknown kind %q (want fixed, uniform or lognormal)", s, kind)
	}
}

func simParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// String formats d in the syntax ParseSimDist reads. The zero SimDist is "fixed:0s".
func (d SimDist) String() string {
	switch d.Kind {
	case SimDistUniform:
		return "uniform:" + d.Min.String() + "-" + d.Max.String()
	case SimDistLognormal:
		return "lognormal:median=" + d.Median.String() + ",sigma=" + strconv.FormatFloat(d.Sigma, 'g', -1, 64)
	case SimDistFixed:
		return "fixed:" + d.Value.String()
	case "":
		return "fixed:0s"
	default:
		return "invalid:" + d.Kind
	}
}

// Validate reports whether d can be sampled.
func (d SimDist) Validate() error {
	switch d.Kind {
	case "":
		return nil
	case SimDistFixed:
		if d.Value < 0 {
			return errors.New("fixed latency is negative")
		}
	case SimDistUniform:
		if d.Min < 0 || d.Max < d.Min {
			return fmt.Errorf("uniform bounds %v-%v: want 0 ≤ min ≤ max", d.Min, d.Max)
		}
	case SimDistLognormal:
		if d.Median < 0 {
			return errors.New("lognormal median is negative")
		}
		if math.IsNaN(d.Sigma) || d.Sigma < 0 || d.Sigma > simMaxSigma {
			return fmt.Errorf("lognormal sigma %v: want 0..%d", d.Sigma, simMaxSigma)
		}
	default:
		return fmt.Errorf("unknown distribution kind %q", d.Kind)
	}
	return nil
}

// Sample draws one latency from d. rng is not locked: callers share it under
// their own lock. Invalid distributions sample as zero rather than panic,
// because SetProfile cannot return an error.
func (d SimDist) Sample(rng *rand.Rand) time.Duration {
	switch d.Kind {
	case SimDistFixed:
		return max(d.Value, 0)
	case SimDistUniform:
		if d.Min < 0 || d.Max < d.Min {
			return 0
		}
		span := uint64(d.Max - d.Min)
		if span == math.MaxUint64 {
			return d.Min + time.Duration(rng.Uint64()>>1)
		}
		return d.Min + time.Duration(rng.Uint64N(span+1))
	case SimDistLognormal:
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
func (d SimDist) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads the String form written by MarshalJSON.
func (d *SimDist) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("latency: want a string like \"fixed:2ms\"")
	}
	v, err := ParseSimDist(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// SimProfile is how one simulated replica behaves. The zero value answers every
// request at once with the fresh version.
type SimProfile struct {
	// Latency is the base latency added before every data answer.
	Latency SimDist
	// TailProb (0..1) is the probability that an answer also waits TailExtra.
	TailProb  float64
	TailExtra time.Duration
	// ErrorRate (0..1) is the probability of answering 500 (after the latency).
	ErrorRate float64
	// StaleFraction (0..1) is the fraction of keys, picked deterministically by
	// key, replica name and seed, for which this replica serves fresh−1.
	StaleFraction float64
	// Mode is SimModeNormal (""), SimModeHang or SimModeRefuse.
	Mode string
}

// Validate reports the first field out of range.
func (p SimProfile) Validate() error {
	if err := p.Latency.Validate(); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"tail_prob", p.TailProb}, {"error_rate", p.ErrorRate}, {"stale_fraction", p.StaleFraction}} {
		if !(f.v >= 0 && f.v <= 1) { // written so NaN fails too
			return fmt.Errorf("%s %v: want 0..1", f.name, f.v)
		}
	}
	if p.TailExtra < 0 {
		return fmt.Errorf("tail_extra %v is negative", p.TailExtra)
	}
	if _, err := simParseMode(p.Mode); err != nil {
		return err
	}
	return nil
}

func simParseMode(s string) (string, error) {
	switch s {
	case "", "normal":
		return SimModeNormal, nil
	case SimModeHang, SimModeRefuse:
		return s, nil
	}
	return "", fmt.Errorf("mode %q: want normal, hang or refuse", s)
}

// simModeName is the mode as shown to people: "normal" reads better than "".
func simModeName(m string) string {
	if m == SimModeNormal {
		return "normal"
	}
	return m
}

// ParseSimTail parses "PROB:EXTRA" (e.g. "0.02:50ms"): with probability PROB an
// answer waits EXTRA more. "" and "0" mean no tail.
func ParseSimTail(s string) (prob float64, extra time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	ps, es, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("tail %q: want PROB:EXTRA, e.g. 0.02:50ms", s)
	}
	prob, err = strconv.ParseFloat(ps, 64)
	if err != nil || !(prob >= 0 && prob <= 1) {
		return 0, 0, fmt.Errorf("tail %q: probability %q: want 0..1", s, ps)
	}
	extra, err = simParseDuration(es)
	if err != nil {
		return 0, 0, fmt.Errorf("tail %q: %w", s, err)
	}
	return prob, extra, nil
}

// simIsOverrideKey reports the keys WithOverrides knows; anything else after a
// comma continues the previous value (a lognormal's ",sigma=").
func simIsOverrideKey(k string) bool {
	switch k {
	case "latency", "tail", "error", "stale", "mode":
		return true
	}
	return false
}

// WithOverrides returns p changed by a comma-separated list of key=value pairs,
// the syntax of `gateway sim -replica NAME=...`:
//
//	latency=lognormal:median=2ms,sigma=0.5,tail=0.1:100ms,error=0.3,stale=0.4,mode=hang
//
// A lognormal latency's own comma is understood: a part whose key is not one of
// latency, tail, error, stale, mode belongs to the value before it.
func (p SimProfile) WithOverrides(spec string) (SimProfile, error) {
	var parts []string
	for part := range strings.SplitSeq(spec, ",") {
		k, _, _ := strings.Cut(part, "=")
		if !simIsOverrideKey(strings.TrimSpace(k)) && len(parts) > 0 {
			parts[len(parts)-1] += "," + part
			continue
		}
		parts = append(parts, part)
	}
	for _, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return p, fmt.Errorf("override %q: want key=value", part)
		}
		var err error
		switch k {
		case "latency":
			p.Latency, err = ParseSimDist(v)
		case "tail":
			p.TailProb, p.TailExtra, err = ParseSimTail(v)
		case "error":
			p.ErrorRate, err = simParseProb("error", v)
		case "stale":
			p.StaleFraction, err = simParseProb("stale", v)
		case "mode":
			p.Mode, err = simParseMode(strings.TrimSpace(v))
		default:
			err = fmt.Errorf("unknown key %q (want latency, tail, error, stale, mode)", k)
		}
		if err != nil {
			return p, fmt.Errorf("override %q: %w", part, err)
		}
	}
	return p, nil
}

func simParseProb(name, s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("%s %q: want a number in 0..1", name, s)
	}
	return f, nil
}

// String is a one-line summary in the -replica override syntax.
func (p SimProfile) String() string {
	return fmt.Sprintf("latency=%s tail=%s:%s error=%s stale=%s mode=%s",
		p.Latency, strconv.FormatFloat(p.TailProb, 'g', -1, 64), p.TailExtra,
		strconv.FormatFloat(p.ErrorRate, 'g', -1, 64),
		strconv.FormatFloat(p.StaleFraction, 'g', -1, 64), simModeName(p.Mode))
}

// simDecision is what a replica does with one data request.
type simDecision struct {
	delay time.Duration
	fail  bool // answer 500
}

// simDecide draws one request's fate. It always draws the same number of values
// per call, so a seeded stream stays aligned whatever the probabilities are.
func (p SimProfile) simDecide(rng *rand.Rand) simDecision {
	delay := p.Latency.Sample(rng)
	tail := rng.Float64() < p.TailProb
	fail := rng.Float64() < p.ErrorRate
	if tail {
		delay = simSatAdd(delay, p.TailExtra)
	}
	return simDecision{delay: delay, fail: fail}
}

func simSatAdd(a, b time.Duration) time.Duration {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// simProfileJSON is SimProfile on the wire: durations and distributions as the
// strings people type, mode spelled out.
type simProfileJSON struct {
	Latency       SimDist `json:"latency"`
	TailProb      float64 `json:"tail_prob"`
	TailExtra     string  `json:"tail_extra"`
	ErrorRate     float64 `json:"error_rate"`
	StaleFraction float64 `json:"stale_fraction"`
	Mode          string  `json:"mode"`
}

// MarshalJSON writes the profile as the control endpoint shows it.
func (p SimProfile) MarshalJSON() ([]byte, error) {
	return json.Marshal(simProfileJSON{
		Latency:       p.Latency,
		TailProb:      p.TailProb,
		TailExtra:     p.TailExtra.String(),
		ErrorRate:     p.ErrorRate,
		StaleFraction: p.StaleFraction,
		Mode:          simModeName(p.Mode),
	})
}

// UnmarshalJSON reads a whole profile; missing fields are zero. Use the
// control endpoint's PUT /_sim/profile to change only some fields.
func (p *SimProfile) UnmarshalJSON(b []byte) error {
	var q SimProfile
	if err := q.simApplyPatch(b); err != nil {
		return err
	}
	*p = q
	return nil
}

// simProfilePatch has a pointer per field so a patch changes only what it names.
type simProfilePatch struct {
	Latency       *SimDist `json:"latency"`
	TailProb      *float64 `json:"tail_prob"`
	TailExtra     *string  `json:"tail_extra"`
	ErrorRate     *float64 `json:"error_rate"`
	StaleFraction *float64 `json:"stale_fraction"`
	Mode          *string  `json:"mode"`
}

// simApplyPatch applies a JSON patch to p and validates the result; on error p
// is unchanged.
func (p *SimProfile) simApplyPatch(b []byte) error {
	var patch simProfilePatch
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a typo must not silently do nothing
	if err := dec.Decode(&patch); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if dec.More() {
		return errors.New("profile: trailing data after the JSON object")
	}
	q := *p
	if patch.Latency != nil {
		q.Latency = *patch.Latency
	}
	if patch.TailProb != nil {
		q.TailProb = *patch.TailProb
	}
	if patch.TailExtra != nil {
		d, err := simParseDuration(*patch.TailExtra)
		if err != nil {
			return fmt.Errorf("profile: tail_extra: %w", err)
		}
		q.TailExtra = d
	}
	if patch.ErrorRate != nil {
		q.ErrorRate = *patch.ErrorRate
	}
	if patch.StaleFraction != nil {
		q.StaleFraction = *patch.StaleFraction
	}
	if patch.Mode != nil {
		m, err := simParseMode(*patch.Mode)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		q.Mode = m
	}
	if err := q.Validate(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	*p = q
	return nil
}
