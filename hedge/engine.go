package hedge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// failedAnswerLimit bounds what is kept of a failed HTTP answer (a 5xx) so that it
// can be passed through when no replica does better.
const failedAnswerLimit = 64 << 10

// loserDrainLimit is how much of a loser's body is read before closing it, so that a
// small body lets its connection go back to the pool instead of being torn down.
const loserDrainLimit = 4 << 10

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

	run *run
}

// Close releases the response and everything else the request still holds.
func (r *Result) Close() error {
	err := r.Response.Body.Close()
	r.run.finish()
	return err
}

// run is one request's attempt bookkeeping; only Do's goroutine touches it, apart
// from the fields each attempt goroutine fills in before sending on results.
type run struct {
	plan    *Plan
	ctx     context.Context
	tmpl    *http.Request
	body    []byte
	results chan *attempt // buffered to maxAttempts: no sender ever blocks
	slow    chan *attempt // attempts past their attempt timeout; buffered the same way

	attempts   []*attempt
	inflight   int
	retries    int
	lastAnswer *attempt // latest failed HTTP answer, passed through if nothing better comes
	quorum     *quorumRun
	deniedOnce uint8 // which kinds of budget denial this request already reported
	hedgeLooks int   // hedges denied so far: each next look waits twice as long

	wg       sync.WaitGroup
	finished sync.Once
}

type attempt struct {
	replica *replicas.Replica
	kind    Kind
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	// hardTimeout: the attempt timeout cancels the attempt (quorum routes). Otherwise
	// it only asks for a retry elsewhere while the attempt keeps running.
	hardTimeout bool
	start       time.Time

	// Filled in by the attempt's goroutine before it sends on results.
	resp    *http.Response
	body    []byte // the buffered body, when this package read it
	failure Failure
	err     error
	elapsed time.Duration

	received bool // the engine took it from results
	version  string
	// overtaken: an attempt sent after this one won. Set before cancel, read by the
	// attempt's goroutine, which may also be finishing on its own: hence atomic.
	overtaken atomic.Bool
}

// Do sends req to the plan's replicas and returns the decided answer, or an *Error.
// body is the request body, already read and bounded by the caller (nil for none); it
// is replayed to every attempt. ctx carries the request's deadline.
func (p *Plan) Do(ctx context.Context, req *http.Request, body []byte) (*Result, error) {
	p.budget.Request()
	r := &run{
		plan:    p,
		ctx:     ctx,
		tmpl:    req,
		body:    body,
		results: make(chan *attempt, p.maxAttempts),
		slow:    make(chan *attempt, p.maxAttempts),
	}
	if p.quorum != nil {
		r.quorum = p.quorum.start(req, body)
		if req.Method == http.MethodHead && p.quorum.extractor.NeedsBody() {
			// A HEAD answer has no body to take a version from: ask for the whole
			// answer and hand back only its headers (nginx's proxy_cache_convert_head
			// does the same), so Content-Length is still the real one.
			get := *req
			get.Method = http.MethodGet
			r.tmpl, r.quorum.head = &get, true
		}
	}
	// Planned attempts (parallel's fan-out, a quorum's reads) are all primaries: the
	// route's constant work. kind="hedge" counts only budgeted hedges.
	for range p.planned {
		if !r.launch(KindPrimary) {
			break
		}
	}
	if r.inflight == 0 {
		return nil, &Error{Outcome: OutcomeNoReplica, Message: "no replica to send to"}
	}

	var hedgeT, retryT engineTimer
	defer hedgeT.stop()
	defer retryT.stop()
	if p.strategy == config.StrategyHedge && r.canLaunch() {
		hedgeT.arm(p.HedgeDelay(r.attempts[0].replica))
	}
	for {
		select {
		case a := <-r.results:
			r.inflight--
			a.received = true
			if res, err, done := r.collect(a); done {
				return res, err
			}
			if a.failure != FailureNone && p.retry.retryableFailure(a.failure) &&
				!retryT.armed() && r.canLaunch() && r.quorum == nil {
				// A retry replaces the pending hedge: both would spend the same budget.
				hedgeT.stop()
				retryT.arm(p.backoff.wait(r.retries + 1))
			}
			if r.inflight == 0 && !retryT.armed() {
				return r.exhausted()
			}
		case a := <-r.slow:
			// Past its attempt timeout and still running: retry elsewhere beside it,
			// as for a failure, but let it answer if it can.
			if !a.received && p.retry.retryableFailure(FailureTimeout) && !retryT.armed() && r.canLaunch() {
				hedgeT.stop()
				retryT.arm(p.backoff.wait(r.retries + 1))
			}
		case <-hedgeT.fired():
			hedgeT.stop()
			if !r.canLaunch() {
				continue
			}
			last := r.attempts[len(r.attempts)-1].replica
			if !p.budget.TryExtra() {
				r.denied(hedgeDenied)
				// The attempts are still in flight and the budget refills with every
				// request, so a primary that may never answer is not given up on: look
				// again, each time waiting twice as long. Only requests that are really
				// stuck keep asking (a few looks before the deadline); polling every
				// delay would have hedges take each token as it arrives and starve the
				// retries of requests that failed outright.
				r.hedgeLooks++
				// At least 1ms: a zero delay (min_delay 0) would otherwise spin.
				hedgeT.arm(max(p.HedgeDelay(last), time.Millisecond) << min(r.hedgeLooks, 16))
				continue
			}
			r.launch(KindHedge)
			if r.canLaunch() {
				hedgeT.arm(p.HedgeDelay(r.attempts[len(r.attempts)-1].replica))
			}
		case <-retryT.fired():
			retryT.stop()
			if !p.budget.TryExtra() {
				// Fail fast: with nothing in flight, waiting for budget would only hold
				// the client; with attempts in flight, one of them may still answer.
				r.denied(retryDenied)
			} else if r.launch(KindRetry) {
				r.retries++
				if p.strategy == config.StrategyHedge && r.canLaunch() {
					hedgeT.arm(p.HedgeDelay(r.attempts[len(r.attempts)-1].replica))
				}
			}
			if r.inflight == 0 {
				return r.exhausted()
			}
		case <-ctx.Done():
			return r.abort()
		}
	}
}

