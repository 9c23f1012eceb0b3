package sim

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

// Replica modes accepted by Profile.Mode.
const (
	// ModeNormal answers every request according to the profile. "normal" is
	// accepted as an alias wherever a mode is parsed.
	ModeNormal = ""
	// ModeHang reads the request and never answers, until the client goes
	// away or the replica is closed; GET / and /_sim/ still answer.
	ModeHang = "hang"
	// ModeRefuse resets every data and warm-up connection as soon as its
	// request has been read; /_sim/ still answers.
	ModeRefuse = "refuse"
)

// Profile is how one simulated replica behaves. The zero value answers every
// request at once with the fresh version.
type Profile struct {
	// Latency is the base latency added before every data answer.
	Latency Dist
	// TailProb (0..1) is the probability that an answer also waits TailExtra.
	TailProb  float64
	TailExtra time.Duration
	// ErrorRate (0..1) is the probability of answering 500 (after the latency).
	ErrorRate float64
	// StaleFraction (0..1) is the fraction of keys, picked deterministically by
	// key, replica name and seed, for which this replica serves fresh−1.
	StaleFraction float64
	// Mode is ModeNormal (""), ModeHang or ModeRefuse.
	Mode string
}

// Validate reports the first field out of range.
func (p Profile) Validate() error {
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
	if _, err := parseMode(p.Mode); err != nil {
		return err
	}
	return nil
}

func parseMode(s string) (string, error) {
	switch s {
	case "", "normal":
		return ModeNormal, nil
	case ModeHang, ModeRefuse:
		return s, nil
	}
	return "", fmt.Errorf("mode %q: want normal, hang or refuse", s)
}

// modeName is the mode as shown to people: "normal" reads better than "".
func modeName(m string) string {
	if m == ModeNormal {
		return "normal"
	}
	return m
}

// ParseTail parses "PROB:EXTRA" (e.g. "0.02:50ms"): with probability PROB an
// answer waits EXTRA more. "" and "0" mean no tail.
func ParseTail(s string) (prob float64, extra time.Duration, err error) {
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
	extra, err = parseDuration(es)
	if err != nil {
		return 0, 0, fmt.Errorf("tail %q: %w", s, err)
	}
	return prob, extra, nil
}

// isOverrideKey reports the keys WithOverrides knows; anything else after a
// comma continues the previous value (a lognormal's ",sigma=").
func isOverrideKey(k string) bool {
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
func (p Profile) WithOverrides(spec string) (Profile, error) {
	var parts []string
	for part := range strings.SplitSeq(spec, ",") {
		k, _, _ := strings.Cut(part, "=")
		if !isOverrideKey(strings.TrimSpace(k)) && len(parts) > 0 {
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
			p.Latency, err = ParseDist(v)
		case "tail":
			p.TailProb, p.TailExtra, err = ParseTail(v)
		case "error":
			p.ErrorRate, err = parseProb("error", v)
		case "stale":
			p.StaleFraction, err = parseProb("stale", v)
		case "mode":
			p.Mode, err = parseMode(strings.TrimSpace(v))
		default:
			err = fmt.Errorf("unknown key %q (want latency, tail, error, stale, mode)", k)
		}
		if err != nil {
			return p, fmt.Errorf("override %q: %w", part, err)
		}
	}
	return p, nil
}

func parseProb(name, s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("%s %q: want a number in 0..1", name, s)
	}
	return f, nil
}

// String is a one-line summary in the -replica override syntax.
func (p Profile) String() string {
	return fmt.Sprintf("latency=%s tail=%s:%s error=%s stale=%s mode=%s",
		p.Latency, strconv.FormatFloat(p.TailProb, 'g', -1, 64), p.TailExtra,
		strconv.FormatFloat(p.ErrorRate, 'g', -1, 64),
		strconv.FormatFloat(p.StaleFraction, 'g', -1, 64), modeName(p.Mode))
}

// decision is what a replica does with one data request.
type decision struct {
	delay time.Duration
	fail  bool // answer 500
}

// decide draws one request's fate. It always draws the same number of values
// per call, so a seeded stream stays aligned whatever the probabilities are.
func (p Profile) decide(rng *rand.Rand) decision {
	delay := p.Latency.Sample(rng)
	tail := rng.Float64() < p.TailProb
	fail := rng.Float64() < p.ErrorRate
	if tail {
		delay = satAdd(delay, p.TailExtra)
	}
	return decision{delay: delay, fail: fail}
}

func satAdd(a, b time.Duration) time.Duration {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// profileJSON is Profile on the wire: durations and distributions as the
// strings people type, mode spelled out.
type profileJSON struct {
	Latency       Dist    `json:"latency"`
	TailProb      float64 `json:"tail_prob"`
	TailExtra     string  `json:"tail_extra"`
	ErrorRate     float64 `json:"error_rate"`
	StaleFraction float64 `json:"stale_fraction"`
	Mode          string  `json:"mode"`
}

// MarshalJSON writes the profile as the control endpoint shows it.
func (p Profile) MarshalJSON() ([]byte, error) {
	return json.Marshal(profileJSON{
		Latency:       p.Latency,
		TailProb:      p.TailProb,
		TailExtra:     p.TailExtra.String(),
		ErrorRate:     p.ErrorRate,
		StaleFraction: p.StaleFraction,
		Mode:          modeName(p.Mode),
	})
}

// UnmarshalJSON reads a whole profile; missing fields are zero. Use the
// control endpoint's PUT /_sim/profile to change only some fields.
func (p *Profile) UnmarshalJSON(b []byte) error {
	var q Profile
	if err := q.applyPatch(b); err != nil {
		return err
	}
	*p = q
	return nil
}

// profilePatch has a pointer per field so a patch changes only what it names.
type profilePatch struct {
	Latency       *Dist    `json:"latency"`
	TailProb      *float64 `json:"tail_prob"`
	TailExtra     *string  `json:"tail_extra"`
	ErrorRate     *float64 `json:"error_rate"`
	StaleFraction *float64 `json:"stale_fraction"`
	Mode          *string  `json:"mode"`
}

// applyPatch applies a JSON patch to p and validates the result; on error p
// is unchanged.
func (p *Profile) applyPatch(b []byte) error {
	var patch profilePatch
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
		d, err := parseDuration(*patch.TailExtra)
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
		m, err := parseMode(*patch.Mode)
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
