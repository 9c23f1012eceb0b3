package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseDuration accepts what time.ParseDuration accepts, except negative values.
// A bare number other than 0 is refused: "10" could mean seconds or milliseconds,
// and guessing wrong by 1000× is the kind of silent default the config forbids.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(strings.TrimSpace(s), 64); nerr == nil {
			return 0, fmt.Errorf("bad duration %q: a number needs a unit, such as %sms or %ss", s, s, s)
		}
		return 0, fmt.Errorf("bad duration %q: want a number and a unit, such as 250ms, 1s or 2m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: must not be negative", s)
	}
	return d, nil
}

func scalarString(value *yaml.Node, want string) (string, error) {
	if value.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("want %s, got %s", want, describe(value))
	}
	return value.Value, nil
}

// String formats d as time.Duration does ("250ms", "1m30s"); it parses back exactly.
func (d Duration) String() string { return time.Duration(d).String() }

// valueError is how an UnmarshalYAML method reports a value it cannot use: as a
// *yaml.TypeError, the library goes on decoding the rest of the document (any other
// error stops it there), so every problem of a file is found in one pass.
func valueError(err error) error {
	if err == nil {
		return nil
	}
	return &yaml.TypeError{Errors: []string{err.Error()}}
}

// UnmarshalYAML reads a duration string such as "250ms".
func (d *Duration) UnmarshalYAML(value *yaml.Node) error {
	s, err := scalarString(value, "a duration such as 250ms")
	if err != nil {
		return valueError(err)
	}
	v, err := parseDuration(s)
	if err != nil {
		return valueError(err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string, so a marshalled config parses back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes d as a duration string: /debug/config reads "250ms", not
// 250000000.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"250ms\": %w", err)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

const attemptAuto = "auto"

// String is "auto" or the fixed duration.
func (a AttemptTimeout) String() string {
	if a.Auto {
		return attemptAuto
	}
	return a.Fixed.String()
}

func (a *AttemptTimeout) parse(s string) error {
	if s == attemptAuto {
		*a = AttemptTimeout{Auto: true}
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("%w (or auto)", err)
	}
	*a = AttemptTimeout{Fixed: d}
	return nil
}

// UnmarshalYAML reads "auto" or a duration string.
func (a *AttemptTimeout) UnmarshalYAML(value *yaml.Node) error {
	s, err := scalarString(value, "auto or a duration such as 250ms")
	if err != nil {
		return valueError(err)
	}
	return valueError(a.parse(s))
}

// MarshalYAML writes "auto" or a duration string.
func (a AttemptTimeout) MarshalYAML() (any, error) { return a.String(), nil }

// MarshalJSON writes "auto" or a duration string.
func (a AttemptTimeout) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (a *AttemptTimeout) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want \"auto\" or a duration string: %w", err)
	}
	return a.parse(s)
}

const percentileAuto = "auto"

// String is "auto" or the fixed percentile.
func (p HedgePercentile) String() string {
	if p.Auto {
		return percentileAuto
	}
	return strconv.FormatFloat(p.Fixed, 'g', -1, 64)
}

func (p *HedgePercentile) parse(s string) error {
	if s == percentileAuto {
		*p = HedgePercentile{Auto: true}
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("want a number in (0,100) or auto, got %q", s)
	}
	*p = HedgePercentile{Fixed: f}
	return nil
}

// UnmarshalYAML reads a number or "auto".
func (p *HedgePercentile) UnmarshalYAML(value *yaml.Node) error {
	s, err := scalarString(value, "a number in (0,100) or auto")
	if err != nil {
		return valueError(err)
	}
	return valueError(p.parse(s))
}

// MarshalYAML writes "auto" or the number.
func (p HedgePercentile) MarshalYAML() (any, error) {
	if p.Auto {
		return percentileAuto, nil
	}
	return p.Fixed, nil
}

// MarshalJSON writes "auto" or the number: /debug/config shows what the file says.
func (p HedgePercentile) MarshalJSON() ([]byte, error) {
	if p.Auto {
		return json.Marshal(percentileAuto)
	}
	return json.Marshal(p.Fixed)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *HedgePercentile) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return p.parse(s)
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("want a number or \"auto\": %w", err)
	}
	*p = HedgePercentile{Fixed: f}
	return nil
}