const (
	hedgeDenied uint8 = 1 << iota
	retryDenied
)

// denied reports a budget denial once per request and kind, so that a request looking
// again for budget does not inflate hedgegate_budget_denied_total.
func (r *run) denied(kind uint8) {
	if r.deniedOnce&kind == 0 {
		r.deniedOnce |= kind
		r.plan.observer.BudgetDenied(r.plan.route)
	}
}

// collect takes a finished attempt and says whether the request is decided.
func (r *run) collect(a *attempt) (*Result, error, bool) {
	if r.quorum != nil {
		return r.collectQuorum(a)
	}
	if a.failure == FailureNone {
		return r.win(a), nil, true
	}
	if a.resp != nil {
		r.lastAnswer = a
	}
	return nil, nil, false
}

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
	if a.kind == KindHedge {
		r.plan.observer.HedgeWon(r.plan.route)
	}
	return &Result{Response: a.resp, Replica: a.replica.Name, Kind: a.kind, Sent: len(r.attempts), run: r}
}

// exhausted ends a request whose attempts all failed and that may send no more.
func (r *run) exhausted() (*Result, error) {
	if a := r.lastAnswer; a != nil {
		// Replicas answered, if only with errors: pass the last answer on, since it
		// says more than a gateway error would.
		resp := *a.resp
		resp.Body = io.NopCloser(bytes.NewReader(a.body))
		resp.ContentLength = int64(len(a.body))
		resp.Header = a.resp.Header.Clone()
		resp.Header.Del("Content-Length")
		return &Result{Response: &resp, Replica: a.replica.Name, Kind: a.kind, Sent: len(r.attempts), run: r}, nil
	}
	r.finish()
	return nil, &Error{Outcome: OutcomeAllFailed, Message: "every attempt failed", Attempts: r.reports()}
}

// abort ends a request whose context ended first: its deadline, or the client leaving.
func (r *run) abort() (*Result, error) {
	if r.quorum != nil && errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		return r.abortQuorum()
	}
	r.finish()
	e := &Error{Outcome: OutcomeCancelled, Message: "client went away", Attempts: r.reports()}
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		e.Outcome, e.Message = OutcomeDeadline, "deadline exceeded"
	}
	return nil, e
}

