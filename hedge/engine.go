package hedge

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/internal/finesleep"
	"github.com/hedgegate/hedgegate/quorum"
	"github.com/hedgegate/hedgegate/replicas"
)

// Result is a decided request. The caller copies Response to the client and then must
// call Close, which also cancels and waits for every other attempt of the request.
type Result struct {
	// Response is the answer to pass on: the winner's (its body still streaming), or a
	// failed replica answer (5xx) passed through when every attempt failed.
	Response *http.Response
	// Replica answered; Kind says which attempt it was.
	Replica string
	Kind    Kind
	// Sent is how many attempts were launched before the result was decided.
	Sent int
	// Quorum is set for quorum routes.
	Quorum *QuorumInfo
	// Version is the answer's version as the route declares it (X-Hedgegate-Version);
	// "" when the route has none or the answer carried none.
	Version string

	run *run
}

// Close releases the response and everything else the request still holds.
func (r *Result) Close() error {
	err := r.Response.Body.Close()
	r.run.finish()
	return err
}

// run is one request's attempt bookkeeping. Only Do's goroutine touches it (and,
// once Do has returned, Result.Close), apart from the fields each attempt goroutine
// fills in before it sends its end on events.
type run struct {
	plan  *Plan
	ctx   context.Context
	tmpl  *http.Request
	body  []byte
	floor *quorum.Version // the client's minimum version; nil for none
	sched scheduler
	coll  collector
	// events carries each attempt's end and, for attempts not cut at their timeout,
	// its passing its attempt timeout: buffered to twice maxAttempts, so no sender
	// ever blocks.
	events chan event

	attempts   []*attempt
	open       int      // attempts sent and not yet taken from events
	winner     *attempt // the attempt served, once decided
	deniedOnce uint8    // which kinds of budget denial this request already reported
	timer      engineTimer
	untriedBuf [8]*replicas.Replica // untried's storage, for sets of up to 8 replicas

	wg       sync.WaitGroup
	finished sync.Once
}

type event struct {
	a    *attempt
	slow bool // past its attempt timeout and still running; otherwise ended
}

type attempt struct {
	replica *replicas.Replica
	kind    Kind
	delay   time.Duration // what launched it: a hedge delay, a backoff; 0 if planned
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	start   time.Time

	// Filled in by the attempt's goroutine before it sends its end on events.
	resp    *http.Response
	body    []byte // the buffered body, when this package read it
	failure failureKind
	err     error
	elapsed time.Duration

	received bool // the engine took its end from events
	// The answer's version as the route declares it (checkVersion), and for a quorum
	// whose agreement version is another, that one's text too.
	ver    quorum.Version
	verErr error
	agreed string
	// overtaken: an attempt sent after this one won. Set before cancel, read by the
	// attempt's goroutine, which may also be finishing on its own: hence atomic.
	overtaken atomic.Bool
	traceEnd  func(AttemptEnd) // from Tracer.StartAttempt; nil without a tracer
	// arrival is filled in by the transport while the answer's headers are awaited
	// (attemptMode.askArrival).
	arrival replicas.Arrival
}

// Do sends req to the plan's replicas and returns the decided answer, or an *Error.
// body is the request body, already read and bounded by the caller (nil for none); it
// is replayed to every attempt. req's path goes to each replica under its base path,
// dot segments resolved (path.go). ctx carries the request's deadline: Do adds none of
// its own (Transport applies the plan's timeout; the gateway the route's). A floor on
// ctx (WithMinVersion) or in req's min_version_header is honoured (version.go).
// Every attempt is sent with req's header itself, not a copy: it must not change
// after Do, not even after Close (an HTTP/2 transport may read a cancelled attempt's
// header late). Transport gives Do a copy of its caller's.
func (p *Plan) Do(ctx context.Context, req *http.Request, body []byte) (*Result, error) {
	var r *run
	if p.auto != nil {
		start := p.auto.now()
		defer func() { p.auto.observe(start, r.extraSent()) }()
	}
	req, err := confine(req)
	if err != nil {
		return nil, &Error{Outcome: OutcomeBadRequest, Message: err.Error()}
	}
	floor, err := p.requestFloor(ctx, req)
	if err != nil {
		return nil, err
	}
	p.budget.request()
	r = &run{plan: p, ctx: ctx, body: body, floor: floor, events: make(chan event, 2*p.mode.maxAttempts)}
	r.timer.fine = p.fineTimers
	r.tmpl, r.sched, r.coll = p.strategy.begin(req, body)
	r.sched.start(r)
	if r.open == 0 {
		return nil, &Error{Outcome: OutcomeNoReplica, Message: "no replica to send to"}
	}
	defer r.timer.stop()
	for {
		select {
		case ev := <-r.events:
			if res, err, done := r.take(ev); done {
				return res, err
			}
		case <-r.timer.fired():
			r.timer.stop()
			if ctx.Err() == nil {
				r.sched.wake(r)
			}
		case <-ctx.Done():
		}
		// Once the request's context has ended the outcome is expired's, whichever
		// ready case select took: the attempts' contexts are its children, so their
		// failures may come ahead of ctx.Done, and must not turn a 504 into a 502.
		if ctx.Err() != nil {
			return r.coll.expired(r)
		}
		if r.open == 0 && !r.timer.armed() {
			return r.coll.exhausted(r)
		}
	}
}

