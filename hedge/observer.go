package hedge

import (
	"context"
	"time"
)

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
	// HedgeHeld is called each time a hedge due was held back because an attempt's
	// answer was already waiting, unread, on its connection.
	HedgeHeld(route string)
	// QuorumResult is called once per quorum request with its result
	// (agree, latest, no_quorum, stale, deadline).
	QuorumResult(route, result string)
	// QuorumDivergence is called for each replica whose answer disagreed with the
	// version a quorum request served.
	QuorumDivergence(route, replica string)
	// StaleAnswer is called for each answer below its request's minimum version.
	StaleAnswer(route, replica string)
	// FloorUnmet is called for each request that ended because no answer reached
	// its minimum version.
	FloorUnmet(route string)
}

// nopObserver ignores everything; it is the default when a Plan has no observer.
type nopObserver struct{}

func (nopObserver) AttemptStarted(string, string, Kind) {}
func (nopObserver) HedgeWon(string)                     {}
func (nopObserver) BudgetDenied(string)                 {}
func (nopObserver) HedgeHeld(string)                    {}
func (nopObserver) QuorumResult(string, string)         {}
func (nopObserver) QuorumDivergence(string, string)     {}
func (nopObserver) StaleAnswer(string, string)          {}
func (nopObserver) FloorUnmet(string)                   {}

var _ Observer = nopObserver{}

// Tracer follows each attempt from launch to its outcome, with the request's context:
// the hook for one trace span per attempt. Unlike an Observer it is per request and
// may put values (a span) into the attempt's context. Nil in Options: no tracing, at
// no cost.
type Tracer interface {
	// StartAttempt is called as an attempt launches, on the request's goroutine, with
	// the request's context. The context it returns is the attempt's: the request sent
	// to the replica carries it, so a transport can pass the span on (traceparent).
	// end is called exactly once, after the request is done with the attempt (for the
	// winner, once its body has been served and Result.Close called).
	StartAttempt(ctx context.Context, start AttemptStart) (attemptCtx context.Context, end func(AttemptEnd))
}

// AttemptStart is an attempt as it launches.
type AttemptStart struct {
	Route, Replica string
	Kind           Kind
	// Delay is what launched it: the hedge delay (for a hedge sent after denied looks
	// at the budget, the last look's wait) or the retry's backoff. 0 for the attempts a
	// strategy sends up front.
	Delay time.Duration
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	Outcome AttemptOutcome
	// Status is the replica's HTTP status; 0 when it gave none.
	Status int
	// Elapsed runs from launch to the answer's headers (and, for the answers the
	// strategy reads whole, its body), or to the failure.
	Elapsed time.Duration
	// Err says why it failed or was cancelled, when it did.
	Err error
	// Failure names why, in the words of retry.on and of error bodies'
	// attempts: connect_failure, reset, timeout, status (an answer with a status the
	// route treats as failed), body_too_large, no_version, stale, cancelled, other.
	// "" when it answered acceptably.
	Failure string
}

// AttemptOutcome is what became of one attempt. (Outcome is a different thing: why a
// whole request got no answer.)
type AttemptOutcome uint8

const (
	// AttemptWon: its answer was served.
	AttemptWon AttemptOutcome = iota
	// AttemptLost: it answered acceptably, but another answer was served.
	AttemptLost
	// AttemptCancelled: still running when the request was decided or the client left.
	AttemptCancelled
	// AttemptFailed: it failed (connect, reset, timeout, a status retry.on lists, an
	// unreadable version, a body too large), including a failed answer passed on
	// because nothing better came.
	AttemptFailed
	// AttemptStale: it answered with a version below the request's minimum version
	// (X-Min-Version, WithMinVersion), or with none to compare: not served.
	AttemptStale
)

func (o AttemptOutcome) String() string {
	switch o {
	case AttemptWon:
		return "won"
	case AttemptLost:
		return "lost"
	case AttemptCancelled:
		return "cancelled"
	case AttemptFailed:
		return "failed"
	case AttemptStale:
		return "stale"
	}
	return "unknown"
}
