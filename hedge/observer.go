package hedge

// Kind says why an attempt was sent; it labels backend request metrics.
type Kind uint8

const (
	// KindPrimary is a request's first attempt, and every attempt a route plans up
	// front (a parallel route's fan-out, a quorum's reads): its constant work.
	KindPrimary Kind = iota
	// KindHedge is a redundant attempt sent after the hedge delay while others are
	// still in flight; it spends the budget.
	KindHedge
	// KindRetry replaces an attempt that failed.
	KindRetry
)

func (k Kind) String() string {
	switch k {
	case KindPrimary:
		return "primary"
	case KindHedge:
		return "hedge"
	case KindRetry:
		return "retry"
	}
	return "unknown"
}

// Observer is told what the engine does, so that the server package can count it
// without this package knowing any metrics library. Calls happen on the request path:
// implementations must be fast and safe for concurrent use.
type Observer interface {
	// AttemptStarted is called for every backend request the engine sends.
	AttemptStarted(route, replica string, kind Kind)
	// HedgeWon is called when the answer served came from a hedge.
	HedgeWon(route string)
	// BudgetDenied is called each time an extra attempt was wanted but the budget was empty.
	BudgetDenied(route string)
	// QuorumResult is called once per quorum request with its result
	// (agree, latest, no_quorum, stale, deadline).
	QuorumResult(route, result string)
	// QuorumDivergence is called for each replica whose answer disagreed with the
	// version a quorum request served.
	QuorumDivergence(route, replica string)
}

// NopObserver ignores everything; it is the default when a Plan has no observer.
type NopObserver struct{}

func (NopObserver) AttemptStarted(string, string, Kind) {}
func (NopObserver) HedgeWon(string)                     {}
func (NopObserver) BudgetDenied(string)                 {}
func (NopObserver) QuorumResult(string, string)         {}
func (NopObserver) QuorumDivergence(string, string)     {}

var _ Observer = NopObserver{}