// take hands one event to the strategy: an ended attempt to the collector, and to the
// scheduler when that did not decide; a slow one to the scheduler alone. Once the
// request's context has ended, the scheduler sends nothing more, and an attempt that
// brought no answer is not collected: it most likely ended with the request, and
// had select taken ctx.Done first it would not have been (a quorum would count it a
// failed vote and refuse, where the deadline cut it off).
func (r *run) take(ev event) (*Result, error, bool) {
	a := ev.a
	ended := r.ctx.Err() != nil
	if ev.slow {
		if !a.received && !ended {
			r.sched.slow(r, a)
		}
		return nil, nil, false
	}
	r.open--
	a.received = true
	if ended && a.resp == nil {
		return nil, nil, false
	}
	r.checkVersion(a)
	// An answer that came is served, even once the request's context has ended.
	if res, err, done := r.coll.collect(r, a); done {
		return res, err, true
	}
	if !ended {
		r.sched.ended(r, a)
	}
	return nil, nil, false
}

var (
	_ launcher = (*run)(nil)
	_ decider  = (*run)(nil)
)

// launch sends one attempt in its own goroutine with its own context and request copy.
func (r *run) launch(kind Kind, rep *replicas.Replica, delay time.Duration) bool {
	if !r.canLaunch() {
		return false
	}
	if rep == nil {
		rep = r.pick()
	}
	if rep == nil || r.tried(rep) {
		return false
	}
	a := &attempt{replica: rep, kind: kind, delay: delay, start: time.Now()}
	ctx := r.ctx
	if t := r.plan.tracer; t != nil {
		ctx, a.traceEnd = t.StartAttempt(ctx, AttemptStart{Route: r.plan.route, Replica: rep.Name, Kind: kind, Delay: delay})
	}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	if r.plan.mode.askArrival {
		a.ctx = replicas.WithArrival(a.ctx, &a.arrival)
	}
	if r.plan.mode.cutAtTimeout {
		cancel := a.cancel
		a.timer = time.AfterFunc(r.plan.AttemptTimeout(rep), func() { cancel(errAttemptTimeout) })
	} else {
		// Like Envoy's hedge_on_per_try_timeout: a slow attempt is not cut off, since
		// it may still answer first; the scheduler may send another beside it.
		a.timer = time.AfterFunc(r.plan.AttemptTimeout(rep), func() { r.events <- event{a: a, slow: true} })
	}
	r.attempts = append(r.attempts, a)
	r.open++
	r.plan.observer.AttemptStarted(r.plan.route, rep.Name, kind)
	end := rep.Begin()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.plan.send(a, r.tmpl, r.body, end)
		r.events <- event{a: a}
	}()
	return true
}

// canLaunch: every attempt goes to a replica not tried yet, and maxAttempts is capped
// by the set's size, so the count alone says whether one is left.
// extraSent is how many attempts r sent beyond the first (0 for a request refused
// before it sent any: r nil).
func (r *run) extraSent() int {
	if r == nil {
		return 0
	}
	return max(len(r.attempts)-1, 0)
}

func (r *run) canLaunch() bool { return len(r.attempts) < r.plan.mode.maxAttempts }

func (r *run) inflight() int { return r.open }

func (r *run) last() *replicas.Replica { return r.attempts[len(r.attempts)-1].replica }

// pick chooses the next replica among the untried, or nil when there is none.
func (r *run) pick() *replicas.Replica {
	c := r.untried()
	if len(c) == 0 {
		return nil
	}
	return r.plan.picker.Pick(c)
}

// untried are the replicas this request has not sent to: a retry or a hedge always
// goes to a different replica (DESIGN: "Retries go to a different replica").
func (r *run) untried() []*replicas.Replica {
	out := r.untriedBuf[:0]
	for _, rep := range r.plan.set.Replicas {
		if !r.tried(rep) {
			out = append(out, rep)
		}
	}
	return out
}

func (r *run) tried(rep *replicas.Replica) bool {
	for _, a := range r.attempts {
		if a.replica == rep {
			return true
		}
	}
	return false
}

func (r *run) answerWaiting() bool {
	for _, a := range r.attempts {
		if !a.received && a.arrival.Waiting() {
			return true
		}
	}
	return false
}

func (r *run) held() { r.plan.observer.HedgeHeld(r.plan.route) }

// spend reports a budget denial once per request and kind, so that a request looking
// again for budget does not inflate hedgegate_budget_denied_total. A request with no
// attempt in flight fails unless this one goes: it may spend the retry reserve.
func (r *run) spend(kind Kind) bool {
	if r.plan.budget.tryExtra(r.open == 0) {
		return true
	}
	if bit := uint8(1) << kind; r.deniedOnce&bit == 0 {
		r.deniedOnce |= bit
		r.plan.observer.BudgetDenied(r.plan.route)
	}
	return false
}

