package quorum

// AtLeast reports whether v satisfies floor, the minimum version a client's request
// carries (X-Min-Version, for read-your-writes): v ≥ floor numerically when both are
// numeric, and otherwise v must be the same version as floor (Equal).
//
// Opaque versions (ETags, body hashes, "v3", "1.5") carry no order, so the only safe
// reading of "at least floor" is "exactly floor": any other opaque version may be
// older, and a numeric version says nothing about an opaque floor or the other way
// round. A client that carries an opaque version is therefore answered only by a
// replica holding exactly that version.
//
// Unlike the monotonic Floor, nothing here is Bounded: both are compared whole.
func AtLeast(v, floor Version) bool {
	if c, ok := v.Compare(floor); ok {
		return c >= 0
	}
	return v.Equal(floor)
}
