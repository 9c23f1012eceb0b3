package replicas

import "math"

// Decay constants of the per-replica moving averages.
const (
	// tau is the time constant: an observation's weight falls by e every tau, and an
	// idle replica's estimates fall by e every tau too (see ewma.value), so a replica
	// that stopped getting traffic because it looked bad is tried again within tens of
	// seconds instead of being shunned forever.
	tau = 10e9 // 10s in nanoseconds
	// minWeight floors an observation's weight so that a burst (many samples within a
	// millisecond, or an injected clock that stands still) still moves the average:
	// it then remembers about the last 32 samples rather than the last tau.
	minWeight = 1.0 / 32
)

// ewma is a time-decayed exponentially weighted moving average. Time without
// observations counts as observations of zero: for latency that makes an idle replica
// look cheaper and so get a probe; for error rate it forgives old failures.
// Not safe for concurrent use; Replica guards it.
type ewma struct {
	v    float64
	last int64 // Unix ns of the latest observation
	ok   bool  // at least one observation
}

// observe folds x, seen at t (Unix ns), into the average.
func (e *ewma) observe(x float64, t int64) {
	if !e.ok {
		e.v, e.last, e.ok = x, t, true
		return
	}
	w := max(1-decay(t-e.last), minWeight)
	e.v += w * (x - e.v)
	e.last = max(e.last, t)
}

// value returns the average at t: the stored one decayed for the time since the latest
// observation. 0 when nothing was observed.
func (e *ewma) value(t int64) float64 {
	if !e.ok {
		return 0
	}
	return e.v * decay(t-e.last)
}

// decay is the weight left to a value dt nanoseconds old; 1 for dt ≤ 0 (a clock that
// went backwards changes nothing).
func decay(dt int64) float64 {
	if dt <= 0 {
		return 1
	}
	return math.Exp(-float64(dt) / tau)
}