func (r *run) arm(d time.Duration) { r.timer.arm(d) }
func (r *run) disarm()             { r.timer.stop() }
func (r *run) armed() bool         { return r.timer.armed() }

// win makes a the answer and cancels every other attempt at once.
func (r *run) win(a *attempt) *Result {
	overtaken := true // attempts before the winner in launch order
	for _, o := range r.attempts {
		if o == a {
			overtaken = false
			continue
		}
		if overtaken && !o.received {
			o.overtaken.Store(true)
		}
		o.cancel(errLost)
	}
	r.winner = a
	if a.kind == KindHedge {
		r.plan.observer.HedgeWon(r.plan.route)
	}
	return r.result(a)
}

func (r *run) result(a *attempt) *Result {
	return &Result{Response: a.resp, Replica: a.replica.Name, Kind: a.kind, Sent: len(r.attempts),
		Version: a.ver.Raw, run: r}
}

func (r *run) fail(outcome Outcome, message string) error {
	r.finish()
	e := &Error{Outcome: outcome, Message: message, Attempts: r.reports()}
	if r.floor != nil {
		e.MinVersion = r.floor.Raw
	}
	if outcome == OutcomeFloorUnmet {
		r.plan.observer.FloorUnmet(r.plan.route)
	}
	return e
}

func (r *run) expiredError() error {
	if r.deadlinePassed() {
		return r.fail(OutcomeDeadline, "deadline exceeded")
	}
	return r.fail(OutcomeCancelled, "client went away")
}

func (r *run) deadlinePassed() bool { return errors.Is(r.ctx.Err(), context.DeadlineExceeded) }

func (r *run) observer() Observer { return r.plan.observer }

func (r *run) route() string { return r.plan.route }

// finish cancels every attempt, waits for their goroutines and closes what they left.
// It runs once; after it no goroutine of the request remains. An attempt still
// running when the request's own context has ended is cancelled with that cause, so
// it counts as the timeout it was (or a client that left), not as a loser: Do may see
// the deadline before the context has passed it on to every attempt's context.
func (r *run) finish() {
	r.finished.Do(func() {
		cause := errLost
		if err := context.Cause(r.ctx); err != nil {
			cause = err
		}
		for _, a := range r.attempts {
			a.cancel(cause)
			a.timer.Stop()
		}
		r.wg.Wait()
		for _, a := range r.attempts {
			if !a.received {
				r.awaitEnd()
				a.received = true
				r.lateVersion(a)
				if a.resp != nil && a.body == nil {
					drainClose(a.resp.Body)
				}
			} else if a.resp != nil && a.body == nil {
				// A received answer still streaming that was not served: a quorum
				// loser. (Closing the winner's body again, after Result.Close, is a no-op.)
				a.resp.Body.Close()
			}
		}
		r.traceEnds()
	})
}

// awaitEnd takes one attempt's end from events. Every attempt goroutine has returned,
// so each attempt not yet received has its end there; a slow event may come between
// (an attempt timer that fired as the request ended), and is of no more use.
func (r *run) awaitEnd() {
	for ev := range r.events {
		if !ev.slow {
			return
		}
	}
}

// traceEnds tells the tracer how each attempt ended; the request is done with all.
func (r *run) traceEnds() {
	for _, a := range r.attempts {
		if a.traceEnd == nil {
			continue
		}
		end := AttemptEnd{Outcome: r.outcomeOf(a), Elapsed: a.elapsed, Err: a.err, Failure: string(a.failure)}
		if a.resp != nil {
			end.Status = a.resp.StatusCode
		}
		a.traceEnd(end)
	}
}

func (r *run) outcomeOf(a *attempt) AttemptOutcome {
	switch {
	case a == r.winner:
		return AttemptWon
	case a.failure == failCancelled:
		return AttemptCancelled
	case a.failure == failStale:
		return AttemptStale
	case a.failure != noFailure:
		return AttemptFailed
	}
	return AttemptLost
}

// engineTimer is a stoppable one-shot timer whose channel is nil while disarmed, so a
// select on it simply never fires. One timer serves every arming of a request: a
// stopped or reset one delivers no stale tick, and a new timer per hedge was two
// allocations each time.
type engineTimer struct {
	t    *finesleep.Timer
	fine bool // Options.FineTimers: on the timerfd, not the runtime timer alone
	on   bool // armed: t runs and its channel is selected on
}

func (t *engineTimer) arm(d time.Duration) {
	if t.t == nil {
		if t.fine {
			t.t = finesleep.NewTimer()
		} else {
			t.t = finesleep.NewRuntimeTimer()
		}
	}
	t.t.Reset(d)
	t.on = true
}

func (t *engineTimer) stop() {
	if t.on {
		t.t.Stop()
		t.on = false
	}
}

func (t *engineTimer) armed() bool { return t.on }

func (t *engineTimer) fired() <-chan time.Time {
	if !t.on {
		return nil
	}
	return t.t.C
}
