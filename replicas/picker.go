package replicas

import (
	"math/rand/v2"
	"sync"
)

// Picker chooses the replica for the next attempt of a request.
type Picker interface {
	// Pick returns one of candidates (the replicas this request has not tried yet;
	// the caller filters), or nil when there are none.
	Pick(candidates []*Replica) *Replica
}

var _ Picker = (*P2C)(nil)

// errorWeight scales the error rate in a replica's cost; see P2C.
const errorWeight = 10

// P2C is the power of two choices: it draws two distinct candidates at random and
// takes the cheaper, where
//
//	cost = (inflight+1) × (latency + 10 × errorRate × pairLatency)
//	latency = max(ewmaLatency, mean age of the replica's in-flight attempts)
//	pairLatency = the larger latency of the two drawn
//
// (inflight+1) × latency estimates how long a new attempt waits behind the ones the
// replica already has; in-flight counts react at once while the average lags. The age
// of in-flight attempts is a lower bound on their latency, known before they end: a
// replica that stopped answering looks slower by the millisecond, and a replica whose
// average decayed while it was idle cannot draw a burst of attempts before its first
// answer returns. An error sends the request elsewhere after spending a whole
// attempt, so errors make a replica dearer: 10% errors double its cost, 100% make it
// 11 times dearer, when both have the same latency. The error's price is the pair's
// latency, not the replica's own: a failed attempt costs the request at least another
// replica's answer however quickly it failed, so a replica that resets or refuses in
// 100µs, or whose average decayed while it was avoided, does not look cheap for it
// (measured: a replica resetting every connection drew 36 primaries in 30s priced at
// its own latency, a few when priced at the pair's). A replica with no latency data
// yet takes its rival's average (neutral), so new replicas are tried on equal terms.
//
// There is no ejected state: both averages decay towards zero while a replica gets no
// answers (τ = 10s), so a replica that looked slow or failing is tried again within
// tens of seconds and, if it recovered, wins traffic back. Comparing two random
// candidates rather than taking the global best keeps a momentarily cheapest replica
// from drawing every request at once.
//
// P2C is safe for concurrent use.
type P2C struct {
	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// NewP2C returns a P2C drawing from a PCG generator seeded with seed, so a fixed seed
// gives a reproducible sequence of draws.
func NewP2C(seed uint64) *P2C {
	return &P2C{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Pick implements Picker.
func (p *P2C) Pick(candidates []*Replica) *Replica {
	n := len(candidates)
	switch n {
	case 0:
		return nil
	case 1:
		return candidates[0]
	}
	p.mu.Lock()
	i, j := p.rng.IntN(n), p.rng.IntN(n-1)
	p.mu.Unlock()
	if j >= i { // distinct: j ranges over the n-1 others
		j++
	}
	a, b := candidates[i], candidates[j]
	ia, la, oka, agea, ea := a.estimate()
	ib, lb, okb, ageb, eb := b.estimate()
	switch {
	case !oka && !okb:
		la, lb = 1, 1 // no data on either: in-flight counts and errors decide
	case !oka:
		la = lb
	case !okb:
		lb = la
	}
	la, lb = max(la, agea), max(lb, ageb)
	pair := max(la, lb)
	// Ties go to a, which is itself a random draw.
	if cost(ib, lb, eb, pair) < cost(ia, la, ea, pair) {
		return b
	}
	return a
}

// cost prices one more attempt to a replica of latency lat and error rate errRate,
// an error at pair (the larger latency of the two drawn).
func cost(inflight int64, lat, errRate, pair float64) float64 {
	// A latency decayed to ~0 must still let in-flight counts and errors tell apart.
	return float64(inflight+1) * (max(lat, 1) + errorWeight*errRate*max(pair, 1))
}
