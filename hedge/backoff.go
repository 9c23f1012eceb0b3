package hedge

import "time"

// backoff is capped exponential backoff with full jitter: the wait before retry n
// (1-based) is uniform in [0, min(max, base × 2^(n-1))]. Full jitter spreads retries
// of requests that failed together, so they do not return together (AWS's
// "Exponential Backoff and Jitter" measured it as the least total work).
type backoff struct {
	base, max time.Duration
	// randN returns a uniform int64 in [0, n); injected so tests are deterministic.
	randN func(n int64) int64
}

func (b backoff) wait(retry int) time.Duration {
	if b.base <= 0 || retry < 1 {
		return 0
	}
	ceiling := b.base
	for i := 1; i < retry && ceiling < b.max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.max)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(b.randN(int64(ceiling) + 1))
}
