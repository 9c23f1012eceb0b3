package hedge

import (
	"sync"
	"time"

	"github.com/hedgegate/hedgegate/config"
)

// budgetWindow is the span over which the budget's promise holds. Finagle's retry
// budget uses the same 10s default: long enough to absorb bursts, short enough that a
// calm hour cannot bank attempts for an outage.
const (
	budgetWindow = 10 * time.Second
	budgetSlots  = 10
)

// retryReserve is the share of the window's allowance that hedges may not take: only
// an attempt for a request with nothing left in flight spends it (a retry after its
// only attempt failed outright), since without it that request fails, while a hedge
// only races an attempt that may still answer. Without a reserve, a stall that made
// every replica slow had hedges take the whole budget, and requests whose attempt was
// reset then failed with their retry denied (docs/faults.md, D4). A tenth: at the
// defaults and 200 requests a second, 30 retries that can go at any moment, and the
// window's refill goes to them first; hedges keep 90% of the allowance (the advisor
// models that as their cap). Principle 2's bound is unchanged: hedges and retries
// together never pass the allowance.
const retryReserve = 0.1

// Budget caps attempts beyond each request's planned ones. Over the sliding window,
// extra attempts ≤ ratio × requests + minPerSecond × window seconds, so the extra load
// is bounded by the request rate whatever the replicas do: constant work, never a
// surge that only appears in an outage. Of that allowance, hedges may spend all but
// the retryReserve. Safe for concurrent use.
type Budget struct {
	ratio    float64
	floor    float64 // minPerSecond × window, in attempts
	now      func() time.Time
	slotSpan time.Duration

	mu       sync.Mutex
	slotEnd  time.Time // end of the current slot
	cur      int
	requests [budgetSlots]float64
	extras   [budgetSlots]float64
	sumReq   float64
	sumExtra float64
}

// newBudget builds a budget from a route's settings; now nil means time.Now.
func newBudget(cfg config.Budget, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{
		ratio:    cfg.Ratio,
		floor:    cfg.MinPerSecond * budgetWindow.Seconds(),
		now:      now,
		slotSpan: budgetWindow / budgetSlots,
	}
}

// request counts one client request: it deposits ratio attempts into the window.
func (b *Budget) request() {
	b.mu.Lock()
	b.advance()
	b.requests[b.cur]++
	b.sumReq++
	b.mu.Unlock()
}

// tryExtra withdraws one extra attempt, or reports false when the window has none left.
// lastChance: the request has nothing else in flight, so it may spend the reserve.
func (b *Budget) tryExtra(lastChance bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	allowed := b.ratio*b.sumReq + b.floor
	if !lastChance {
		allowed *= 1 - retryReserve
	}
	if b.sumExtra+1 > allowed {
		return false
	}
	b.extras[b.cur]++
	b.sumExtra++
	return true
}

// Available is how many extra attempts the window could still grant now.
func (b *Budget) Available() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return max(0, b.ratio*b.sumReq+b.floor-b.sumExtra)
}

// advance expires the slots that left the window. Callers hold mu.
func (b *Budget) advance() {
	now := b.now()
	if b.slotEnd.IsZero() {
		b.slotEnd = now.Add(b.slotSpan)
		return
	}
	for i := 0; i < budgetSlots && !now.Before(b.slotEnd); i++ {
		b.cur = (b.cur + 1) % budgetSlots
		b.sumReq -= b.requests[b.cur]
		b.sumExtra -= b.extras[b.cur]
		b.requests[b.cur], b.extras[b.cur] = 0, 0
		b.slotEnd = b.slotEnd.Add(b.slotSpan)
	}
	if !now.Before(b.slotEnd) { // idle for longer than the window: everything expired
		b.slotEnd = now.Add(b.slotSpan)
	}
}
