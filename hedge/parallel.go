package hedge

import "net/http"

// parallelStrategy is strategy: parallel. fanout attempts at once, the route's
// constant work outside the budget; the first acceptable answer wins, and a failed
// attempt is replaced by a retry to a replica not tried yet (retrier), which spends
// the budget.
type parallelStrategy struct {
	fanout      int
	maxAttempts int
	retry       *retryPolicy
	backoff     *backoff
	bodyVersion bool // the route's version is in the body: every answer is read whole
}

func (s *parallelStrategy) mode() attemptMode {
	return attemptMode{maxAttempts: s.maxAttempts, read: firstAnswerRead(s.bodyVersion)}
}

func (s *parallelStrategy) begin(req *http.Request, _ []byte) (*http.Request, scheduler, collector) {
	p := &parallelRequest{fanout: s.fanout, retrier: retrier{policy: s.retry, backoff: s.backoff}}
	req, p.head = asGet(req, s.bodyVersion)
	return req, p, p
}

// parallelRequest is one request's fan-out scheduler (with its retrier) and collector.
type parallelRequest struct {
	fanout int
	retrier
	firstAnswer
}

func (p *parallelRequest) start(l launcher) {
	// Planned attempts are all primaries: kind="hedge" counts only budgeted hedges.
	for range p.fanout {
		if !l.launch(KindPrimary, nil, 0) {
			break
		}
	}
}

func (p *parallelRequest) ended(l launcher, a *attempt) {
	if p.wants(l, a.failure) {
		p.schedule(l)
	}
}

func (p *parallelRequest) slow(l launcher, _ *attempt) {
	if p.wants(l, failTimeout) {
		p.schedule(l)
	}
}

func (p *parallelRequest) wake(l launcher) { p.fire(l) }
