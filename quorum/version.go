package quorum

import "strings"

// Version is the version of one replica answer, as the route's Extractor read it.
//
// The numeric form is derived from Raw on demand rather than stored, so a literal
// Version{Raw: "42"} behaves exactly like an extracted one. Raw is numeric when it is a
// decimal integer of any size ("-"? digits, no "+", no exponent, no fraction); it is
// compared as a decimal string, so a 100-digit revision costs no math/big.
// Two versions are the same (Equal) when their Raw texts are equal or both are integers
// of equal value ("042" and "42"); do not compare Versions with ==.
type Version struct {
	// Raw is the version's text: a header value, a JSON string's contents, a JSON
	// number's literal text, or "sha256:" and 32 hex digits for body-hash versions.
	Raw string
}

// Numeric reports whether Raw is a decimal integer.
func (v Version) Numeric() bool {
	_, _, ok := v.integer()
	return ok
}

// Compare orders v and o numerically: -1, 0 or +1 with ok=true, or ok=false when
// either is not numeric (opaque versions cannot be ordered).
func (v Version) Compare(o Version) (int, bool) {
	vneg, vd, vok := v.integer()
	oneg, od, ook := o.integer()
	if !vok || !ook {
		return 0, false
	}
	if vneg != oneg {
		if vneg {
			return -1, true
		}
		return 1, true
	}
	c := compareMagnitude(vd, od)
	if vneg {
		c = -c
	}
	return c, true
}

// Equal reports whether v and o are the same version: equal text, or equal integers.
func (v Version) Equal(o Version) bool {
	if v.Raw == o.Raw {
		return true
	}
	c, ok := v.Compare(o)
	return ok && c == 0
}

// String returns Raw.
func (v Version) String() string { return v.Raw }

// integer splits Raw into sign and digits without leading zeros ("-0" is "0").
func (v Version) integer() (neg bool, digits string, ok bool) {
	s := v.Raw
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if s == "" {
		return false, "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false, "", false
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return false, "0", true
	}
	return neg, s, true
}

// compareMagnitude compares two digit strings without leading zeros.
func compareMagnitude(a, b string) int {
	switch {
	case len(a) != len(b):
		if len(a) < len(b) {
			return -1
		}
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