// finish cancels every attempt, waits for their goroutines and closes what they left.
// It runs once; after it no goroutine of the request remains.
func (r *run) finish() {
	r.finished.Do(func() {
		for _, a := range r.attempts {
			a.cancel(errLost)
			a.timer.Stop()
		}
		r.wg.Wait()
		for _, a := range r.attempts {
			if !a.received {
				<-r.results
				a.received = true
				if a.resp != nil && a.body == nil {
					drainClose(a.resp.Body)
				}
			} else if a.resp != nil && a.body == nil {
				// A received answer still streaming that was not served: a quorum
				// loser. (Closing the winner's body again, after Result.Close, is a no-op.)
				a.resp.Body.Close()
			}
		}
	})
}

// canLaunch says whether one more attempt may be sent (budget aside).
// Every attempt goes to a replica not tried yet, and maxAttempts is capped by the set's
// size, so the count alone says whether one is left.
func (r *run) canLaunch() bool {
	return len(r.attempts) < r.plan.maxAttempts
}

// pick chooses the next replica among the candidates, or nil when there is none.
func (r *run) pick() *replicas.Replica {
	c := r.candidates()
	if len(c) == 0 {
		return nil
	}
	return r.plan.picker.Pick(c)
}

// candidates are the replicas this request has not tried: a retry or a hedge always
// goes to a different replica (DESIGN: "Retries go to a different replica"), so
// max_attempts above the set's size is capped by it.
func (r *run) candidates() []*replicas.Replica {
	reps := r.plan.set.Replicas
	out := make([]*replicas.Replica, 0, len(reps))
	for _, rep := range reps {
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

// launch sends one attempt in its own goroutine with its own context and request copy.
func (r *run) launch(kind Kind) bool {
	rep := r.pick()
	if rep == nil {
		return false
	}
	ctx, cancel := context.WithCancelCause(r.ctx)
	a := &attempt{replica: rep, kind: kind, ctx: ctx, cancel: cancel, start: time.Now(), hardTimeout: r.quorum != nil}
	if a.hardTimeout {
		a.timer = time.AfterFunc(r.plan.AttemptTimeout(rep), func() { cancel(errAttemptTimeout) })
	} else {
		// Like Envoy's hedge_on_per_try_timeout: a slow attempt is not cut off, since
		// it may still answer first; the engine sends a retry elsewhere beside it. The
		// channel holds one send per attempt, so this never blocks.
		a.timer = time.AfterFunc(r.plan.AttemptTimeout(rep), func() { r.slow <- a })
	}
	r.attempts = append(r.attempts, a)
	r.inflight++
	r.plan.observer.AttemptStarted(r.plan.route, rep.Name, kind)
	end := rep.Begin()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.plan.send(a, r.tmpl, r.body, r.bodyRead(), end)
		r.results <- a
	}()
	return true
}

// send performs one attempt and fills in its outcome.
func (p *Plan) send(a *attempt, tmpl *http.Request, body []byte, read bodyRead,
	end func(time.Duration, replicas.Outcome)) {
	resp, err := p.transport.RoundTrip(attemptRequest(a.ctx, a.replica, tmpl, body))
	a.elapsed = time.Since(a.start)
	// A HEAD answer's Content-Length is the GET's, with no body behind it: leave it be.
	small := read == readSmall && resp != nil && tmpl.Method != http.MethodHead &&
		resp.ContentLength >= 0 && resp.ContentLength <= loserDrainLimit
	if err == nil && (read == readAll || small) {
		// A quorum needs the whole body to read its version (or, when small, to let the
		// connection go back to the pool whichever answer wins); it counts as part of
		// the attempt, so the attempt timeout still runs. A small body's declared
		// length is within loserDrainLimit, so it is never too large.
		limit := p.maxBody
		if small {
			limit = loserDrainLimit
		}
		a.body, err = readBounded(resp.Body, limit)
		resp.Body.Close()
		if errors.Is(err, errBodyTooLarge) {
			a.resp, a.failure, a.err = resp, FailureBodyTooLarge, err
			a.timer.Stop()
			end(a.elapsed, replicas.OutcomeSuccess)
			return
		}
		if err != nil {
			resp = nil
		}
	}
	if err == nil && !a.timer.Stop() && a.hardTimeout {
		// The attempt timeout fired as the answer arrived: its context is gone, so the
		// body could not be read. Count it as the timeout it was, unless the timer was
		// stopped because the request was decided meanwhile (finish): then a loser.
		drainClose(resp.Body)
		resp, err = nil, errAttemptTimeout
		if errors.Is(context.Cause(a.ctx), errLost) {
			err = errLost
		}
	}
	if err != nil {
		a.timer.Stop()
		a.err, a.failure = err, classify(a.ctx, err)
		if errors.Is(err, errAttemptTimeout) {
			a.failure = FailureTimeout
		}
		switch {
		case a.failure == FailureCancelled && a.overtaken.Load():
			end(a.elapsed, replicas.OutcomeOvertaken)
		case a.failure == FailureCancelled:
			end(a.elapsed, replicas.OutcomeCancelled)
		default:
			end(a.elapsed, replicas.OutcomeFailure)
		}
		return
	}
	a.resp = resp
	if resp.StatusCode >= 500 {
		end(a.elapsed, replicas.OutcomeFailure)
	} else {
		end(a.elapsed, replicas.OutcomeSuccess)
	}
	if p.retry.retryableStatus(resp.StatusCode) {
		a.failure = FailureStatus
		if a.body == nil {
			a.body, _ = readBounded(resp.Body, failedAnswerLimit)
			resp.Body.Close()
			if a.body == nil {
				a.body = []byte{}
			}
		}
	}
}

// attemptRequest copies the template for one replica: own context, own URL, own body
// reader, so concurrent attempts share nothing mutable.
func attemptRequest(ctx context.Context, rep *replicas.Replica, tmpl *http.Request, body []byte) *http.Request {
	req := tmpl.Clone(ctx)
	u := *rep.URL
	u.Path = joinPath(rep.URL.Path, tmpl.URL.Path)
	if tmpl.URL.RawPath != "" {
		u.RawPath = joinPath(rep.URL.EscapedPath(), tmpl.URL.EscapedPath())
	} else {
		u.RawPath = ""
	}
	u.RawQuery = tmpl.URL.RawQuery
	u.Fragment = ""
	req.URL = &u
	req.Host = ""
	req.RequestURI = ""
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	} else {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}
	return req
}

