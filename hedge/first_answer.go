package hedge

// firstAnswer is the collector of hedge and parallel: the first acceptable answer
// wins. A failed HTTP answer (a 5xx the route retries) is kept and passed on when
// nothing better comes, since it says more than a gateway error would.
type firstAnswer struct {
	lastAnswer *attempt // latest failed HTTP answer
}

func (c *firstAnswer) collect(d decider, a *attempt) (*Result, error, bool) {
	if a.failure == noFailure {
		return d.win(a), nil, true
	}
	if a.resp != nil {
		c.lastAnswer = a
	}
	return nil, nil, false
}

func (c *firstAnswer) exhausted(d decider) (*Result, error) {
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

func (c *firstAnswer) expired(d decider) (*Result, error) { return nil, d.expiredError() }
