package hedge

import (
	"net/http"
	"time"

	"github.com/hedgegate/hedgegate/replicas"
)

// A strategy is how a route spends its attempts, in two small pieces: a scheduler
// says when attempts launch and how many at once, a collector says when the result is
// decided. The engine loop (engine.go) knows no strategy by name: it launches what the
// scheduler asks for, hands every finished attempt to the collector, and ends the
// request when the collector decides or nothing is left in flight or scheduled.
//
// A Plan holds one strategy, immutable and shared by every request; begin gives each
// request a fresh scheduler and collector (usually one small value that is both).
// Adding a strategy means writing one such pair: hedge.go, parallel.go and quorum.go
// are the three the gateway offers, and strategy_test.go adds a fourth without
// touching the engine.
type strategy interface {
	// mode is how the strategy's attempts run; the engine reads it once per plan.
	mode() attemptMode
	// begin prepares one request. send is the request every attempt copies: usually
	// req itself, which must not be modified (a quorum sends a HEAD as a GET).
	begin(req *http.Request, body []byte) (send *http.Request, s scheduler, c collector)
}

// attemptMode is how a strategy's attempts run.
type attemptMode struct {
	// maxAttempts is the most attempts one request may send, planned ones included;
	// at most the set's size, since every attempt goes to a replica not yet tried.
	maxAttempts int
	// read is how much of an answer's body an attempt reads before it reports.
	read bodyRead
	// cutAtTimeout: the attempt timeout cancels the attempt. Otherwise the attempt keeps
	// running and the scheduler is told it is slow (it may send another beside it).
	cutAtTimeout bool
	// autoTimeoutIsRoute: an auto attempt timeout is the route timeout rather than the
	// replica's p99.9, because this strategy's histograms lack the slow answers
	// (see Plan.AttemptTimeout).
	autoTimeoutIsRoute bool
	// askArrival: each attempt's transport is asked to say when its answer waits
	// unread (replicas.Arrival), for launcher.answerWaiting.
	askArrival bool
}

// bodyRead is how much of an answer's body an attempt reads before reporting it.
type bodyRead uint8

const (
	// readAhead: the body up to the read-ahead (answerReadAhead): an answer whose
	// body ends within it is whole before it can win, a longer one streams once it
	// has won (hedge and parallel routes).
	readAhead bodyRead = iota
	// readAll: the whole body, up to limits.max_response_body_bytes (quorum routes:
	// an answer counts towards agreement only once its body is whole).
	readAll
)

// scheduler decides when a request's attempts launch. The engine calls it only from
// the request's own goroutine, so it needs no locks, and it acts only through l.
type scheduler interface {
	// start launches the request's first attempts. Launching none means there was
	// nothing to send to.
	start(l launcher)
	// ended is told of every finished attempt the collector did not decide on: failed
	// (a.failure says how), or an answer the collector keeps while it waits for more.
	ended(l launcher, a *attempt)
	// slow is told of an attempt still running past its attempt timeout (only when
	// the mode does not cut attempts at their timeout).
	slow(l launcher, a *attempt)
	// wake is called when the timer the scheduler armed through l fires.
	wake(l launcher)
}

// launcher is everything a scheduler may do to its request.
type launcher interface {
	// launch sends one attempt of kind to rep, or to the picker's choice among the
	// replicas not tried yet when rep is nil; delay is what launched it (a hedge delay,
	// a backoff; 0 for planned attempts), for traces. False: nothing was sent.
	launch(kind Kind, rep *replicas.Replica, delay time.Duration) bool
	// canLaunch says whether one more attempt may be sent, budget aside.
	canLaunch() bool
	// inflight is how many attempts have been sent and not yet finished.
	inflight() int
	// last is the replica of the latest attempt.
	last() *replicas.Replica
	// untried lists the replicas this request has not sent to, in set order. The
	// slice is the request's scratch space: valid until the next launch.
	untried() []*replicas.Replica
	// answerWaiting says whether an attempt in flight has its answer waiting, unread,
	// on its connection: the replica answered and the gateway has not read it yet.
	// The observer is told of each hedge held for it (held).
	answerWaiting() bool
	held()
	// spend withdraws one extra attempt of kind from the route's budget. A denial is
	// reported to the observer, once per request and kind.
	spend(kind Kind) bool
	// arm sets the scheduler's one timer to fire after d, replacing any pending
	// time; disarm stops it; armed says whether it is set. A request with nothing in
	// flight ends unless the timer is armed.
	arm(d time.Duration)
	disarm()
	armed() bool
}

// collector decides a request's result from its finished attempts. Like the
// scheduler it runs on the request's goroutine; it acts through d.
type collector interface {
	// collect takes a finished attempt. done: the request is decided, with res to
	// serve or err (an *Error); otherwise the scheduler hears of the attempt.
	collect(d decider, a *attempt) (res *Result, err error, done bool)
	// exhausted decides a request with nothing in flight and nothing scheduled.
	exhausted(d decider) (*Result, error)
	// expired decides a request whose context ended first: its deadline, or the
	// client leaving (d.expiredError says which).
	expired(d decider) (*Result, error)
}

// decider is everything a collector may do to its request.
type decider interface {
	// win serves a as the winner: every other attempt is cancelled at once.
	win(a *attempt) *Result
	// result is a's answer as a Result, without declaring a winner: for an answer
	// passed on when every attempt failed. Every attempt has ended by then.
	result(a *attempt) *Result
	// fail ends the request with an *Error listing every attempt; every attempt is
	// cancelled and waited for first.
	fail(outcome Outcome, message string) error
	// expiredError is fail for a request whose context ended: OutcomeDeadline or
	// OutcomeCancelled as the context says.
	expiredError() error
	// floorUnmet is fail for a request none of whose answers reached its minimum
	// version (OutcomeFloorUnmet).
	floorUnmet() error
	// deadlinePassed says the request's context ended by its deadline, not the client.
	deadlinePassed() bool
	// observer and route name are for the collector's own reports.
	observer() Observer
	route() string
}