func joinPath(base, path string) string {
	switch {
	case base == "" || base == "/":
		if path == "" {
			return "/"
		}
		return path
	case path == "" || path == "/":
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/")
}

var errBodyTooLarge = errors.New("response body larger than limits.max_response_body_bytes")

// readBounded reads all of body, failing rather than truncating past limit bytes.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return b[:limit], errBodyTooLarge
	}
	return b, nil
}

func drainClose(body io.ReadCloser) {
	io.CopyN(io.Discard, body, loserDrainLimit)
	body.Close()
}

// reports describes every attempt; call it only once no attempt goroutine runs.
func (r *run) reports() []AttemptReport {
	out := make([]AttemptReport, 0, len(r.attempts))
	for _, a := range r.attempts {
		rep := AttemptReport{
			Replica:    a.replica.Name,
			Kind:       a.kind.String(),
			DurationMS: float64(a.elapsed.Microseconds()) / 1000,
			Version:    a.version,
		}
		if a.resp != nil {
			rep.Status = a.resp.StatusCode
		}
		switch {
		case a.err != nil:
			rep.Error = string(a.failure) + ": " + a.err.Error()
		case a.failure != FailureNone:
			rep.Error = string(a.failure)
		}
		out = append(out, rep)
	}
	return out
}

// engineTimer is a stoppable one-shot timer whose channel is nil while disarmed, so a
// select on it simply never fires.
type engineTimer struct{ t *time.Timer }

func (t *engineTimer) arm(d time.Duration) {
	t.stop()
	t.t = time.NewTimer(d)
}

func (t *engineTimer) stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

func (t *engineTimer) armed() bool { return t.t != nil }

func (t *engineTimer) fired() <-chan time.Time {
	if t.t == nil {
		return nil
	}
	return t.t.C
}
