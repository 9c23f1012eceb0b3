package hedge

// firstAnswer is the collector of hedge and parallel: the first acceptable answer
// wins. A failed HTTP answer (a 5xx the route retries) is kept and passed on when
// nothing better comes, since it says more than a gateway error would. An answer below
// the request's minimum version is never served: with any such answer and nothing
// acceptable, the request ends as floor unmet (503), so the client can tell "not
// caught up yet" from "broken".
type firstAnswer struct {
	lastAnswer *attempt // latest failed HTTP answer
	stale      bool     // an answer came below the request's minimum version
	// head: a HEAD sent as GET to read each answer's body for its version; the
	// winner's headers alone are served.
	head bool
}

func (c *firstAnswer) collect(d decider, a *attempt) (*Result, error, bool) {
	switch a.failure {
	case noFailure:
		return serveBuffered(d.win(a), a, c.head), nil, true
	case failStale:
		c.stale = true
	case failStatus:
		c.lastAnswer = a
	}
	return nil, nil, false
}

func (c *firstAnswer) exhausted(d decider) (*Result, error) {
	if c.stale {
		return nil, d.floorUnmet()
	}
	a := c.lastAnswer
	if a == nil {
		return nil, d.fail(OutcomeAllFailed, "every attempt failed")
	}
	// The body was read when the answer came (failedAnswerLimit): its length is known.
	res := d.result(a)
	res.Response = bufferedResponse(a.resp, a.body)
	res.Response.Header.Del("Content-Length")
	return res, nil
}

func (c *firstAnswer) expired(d decider) (*Result, error) {
	if c.stale && d.deadlinePassed() {
		return nil, d.floorUnmet()
	}
	return nil, d.expiredError()
}
